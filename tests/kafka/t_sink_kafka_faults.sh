#!/usr/bin/env bash
# sink_kafka under faults, with source_http ack=delivered: the only broker goes down for
# 4 s under load, then comes back. Phones get 503 while it is down, 200 again afterwards
# without a restart, and every acknowledged reading is in the topic. Then one injected
# retriable produce error is absorbed by librdkafka (200), and one permanent error fails
# its batch (503) while the next batch succeeds. A 50-message producer queue makes a
# 1500-reading POST wait for room (QUEUE_FULL) instead of losing any; and a shutdown with
# the broker down reports exactly how many readings were not delivered.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/kafka_lib.sh"
need_plugins source_http sink_kafka

# (the mock keeps about 5 MB per partition: the load stays well below that)
mb_start -b 1 -t "$KAFKA_TOPIC:4"
HTTP=$(free_port) ADMIN=$(free_port)
ingest_node_ini "$T_DIR/p.ini" "$ADMIN" "$HTTP"
cat >>"$T_DIR/p.ini" <<INI
; fail a batch after 2 s without a broker (phones then get 503 and resend)
kafka.message.timeout.ms = 2000
kafka.reconnect.backoff.max.ms = 300
INI
sd_start sensord "$T_DIR/p.ini"
SD=$SD_PID
wait_http "http://127.0.0.1:$ADMIN/metrics"
URL=http://127.0.0.1:$HTTP/phone-producer/

python3 "$(dirname "$0")/post_load.py" "$URL" "$DATA/sensorlogger/ios-uncalibrated-1s.json" \
  "$T_DIR/load" 11 4 20 0.1 >"$T_DIR/load.log" 2>&1 &
LOAD=$!
sleep 2
mb_cmd "down 1"
note "broker down"
sleep 4
acked_before_up=$(ls "$T_DIR/load/acked" | wc -l)
nacked_while_down=$(ls "$T_DIR/load/nacked" | wc -l)
mb_cmd "up 1"
note "broker up"
wait "$LOAD" || fail "load generator failed: $(tail -n 5 "$T_DIR/load.log")"
cat "$T_DIR/load.log"
acked=$(ls "$T_DIR/load/acked" | wc -l)
nacked=$(ls "$T_DIR/load/nacked" | wc -l)
[ "$nacked_while_down" -gt 0 ] || fail "no 503 while the broker was down"
[ "$acked" -gt "$acked_before_up" ] || fail "no 200 after the broker came back (no recovery)"
codes=$(tail -n 1 "$T_DIR/load.log")
[[ "$codes" =~ codes=\{([0-9]+:\ [0-9]+(,\ )?)+\} ]] || fail "unexpected load summary: $codes"
grep -q "kafka unreachable" "$T_DIR/sensord.log" || fail "broker outage not logged"
grep -q "kafka reachable again" "$T_DIR/sensord.log" || fail "recovery not logged"
[ "$(metric "$ADMIN" kafka_failed_total)" -gt 0 ] || fail "kafka_failed_total stayed 0"

args=()
for f in "$T_DIR"/load/acked/*.json; do args+=(--acked "$f"); done
for f in "$T_DIR"/load/nacked/*.json; do args+=(--maybe "$f"); done
kcat_read "$T_DIR/topic.jsonl"
python3 "$(dirname "$0")/check_topic.py" "$T_DIR/topic.jsonl" --unordered "${args[@]}" ||
  fail "an acknowledged reading is missing from the topic"

post() { curl -s -o /dev/null -w '%{http_code}' --max-time $((20 * SD_TIME_SCALE)) -H 'Content-Type: application/json' \
  --data-binary @"$1" "$URL"; }
python3 - "$DATA/sensorlogger/ios-uncalibrated-1s.json" "$T_DIR" <<'PY'
import json, sys
body = json.load(open(sys.argv[1]))
for n in (1, 2, 3):
    body["deviceId"], body["messageId"] = "fault-phone", 9000 + n
    body["payload"] = body["payload"][:5]
    json.dump(body, open(f"{sys.argv[2]}/fault{n}.json", "w"))
PY
mb_cmd "err produce 2 7"   # REQUEST_TIMED_OUT: retriable
assert_eq 200 "$(post "$T_DIR/fault1.json")" "a retriable produce error is retried by librdkafka"
mb_cmd "err produce 1 10"  # MESSAGE_TOO_LARGE: permanent
code=$(post "$T_DIR/fault2.json")
[ "$code" != 200 ] || fail "a batch with a permanently failed message was acknowledged"
assert_eq 200 "$(post "$T_DIR/fault3.json")" "the next batch after a permanent failure"
grep -q "readings failed: Broker: Message size too large" "$T_DIR/sensord.log" ||
  fail "permanent failure not logged"
sd_stop "$SD"

# QUEUE_FULL: the rest of the batch waits for room, nothing is dropped.
sed -i -e 's/^kafka.reconnect.backoff.max.ms = 300$/&\nkafka.queue.buffering.max.messages = 50/' "$T_DIR/p.ini"
sd_start small-queue "$T_DIR/p.ini"
SD=$SD_PID
wait_http "http://127.0.0.1:$ADMIN/metrics"
python3 - "$DATA/sensorlogger/large-batch-5s.json" "$T_DIR/big.json" <<'PY'
import json, sys
body = json.load(open(sys.argv[1]))
body["deviceId"], body["messageId"] = "queue-full-phone", 777
json.dump(body, open(sys.argv[2], "w"))
PY
assert_eq 200 "$(post "$T_DIR/big.json")" "a batch larger than the producer queue"
[ "$(metric "$ADMIN" kafka_queue_full_total)" -gt 0 ] || fail "QUEUE_FULL never happened (queue of 50)"
kcat_read "$T_DIR/topic2.jsonl"
grep '"key":"queue-full-phone"' "$T_DIR/topic2.jsonl" >"$T_DIR/big.jsonl" || true
python3 "$(dirname "$0")/check_topic.py" "$T_DIR/big.jsonl" --acked "$T_DIR/big.json" ||
  fail "readings of the QUEUE_FULL batch missing or out of order"

# Shutdown with the broker down and messages that would wait 30 s: the grace period (2 s)
# ends first and the undelivered count is logged exactly.
sd_stop "$SD"
sed -e 's/^kafka.message.timeout.ms = 2000$/kafka.message.timeout.ms = 30000/' \
  -e 's/^admin_listen = .*/&\ngrace = 2s/' "$T_DIR/p.ini" >"$T_DIR/p2.ini"
sd_start shutdown "$T_DIR/p2.ini"
SD=$SD_PID
wait_http "http://127.0.0.1:$ADMIN/metrics"
mb_cmd "down 1"
sleep 0.5
post "$T_DIR/fault3.json" >"$T_DIR/last-code" &
POSTER=$!
for ((i = 0; i < 100; i++)); do [ "$(metric "$ADMIN" kafka_in_flight)" -gt 0 ] && break; sleep 0.05; done
assert_eq 5 "$(metric "$ADMIN" kafka_in_flight)" "readings waiting for the broker"
sd_stop "$SD"
wait "$POSTER" || true
grep -q 'shutdown: 5 readings not delivered to Kafka (5 still pending' "$T_DIR/shutdown.log" ||
  fail "undelivered readings at shutdown not reported exactly"
[ "$(cat "$T_DIR/last-code")" != 200 ] || fail "a reading undelivered at shutdown was acknowledged"
grep -q 'shutdown complete: 5 records could not be delivered' "$T_DIR/shutdown.log" ||
  fail "drain did not return the undelivered count to the core"
note "outage: $acked acknowledged, $nacked refused; permanent error answered $code"
