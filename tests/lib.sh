# Shared helpers for shell integration tests: free ports, starting and stopping sensord
# with a test pipeline, waiting for listeners, and assertions that name what differed.
# Source it: . "$(dirname "$0")/../lib.sh"
# SENSORD_WRAP: a command prefix for every sensord this test runs (e.g. valgrind ...); a
# "{log}" in it becomes a per-process log file in $T_DIR, and a test fails when such a log
# is not empty or sensord exits 99. SD_TIME_SCALE (integer, default 1) stretches the
# helpers' waits for slow wrappers.
set -euo pipefail
: "${SENSORD_ROOT:=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)}"
: "${BUILD:=build}"
: "${SENSORD_BIN:=$SENSORD_ROOT/$BUILD/sensord}"
: "${SENSORD_PLUGIN_DIR:=$SENSORD_ROOT/$BUILD/plugins}"
: "${TEST_OUT:=$SENSORD_ROOT/tests/out/$BUILD}"
DATA=$SENSORD_ROOT/tests/data
mkdir -p "$TEST_OUT"
T_NAME=$(basename "${BASH_SOURCE[1]:-$0}" .sh)
T_DIR=$(mktemp -d "$TEST_OUT/$T_NAME.XXXXXX")
SD_PIDS=()
: "${SD_TIME_SCALE:=1}"
: "${SENSORD_WRAP:=}"
SD_WRAP_LOGS=()

# The SENSORD_WRAP words with {log} replaced by $1 (into the array SD_WRAP_CMD).
sd_wrap_words() {
  local w words
  SD_WRAP_CMD=()
  [ -n "$SENSORD_WRAP" ] || return 0
  read -ra words <<<"$SENSORD_WRAP"
  for w in "${words[@]}"; do SD_WRAP_CMD+=("${w//\{log\}/$1}"); done
}

# Tests also call "$SENSORD_BIN" directly (-t, --plugin-info): under SENSORD_WRAP that name
# points to a script that runs the real binary wrapped, logging to $T_DIR/direct.<pid>.vg.
SD_REAL_BIN=$SENSORD_BIN
if [ -n "$SENSORD_WRAP" ]; then
  sd_wrap_words "$T_DIR/direct.%p.vg"
  mkdir -p "$T_DIR/wrapped"
  { echo '#!/usr/bin/env bash'; printf 'exec'; printf ' %q' "${SD_WRAP_CMD[@]}" "$SD_REAL_BIN"
    echo ' "$@"'; } >"$T_DIR/wrapped/sensord"
  chmod +x "$T_DIR/wrapped/sensord"
  SENSORD_BIN=$T_DIR/wrapped/sensord
fi

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "# $*"; }
assert_eq() { # expected actual what
  [ "$1" == "$2" ] || fail "$3: expected [$1], got [$2]"
}
assert_contains() { # haystack needle what
  [[ "$1" == *"$2"* ]] || fail "$3: [$2] not found in [$1]"
}

# A TCP port nobody listens on now (the kernel picks it).
# free_port: a port nothing listens on, and not one this test run handed out before (the
# kernel may give a just-closed port to the next bind, and two listeners would collide).
free_port() {
  python3 - "$TEST_OUT/.ports-handed-out" <<'PY'
import fcntl, socket, sys
with open(sys.argv[1], "a+") as f:
    fcntl.flock(f, fcntl.LOCK_EX)
    f.seek(0)
    used = set(f.read().split())
    while True:
        s = socket.socket(); s.bind(("127.0.0.1", 0)); port = s.getsockname()[1]; s.close()
        if str(port) not in used:
            break
    f.write(f"{port}\n")
print(port)
PY
}

# wait_http URL [seconds]: until the URL answers at all.
wait_http() {
  local url=$1 limit=$((${2:-10} * SD_TIME_SCALE)) i
  for ((i = 0; i < limit * 20; i++)); do
    curl -s -o /dev/null --max-time 1 "$url" && return 0
    sleep 0.05
  done
  fail "nothing answered at $url within ${limit}s"
}

# wait_status URL CODE [seconds]: until the URL answers with that HTTP status (e.g. an
# admin /healthz saying 200 once every stage started, not the 503 of "starting").
wait_status() {
  local url=$1 want=$2 limit=$((${3:-10} * SD_TIME_SCALE)) i code=
  for ((i = 0; i < limit * 20; i++)); do
    code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 1 "$url") && [ "$code" = "$want" ] && return 0
    sleep 0.05
  done
  fail "$url did not answer $want within ${limit}s (last: ${code:-nothing})"
}

# sd_start NAME INI_FILE: starts sensord in the background; its log is $T_DIR/NAME.log.
# Sets SD_PID. The INI should set admin_listen so readiness can be awaited with wait_http.
# Under SENSORD_WRAP the wrapper's log is $T_DIR/NAME.PID.vg.
sd_start() {
  local name=$1 ini=$2 bin=$SENSORD_BIN
  [ "$bin" = "$T_DIR/wrapped/sensord" ] && bin=$SD_REAL_BIN
  sd_wrap_words "$T_DIR/$name.%p.vg" # valgrind expands %p; exec keeps the pid
  "${SD_WRAP_CMD[@]}" "$bin" -c "$ini" >"$T_DIR/$name.log" 2>&1 &
  SD_PID=$!
  SD_PIDS+=("$SD_PID")
  SD_WRAP_LOGS[$SD_PID]=$T_DIR/$name.$SD_PID.vg
}

# sd_wrap_check PID RC: fails when the wrapper (valgrind) reported errors for this process.
sd_wrap_check() {
  local log=${SD_WRAP_LOGS[$1]:-}
  [ -n "$SENSORD_WRAP" ] || return 0
  if [ "$2" = 99 ] || { [ -n "$log" ] && [ -s "$log" ]; }; then
    # Renamed once shown, so the exit check does not print it a second time.
    [ -n "$log" ] && [ -f "$log" ] && { cat "$log" >&2; mv "$log" "$log.shown"; }
    fail "sensord $1 exited $2 under '$SENSORD_WRAP': errors in ${log:-its log}"
  fi
}

# sd_stop PID: SIGTERM, expects a clean exit 0 within 15 s (times SD_TIME_SCALE).
sd_stop() {
  local pid=$1 i rc
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 300 * SD_TIME_SCALE; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -0 "$pid" 2>/dev/null && { kill -KILL "$pid"; fail "sensord $pid did not exit within $((15 * SD_TIME_SCALE))s of SIGTERM"; }
  wait "$pid" && rc=0 || rc=$?
  sd_wrap_check "$pid" "$rc"
  [ "$rc" = 0 ] || fail "sensord $pid exited $rc after SIGTERM"
}

# At exit: kill what is left; under SENSORD_WRAP any non-empty wrapper log (a run the test
# did not stop through sd_stop, or a direct "$SENSORD_BIN" call) fails the test.
cleanup_all() {
  local rc=$? pid f bad=0
  for pid in "${SD_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
  if [ -n "$SENSORD_WRAP" ]; then
    for f in "$T_DIR"/*.vg; do
      [ -s "$f" ] || continue
      echo "FAIL: errors under '$SENSORD_WRAP' in $f:" >&2
      cat "$f" >&2
      bad=1
    done
  fi
  [ "$bad" = 0 ] || exit 1
  exit "$rc"
}
trap cleanup_all EXIT
