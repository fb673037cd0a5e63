#!/usr/bin/env bash
# Shutdown: SIGTERM drains in pipeline order (the source stops before the sink flushes)
# and exits 0; records still held at the end of grace are counted as undelivered; a second
# signal exits at once with code 1.
. "$(dirname "$0")/../lib.sh"

pipeline() { # file latency grace
  cat > "$1" <<INI
[sensord]
plugin_dir = $SENSORD_PLUGIN_DIR
admin_listen = 127.0.0.1:$(free_port)
grace = $3

[gen]
plugin = source_gen
rate = 2000
batch_size = 20

[sink]
plugin = sink_null
inputs = gen
latency = $2
queue.max_records = 100000
INI
}
wait_log() { # file pattern
  local i
  for ((i = 0; i < 200; i++)); do grep -q "$2" "$1" 2>/dev/null && return 0; sleep 0.05; done
  fail "no [$2] in $1"
}

# 1. Drain within grace: everything delivered, source drained before the sink.
pipeline "$T_DIR/a.ini" 300ms 5s
sd_start drain "$T_DIR/a.ini"
wait_log "$T_DIR/drain.log" 'msg="running'
sleep 0.5
sd_stop "$SD_PID"
log=$T_DIR/drain.log
src=$(grep -n 'stage=gen plugin=source_gen msg="drain:' "$log" | cut -d: -f1)
snk=$(grep -n 'stage=sink plugin=sink_null msg="drain:' "$log" | cut -d: -f1)
[ -n "$src" ] && [ -n "$snk" ] || fail "drain lines missing: $(cat "$log")"
[ "$src" -lt "$snk" ] || fail "sink drained before the source"
generated=$(grep -o 'generated [0-9]*' "$log" | grep -o '[0-9]*')
received=$(grep -o 'received [0-9]* records' "$log" | grep -o '[0-9]*')
assert_eq "$generated" "$received" "records generated vs received"
assert_contains "$(cat "$log")" 'msg="shutdown complete: 0 records could not be delivered"' "nothing lost"

# 2. Grace too short for the sink's latency: exit 0, the held records counted.
pipeline "$T_DIR/b.ini" 3s 300ms
sd_start short "$T_DIR/b.ini"
wait_log "$T_DIR/short.log" 'msg="running'
sleep 0.5
t0=$(date +%s%N)
sd_stop "$SD_PID"
elapsed_ms=$(( ($(date +%s%N) - t0) / 1000000 ))
[ "$elapsed_ms" -lt 3000 ] || fail "shutdown took ${elapsed_ms}ms with grace 300ms"
log=$(cat "$T_DIR/short.log")
assert_contains "$log" 'stage=sink plugin=sink_null msg="shutdown: ' "per-stage undelivered line"
lost=$(grep -o 'shutdown complete: [0-9]*' <<<"$log" | grep -o '[0-9]*$')
[ "$lost" -gt 0 ] || fail "expected undelivered records, log: $log"

# 3. A second signal exits at once with code 1.
pipeline "$T_DIR/c.ini" 20s 30s
sd_start twice "$T_DIR/c.ini"
wait_log "$T_DIR/twice.log" 'msg="running'
sleep 0.3
kill -TERM "$SD_PID"
wait_log "$T_DIR/twice.log" 'draining'
kill -INT "$SD_PID"
rc=0
for ((i = 0; i < 40; i++)); do kill -0 "$SD_PID" 2>/dev/null || break; sleep 0.05; done
kill -0 "$SD_PID" 2>/dev/null && fail "still running 2s after the second signal"
wait "$SD_PID" || rc=$?
assert_eq 1 "$rc" "exit code after a second signal"
assert_contains "$(cat "$T_DIR/twice.log")" 'msg="second signal (SIGINT) during shutdown: exiting at once without draining"' "log line"
echo ok
