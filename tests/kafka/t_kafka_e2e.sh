#!/usr/bin/env bash
# The scale-out deployment end to end, three sensord processes around the mock broker:
#   ingest (source_http -> sink_kafka) -> Kafka -> query node (source_kafka -> query_local,
#   ksqlDB API) <- dashboard (query_ksql -> out_sse)
# Sensor Logger bodies posted to the ingest node come out of the dashboard's original
# /chart-data stream, every accelerometer reading exactly once with exact values.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/kafka_lib.sh"
need_plugins source_http sink_kafka source_kafka query_local query_ksql out_sse sink_null

mb_start -b 1 -t "$KAFKA_TOPIC:4"
HTTP=$(free_port) API=$(free_port) SSE=$(free_port)
A1=$(free_port) A2=$(free_port) A3=$(free_port)
QUERY="SELECT deviceId, time, values_x, values_y, values_z FROM smartphone_sensor_stream WHERE name = 'accelerometeruncalibrated' EMIT CHANGES"
ingest_node_ini "$T_DIR/ingest.ini" "$A1" "$HTTP"
cat >"$T_DIR/query.ini" <<INI
[sensord]
plugin_dir = $SENSORD_PLUGIN_DIR
admin_listen = 127.0.0.1:$A2

[kafka]
plugin = source_kafka
brokers = $MB_BOOTSTRAP
group_id = e2e-query-node
auto_offset_reset = earliest

[engine]
plugin = query_local
inputs = kafka
listen = 127.0.0.1:$API

[discard]
plugin = sink_null
inputs = engine
INI
cat >"$T_DIR/dashboard.ini" <<INI
[sensord]
plugin_dir = $SENSORD_PLUGIN_DIR
admin_listen = 127.0.0.1:$A3

[ksql]
plugin = query_ksql
server = http://127.0.0.1:$API
reconnect_min = 50ms
reconnect_max = 500ms
query.accel = $QUERY

[dashboard]
plugin = out_sse
inputs = ksql
listen = 127.0.0.1:$SSE
chart_query = accel
INI
for n in ingest query dashboard; do
  "$SENSORD_BIN" -c "$T_DIR/$n.ini" -t >"$T_DIR/$n.check" 2>&1 || fail "sensord -t refused $n.ini: $(cat "$T_DIR/$n.check")"
done
sd_start ingest "$T_DIR/ingest.ini"; INGEST=$SD_PID
sd_start query "$T_DIR/query.ini"; QNODE=$SD_PID
wait_http "http://127.0.0.1:$API/info"
sd_start dashboard "$T_DIR/dashboard.ini"; DASH=$SD_PID
wait_http "http://127.0.0.1:$A3/metrics"
for ((i = 0; i < 200; i++)); do [ "$(metric "$A3" ksql_up)" = 1 ] && break; sleep 0.05; done
assert_eq 1 "$(metric "$A3" ksql_up)" "dashboard's push query streaming"
curl -s -N --max-time 60 "http://127.0.0.1:$SSE/chart-data/e2e" >"$T_DIR/sse.txt" &
CURL=$!
SD_PIDS+=("$CURL")
wait_http "http://127.0.0.1:$A1/metrics"
sleep 0.3

bodies=("$DATA/sensorlogger/ios-uncalibrated-1s.json" "$DATA/sensorlogger/android-calibrated-1s.json"
  "$DATA/sensorlogger/large-batch-5s.json")
for f in "${bodies[@]}"; do
  assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' --max-time $((20 * SD_TIME_SCALE)) -H 'Content-Type: application/json' \
    --data-binary @"$f" "http://127.0.0.1:$HTTP/phone-producer/")" "POST $(basename "$f")"
done
want=$(python3 -c '
import json, sys
print(sum(1 for f in sys.argv[1:] for r in json.load(open(f))["payload"] if r["name"] == "accelerometeruncalibrated"))' "${bodies[@]}")
for ((i = 0; i < 400; i++)); do
  [ "$(count_lines "$T_DIR/sse.txt" '^event: new_message')" -ge "$want" ] && break
  sleep 0.05
done
sleep 0.3
kill "$CURL" 2>/dev/null || true
python3 "$(dirname "$0")/check_rows.py" sse "$T_DIR/sse.txt" accelerometeruncalibrated "${bodies[@]}" ||
  fail "the dashboard's rows differ from the readings posted"

# The query node goes away: browsers stay connected and get a "down" notice on _status.
curl -s -N --max-time 30 "http://127.0.0.1:$SSE/events/_status?format=object" >"$T_DIR/status.txt" &
SD_PIDS+=("$!")
sleep 0.3
sd_stop "$QNODE"
for ((i = 0; i < 200; i++)); do grep -q '"STATE":"down"' "$T_DIR/status.txt" && break; sleep 0.05; done
grep -q '"QUERY":"accel","STATE":"down"' "$T_DIR/status.txt" ||
  fail "no down notice on /events/_status after the query node stopped: $(cat "$T_DIR/status.txt")"
sd_stop "$DASH"
sd_stop "$INGEST"
note "end to end: $want accelerometer readings through Kafka, query node and dashboard"
