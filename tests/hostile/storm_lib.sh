# shellcheck shell=bash
# Shared by the storm tests (sourced after ../lib.sh, with SD_PID running): the daemon's
# descriptors and RSS before a storm, and the check that both come back afterwards.
# Descriptors may end within 4 of the baseline; RSS within 8 MiB, or 320 MiB under ASan,
# which keeps up to 256 MiB of freed memory in quarantine (LeakSanitizer at exit is what
# finds a leak there).
STORM_PY=$(dirname "${BASH_SOURCE[0]}")/sse_storm.py
RSS_SLACK_KB=$((8 * 1024))
ldd "$SD_REAL_BIN" | grep libasan >/dev/null && RSS_SLACK_KB=$((320 * 1024))

field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
alive() { kill -0 "$SD_PID" 2>/dev/null || { tail -n 60 "$T_DIR/sd.log" >&2; fail "sensord died: $1"; }; }

# storm_baseline: records the daemon's descriptors and RSS in STORM_BASE.
storm_baseline() {
  STORM_BASE=$(python3 "$STORM_PY" proc "$SD_PID")
  note "baseline after warm-up: $STORM_BASE"
}

# storm_settled TRIES [CHECK]: waits (TRIES x 50 ms) until the descriptors are back, and
# CHECK (a command) succeeds if given, then fails unless descriptors and RSS are back.
# Leaves the last reading in STORM_NOW.
storm_settled() {
  local tries=$1 check=${2:-true} ok=0 i
  for ((i = 0; i < tries * SD_TIME_SCALE; i++)); do
    STORM_NOW=$(python3 "$STORM_PY" proc "$SD_PID")
    [ "$(field "$STORM_NOW" fds)" -le $(($(field "$STORM_BASE" fds) + 4)) ] && $check && { ok=1; break; }
    sleep 0.05
  done
  note "after the storms: $STORM_NOW (RSS slack $RSS_SLACK_KB KiB)"
  [ "$ok" = 1 ] || fail "descriptors: baseline $STORM_BASE, after the storms $STORM_NOW"
  [ "$(field "$STORM_NOW" rss_kb)" -le $(($(field "$STORM_BASE" rss_kb) + RSS_SLACK_KB)) ] ||
    fail "RSS did not come back: baseline $STORM_BASE, after the storms $STORM_NOW"
}
