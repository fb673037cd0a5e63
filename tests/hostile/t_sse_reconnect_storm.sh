#!/usr/bin/env bash
# Issue 10, defect 1: a stream that ends while its hand-over to the writer threads is still
# under way. Connecting to /chart-data/x, reading the first bytes and closing, 300 times,
# used to free the connection on the writer thread while the HTTP thread was still waking
# it (heap-use-after-free in pump_conn_wake from pump_conn_start; a segfault in a release
# build within 2-44 cycles). Same for a WebSocket whose peer leaves right after the 101.
# The daemon must survive both, keep answering and account every stream as closed.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../source_http/http_lib.sh"
HERE=$(dirname "$0")
SSE_PORT=$(free_port) WS_PORT=$(free_port) INGEST_PORT=$(free_port)
http_ini "$T_DIR/p.ini" \
  "[ingest]" "plugin = source_http" "listen = 127.0.0.1:$INGEST_PORT" \
  "[sse]" "plugin = out_sse" "inputs = ingest" "listen = 127.0.0.1:$SSE_PORT" \
  "[ws]" "plugin = out_websocket" "inputs = ingest" "listen = 127.0.0.1:$WS_PORT"
start_and_wait sd "$T_DIR/p.ini" "http://127.0.0.1:$SSE_PORT/healthz" \
  "http://127.0.0.1:$WS_PORT/healthz"

alive() { kill -0 "$SD_PID" 2>/dev/null || { tail -n 60 "$T_DIR/sd.log" >&2; fail "sensord died: $1"; }; }

out=$(python3 "$HERE/sse_storm.py" "$SSE_PORT" /chart-data/x 300 --stage read --end close) ||
  { alive "SSE reconnect storm"; fail "SSE port stopped accepting: $out"; }
note "sse: $out"
alive "SSE reconnect storm"
out=$(python3 "$HERE/sse_storm.py" "$SSE_PORT" /chart-data/x 300 --stage read --end rst) ||
  { alive "SSE reset storm"; fail "SSE port stopped accepting: $out"; }
note "sse rst: $out"
alive "SSE reset storm"
out=$(python3 "$HERE/sse_storm.py" "$WS_PORT" /chart-data/x 300 --stage ws-done --end close) ||
  { alive "WebSocket reconnect storm"; fail "WebSocket port stopped accepting: $out"; }
note "ws: $out"
alive "WebSocket reconnect storm"

# Every stream ended: the hub counts no client left (the last ones may still be closing).
for port in "$SSE_PORT" "$WS_PORT"; do
  ok=0
  for ((i = 0; i < 100 * SD_TIME_SCALE; i++)); do
    clients=$(curl -s --max-time 2 "http://127.0.0.1:$port/healthz" |
      python3 -c 'import json,sys; print(json.load(sys.stdin)["clients"])') || clients=?
    [ "$clients" = 0 ] && { ok=1; break; }
    sleep 0.05
  done
  [ "$ok" = 1 ] || fail "port $port still counts $clients streaming clients after the storm"
done
# and a real stream still works on both
curl -s -N --max-time 2 "http://127.0.0.1:$SSE_PORT/chart-data/x" -o "$T_DIR/stream.txt" || true
assert_contains "$(cat "$T_DIR/stream.txt")" "retry: 2000" "SSE stream after the storm"
alive "after the storm"
sd_stop "$SD_PID"
echo ok
