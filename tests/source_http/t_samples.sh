#!/usr/bin/env bash
# source_http end to end: POST every Sensor Logger sample (plain, gzip'd, the 5 s backlog),
# read the records back through sink_stdout and compare them field by field; the test push
# is answered 200 and kept out of the pipeline; /records takes NDJSON and JSON arrays.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/http_lib.sh"
S=$DATA/sensorlogger
PORT=$(free_port)
http_ini "$T_DIR/p.ini" \
  "[ingest]" "plugin = source_http" "listen = 127.0.0.1:$PORT" \
  "[out]" "plugin = sink_stdout" "inputs = ingest" "path = $T_DIR/out.ndjson"
start_and_wait sd "$T_DIR/p.ini"
URL=http://127.0.0.1:$PORT

# the test push: 200 with the ids, nothing emitted
assert_eq 200 "$(post_json "$URL/phone-producer/" "$S/test-push.json")" "test push status"
assert_contains "$(body)" '"messageId":0,"sessionId":"78e51061-7311-48a3-82ce-6f447ed4d57b"' "test push reply"
assert_contains "$(header Content-Type)" "application/json" "reply content type"

# both paths of the original producer, no redirect
assert_eq 200 "$(post_json "$URL/phone-producer/" "$S/ios-uncalibrated-1s.json")" "ios status"
assert_contains "$(body)" '"deviceId":"cd613e30-d8f1-4adf-91b7-584a2265b1f5","timestamp":' "ios reply"
assert_eq 200 "$(post_json "$URL/phone-producer" "$S/android-calibrated-1s.json")" "android status"
assert_eq 200 "$(post_json "$URL/phone-producer/" "$S/mixed-sensors.json" -H 'Content-Type: application/json; charset=utf-8')" "mixed status"
gzip -c "$S/large-batch-5s.json" >"$T_DIR/large.json.gz"
assert_eq 200 "$(post_json "$URL/phone-producer/" "$T_DIR/large.json.gz" -H 'Content-Encoding: gzip')" "gzip backlog status"
assert_eq 200 "$(post_json "$URL/phone-producer/" "$S/large-batch-5s.json")" "backlog status"

want=$((300 + 250 + 9 + 2000 + 2000))
wait_lines "$T_DIR/out.ndjson" $want 20
python3 "$(dirname "$0")/check_records.py" "$T_DIR/out.ndjson" "$S/ios-uncalibrated-1s.json" \
  "$S/android-calibrated-1s.json" "$S/mixed-sensors.json" "$S/large-batch-5s.json" \
  "$S/large-batch-5s.json" || fail "records differ from the samples"
assert_eq $want "$(metric 'sensord_http_readings_total{stage="ingest",plugin="source_http"}')" "readings metric"
assert_eq 1 "$(metric 'sensord_http_test_pushes_total{stage="ingest",plugin="source_http"}')" "test push metric"
assert_eq 6 "$(requests ingest 200)" "200 count"
assert_eq 0 "$(metric 'sensord_http_parse_fallbacks_total{stage="ingest",plugin="source_http"}')" \
  "every sample took the fast path"

# flat records: NDJSON then a JSON array, ints stay ints, key and time from the record
printf '{"deviceId":"dev-a","time":1683555956851304201,"n":3,"x":0.5}\n{"time":"7","s":"v"}\n' >"$T_DIR/r.ndjson"
assert_eq 200 "$(post "$URL/records" -H 'Content-Type: application/x-ndjson' --data-binary "@$T_DIR/r.ndjson")" "ndjson status"
assert_eq '{"accepted":2}' "$(body)" "ndjson reply"
assert_eq 200 "$(post "$URL/records" -H 'Content-Type: application/json' --data-binary '[{"deviceId":"dev-b","b":true,"z":null}]')" "array status"
wait_lines "$T_DIR/out.ndjson" $((want + 3)) 10
tail -n 3 "$T_DIR/out.ndjson" >"$T_DIR/records.ndjson"
python3 - "$T_DIR/records.ndjson" <<'PY' || fail "flat records differ"
import json, sys
rows = [json.loads(l, object_pairs_hook=list) for l in open(sys.argv[1])]
rows = [dict(r) for r in rows]
for r in rows: r["fields"] = [list(p) for p in r["fields"]]
assert rows[0]["timestamp_ns"] == 1683555956851304201 and rows[0]["key"] == "dev-a", rows[0]
assert rows[0]["fields"] == [["deviceId", "dev-a"], ["time", 1683555956851304201], ["n", 3], ["x", 0.5]], rows[0]
assert rows[1]["timestamp_ns"] == 7 and rows[1]["key"] is None, rows[1]
assert rows[1]["fields"] == [["time", "7"], ["s", "v"]], rows[1]
assert rows[2]["key"] == "dev-b" and rows[2]["fields"] == [["deviceId", "dev-b"], ["b", True], ["z", None]], rows[2]
PY
sd_stop "$SD_PID"
echo ok
