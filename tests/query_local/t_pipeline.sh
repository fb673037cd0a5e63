#!/usr/bin/env bash
# source_http -> query_local -> sink_stdout: posting the Sensor Logger samples yields exactly
# the rows an independent oracle computes for the original project's query and for a 1 s
# tumbling AVG per device, both over the REST API (ad-hoc push queries) and into the
# pipeline (named queries, schema-tagged, keyed by device).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/api_lib.sh"
FILES=("$SAMPLES/android-calibrated-1s.json" "$SAMPLES/ios-uncalibrated-1s.json"
  "$SAMPLES/large-batch-5s.json" "$SAMPLES/mixed-sensors.json")
ql_ini "$T_DIR/p.ini" "retain_age = 0" "grace = 1h" "query.original = $ORIGINAL_SQL" "query.avg = $AVG_SQL"
ql_start "$T_DIR/p.ini"
python3 "$QL_DIR/expect.py" filter "${FILES[@]}" >"$T_DIR/want_original"
python3 "$QL_DIR/expect.py" avg "${FILES[@]}" >"$T_DIR/want_avg"
n_orig=$(grep -c '' "$T_DIR/want_original"); n_avg=$(grep -c '' "$T_DIR/want_avg")
[ "$n_orig" -gt 100 ] && [ "$n_avg" -gt 100 ] || fail "oracle found too few rows ($n_orig, $n_avg)"

HTTP=1.1; CURL_HTTP=(--http1.1)
sql() { python3 -c 'import json,sys; print(json.dumps({"sql": sys.argv[1] + ";"}))' "$1"; }
qs_open orig /query-stream "$(sql "$ORIGINAL_SQL")"
P1=$QS_PID
HTTP=2; CURL_HTTP=(--http2-prior-knowledge)
qs_open avg /query-stream "$(sql "$AVG_SQL")"
P2=$QS_PID
for f in "${FILES[@]}"; do post_sample "$f"; done
note "over the API"
wait_lines "$T_DIR/orig.body" $((n_orig + 1))
wait_lines "$T_DIR/avg.body" $((n_avg + 1))
sleep 0.2
kill "$P1" "$P2"; wait "$P1" "$P2" 2>/dev/null || true
# HTTP/1.1 was read raw: drop the chunk framing.
python3 -c '
import sys
raw = open(sys.argv[1], "rb").read(); out = b""
while raw:
    size, _, raw = raw.partition(b"\r\n"); n = int(size, 16)
    out += raw[:n]; raw = raw[n + 2:]
    if n == 0: break
open(sys.argv[1], "wb").write(out)' "$T_DIR/orig.body"
python3 "$QL_DIR/compare_rows.py" api original "$T_DIR/want_original" "$T_DIR/orig.body" || fail "API rows of the original query"
python3 "$QL_DIR/compare_rows.py" api avg "$T_DIR/want_avg" "$T_DIR/avg.body" || fail "API rows of the windowed AVG"

note "into the pipeline"
sd_stop "$SD_PID"
python3 "$QL_DIR/compare_rows.py" sink original "$T_DIR/want_original" "$OUT" || fail "pipeline rows of query.original"
python3 "$QL_DIR/compare_rows.py" sink avg "$T_DIR/want_avg" "$OUT" || fail "pipeline rows of query.avg"
echo ok
