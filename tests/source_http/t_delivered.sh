#!/usr/bin/env bash
# source_http with ack = delivered: 200 only after the sink completed the batch, 503
# with a detail when it reports retry or failure; a request still waiting at shutdown
# is answered 503 and sensord exits cleanly.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/http_lib.sh"
S=$DATA/sensorlogger
P_OK=$(free_port) P_RETRY=$(free_port) P_FAIL=$(free_port) P_HOLD=$(free_port)
GRACE=1s http_ini "$T_DIR/p.ini" \
  "[ok]" "plugin = source_http" "listen = 127.0.0.1:$P_OK" "ack = delivered" \
  "[ok_sink]" "plugin = sink_null" "inputs = ok" "latency = 400ms" \
  "[retry]" "plugin = source_http" "listen = 127.0.0.1:$P_RETRY" "ack = delivered" \
  "[retry_sink]" "plugin = sink_null" "inputs = retry" "fail = retry" \
  "[failing]" "plugin = source_http" "listen = 127.0.0.1:$P_FAIL" "ack = delivered" \
  "[fail_sink]" "plugin = sink_null" "inputs = failing" "fail = fail" \
  "[hold]" "plugin = source_http" "listen = 127.0.0.1:$P_HOLD" "ack = delivered" \
  "[hold_sink]" "plugin = sink_null" "inputs = hold" "latency = 1h"
start_and_wait sd "$T_DIR/p.ini"

t0=$(date +%s%N)
assert_eq 200 "$(post_json "http://127.0.0.1:$P_OK/phone-producer/" "$S/mixed-sensors.json")" "delivered"
ms=$((($(date +%s%N) - t0) / 1000000))
[ "$ms" -ge 400 ] || fail "answered after ${ms}ms, before the sink's 400ms latency"
assert_contains "$(body)" '"messageId":2,' "delivered reply"
# the test push is answered at once and never enters the pipeline
assert_eq 200 "$(post_json "http://127.0.0.1:$P_OK/phone-producer/" "$S/test-push.json")" "test push"

assert_eq 503 "$(post_json "http://127.0.0.1:$P_RETRY/phone-producer/" "$S/mixed-sensors.json")" "sink retry"
assert_eq '{"error":"not_delivered","detail":"downstream could not deliver the batch for now; send it again"}' "$(body)" "retry body"
[ -n "$(header Retry-After)" ] || fail "no Retry-After on 503"
assert_eq 503 "$(post_json "http://127.0.0.1:$P_FAIL/phone-producer/" "$S/mixed-sensors.json")" "sink failure"
assert_eq '{"error":"not_delivered","detail":"downstream failed to deliver the batch"}' "$(body)" "fail body"

# a request waiting for its ack when sensord is asked to stop
post_json "http://127.0.0.1:$P_HOLD/phone-producer/" "$S/mixed-sensors.json" >"$T_DIR/held.code" &
CURL_PID=$!
for ((i = 0; i < 100; i++)); do
  [ "$(metric 'sensord_http_awaiting_ack{stage="hold",plugin="source_http"}')" = 1 ] && break
  sleep 0.05
done
assert_eq 1 "$(metric 'sensord_http_awaiting_ack{stage="hold",plugin="source_http"}')" "request held for its ack"
sd_stop "$SD_PID"
wait "$CURL_PID" || true
assert_eq 503 "$(cat "$T_DIR/held.code")" "held request at shutdown"
assert_contains "$(body)" '"error":"shutting_down"' "shutdown body"
echo ok
