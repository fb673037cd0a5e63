#!/usr/bin/env bash
# query_ksql against query_local's ksqlDB-compatible API: one sensord serves the API
# (source_http -> query_local), a second one runs the original push query through it
# twice, over HTTP/1.1 and over HTTP/2, and every accelerometer reading posted comes out of
# both with exact values, keyed by device.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/kafka_lib.sh"
need_plugins source_http query_local query_ksql sink_stdout sink_null

HTTP=$(free_port) API=$(free_port) ADMIN_A=$(free_port) ADMIN_B=$(free_port)
cat >"$T_DIR/server.ini" <<INI
[sensord]
plugin_dir = $SENSORD_PLUGIN_DIR
admin_listen = 127.0.0.1:$ADMIN_A

[ingest]
plugin = source_http
listen = 127.0.0.1:$HTTP

[engine]
plugin = query_local
inputs = ingest
listen = 127.0.0.1:$API

[discard]
plugin = sink_null
inputs = engine
INI
QUERY="SELECT deviceId, time, values_x, values_y, values_z FROM smartphone_sensor_stream WHERE name = 'accelerometeruncalibrated' EMIT CHANGES"
cat >"$T_DIR/client.ini" <<INI
[sensord]
plugin_dir = $SENSORD_PLUGIN_DIR
admin_listen = 127.0.0.1:$ADMIN_B

[h1]
plugin = query_ksql
server = http://127.0.0.1:$API
http_version = 1.1
reconnect_min = 50ms
reconnect_max = 500ms
query.accel = $QUERY

[h2]
plugin = query_ksql
server = http://127.0.0.1:$API
http_version = 2
reconnect_min = 50ms
reconnect_max = 500ms
query.accel = $QUERY

[out1]
plugin = sink_stdout
inputs = h1
path = $T_DIR/h1.ndjson

[out2]
plugin = sink_stdout
inputs = h2
path = $T_DIR/h2.ndjson
INI
sd_start server "$T_DIR/server.ini"
wait_http "http://127.0.0.1:$API/info"
sd_start client "$T_DIR/client.ini"
CLIENT=$SD_PID
wait_http "http://127.0.0.1:$ADMIN_B/metrics"
for ((i = 0; i < 200; i++)); do [ "$(metric "$ADMIN_B" ksql_up)" = 2 ] && break; sleep 0.05; done
assert_eq 2 "$(metric "$ADMIN_B" ksql_up)" "both push queries streaming"

bodies=("$DATA/sensorlogger/ios-uncalibrated-1s.json" "$DATA/sensorlogger/large-batch-5s.json")
for f in "${bodies[@]}"; do
  assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' -H 'Content-Type: application/json' \
    --data-binary @"$f" "http://127.0.0.1:$HTTP/phone-producer/")" "POST $(basename "$f")"
done
want=$(python3 -c '
import json, sys
print(sum(1 for f in sys.argv[1:] for r in json.load(open(f))["payload"] if r["name"] == "accelerometeruncalibrated"))' "${bodies[@]}")
[ "$want" -gt 0 ] || fail "the samples hold no accelerometeruncalibrated reading"
for ((i = 0; i < 200; i++)); do
  [ "$(count_lines "$T_DIR/h1.ndjson")" -ge "$want" ] && [ "$(count_lines "$T_DIR/h2.ndjson")" -ge "$want" ] && break
  sleep 0.05
done
sleep 0.3
python3 "$(dirname "$0")/check_rows.py" ndjson "$T_DIR/h1.ndjson" accelerometeruncalibrated "${bodies[@]}" ||
  fail "rows over HTTP/1.1 differ"
python3 "$(dirname "$0")/check_rows.py" ndjson "$T_DIR/h2.ndjson" accelerometeruncalibrated "${bodies[@]}" ||
  fail "rows over HTTP/2 differ"
grep -q 'HTTP/2)' "$T_DIR/client.log" || fail "no query reported streaming over HTTP/2"
sd_stop "$CLIENT"
note "query_ksql via query_local: $want rows over each of HTTP/1.1 and HTTP/2"
