#!/usr/bin/env bash
# Runs every test: Check unit binaries (build/tests/*), shell integration tests
# (tests/*/t_*.sh) and node tests (tests/*/*.test.mjs). Prints one closing line
# "N passed, N failed" and exits non-zero on any failure. Optional filter: a suite folder.
set -uo pipefail
cd "$(dirname "$0")/.."
export BUILD=${BUILD:-build}
export SENSORD_BIN=$PWD/$BUILD/sensord
export SENSORD_PLUGIN_DIR=$PWD/$BUILD/plugins
export SENSORD_ROOT=$PWD
export TEST_OUT=$PWD/tests/out/$BUILD
mkdir -p "$TEST_OUT"
only=${1:-}

passed=0 failed=0 failures=()
run_one() { # name, command...
  local name=$1; shift
  local log="$TEST_OUT/$(echo "$name" | tr '/' '_').log"
  local t0=$(date +%s)
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
    run_one "unit/$(basename "$bin")" env CK_FORK=no valgrind --quiet --error-exitcode=99 \
      --leak-check=full --errors-for-leak-kinds=definite "$bin"
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
