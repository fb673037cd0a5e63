#!/usr/bin/env bash
# A reading that reaches a tumbling window after its grace period is dropped, as ksqlDB
# drops late records, and counted in query_late_records_total (with grace = 0: a reading
# 9 s older than the stream's newest one).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/api_lib.sh"
ql_ini "$T_DIR/p.ini" "grace = 0s" "query.avg = $AVG_SQL"
ql_start "$T_DIR/p.ini"
reading() { printf '{"name":"accelerometer","time":%s,"values":{"x":1.5,"y":0,"z":0}}' "$1"; }
push() { # FILE TIME...
  local file=$1 sep="" t; shift
  { printf '{"messageId":1,"sessionId":"s","deviceId":"late-phone","payload":['
    for t in "$@"; do printf '%s%s' "$sep" "$(reading "$t")"; sep=,; done
    printf ']}'; } >"$file"
  post_sample "$file"
}
base=1732435000000000000
push "$T_DIR/now.json" $((base + 10000000000)) $((base + 10500000000))
push "$T_DIR/late.json" $((base + 1000000000))
metric_value() {
  curl -s "http://127.0.0.1:$AP/metrics" | awk -v m="sensord_$1" '$1 ~ "^"m"({|$)" { print $2 }' | head -n1
}
for _ in $(seq $((50 * SD_TIME_SCALE))); do
  [ "$(metric_value query_late_records_total)" = 1 ] && break
  sleep 0.1
done
assert_eq 1 "$(metric_value query_late_records_total)" "query_late_records_total after one late reading"
assert_eq 3 "$(metric_value query_records_in_total)" "records fed to the engine"
sd_stop "$SD_PID"
