#!/usr/bin/env bash
# How sink_kafka reports failures. A topic librdkafka refuses stops start-up with a message
# naming the topic and librdkafka's reason. During a broker outage a 2000-reading batch
# that times out gives one warning with the count and the reason, not one per reading,
# while every failed reading is still counted in kafka_failed_total.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/kafka_lib.sh"
need_plugins source_http sink_kafka

mb_start -b 1 -t "$KAFKA_TOPIC:2"
HTTP=$(free_port) ADMIN=$(free_port)
write_ini() { # FILE TOPIC
  ingest_node_ini "$1" "$ADMIN" "$HTTP"
  cat >>"$1" <<INI
topic = $2
kafka.message.timeout.ms = 1500
kafka.reconnect.backoff.max.ms = 300
INI
}

# Topic names Kafka refuses are configuration errors, named at the key before anything runs.
long_topic=$(printf 't%.0s' $(seq 600))
for bad in "$long_topic:600 characters: Kafka allows at most 249" \
  "bad topic:character 4 of \"bad topic\" is not allowed in a topic name" \
  "..:\"..\" is not a topic name Kafka allows"; do
  write_ini "$T_DIR/bad-topic.ini" "${bad%%:*}"
  rc=0
  out=$("$SENSORD_BIN" -c "$T_DIR/bad-topic.ini" -t 2>&1) || rc=$?
  [ "$rc" != 0 ] || fail "topic \"${bad%%:*}\" passed sensord -t"
  assert_contains "$out" "bad-topic.ini:14: stage \"kafka\" (sink_kafka): key \"topic\": ${bad#*:}" "error for a bad topic"
done

write_ini "$T_DIR/p.ini" "$KAFKA_TOPIC"
sd_start sensord "$T_DIR/p.ini"
wait_status "http://127.0.0.1:$ADMIN/healthz" 200
URL=http://127.0.0.1:$HTTP/phone-producer/
python3 - "$DATA/sensorlogger/large-batch-5s.json" "$T_DIR/big.json" <<'PY'
import json, sys
body = json.load(open(sys.argv[1]))
body["deviceId"], body["messageId"] = "outage-phone", 4242
json.dump(body, open(sys.argv[2], "w"))
PY
readings=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["payload"]))' "$T_DIR/big.json")
post() { curl -s -o /dev/null -w '%{http_code}' --max-time $((30 * SD_TIME_SCALE)) -H 'Content-Type: application/json' \
  --data-binary @"$1" "$URL"; }
# The producer learns the partitions first, so the batch waits on them and times out.
assert_eq 200 "$(post "$DATA/sensorlogger/ios-uncalibrated-1s.json")" "a batch while the broker is up"
mb_cmd "down 1"
code=$(post "$T_DIR/big.json")
[ "$code" = 503 ] || fail "a batch that timed out during the outage was answered $code, not 503"
assert_eq "$readings" "$(metric "$ADMIN" kafka_failed_total)" "kafka_failed_total after the outage"
sd_stop "$SD_PID"
summary=$(grep -c "$readings readings failed: Local: Message timed out" "$T_DIR/sensord.log" || true)
assert_eq 1 "$summary" "warnings counting the $readings timed-out readings"
per_record=$(grep -c -e "delivery failed" -e "not produced" "$T_DIR/sensord.log" || true)
assert_eq 0 "$per_record" "warnings about single readings"
note "outage: $readings readings failed, reported in one warning"
