#!/usr/bin/env bash
# source_kafka against the mock broker: JSON objects become records field by field (exact
# int64, key = message key, nested objects flattened, arrays as JSON text); a value that is
# not JSON or not an object is counted and skipped with its partition/offset logged;
# offsets are committed after downstream acknowledged, so a restart in the same group
# reads only new messages; a tiny queue with on_full=reject loses nothing.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/kafka_lib.sh"
need_plugins source_kafka sink_stdout

mb_start -b 1 -t "$KAFKA_TOPIC:2"
ADMIN=$(free_port)
produce() { timeout 20 kcat -P -b "$MB_BOOTSTRAP" -t "$KAFKA_TOPIC" -K '|' -z none || fail "kcat could not produce"; }
cat <<'MSGS' | produce
dev-a|{"name":"accelerometer","time":1732435201000000103,"values_x":0.5,"values_y":-1.25,"values_z":9.81,"messageId":7,"sessionId":"s1","deviceId":"dev-a"}
dev-b|{"name":"battery","time":1732435201000000999,"values_batteryLevel":0.75,"values_lowPowerMode":false,"big":9007199254740993,"none":null,"deviceId":"dev-b"}
dev-b|this is not json {
dev-a|[1,2,3]
dev-c|{"nested":{"inner":{"x":1.5}},"list":[1,"two"],"text":"é \"quoted\""}
MSGS

cat >"$T_DIR/p.ini" <<INI
[sensord]
plugin_dir = $SENSORD_PLUGIN_DIR
admin_listen = 127.0.0.1:$ADMIN

[kafka]
plugin = source_kafka
brokers = $MB_BOOTSTRAP
group_id = t-source-kafka
auto_offset_reset = earliest
; the mock cluster makes a rejoining group wait one session timeout: keep it short
kafka.session.timeout.ms = 6000
kafka.heartbeat.interval.ms = 1000

[out]
plugin = sink_stdout
inputs = kafka
path = $T_DIR/out1.ndjson
INI
"$SENSORD_BIN" -c "$T_DIR/p.ini" -t >/dev/null 2>&1 || fail "sensord -t refused the pipeline"
sd_start run1 "$T_DIR/p.ini"
SD=$SD_PID
wait_http "http://127.0.0.1:$ADMIN/metrics"
for ((i = 0; i < 200; i++)); do
  [ "$(count_lines "$T_DIR/out1.ndjson")" -ge 3 ] && break
  sleep 0.05
done
for ((i = 0; i < 100; i++)); do [ "$(metric "$ADMIN" kafka_commits_total)" -gt 0 ] && break; sleep 0.05; done
[ "$(metric "$ADMIN" kafka_commits_total)" -gt 0 ] || fail "no offset commit acknowledged"
assert_eq 2 "$(metric "$ADMIN" kafka_skipped_total)" "skipped messages"
grep -q 'skipped message at smartphone-sensor-data partition [0-9] offset [0-9]*: not JSON' "$T_DIR/run1.log" ||
  fail "non-JSON value not logged with partition/offset"
grep -q 'skipped message at .* offset [0-9]*: JSON value is not an object' "$T_DIR/run1.log" ||
  fail "JSON array value not logged"
python3 - "$T_DIR/out1.ndjson" <<'PY' || fail "records differ from the messages"
import json, sys
recs = {}
for line in open(sys.argv[1]):
    r = json.loads(line)
    recs.setdefault(r["key"], []).append(r)
assert sorted(recs) == ["dev-a", "dev-b", "dev-c"], sorted(recs)
a = recs["dev-a"][0]
assert list(a["fields"].items()) == [("name", "accelerometer"), ("time", 1732435201000000103),
    ("values_x", 0.5), ("values_y", -1.25), ("values_z", 9.81), ("messageId", 7),
    ("sessionId", "s1"), ("deviceId", "dev-a")], a
assert a["timestamp_ns"] == 1732435201000000103, a["timestamp_ns"]
b = recs["dev-b"][0]["fields"]
assert b["big"] == 9007199254740993 and isinstance(b["big"], int), b
assert b["values_lowPowerMode"] is False and b["none"] is None, b
c = recs["dev-c"][0]["fields"]
assert c == {"nested_inner_x": 1.5, "list": '[1,"two"]', "text": 'é "quoted"'}, c
print("records match:", sum(len(v) for v in recs.values()))
PY
sd_stop "$SD"

# Same group again: only what arrives now is read (the first run committed).
printf 'dev-d|{"n":1,"deviceId":"dev-d"}\ndev-d|{"n":2,"deviceId":"dev-d"}\n' | produce
sed -i "s|out1.ndjson|out2.ndjson|" "$T_DIR/p.ini"
sd_start run2 "$T_DIR/p.ini"
SD=$SD_PID
for ((i = 0; i < 400; i++)); do
  [ "$(count_lines "$T_DIR/out2.ndjson")" -ge 2 ] && break
  sleep 0.05
done
sleep 0.5
assert_eq "dev-d dev-d" "$(python3 -c 'import json,sys; print(" ".join(json.loads(l)["key"] for l in open(sys.argv[1])))' "$T_DIR/out2.ndjson")" \
  "records read after a restart in the same group"
sd_stop "$SD"

# Backpressure: a 10-record queue that rejects when full; 3000 messages, none lost.
python3 -c '
for i in range(3000): print(f"dev-{i % 7}|{{\"seq\":{i},\"deviceId\":\"dev-{i % 7}\"}}")' | produce
cat >>"$T_DIR/p.ini" <<INI
queue.max_records = 10
on_full = reject
INI
sed -i -e "s|out2.ndjson|out3.ndjson|" -e "s|group_id = t-source-kafka|group_id = t-source-kafka-bp|" "$T_DIR/p.ini"
sd_start run3 "$T_DIR/p.ini"
SD=$SD_PID
wait_http "http://127.0.0.1:$ADMIN/metrics"
for ((i = 0; i < 400; i++)); do
  [ "$(count_lines "$T_DIR/out3.ndjson" '"seq"')" -ge 3000 ] && break
  sleep 0.05
done
busy=$(metric "$ADMIN" kafka_busy_total)
sd_stop "$SD"
python3 - "$T_DIR/out3.ndjson" <<'PY' || fail "records lost or duplicated under backpressure"
import json, sys
seqs = [json.loads(l)["fields"]["seq"] for l in open(sys.argv[1]) if '"seq"' in l]
assert sorted(set(seqs)) == list(range(3000)), f"{len(set(seqs))} distinct of 3000"
print(f"{len(seqs)} records, {len(seqs) - len(set(seqs))} duplicates")
PY
note "source_kafka: backpressure refusals retried: $busy"
