#!/usr/bin/env bash
# Issue 10, storms on the API and admin ports: 2,000 connect/close and 2,000 connect/RST
# cycles on each, ending after the handshake, after the request or after the first bytes of
# the answer, while an API push query streams rows. sensord must stay alive and answer,
# the push query must keep streaming, and descriptors and RSS must come back to the
# baseline (descriptors within 4; RSS within 8 MiB; under ASan, bounded by its quarantine).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../source_http/http_lib.sh"
HERE=$(dirname "$0")
INGEST_PORT=$(free_port) API_PORT=$(free_port)
http_ini "$T_DIR/p.ini" \
  "[ingest]" "plugin = source_http" "listen = 127.0.0.1:$INGEST_PORT" \
  "[engine]" "plugin = query_local" "inputs = ingest" "listen = 127.0.0.1:$API_PORT" \
  "stream = CREATE STREAM s (name VARCHAR, deviceId VARCHAR) WITH (KAFKA_TOPIC='smartphone-sensor-data', VALUE_FORMAT='JSON')"
start_and_wait sd "$T_DIR/p.ini" "http://127.0.0.1:$API_PORT/info"
. "$HERE/storm_lib.sh"
curl -s -N --max-time 120 -X POST -H 'Content-Type: application/json' \
  --data-binary '{"sql":"SELECT name FROM s EMIT CHANGES;"}' "http://127.0.0.1:$API_PORT/query-stream" >"$T_DIR/push.out" &
PUSH=$!
( while kill -0 "$SD_PID" 2>/dev/null; do
    post_json "http://127.0.0.1:$INGEST_PORT/phone-producer/" "$DATA/sensorlogger/android-calibrated-1s.json" >/dev/null || true
    sleep 0.1
  done ) &
POSTER=$!
python3 "$HERE/sse_storm.py" "$API_PORT" /info 300 --stage mix >/dev/null
python3 "$HERE/sse_storm.py" "$ADMIN_PORT" /metrics 300 --stage mix >/dev/null
storm_baseline
for port in "$API_PORT /info" "$ADMIN_PORT /metrics"; do
  for end in close rst; do
    # shellcheck disable=SC2086
    out=$(python3 "$HERE/sse_storm.py" $port 2000 --stage mix --end "$end" --pid "$SD_PID") ||
      fail "the port stopped accepting ($port, $end): $out"
    alive "storm on $port ($end)"
    note "$port $end: $out"
  done
done
rows_before=$(grep -c '^\[' "$T_DIR/push.out" || true)
sleep 0.5
rows_after=$(grep -c '^\[' "$T_DIR/push.out" || true)
kill "$POSTER" 2>/dev/null || true
wait "$POSTER" 2>/dev/null || true
note "push query rows: $rows_before, then $rows_after"
[ "$rows_after" -gt 0 ] || fail "the API push query got no rows during the storms"
storm_settled 100
assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$API_PORT/info")" "/info after the storms"
assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "http://127.0.0.1:$ADMIN_PORT/metrics")" "/metrics after the storms"
kill "$PUSH" 2>/dev/null || true
sd_stop "$SD_PID"
echo ok
