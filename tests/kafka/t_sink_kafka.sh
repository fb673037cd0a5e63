#!/usr/bin/env bash
# sink_kafka against the mock broker: Sensor Logger bodies posted with ack=delivered land
# on the topic exactly as the original producer wrote them (kcat readback compared field
# by field with the bodies and with sink_stdout), keyed by deviceId; `sensord -t` refuses
# bad kafka.* properties with file:line; drain on SIGTERM delivers everything.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/kafka_lib.sh"
need_plugins source_http sink_kafka sink_stdout

mb_start -b 1 -t "$KAFKA_TOPIC:4"
HTTP=$(free_port) ADMIN=$(free_port)
cat >"$T_DIR/bad.ini" <<INI
[sensord]
plugin_dir = $SENSORD_PLUGIN_DIR
admin_listen = off

[ingest]
plugin = source_http
listen = 127.0.0.1:$HTTP

[kafka]
plugin = sink_kafka
inputs = ingest
brokers = $MB_BOOTSTRAP
kafka.linger.ms = soon
kafka.no.such.property = 1
INI
out=$("$SENSORD_BIN" -c "$T_DIR/bad.ini" -t 2>&1) && fail "sensord -t accepted bad kafka.* keys"
assert_contains "$out" "bad.ini:13: stage \"kafka\" (sink_kafka): key \"kafka.linger.ms\"" "invalid value reported at its line"
assert_contains "$out" "bad.ini:14: stage \"kafka\" (sink_kafka): key \"kafka.no.such.property\": No such configuration property" "unknown property reported"
sed -i -e '/linger.ms = soon/d' -e 's/^kafka.no.such.property = 1$/kafka.acks = 1/' "$T_DIR/bad.ini"
out=$("$SENSORD_BIN" -c "$T_DIR/bad.ini" -t 2>&1) && fail "sensord -t accepted acks=1 with idempotence"
assert_contains "$out" "key \"kafka.acks\"" "cross-property conflict blamed on kafka.acks"

ingest_node_ini "$T_DIR/p.ini" "$ADMIN" "$HTTP"
cat >>"$T_DIR/p.ini" <<INI

[seen]
plugin = sink_stdout
inputs = ingest
path = $T_DIR/seen.ndjson
INI
"$SENSORD_BIN" -c "$T_DIR/p.ini" -t >/dev/null 2>&1 || fail "valid pipeline refused by sensord -t"
sd_start sensord "$T_DIR/p.ini"
SD=$SD_PID
wait_http "http://127.0.0.1:$ADMIN/metrics"

# The samples, plus 12 phones with distinct keys so several partitions are used.
bodies=()
for f in "$DATA"/sensorlogger/*.json; do bodies+=("$f"); done
for d in $(seq 1 12); do
  python3 - "$DATA/sensorlogger/ios-uncalibrated-1s.json" "$T_DIR/phone$d.json" "$d" <<'PY'
import json, sys
body = json.load(open(sys.argv[1]))
body["deviceId"] = f"phone-{int(sys.argv[3]):02d}"
body["messageId"] = 100 + int(sys.argv[3])
body["payload"] = body["payload"][:30]
json.dump(body, open(sys.argv[2], "w"))
PY
  bodies+=("$T_DIR/phone$d.json")
done
acked=()
for f in "${bodies[@]}"; do
  code=$(curl -s -o "$T_DIR/reply" -w '%{http_code}' --max-time $((20 * SD_TIME_SCALE)) -H 'Content-Type: application/json' \
    --data-binary @"$f" "http://127.0.0.1:$HTTP/phone-producer/")
  assert_eq 200 "$code" "POST $(basename "$f") with ack=delivered"
  # "Tap to Test Pushing" is answered but is not a reading: it may or may not be stored
  if [[ "$f" == */test-push.json ]]; then acked+=(--maybe "$f"); else acked+=(--acked "$f"); fi
done
produced=$(metric "$ADMIN" kafka_produced_total)
delivered=$(metric "$ADMIN" kafka_delivered_total)
assert_eq "$produced" "$delivered" "every produced record delivered (metrics)"
[ "$delivered" -gt 0 ] || fail "kafka_delivered_total is 0"
assert_eq 0 "$(metric "$ADMIN" kafka_in_flight)" "nothing in flight"
curl -s "http://127.0.0.1:$ADMIN/metrics" | grep -q '^sensord_kafka_delivery_latency_seconds_count' ||
  fail "no delivery latency histogram in /metrics"

kcat_read "$T_DIR/topic.jsonl"
python3 "$(dirname "$0")/check_topic.py" "$T_DIR/topic.jsonl" --stdout "$T_DIR/seen.ndjson" "${acked[@]}" ||
  fail "topic does not match what was posted"
[ "$(wc -l <"$T_DIR/topic.jsonl")" = "$delivered" ] || fail "topic holds $(wc -l <"$T_DIR/topic.jsonl") records, metrics say $delivered"

sd_stop "$SD"
grep -q 'drained: every reading delivered to Kafka' "$T_DIR/sensord.log" || fail "no drain line in the log"
note "sink_kafka: $delivered records read back and matched"
