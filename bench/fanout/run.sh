#!/usr/bin/env bash
# Fan-out benchmark: sensord's default pipeline (source_http → query_local → output) with
# 1 (baseline), 1,000 and 10,000 clients on one stream, 50 events/s, for out_sse and
# out_websocket. Prints one JSON line per run and a markdown table (results.md in $OUT).
# Usage: bench/fanout/run.sh [seconds=20] [client counts="1 1000 10000"] [modes="sse ws"]
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_RUN=${1:-20}
COUNTS=${2:-"1 1000 10000"}
MODES=${3:-"sse ws"}
BUILD=${BUILD:-build}
PLUGIN_DIR=${SENSORD_PLUGIN_DIR:-$PWD/$BUILD/plugins}
OUT=${OUT:-$PWD/$BUILD/bench/fanout}
mkdir -p "$OUT"
cc -O2 -Wall -Wextra -o "$OUT/fanout_client" bench/fanout/fanout_client.c -lpthread
ulimit -n 65536 2>/dev/null || ulimit -n "$(ulimit -Hn)"
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
    "$BUILD/sensord" -c "$OUT/pipeline.ini" >"$OUT/sensord-$mode-$n.log" 2>&1 &
    pid=$!
    for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$outp/healthz" && break; sleep 0.1; done
    "$OUT/fanout_client" --mode "$mode" --out "127.0.0.1:$outp" --ingest "127.0.0.1:$ingest" \
      --clients "$n" --seconds "$SECONDS_RUN" --warmup 3 --rate 50 --pid "$pid" | tee -a "$results"
    kill -TERM "$pid"; wait "$pid" || echo "sensord exited $?" >&2
  done
done

python3 - "$results" >"$OUT/results.md" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1]) if l.strip()]
base = {r["mode"]: r for r in rows if r["clients"] == 1}
print("| output | clients | connected | delivered events/s (expected) | p50 lag ms | p99 lag ms | max lag ms | sensord CPU % | RSS per client KB | p99 vs 1 client |")
print("|---|---|---|---|---|---|---|---|---|---|")
for r in rows:
    b = base.get(r["mode"])
    ratio = f'{r["lag_p99_ms"] / b["lag_p99_ms"]:.1f}x' if b and b["lag_p99_ms"] else "-"
    per = f'{r["rss_per_client_kb"]:.1f}' if r["clients"] > 1 else "-"
    print(f'| {r["mode"]} | {r["clients"]} | {r["connected"]} | {r["delivered_per_s"]:.0f} ({r["expected_per_s"]:.0f}) | {r["lag_p50_ms"]:.2f} | {r["lag_p99_ms"]:.2f} | {r["lag_max_ms"]:.1f} | {r["cpu_pct"]:.0f} | {per} | {ratio} |')
PY
cat "$OUT/results.md"
