#!/usr/bin/env bash
# POST -> row latency on /query-stream at 10k readings/s (p50 … max), with the POST round
# trip of the same sends as the baseline, measured by one C client (latency_client.c).
# Pipeline: source_http -> query_local (push query over the API) -> sink_null.
# usage: bench/latency/run.sh [seconds]   env: RATE (readings/s), BATCHES ("10 100"),
#        HTTP ("http1 http2"), WARMUP (s), BUILDS (build dirs holding sensord and plugins/,
#        default "build"; with two or more, each case runs against each build in turn, one
#        daemon per build up at once, so a before/after comparison shares the same minutes)
set -euo pipefail
cd "$(dirname "$0")/../.."
SECONDS_RUN=${1:-8}
RATE=${RATE:-10000}
WARMUP=${WARMUP:-1}
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
cc -std=c11 -D_GNU_SOURCE -O2 -Wall -Wextra -Werror -pthread -o "$dir/latency_client" \
  bench/latency/latency_client.c -lcurl
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
read -r -a builds <<<"${BUILDS:-build}"
pids=()
trap 'for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done; rm -rf "$dir"' EXIT
declare -A HP QP
for b in "${builds[@]}"; do
  HP[$b]=$(port); QP[$b]=$(port)
  cat >"$dir/p.ini" <<INI
[sensord]
plugin_dir = $b/plugins
admin_listen = off
log_level = warn
[ingest]
plugin = source_http
listen = 127.0.0.1:${HP[$b]}
[engine]
plugin = query_local
inputs = ingest
listen = 127.0.0.1:${QP[$b]}
[out]
plugin = sink_null
inputs = engine
INI
  "$b/sensord" -c "$dir/p.ini" >>"$dir/log" 2>&1 &
  pids+=($!)
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:${QP[$b]}/info" && break; sleep 0.05; done
done
for http in ${HTTP:-http1 http2}; do
  for batch in ${BATCHES:-10 100}; do
    for b in "${builds[@]}"; do
      printf '%s ' "$b"
      timeout $((SECONDS_RUN + WARMUP + 15)) "$dir/latency_client" "${HP[$b]}" "${QP[$b]}" "$RATE" \
        "$batch" "$SECONDS_RUN" "$WARMUP" "$http" || echo "run failed: $b $http batch=$batch" >&2
    done
  done
done
for p in "${pids[@]}"; do kill -TERM "$p"; wait "$p" || true; done
pids=()
