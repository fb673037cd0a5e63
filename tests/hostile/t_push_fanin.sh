#!/usr/bin/env bash
# Issue 10, defect 7: with 1,000 push queries open on the API, a 300-reading POST took 5.6 s
# at 100 % system CPU, because every row woke every query's transport
# (MHD_resume_connection per row per query: 300,000 wake-ups). A query must cost its filter
# and its rows: the wake-ups are counted (query_push_wakes_total) and must stay at about one
# per query per batch, and every query must still get every row.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../source_http/http_lib.sh"
HERE=$(dirname "$0")
N=${FANIN_QUERIES:-1000}
INGEST_PORT=$(free_port) API_PORT=$(free_port)
http_ini "$T_DIR/p.ini" \
  "[ingest]" "plugin = source_http" "listen = 127.0.0.1:$INGEST_PORT" \
  "[engine]" "plugin = query_local" "inputs = ingest" "listen = 127.0.0.1:$API_PORT" \
  "stream = CREATE STREAM smartphone_sensor_stream (name VARCHAR, time BIGINT, values_x DOUBLE," \
  "    values_y DOUBLE, values_z DOUBLE, messageId BIGINT, sessionId VARCHAR, deviceId VARCHAR)" \
  "    WITH (KAFKA_TOPIC='smartphone-sensor-data', VALUE_FORMAT='JSON')"
start_and_wait sd "$T_DIR/p.ini" "http://127.0.0.1:$API_PORT/info"
WAKES='sensord_query_push_wakes_total{stage="engine",plugin="query_local"}'

mkfifo "$T_DIR/clients.out"
python3 "$HERE/push_fanin.py" "$API_PORT" "$N" 300 \
  "SELECT name, values_x FROM smartphone_sensor_stream EMIT CHANGES;" >"$T_DIR/clients.out" &
CLIENTS=$!
exec 3<"$T_DIR/clients.out"
read -r -t $((60 * SD_TIME_SCALE)) line <&3 || fail "the $N push queries did not start"
assert_eq ready "$line" "push clients"
before=$(metric "$WAKES")
t0=$(date +%s%N)
assert_eq 200 "$(post_json "http://127.0.0.1:$INGEST_PORT/phone-producer/" \
  "$DATA/sensorlogger/ios-uncalibrated-1s.json")" "the 300-reading push"
post_ms=$((($(date +%s%N) - t0) / 1000000))
read -r -t $((60 * SD_TIME_SCALE)) result <&3 || fail "the push clients did not finish"
wait "$CLIENTS" || fail "push clients failed"
after=$(metric "$WAKES")
wakes=$((after - before))
note "$N push queries, one 300-reading POST: answered in $post_ms ms; clients: $result; wake-ups: $wakes"
python3 -c "import json,sys; r=json.loads(sys.argv[1]); sys.exit(r['complete'] != r['queries'])" \
  "$result" || fail "not every query got its 300 rows: $result"
# A batch may reach a query in a few pieces (the transport drains while rows still arrive),
# but never a wake-up per row: before the fix this was $N x 300.
[ "$wakes" -le $((4 * N)) ] || fail "$wakes wake-ups for $N queries and one batch (at most $((4 * N)))"
sd_stop "$SD_PID"
echo ok
