#!/usr/bin/env bash
# A stream log write that fails (ENOSPC: the active segment is /dev/full) completes the
# batch as failed: an ack = delivered phone gets 503, query_log_write_errors_total counts it,
# the log line names the file and the error, and no query sees the refused readings.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/api_lib.sh"
DATA_DIR=$T_DIR/data
mkdir -p "$DATA_DIR/smartphone-sensor-data"
ln -s /dev/full "$DATA_DIR/smartphone-sensor-data/00000000000000000000.log"
ql_ini "$T_DIR/p.ini" "data_dir = $DATA_DIR" "query.all = SELECT messageId FROM smartphone_sensor_stream EMIT CHANGES"
sed -i 's|^plugin = source_http$|plugin = source_http\nack = delivered|' "$T_DIR/p.ini"
ql_start "$T_DIR/p.ini"
code=$(curl -s -o "$T_DIR/resp" -w '%{http_code}' --max-time 10 -X POST -H 'Content-Type: application/json' \
  --data-binary "@$SAMPLES/mixed-sensors.json" "http://127.0.0.1:$HP/phone-producer/")
assert_eq 503 "$code" "POST while the log cannot be written"
metric_value() {
  curl -s "http://127.0.0.1:$AP/metrics" | awk -v m="sensord_$1" '$1 ~ "^"m"({|$)" { print $2 }' | head -n1
}
assert_eq 1 "$(metric_value query_log_write_errors_total)" "query_log_write_errors_total"
grep -q 'write failed.*00000000000000000000.log: No space left on device (errno=28)' "$T_DIR/sensord.log" ||
  fail "no log line naming the file and ENOSPC: $(grep 'stream log' "$T_DIR/sensord.log")"
assert_eq 0 "$(metric_value query_records_in_total)" "records the engine saw"
sd_stop "$SD_PID"
[ ! -s "$OUT" ] || fail "the refused readings reached the pipeline's query: $(head -c 300 "$OUT")"
