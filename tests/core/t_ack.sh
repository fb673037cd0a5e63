#!/usr/bin/env bash
# Acknowledgements through a query stage: source_gen -> fx_passthru (2 copies per batch)
# -> sink_null. The source's acks carry the sink's status although the query completed
# its input at once.
. "$(dirname "$0")/../lib.sh"
mkdir -p "$T_DIR/plugins"
ln -s "$SENSORD_PLUGIN_DIR/source_gen.so" "$SENSORD_PLUGIN_DIR/sink_null.so" "$T_DIR/plugins/"
ln -s "$SENSORD_ROOT/$BUILD/fixtures/fx_passthru.so" "$T_DIR/plugins/"

run() { # name fail-mode -> log
  local port; port=$(free_port)
  cat > "$T_DIR/$1.ini" <<INI
[sensord]
plugin_dir = $T_DIR/plugins
admin_listen = 127.0.0.1:$port

[gen]
plugin = source_gen
rate = 10000
batch_size = 10
count = 100

[copy]
plugin = fx_passthru
inputs = gen
copies = 2

[sink]
plugin = sink_null
inputs = copy
latency = 50ms
fail = $2
INI
  sd_start "$1" "$T_DIR/$1.ini"
  wait_http "http://127.0.0.1:$port/healthz"
  sleep 0.5
  sd_stop "$SD_PID"
}
run ok none
assert_contains "$(cat "$T_DIR/ok.log")" 'batches acked ok=10 retry=0 fail=0 dropped=0' "acks when the sink succeeds"
assert_contains "$(cat "$T_DIR/ok.log")" 'received 200 records in 20 batches' "two copies of every record"
run retry retry
assert_contains "$(cat "$T_DIR/retry.log")" 'batches acked ok=0 retry=10 fail=0 dropped=0' "sink's retry reaches the source"
echo ok
