# Shared helpers for shell integration tests: free ports, starting and stopping sensord
# with a test pipeline, waiting for listeners, and assertions that name what differed.
# Source it: . "$(dirname "$0")/../lib.sh"
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

fail() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "# $*"; }
assert_eq() { # expected actual what
  [ "$1" == "$2" ] || fail "$3: expected [$1], got [$2]"
}
assert_contains() { # haystack needle what
  [[ "$1" == *"$2"* ]] || fail "$3: [$2] not found in [$1]"
}

# A TCP port nobody listens on now (the kernel picks it).
free_port() {
  python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

# wait_http URL [seconds]: until the URL answers at all.
wait_http() {
  local url=$1 limit=${2:-10} i
  for ((i = 0; i < limit * 20; i++)); do
    curl -s -o /dev/null --max-time 1 "$url" && return 0
    sleep 0.05
  done
  fail "nothing answered at $url within ${limit}s"
}

# sd_start NAME INI_FILE: starts sensord in the background; its log is $T_DIR/NAME.log.
# Sets SD_PID. The INI should set admin_listen so readiness can be awaited with wait_http.
sd_start() {
  local name=$1 ini=$2
  "$SENSORD_BIN" -c "$ini" >"$T_DIR/$name.log" 2>&1 &
  SD_PID=$!
  SD_PIDS+=("$SD_PID")
}

# sd_stop PID: SIGTERM, expects a clean exit 0 within 15 s.
sd_stop() {
  local pid=$1 i rc
  kill -TERM "$pid" 2>/dev/null || return 0
  for ((i = 0; i < 300; i++)); do
    kill -0 "$pid" 2>/dev/null || break
    sleep 0.05
  done
  kill -0 "$pid" 2>/dev/null && { kill -KILL "$pid"; fail "sensord $pid did not exit within 15s of SIGTERM"; }
  wait "$pid" && rc=0 || rc=$?
  [ "$rc" = 0 ] || fail "sensord $pid exited $rc after SIGTERM"
}

cleanup_all() {
  local pid
  for pid in "${SD_PIDS[@]}"; do kill -KILL "$pid" 2>/dev/null || true; done
}
trap cleanup_all EXIT
