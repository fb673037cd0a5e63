#!/usr/bin/env bash
# Ingest benchmark (not a test): the same wrk load against sensord (source_http ->
# sink_null) and against the Python baseline (FastAPI + uvicorn, producer.py), one after
# the other in one run, for batches of 1, 100 and 1500 readings. Prints readings/s,
# requests/s, p50/p99 latency, CPU and RSS of each server, and the sensord/Python ratio.
# usage: bench/ingest/run.sh     env: DURATION=10 CONNECTIONS=16 SIZES="1 100 1500"
#        THREADS=2 (source_http worker threads) PYTHON=/usr/bin/python3
#        BEFORE=/path/to/build: also run the sensord of another build (e.g. the previous
#        commit's, from `git archive`) in the same run, as server "before"
#        SERVERS="sensord python" (and "before" when BEFORE is set): which to run
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-10}
CONNECTIONS=${CONNECTIONS:-16}
SIZES=${SIZES:-1 100 1500}
THREADS=${THREADS:-2}
PYTHON=${PYTHON:-/usr/bin/python3} # Debian's, where python3-fastapi/python3-uvicorn live
BUILD=${BUILD:-build}
BEFORE=${BEFORE:-}
SERVERS=${SERVERS:-sensord${BEFORE:+ before} python}
OUT=$(mktemp -d "${TMPDIR:-/tmp}/sensord-bench-ingest.XXXXXX")
PIDS=()
cleanup() {
  local p
  for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
  for p in "${PIDS[@]}"; do wait "$p" 2>/dev/null || true; done
}
trap cleanup EXIT

[ -x "$BUILD/sensord" ] && [ -f "$BUILD/plugins/source_http.so" ] && [ -f "$BUILD/plugins/sink_null.so" ] ||
  make -j2 "$BUILD/sensord" "$BUILD/plugins/source_http.so" "$BUILD/plugins/sink_null.so" >&2
command -v wrk >/dev/null || { echo "wrk is not installed (Debian package wrk)" >&2; exit 1; }
"$PYTHON" -c 'import fastapi, uvicorn' 2>/dev/null ||
  { echo "$PYTHON lacks fastapi/uvicorn (Debian: python3-fastapi python3-uvicorn)" >&2; exit 1; }

free_port() { "$PYTHON" -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
wait_port() {
  local i
  for ((i = 0; i < 200; i++)); do
    curl -s -o /dev/null --max-time 1 "http://127.0.0.1:$1/" && return 0
    sleep 0.05
  done
  echo "nothing listening on port $1" >&2
  exit 1
}
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; } # utime + stime
rss_kb() { awk '/^VmRSS:/ { print $2 }' "/proc/$1/status"; }

# start_sensord BUILD_DIR PORT NAME: starts a sensord (source_http -> sink_null) on PORT
start_sensord() {
  cat >"$OUT/$3.ini" <<INI
[sensord]
plugin_dir = $1/plugins
admin_listen = off
log_level = warn

[ingest]
plugin = source_http
listen = 127.0.0.1:$2
threads = $THREADS

[null]
plugin = sink_null
inputs = ingest
INI
  "$1/sensord" -c "$OUT/$3.ini" >"$OUT/$3.log" 2>&1 &
  PIDS+=("$!")
}

SD_PORT=$(free_port)
PY_PORT=$(free_port)
start_sensord "$BUILD" "$SD_PORT" sensord
SD_PID=${PIDS[-1]}
if [ -n "$BEFORE" ]; then
  BEFORE_PORT=$(free_port)
  start_sensord "$BEFORE" "$BEFORE_PORT" before
  BEFORE_PID=${PIDS[-1]}
fi
PYTHONDONTWRITEBYTECODE=1 "$PYTHON" -m uvicorn --app-dir bench/ingest producer:app --host 127.0.0.1 --port "$PY_PORT" \
  --log-level warning --no-access-log >"$OUT/python.log" 2>&1 &
PY_PID=$!
PIDS+=("$PY_PID")
wait_port "$SD_PORT"
wait_port "$PY_PORT"
[ -z "$BEFORE" ] || wait_port "$BEFORE_PORT"

TICK=$(getconf CLK_TCK)
# run NAME PID PORT SIZE: one wrk run; appends a result row to $OUT/rows
run() {
  local name=$1 pid=$2 port=$3 size=$4 c0 c1 line
  wrk -t1 -c"$CONNECTIONS" -d1s -s bench/ingest/post.lua "http://127.0.0.1:$port/phone-producer/" -- "$size" >/dev/null # warm-up
  c0=$(cpu_ticks "$pid")
  line=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s -s bench/ingest/post.lua \
    "http://127.0.0.1:$port/phone-producer/" -- "$size" | grep '^RESULT')
  c1=$(cpu_ticks "$pid")
  echo "$name $size $((c1 - c0)) $(rss_kb "$pid") $line" >>"$OUT/rows"
}

for size in $SIZES; do
  for server in $SERVERS; do
    case $server in
      sensord) run sensord "$SD_PID" "$SD_PORT" "$size" ;;
      before) run before "$BEFORE_PID" "$BEFORE_PORT" "$size" ;;
      python) run python "$PY_PID" "$PY_PORT" "$size" ;;
    esac
  done
done

echo "machine: $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) CPUs, $(uname -sr)"
echo "load:    wrk -t1 -c$CONNECTIONS -d${DURATION}s per row (after a 1 s warm-up), source_http threads=$THREADS"
"$PYTHON" - "$OUT/rows" "$TICK" <<'PY'
import sys
rows, tick = [], int(sys.argv[2])
for line in open(sys.argv[1]):
    name, size, ticks, rss, _, *kv = line.split()
    r = dict(x.split("=") for x in kv)
    secs = int(r["duration_us"]) / 1e6
    errors = sum(int(r[k]) for k in ("connect_errors", "read_errors", "write_errors", "timeouts", "non2xx"))
    ok = int(r["requests"]) - int(r["non2xx"])
    rows.append(dict(name=name, size=int(size), rps=ok / secs, readings=ok * int(size) / secs,
                     p50=int(r["p50_us"]) / 1000, p99=int(r["p99_us"]) / 1000,
                     cpu=100 * int(ticks) / tick / secs, rss=int(rss) / 1024, errors=errors))
fmt = "{:<6} {:<8} {:>12} {:>11} {:>9} {:>9} {:>6} {:>8} {:>7}"
print(fmt.format("batch", "server", "readings/s", "requests/s", "p50 ms", "p99 ms", "CPU %", "RSS MiB", "errors"))
for r in rows:
    print(fmt.format(r["size"], r["name"], f"{r['readings']:,.0f}", f"{r['rps']:,.0f}", f"{r['p50']:.2f}",
                     f"{r['p99']:.2f}", f"{r['cpu']:.0f}", f"{r['rss']:.1f}", r["errors"]))
by = {(r["name"], r["size"]): r for r in rows}
for name in ("sensord", "before"):
    ratios = [f"{s}: {by[(name, s)]['readings'] / by[('python', s)]['readings']:.1f}x"
              for s in sorted({r["size"] for r in rows})
              if (name, s) in by and ('python', s) in by and by[('python', s)]['readings'] > 0]
    if ratios:
        print(f"{name} / python readings/s: " + ", ".join(ratios))
PY
