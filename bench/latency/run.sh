#!/usr/bin/env bash
# POST -> row latency on /query-stream at 10k readings/s (p50, p99), with the POST round trip
# alone as the baseline measured by the same client in the same run.
# Pipeline: source_http -> query_local (push query over the API) -> sink_null.
# usage: bench/latency/run.sh [seconds]   (env RATE, BATCH to change the load)
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_RUN=${1:-10}
RATE=${RATE:-10000}
dir=$(mktemp -d)
trap 'kill "$pid" 2>/dev/null || true; rm -rf "$dir"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
HP=$(port); QP=$(port)
cat >"$dir/p.ini" <<INI
[sensord]
plugin_dir = build/plugins
admin_listen = off
log_level = warn
[ingest]
plugin = source_http
listen = 127.0.0.1:$HP
[engine]
plugin = query_local
inputs = ingest
listen = 127.0.0.1:$QP
[out]
plugin = sink_null
inputs = engine
INI
build/sensord -c "$dir/p.ini" >"$dir/log" 2>&1 &
pid=$!
for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$QP/info" && break; sleep 0.05; done
for batch in ${BATCH:-10 100}; do
  echo "batch=$batch: $(python3 bench/latency/latency.py "$HP" "$QP" "$RATE" "$batch" "$SECONDS_RUN")"
done
kill -TERM "$pid"; wait "$pid" || true
