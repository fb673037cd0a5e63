#!/usr/bin/env bash
# source_gen -> sink_stdout end to end: an exact record count, the NDJSON shape, and a
# clean SIGTERM exit with nothing undelivered.
. "$(dirname "$0")/../lib.sh"
port=$(free_port)
cat > "$T_DIR/p.ini" <<INI
[sensord]
plugin_dir = $SENSORD_PLUGIN_DIR
admin_listen = 127.0.0.1:$port
grace = 5s

[gen]
plugin = source_gen
rate = 20000
batch_size = 64
device_count = 3
count = 5000

[out]
plugin = sink_stdout
inputs = gen
path = $T_DIR/out.ndjson
INI
sd_start e2e "$T_DIR/p.ini"
wait_http "http://127.0.0.1:$port/healthz"
for ((i = 0; i < 200; i++)); do
  [ "$(wc -l < "$T_DIR/out.ndjson" 2>/dev/null || echo 0)" -ge 5000 ] && break
  sleep 0.05
done
sleep 0.2 # nothing beyond count may arrive
sd_stop "$SD_PID"
assert_eq 5000 "$(wc -l < "$T_DIR/out.ndjson")" "records written"
python3 - "$T_DIR/out.ndjson" <<'PY'
import json, sys
rows = [json.loads(l) for l in open(sys.argv[1])]
assert list(rows[0].keys()) == ["timestamp_ns", "key", "schema", "fields"], rows[0].keys()
f = rows[0]["fields"]
assert list(f.keys()) == ["name", "time", "values_x", "values_y", "values_z", "messageId", "sessionId", "deviceId"], f.keys()
assert rows[0]["schema"] is None
assert all(r["key"] == r["fields"]["deviceId"] for r in rows)
assert {r["key"] for r in rows} == {"gen-device-0001", "gen-device-0002", "gen-device-0003"}
assert all(isinstance(r["fields"]["time"], int) and r["fields"]["time"] == r["timestamp_ns"] for r in rows)
assert all(isinstance(r["fields"]["values_x"], float) for r in rows)
PY
log=$(cat "$T_DIR/e2e.log")
assert_contains "$log" 'stage=gen plugin=source_gen msg="generated 5000 records: count reached"' "count reached"
assert_contains "$log" 'msg="shutdown complete: 0 records could not be delivered"' "clean shutdown"
echo ok
