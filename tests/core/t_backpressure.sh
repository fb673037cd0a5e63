#!/usr/bin/env bash
# on_full policies end to end: a fast source_gen into a slow sink_null with a small queue.
# reject: busy counted, the source paused and resumed, nothing dropped or lost.
# drop: drops counted by reason and acked as dropped. block: neither busy nor drops.
. "$(dirname "$0")/../lib.sh"

run() { # name on_full -> leaves $T_DIR/NAME.metrics and NAME.log
  local port; port=$(free_port)
  cat > "$T_DIR/$1.ini" <<INI
[sensord]
plugin_dir = $SENSORD_PLUGIN_DIR
admin_listen = 127.0.0.1:$port
grace = 5s

[gen]
plugin = source_gen
rate = 20000
batch_size = 50

[sink]
plugin = sink_null
inputs = gen
latency = 20ms
queue.max_records = 200
on_full = $2
INI
  sd_start "$1" "$T_DIR/$1.ini"
  wait_http "http://127.0.0.1:$port/healthz"
  sleep 1
  curl -s "http://127.0.0.1:$port/metrics" > "$T_DIR/$1.metrics"
  sd_stop "$SD_PID"
}
metric() { # file series
  grep -F "$2 " "$1" | awk '{print $2}'
}

run reject reject
busy=$(metric "$T_DIR/reject.metrics" 'sensord_emit_busy_total{stage="gen",plugin="source_gen"}')
[ "${busy:-0}" -gt 0 ] || fail "no busy emits with on_full=reject"
assert_eq 0 "$(metric "$T_DIR/reject.metrics" 'sensord_dropped_records_total{stage="sink",plugin="sink_null",reason="queue_full"}')" "no drops with reject"
assert_contains "$(cat "$T_DIR/reject.log")" 'shutdown complete: 0 records could not be delivered' "nothing lost with reject"
assert_contains "$(cat "$T_DIR/reject.log")" 'dropped=0' "no dropped acks with reject"

run drop drop
dropped=$(metric "$T_DIR/drop.metrics" 'sensord_dropped_records_total{stage="sink",plugin="sink_null",reason="queue_full"}')
[ "${dropped:-0}" -gt 0 ] || fail "no drops counted with on_full=drop"
acked_dropped=$(grep -o 'dropped=[0-9]*' "$T_DIR/drop.log" | cut -d= -f2)
[ "$acked_dropped" -gt 0 ] || fail "dropped batches not acked as dropped"

run block block
assert_eq 0 "$(metric "$T_DIR/block.metrics" 'sensord_emit_busy_total{stage="gen",plugin="source_gen"}')" "no busy with block"
assert_eq 0 "$(metric "$T_DIR/block.metrics" 'sensord_dropped_records_total{stage="sink",plugin="sink_null",reason="queue_full"}')" "no drops with block"
q=$(metric "$T_DIR/block.metrics" 'sensord_queue_records{stage="sink",plugin="sink_null"}')
[ "$q" -le 200 ] || fail "queue over its limit with block: $q"
assert_contains "$(cat "$T_DIR/block.log")" 'shutdown complete: 0 records could not be delivered' "nothing lost with block"
echo ok
