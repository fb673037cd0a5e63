#!/usr/bin/env bash
# Issue 10, defect 3: GET /events/bogus1 … /events/bogus260 used to fill the dashboard's 256
# stream slots for good; real queries' rows were then dropped and /events/gravity answered
# 404 until a restart. A name no query produces now waits in a placeholder table of its own
# (64), reclaimed once nobody uses it; only when every placeholder is held open is a request
# refused (503, out_rejected_total{reason="stream_table"}), and a query's stream never is.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../source_http/http_lib.sh"
HERE=$(dirname "$0")
OUT_PORT=$(free_port) INGEST_PORT=$(free_port) ENGINE_PORT=$(free_port)
http_ini "$T_DIR/p.ini" \
  "[ingest]" "plugin = source_http" "listen = 127.0.0.1:$INGEST_PORT" \
  "[engine]" "plugin = query_local" "inputs = ingest" "listen = 127.0.0.1:$ENGINE_PORT" \
  "stream = CREATE STREAM smartphone_sensor_stream (name VARCHAR, time BIGINT, values_x DOUBLE," \
  "    values_y DOUBLE, values_z DOUBLE, messageId BIGINT, sessionId VARCHAR, deviceId VARCHAR)" \
  "    WITH (KAFKA_TOPIC='smartphone-sensor-data', VALUE_FORMAT='JSON')" \
  "query.gravity = SELECT deviceId, time, values_x, values_y, values_z FROM smartphone_sensor_stream WHERE name = 'gravity' EMIT CHANGES" \
  "[dashboard]" "plugin = out_sse" "inputs = engine" "listen = 127.0.0.1:$OUT_PORT"
start_and_wait sd "$T_DIR/p.ini" "http://127.0.0.1:$OUT_PORT/healthz"
BASE=http://127.0.0.1:$OUT_PORT
PUSH=http://127.0.0.1:$INGEST_PORT/phone-producer/
REFUSED='sensord_out_rejected_total{stage="dashboard",plugin="out_sse",reason="stream_table"}'
health() { curl -s --max-time 2 "$BASE/healthz" | python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }

# 300 made-up names one after another: each is served (it may be a query not started yet)
# and gives its placeholder back when the client leaves.
out=$(python3 "$HERE/sse_streams.py" seq "$OUT_PORT" /events/bogus 300)
note "300 made-up names: $out"
assert_eq '{"200": 300}' "$out" "statuses of /events/bogus1..300"
assert_eq 0 "$(health streams_refused)" "refusals while no placeholder was held"

# the real query still gets its stream and its rows
curl -s -N --max-time 4 "$BASE/events/gravity" -o "$T_DIR/gravity.txt" &
CURL=$!
sleep 0.5
assert_eq 200 "$(post_json "$PUSH" "$DATA/sensorlogger/android-calibrated-1s.json")" "push"
wait "$CURL" || true
rows=$(grep -c '^data: \[' "$T_DIR/gravity.txt" || true)
note "gravity rows streamed after the made-up names: $rows"
assert_eq 50 "$rows" "gravity rows on /events/gravity"
python3 - "$BASE" <<'PY' || fail "/streams does not list gravity with its columns"
import json, sys, urllib.request
streams = json.load(urllib.request.urlopen(sys.argv[1] + "/streams", timeout=2))
g = [s for s in streams if s["name"] == "gravity"]
assert g and g[0]["columns"][0] == "DEVICEID", streams
PY

# 64 made-up names held open fill the placeholder table: the 65th is refused and counted,
# a query's stream is not; once they close, new names are served again.
out=$(python3 "$HERE/sse_streams.py" hold "$OUT_PORT" /events/held 64 /events/one-more 2>"$T_DIR/late.json")
late=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["refused_after"])' "$T_DIR/late.json")
note "64 held open, then another name: $out"
assert_eq '{"held": {"200": 64}, "while_held": 503, "after": 200}' "$out" "placeholder table held open"
ok=0
for ((i = 0; i < 40; i++)); do
  [ "$(metric "$REFUSED")" = $((1 + late)) ] && { ok=1; break; }
  sleep 0.05 # the metric follows the stage's tick
done
[ "$ok" = 1 ] || fail "$REFUSED: expected $((1 + late)), got $(metric "$REFUSED")"
grep -q "stream 'one-more' refused: no query has produced it" "$T_DIR/sd.log" ||
  fail "the refusal was not logged: $(grep -i refused "$T_DIR/sd.log" || true)"
out=$(python3 "$HERE/sse_streams.py" hold "$OUT_PORT" /events/held2- 64 /events/gravity)
assert_eq '{"held": {"200": 64}, "while_held": 200, "after": 200}' "$out" "a query's stream while the placeholders are held"
sd_stop "$SD_PID"
echo ok
