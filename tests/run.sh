#!/usr/bin/env bash
# Runs every test: Check unit binaries (build/tests/*), shell integration tests
# (tests/*/t_*.sh) and node tests (tests/*/*.test.mjs). Prints one closing line
# "N passed, N failed" and exits non-zero on any failure. Optional filter: a suite folder.
# VALGRIND=1 runs the unit binaries and every sensord the integration tests start under
# valgrind (through SENSORD_WRAP, see tests/lib.sh), with waits stretched by SD_TIME_SCALE.
set -uo pipefail
cd "$(dirname "$0")/.."
export BUILD=${BUILD:-build}
export SENSORD_BIN=$PWD/$BUILD/sensord
export SENSORD_PLUGIN_DIR=$PWD/$BUILD/plugins
export SENSORD_ROOT=$PWD
export TEST_OUT=$PWD/tests/out/$BUILD
mkdir -p "$TEST_OUT"
: >"$TEST_OUT/.ports-handed-out" # free_port (lib.sh) never hands out a port twice per run
only=${1:-}
VG=(valgrind --quiet --error-exitcode=99 --leak-check=full --show-leak-kinds=definite
  --errors-for-leak-kinds=definite --keep-debuginfo=yes)
if [ -n "${VALGRIND:-}" ]; then
  # {log} becomes one log file per sensord run (lib.sh, helpers.mjs); a test fails when
  # that log is not empty. Open descriptors at exit are not what this run checks.
  export SENSORD_WRAP=${SENSORD_WRAP:-${VG[*]} --track-fds=no --log-file={log}}
  export SD_TIME_SCALE=${SD_TIME_SCALE:-10}
fi

# A ThreadSanitizer build (sensord linked with libtsan: make check-tsan) writes its reports
# to one file per process under $TEST_OUT/tsan/<test>/ (TSAN_OPTIONS log_path, so reports
# of processes a test killed or expected to fail count too); a test that left any report
# fails. TSAN_OPTIONS set by the caller is appended, so it can override these.
TSAN_DIR= TSAN_USER_OPTIONS=${TSAN_OPTIONS:-}
if ldd "$SENSORD_BIN" 2>/dev/null | grep -q libtsan; then
  TSAN_DIR=$TEST_OUT/tsan
  export SD_TIME_SCALE=${SD_TIME_SCALE:-2}
fi
tsan_run() { # name, command...: the command with its own report folder; fails on a report
  local dir=$TSAN_DIR/$(echo "$1" | tr '/' '_') rc=0
  shift
  rm -rf "$dir" && mkdir -p "$dir"
  TSAN_OPTIONS="exitcode=66 halt_on_error=0 second_deadlock_stack=1 log_path=$dir/tsan \
suppressions=$PWD/tests/tsan.supp $TSAN_USER_OPTIONS" "$@" || rc=$?
  if compgen -G "$dir/tsan.*" >/dev/null; then
    echo "FAIL: ThreadSanitizer reports in $dir:"
    cat "$dir"/tsan.*
    return 1
  fi
  return "$rc"
}

passed=0 failed=0 failures=()
run_one() { # name, command...
  local name=$1; shift
  local log="$TEST_OUT/$(echo "$name" | tr '/' '_').log"
  local t0=$(date +%s)
  [ -z "$TSAN_DIR" ] || set -- tsan_run "$name" "$@"
  if "$@" >"$log" 2>&1; then
    passed=$((passed + 1)); echo "PASS $name ($(( $(date +%s) - t0 ))s)"
  else
    failed=$((failed + 1)); failures+=("$name"); echo "FAIL $name (log: $log)"
    tail -n 40 "$log" | sed 's/^/    /'
  fi
}

for bin in "$BUILD"/tests/*; do
  [ -x "$bin" ] && [ -f "$bin" ] || continue
  [ -n "$only" ] && [ "$only" != unit ] && continue
  if [ -n "${VALGRIND:-}" ]; then
    run_one "unit/$(basename "$bin")" env CK_FORK=no "${VG[@]}" "$bin"
  else
    run_one "unit/$(basename "$bin")" "$bin"
  fi
done

[ "$only" = unit ] || for t in tests/*/t_*.sh tests/*/*.test.mjs; do
  [ -f "$t" ] || continue
  [ -n "$only" ] && [[ "$t" != tests/$only/* ]] && continue
  case "$t" in
    *.sh) run_one "$t" bash "$t" ;;
    *.mjs) run_one "$t" node --test --test-reporter=spec "$t" ;;
  esac
done

echo
[ ${#failures[@]} -gt 0 ] && printf 'failed: %s\n' "${failures[@]}"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ]
