#!/usr/bin/env bash
# Issue 10, storms on the SSE port: 2,000 connect/close and 2,000 connect/RST cycles on the
# dashboard page (/) and on a stream route (/chart-data/x), each cycle ending after the TCP
# handshake, after the request, or after the first bytes of the answer, while rows flow.
# sensord must stay alive and answer, and its descriptors and RSS must come back to the
# baseline taken after a warm-up: descriptors within 4, RSS within 8 MiB (a release build;
# an ASan build keeps up to 256 MiB of freed memory in quarantine, so it gets 320 MiB).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../source_http/http_lib.sh"
HERE=$(dirname "$0")
SSE_PORT=$(free_port) INGEST_PORT=$(free_port)
http_ini "$T_DIR/p.ini" \
  "[ingest]" "plugin = source_http" "listen = 127.0.0.1:$INGEST_PORT" \
  "[sse]" "plugin = out_sse" "inputs = ingest" "listen = 127.0.0.1:$SSE_PORT"
start_and_wait sd "$T_DIR/p.ini" "http://127.0.0.1:$SSE_PORT/healthz"
BASE=http://127.0.0.1:$SSE_PORT
. "$HERE/storm_lib.sh"

storm() { # PATH END N: runs the storm, checks the daemon, prints its JSON
  local out
  out=$(python3 "$HERE/sse_storm.py" "$SSE_PORT" "$1" "$3" --stage mix --end "$2" \
    --pid "$SD_PID") || { alive "storm on $1 ($2)"; fail "the SSE port stopped accepting: $out"; }
  alive "storm on $1 ($2)"
  note "$1 $2: $out"
  [ "$(field "$out" fds_after)" -le $(($(field "$out" fds_before) + 4)) ] ||
    fail "storm on $1 ($2): descriptors did not come back: $out"
}

# rows flowing during the storms: the stream writers write to sockets that are going away
( while kill -0 "$SD_PID" 2>/dev/null; do
    post_json "http://127.0.0.1:$INGEST_PORT/phone-producer/" \
      "$DATA/sensorlogger/android-calibrated-1s.json" >/dev/null || true
    sleep 0.2
  done ) &
POSTER=$!
storm / close 300 >/dev/null # warm-up: allocator pools, the daemon's first connections
storm /chart-data/x close 300 >/dev/null
storm_baseline
for path in / /chart-data/x; do
  for end in close rst; do storm "$path" "$end" 2000; done
done
kill "$POSTER" 2>/dev/null || true
wait "$POSTER" 2>/dev/null || true

# back to the baseline, and everything still answers
storm_settled 100
assert_eq 0 "$(curl -s --max-time 2 "$BASE/healthz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["clients"])')" \
  "streaming clients after the storms"
assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$BASE/")" "dashboard page"
curl -s -N --max-time 1 "$BASE/chart-data/x" -o "$T_DIR/stream.txt" || true
assert_contains "$(cat "$T_DIR/stream.txt")" "retry: 2000" "a stream after the storms"
alive "after the storms"
sd_stop "$SD_PID"
echo ok
