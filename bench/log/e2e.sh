#!/usr/bin/env bash
# Stream log end to end (not a test): wrk POSTs of 100 readings into source_http with
# ack = delivered -> query_local -> sink_null, once without data_dir (memory only) and once
# per fsync setting (interval0: fsync = interval with fsync_interval = 0), on one machine in one run. Prints readings/s and p50/p99 per POST.
# usage: bench/log/e2e.sh    env: DURATION=5 CONNECTIONS=16 BUILD=build MODES="off never interval interval0 batch"
set -euo pipefail
cd "$(dirname "$0")/../.."
DURATION=${DURATION:-5}
CONNECTIONS=${CONNECTIONS:-16}
BUILD=${BUILD:-build}
MODES=${MODES:-off never interval interval0 batch}
OUT=$(mktemp -d "${TMPDIR:-/tmp}/sensord-bench-log.XXXXXX")
PID=
trap '[ -z "$PID" ] || kill "$PID" 2>/dev/null; rm -rf "$OUT"' EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
for mode in $MODES; do
  port=$(free_port)
  rm -rf "$OUT/data"
  {
    printf '[sensord]\nplugin_dir = %s/plugins\nadmin_listen = off\nlog_level = warn\n\n' "$BUILD"
    printf '[ingest]\nplugin = source_http\nlisten = 127.0.0.1:%s\nack = delivered\n\n' "$port"
    printf '[engine]\nplugin = query_local\ninputs = ingest\nlisten = off\n'
    case $mode in
      off) ;;
      interval0) printf 'data_dir = %s/data\nfsync = interval\nfsync_interval = 0\n' "$OUT" ;;
      *) printf 'data_dir = %s/data\nfsync = %s\n' "$OUT" "$mode" ;;
    esac
    printf '\n[null]\nplugin = sink_null\ninputs = engine\n'
  } >"$OUT/$mode.ini"
  "$BUILD/sensord" -c "$OUT/$mode.ini" >"$OUT/$mode.log" 2>&1 &
  PID=$!
  for _ in $(seq 100); do curl -s -o /dev/null "http://127.0.0.1:$port/" && break; sleep 0.05; done
  wrk -t1 -c"$CONNECTIONS" -d1s -s bench/ingest/post.lua "http://127.0.0.1:$port/phone-producer/" -- 100 >/dev/null
  line=$(wrk -t1 -c"$CONNECTIONS" -d"${DURATION}s" --timeout 10s -s bench/ingest/post.lua \
    "http://127.0.0.1:$port/phone-producer/" -- 100 | grep '^RESULT')
  bytes=$(du -sb "$OUT/data" 2>/dev/null | cut -f1 || echo 0)
  kill "$PID"; wait "$PID" 2>/dev/null || true; PID=
  python3 - "$mode" "${bytes:-0}" $line <<'PY'
import sys
mode, size = sys.argv[1], int(sys.argv[2])
r = dict(x.split("=") for x in sys.argv[4:])
secs = int(r["duration_us"]) / 1e6
ok = int(r["requests"]) - int(r["non2xx"])
print(f"{mode:<9} {ok * 100 / secs:>12,.0f} readings/s  p50 {int(r['p50_us'])/1000:.2f} ms  "
      f"p99 {int(r['p99_us'])/1000:.2f} ms  non-2xx {r['non2xx']}"
      + (f"  log {size / 1048576:.1f} MiB" if size else ""))
PY
done
