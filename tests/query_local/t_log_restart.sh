#!/usr/bin/env bash
# With data_dir set, readings acknowledged under ack = delivered survive a restart: after a
# clean stop, and after kill -9, a push query with auto.offset.reset=earliest replays every
# acknowledged reading exactly once (then continues live); a torn tail is cut at start.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/api_lib.sh"
DATA_DIR=$T_DIR/data
make_ini() {
  ql_ini "$T_DIR/p.ini" "data_dir = $DATA_DIR" "retain_records = 100000" "retain_bytes = 64M" \
    "retain_age = 0" "log_segment_bytes = ${SEGMENT:-64K}" "$@"
  sed -i "s|^plugin = source_http\$|plugin = source_http\nack = ${ACK:-delivered}|" "$T_DIR/p.ini"
}
# posts FIRST COUNT: COUNT pushes of 50 readings, messageId FIRST.., each answered 200.
posts() {
  local m
  for ((m = $1; m < $1 + $2; m++)); do
    python3 - "$m" >"$T_DIR/push.json" <<'PY'
import json, sys
m = int(sys.argv[1])
base = 1732435000000000000 + m * 1000000000
print(json.dumps({"messageId": m, "sessionId": "s1", "deviceId": "phone-%d" % (m % 3),
  "payload": [{"name": "accelerometer", "time": base + i * 20000000,
               "values": {"x": m + i / 64, "y": -i * 0.125, "z": 9.81}} for i in range(50)]}))
PY
    post_sample "$T_DIR/push.json"
  done
}
# replayed NAME WANT [STREAM]: an earliest push query returns exactly WANT distinct
# (messageId, time) rows, none twice, and nothing more within half a second.
replayed() {
  local name=$1 want=$2 stream=${3:-smartphone_sensor_stream}
  qs_open "$name" /query-stream "$(python3 -c 'import json, sys; print(json.dumps({"sql": "SELECT messageId, time FROM %s EMIT CHANGES;" % sys.argv[1], "properties": {"auto.offset.reset": "earliest"}}))' "$stream")"
  local pid=$QS_PID
  wait_lines "$T_DIR/$name.body" $((want + 1))
  sleep 0.5
  kill "$pid" 2>/dev/null; wait "$pid" 2>/dev/null || true
  python3 - "$T_DIR/$name.body" "$want" <<'PY' || fail "$name: replay is not every reading exactly once"
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("[")]
keys = [tuple(r) for r in rows]
want = int(sys.argv[2])
print("rows", len(rows), "distinct", len(set(keys)), "want", want)
sys.exit(0 if len(rows) == want and len(set(keys)) == want else 1)
PY
}

note "first run: 20 pushes of 50 readings, then a clean stop"
make_ini
ql_start "$T_DIR/p.ini"
posts 0 20
replayed r0 1000
sd_stop "$SD_PID"
ls "$DATA_DIR/smartphone-sensor-data" | grep -q '\.log$' || fail "no segment in $DATA_DIR"

note "restart: every reading replayed once, then 10 more pushes and kill -9"
ql_start "$T_DIR/p.ini"
grep -q "stream log opened" "$T_DIR/sensord.log" || fail "no 'stream log opened' line"
replayed r1 1000
posts 20 10
kill -KILL "$SD_PID"; wait "$SD_PID" 2>/dev/null || true

note "after kill -9: all 1500 acknowledged readings, once each"
ql_start "$T_DIR/p.ini"
replayed r2 1500

note "a stream CREATEd over the API on the same topic gets the log's history, then live rows"
api -X POST "http://127.0.0.1:$QP/ksql" -H 'Content-Type: application/json' \
  -d '{"ksql": "CREATE STREAM later (time BIGINT, messageId BIGINT) WITH (KAFKA_TOPIC='"'smartphone-sensor-data'"', VALUE_FORMAT='"'JSON'"');"}' >"$T_DIR/create.json"
grep -q 'Stream created' "$T_DIR/create.json" || fail "CREATE STREAM later: $(cat "$T_DIR/create.json")"
replayed r2b 1500 later
posts 30 2
replayed r2c 1600 later

note "a torn tail (half a batch appended by hand) is cut and logged, nothing else lost"
sd_stop "$SD_PID"
last=$(ls "$DATA_DIR"/smartphone-sensor-data/*.log | tail -n1)
head -c 100 "$(ls "$DATA_DIR"/smartphone-sensor-data/*.log | head -n1)" >>"$last"
ql_start "$T_DIR/p.ini"
grep -q "torn tail cut" "$T_DIR/sensord.log" || fail "the torn tail was not reported"
replayed r3 1600
posts 32 2
replayed r4 1700
sd_stop "$SD_PID"

note "fsync = batch and never also keep every acknowledged reading across kill -9"
for mode in batch never; do
  rm -rf "$DATA_DIR"
  make_ini "fsync = $mode"
  ql_start "$T_DIR/p.ini"
  posts 100 4
  kill -KILL "$SD_PID"; wait "$SD_PID" 2>/dev/null || true
  ql_start "$T_DIR/p.ini"
  replayed "m_$mode" 200
  sd_stop "$SD_PID"
done

note "ack = durable (the default pipeline's fsync = interval): every 200 survives kill -9"
rm -rf "$DATA_DIR"
ACK=durable make_ini
grep -q '^ack = durable$' "$T_DIR/p.ini" || fail "the ini does not set ack = durable"
ql_start "$T_DIR/p.ini"
posts 200 4
kill -KILL "$SD_PID"; wait "$SD_PID" 2>/dev/null || true
ql_start "$T_DIR/p.ini"
replayed m_durable 200
sd_stop "$SD_PID"

note "log_retention_bytes deletes the oldest whole segments and keeps the newest readings"
rm -rf "$DATA_DIR"
SEGMENT=4K make_ini "log_retention_bytes = 6K"
ql_start "$T_DIR/p.ini"
posts 200 40
sleep 0.5 # a tick applies retention
segs=$(ls "$DATA_DIR"/smartphone-sensor-data/*.log | wc -l)
bytes=$(cat "$DATA_DIR"/smartphone-sensor-data/*.log | wc -c)
note "segments=$segs bytes=$bytes"
[ "$bytes" -le $((6 * 1024 + 5 * 1024)) ] || fail "log is $bytes bytes, over retention + one segment"
[ "$segs" -ge 2 ] || fail "retention left $segs segments"
sd_stop "$SD_PID"
ql_start "$T_DIR/p.ini"
api -X POST "http://127.0.0.1:$QP/query-stream" -H 'Content-Type: application/json' \
  -d '{"sql": "SELECT messageId FROM smartphone_sensor_stream;"}' >"$T_DIR/kept.txt"
python3 - "$T_DIR/kept.txt" <<'PY' || fail "retention did not keep a newest suffix of whole batches"
import collections, json, sys
ids = collections.Counter(json.loads(l)[0] for l in open(sys.argv[1]) if l.startswith("["))
kept = sorted(ids)
print("kept pushes", len(kept), "of 40, from messageId", kept[0] if kept else None)
sys.exit(0 if kept and len(kept) < 40 and kept == list(range(kept[0], 240)) and
         all(c == 50 for c in ids.values()) else 1)
PY
sd_stop "$SD_PID"
