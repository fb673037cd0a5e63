#!/usr/bin/env bash
# Fan-out benchmark: sensord's default pipeline (source_http → query_local → output) with
# 1 (baseline), 1,000 and 10,000 clients on one stream, 50 events/s, for out_sse and
# out_websocket. Prints one JSON line per run and a markdown table (results.md in $OUT).
# Usage: bench/fanout/run.sh [seconds=20] [client counts="1 1000 10000"] [modes="sse ws"]
# Env: THREADS (load-client epoll threads, default 2), HTTP_THREADS (out_* http_threads,
# default: the plugin's default), PERF=1 (perf record -g 5 s of sensord into $OUT), BUILD, OUT. Every run is bounded by `timeout`.
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_RUN=${1:-20}
COUNTS=${2:-"1 1000 10000"}
MODES=${3:-"sse ws"}
THREADS=${THREADS:-2}
BUILD=${BUILD:-build}
PLUGIN_DIR=${SENSORD_PLUGIN_DIR:-$PWD/$BUILD/plugins}
OUT=${OUT:-$PWD/$BUILD/bench/fanout}
mkdir -p "$OUT"
# PIN=1 gives sensord CPU 0 and the load client CPU 1, as a remote load generator would not
# take the server's cores (loopback still charges the client's TCP receive work to sensord).
SERVER_PIN="" CLIENT_PIN=""
if [ -n "${PIN:-}" ]; then SERVER_PIN="taskset -c 0" CLIENT_PIN="taskset -c 1"; fi
cc -O2 -Wall -Wextra -o "$OUT/fanout_client" bench/fanout/fanout_client.c -lpthread
# 10,000 clients need 10,000 sockets on each side (sensord raises its own soft limit).
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
[ "$(ulimit -n)" -ge 10600 ] || echo "warning: ulimit -n is $(ulimit -n); 10,000 clients need ~10,600 per process" >&2
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }

results="$OUT/results.jsonl"
: >"$results"
for mode in $MODES; do
  plugin=out_sse; [ "$mode" = ws ] && plugin=out_websocket
  for n in $COUNTS; do
    ingest=$(port) outp=$(port) engine=$(port) admin=$(port)
    sed -e "s|^plugin_dir.*|plugin_dir = $PLUGIN_DIR|" -e "s|^admin_listen.*|admin_listen = 127.0.0.1:$admin|" \
        -e "s|0.0.0.0:8000|127.0.0.1:$ingest|" -e "s|127.0.0.1:8088|127.0.0.1:$engine|" \
        -e "s|0.0.0.0:5000|127.0.0.1:$outp|" -e "s|^plugin = out_sse|plugin = $plugin|" \
        -e "s|^log_level .*|log_level = warn|" etc/pipeline.ini >"$OUT/pipeline.ini"
    [ -n "${HTTP_THREADS:-}" ] && echo "http_threads = $HTTP_THREADS" >>"$OUT/pipeline.ini"
    $SERVER_PIN "$BUILD/sensord" -c "$OUT/pipeline.ini" >"$OUT/sensord-$mode-$n.log" 2>&1 &
    pid=$!
    # sensord is bounded too: connect (≤ 120 s) + run + margin.
    (for _ in $(seq $((SECONDS_RUN + 180))); do sleep 1; kill -0 "$pid" 2>/dev/null || exit 0; done
     kill -KILL "$pid" 2>/dev/null) &
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$outp/healthz" && break; sleep 0.1; done
    if [ -n "${PERF:-}" ] && [ "$n" -gt 1 ]; then # profile 5 s of sensord once all are connected
      (for _ in $(seq 600); do
         c=$(curl -s "http://127.0.0.1:$outp/healthz" | python3 -c 'import json,sys; print(json.load(sys.stdin)["clients"])' 2>/dev/null || echo 0)
         [ "$c" -ge "$n" ] && break; sleep 0.2; done
       sleep 4; perf record -g -p "$pid" -o "$OUT/perf-$mode-$n.data" -- sleep 5 >/dev/null 2>&1) &
    fi
    timeout -s KILL $((SECONDS_RUN + 170)) $CLIENT_PIN "$OUT/fanout_client" --mode "$mode" \
      --out "127.0.0.1:$outp" --ingest "127.0.0.1:$ingest" --clients "$n" --threads "$THREADS" \
      --seconds "$SECONDS_RUN" --warmup 3 --rate 50 --pid "$pid" | tee -a "$results" ||
      echo "fanout_client failed or timed out ($mode, $n clients)" >&2
    kill -TERM "$pid" 2>/dev/null || true
    wait "$pid" || echo "sensord exited $?" >&2
  done
done

python3 - "$results" >"$OUT/results.md" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
print("| output | clients | connected | delivered events/s (expected) | missed ids | lag p50 / p99 / max ms (at parse) | lag p50 / p99 ms (kernel arrival) | client queueing p99 ms | sensord CPU % | client CPU % | machine busy % | RSS per client KB |")
print("|---|---|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    per = f'{r["rss_per_client_kb"]:.1f}' if r["clients"] > 1 else "-"
    print(f'| {r["mode"]} | {r["clients"]} | {r["connected"]} | {r["delivered_per_s"]:.0f} ({r["expected_per_s"]:.0f}) | {r["missed_ids"]} '
          f'| {r["lag_p50_ms"]:.2f} / {r["lag_p99_ms"]:.2f} / {r["lag_max_ms"]:.1f} | {r["arrival_p50_ms"]:.2f} / {r["arrival_p99_ms"]:.2f} '
          f'| {r["client_queue_p99_ms"]:.2f} | {r["cpu_pct"]:.0f} | {r["client_cpu_pct"]:.0f} | {r["machine_busy_pct"]:.0f} | {per} |')
PY
cat "$OUT/results.md"
