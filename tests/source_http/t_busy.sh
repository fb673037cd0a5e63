#!/usr/bin/env bash
# source_http under a full downstream queue: the sink (sink_stdout writing into a pipe
# nobody reads) is stuck, its queue takes one record (on_full = reject). Pushes are then
# answered 503 with Retry-After and nothing of them is ingested (never accepted then
# dropped); once the pipe is drained, every accepted reading comes out and pushes are
# accepted again.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/http_lib.sh"
S=$DATA/sensorlogger
PORT=$(free_port)
mkfifo "$T_DIR/pipe"
exec 3<>"$T_DIR/pipe" # keeps the pipe open (64K buffer) without reading it
http_ini "$T_DIR/p.ini" \
  "[ingest]" "plugin = source_http" "listen = 127.0.0.1:$PORT" "retry_after = 3s" \
  "[out]" "plugin = sink_stdout" "inputs = ingest" "path = $T_DIR/pipe" \
  "queue.max_records = 1" "on_full = reject"
start_and_wait sd "$T_DIR/p.ini"
URL=http://127.0.0.1:$PORT/phone-producer/

# 300 readings are ~100K of NDJSON: the sink blocks on the full pipe inside the first batch
codes=()
for i in 1 2 3 4 5 6; do
  codes+=("$(post_json "$URL" "$S/ios-uncalibrated-1s.json")")
  sleep 0.2
done
note "statuses with the sink stuck: ${codes[*]}"
assert_eq 200 "${codes[0]}" "first push"
assert_eq 503 "${codes[5]}" "push into the full queue"
assert_eq '{"error":"busy","detail":"downstream queue is full; nothing was accepted, send the batch again later"}' "$(body)" "503 body"
assert_eq 3 "$(header Retry-After)" "Retry-After"
accepted=0
for c in "${codes[@]}"; do [ "$c" = 200 ] && accepted=$((accepted + 1)); done
[ "$accepted" -le 2 ] || fail "$accepted pushes accepted into a queue of one record"
assert_eq $((6 - accepted)) "$(requests ingest 503)" "503 count"
assert_eq $((accepted * 300)) "$(metric 'sensord_http_readings_total{stage="ingest",plugin="source_http"}')" "readings counted only for 200s"

# unblock: every accepted reading comes out, then pushes are accepted again
cat "$T_DIR/pipe" >"$T_DIR/out.ndjson" 3>&- &
CAT_PID=$!
wait_lines "$T_DIR/out.ndjson" $((accepted * 300)) 10
ok=0
for ((i = 0; i < 50; i++)); do
  [ "$(post_json "$URL" "$S/ios-uncalibrated-1s.json")" = 200 ] && { ok=1; break; }
  sleep 0.1
done
[ "$ok" = 1 ] || fail "pushes never accepted again after the sink caught up"
wait_lines "$T_DIR/out.ndjson" $(((accepted + 1) * 300)) 10
sd_stop "$SD_PID"
exec 3>&-
wait "$CAT_PID" 2>/dev/null || true
assert_eq $(((accepted + 1) * 300)) "$(wc -l <"$T_DIR/out.ndjson")" "records out = records accepted"
echo ok
