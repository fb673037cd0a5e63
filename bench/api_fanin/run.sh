#!/usr/bin/env bash
# Push-query fan-in: how long a 300-reading POST takes, and how long until the last push
# query has its last row, with 0, 10, 100 and 1,000 push queries open on query_local's API
# (each matching every reading), and the daemon's CPU (user + system) per POST, which
# includes serving the rows. The 0-query run is the baseline the ratios are taken to.
# BUILDS="build build-old" runs the same set on several builds side by side (e.g. a
# worktree of an older commit), so one run gives the before/after figure.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILDS=${BUILDS:-build}
COUNTS=${COUNTS:-0 10 100 1000}
ROUNDS=${ROUNDS:-5}
PAYLOAD=tests/data/sensorlogger/ios-uncalibrated-1s.json
SQL="SELECT name, values_x FROM smartphone_sensor_stream EMIT CHANGES;"
WORK=$(mktemp -d)
trap 'kill $(jobs -p) 2>/dev/null || true; rm -rf "$WORK"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

cpu_ms() { # PID: user+system CPU of the process so far, in ms
  awk '{ print int(($14 + $15) * 1000 / '"$(getconf CLK_TCK)"') }' "/proc/$1/stat"
}

run_one() { # BUILD N: prints "post_p50_ms post_max_ms last_row_p50_ms cpu_ms_per_post"
  local build=$1 n=$2 ingest api admin
  ingest=$(port) api=$(port) admin=$(port)
  cat >"$WORK/p.ini" <<EOF
[sensord]
plugin_dir = $build/plugins
admin_listen = 127.0.0.1:$admin
log_level = warn
[ingest]
plugin = source_http
listen = 127.0.0.1:$ingest
[engine]
plugin = query_local
inputs = ingest
listen = 127.0.0.1:$api
stream = CREATE STREAM smartphone_sensor_stream (name VARCHAR, time BIGINT, values_x DOUBLE, values_y DOUBLE, values_z DOUBLE, messageId BIGINT, sessionId VARCHAR, deviceId VARCHAR) WITH (KAFKA_TOPIC='smartphone-sensor-data', VALUE_FORMAT='JSON')
EOF
  "$build/sensord" -c "$WORK/p.ini" 2>"$WORK/sd.log" &
  local sd=$! i
  for ((i = 0; i < 100; i++)); do curl -sf -o /dev/null "http://127.0.0.1:$api/info" && break; sleep 0.05; done
  local posts=() lasts=() cpu=0
  for ((r = 0; r < ROUNDS; r++)); do
    local t0 t1
    if [ "$n" -gt 0 ]; then
      rm -f "$WORK/q.out" && mkfifo "$WORK/q.out"
      python3 tests/hostile/push_fanin.py "$api" "$n" 300 "$SQL" >"$WORK/q.out" &
      exec 3<"$WORK/q.out"
      read -r -t 60 _ <&3
    fi
    local c0
    c0=$(cpu_ms "$sd")
    t0=$(date +%s%N)
    curl -s -o /dev/null -H 'Content-Type: application/json' --data-binary "@$PAYLOAD" \
      "http://127.0.0.1:$ingest/phone-producer/"
    t1=$(date +%s%N)
    posts+=($(((t1 - t0) / 1000)))
    if [ "$n" -gt 0 ]; then
      local res
      read -r -t 60 res <&3
      exec 3<&-
      wait %python3 2>/dev/null || true
      cpu=$((cpu + $(cpu_ms "$sd") - c0))
      lasts+=($(python3 -c "import json,sys; print(int(json.loads(sys.argv[1])['last_row_s']*1e6))" "$res"))
    else
      cpu=$((cpu + $(cpu_ms "$sd") - c0))
      lasts+=(0)
    fi
  done
  kill "$sd" && wait "$sd" || true
  python3 - "${posts[*]}" "${lasts[*]}" "$cpu" "$ROUNDS" <<'PY'
import statistics, sys
p = sorted(int(x) for x in sys.argv[1].split()); l = sorted(int(x) for x in sys.argv[2].split())
print(f"{statistics.median(p)/1000:.1f} {max(p)/1000:.1f} {statistics.median(l)/1000:.1f} "
      f"{int(sys.argv[3]) / int(sys.argv[4]):.0f}")
PY
}

echo "300-reading POST with N push queries open (each gets all 300 rows), $ROUNDS rounds each;"
echo "load client on the same machine"
printf '%-14s %7s %12s %12s %16s %13s %10s\n' build queries post_p50_ms post_max_ms \
  last_row_p50_ms cpu_ms_per_post x_baseline
for b in $BUILDS; do
  base=
  for n in $COUNTS; do
    read -r p50 pmax last cpu <<<"$(run_one "$b" "$n")"
    [ -n "$base" ] || base=$p50
    printf '%-14s %7s %12s %12s %16s %13s %10s\n' "$b" "$n" "$p50" "$pmax" "$last" "$cpu" \
      "$(python3 -c "print(f'{$p50/max($base,0.001):.1f}')")"
  done
done
