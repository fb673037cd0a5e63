#!/usr/bin/env bash
# Issue 10, defect 5: contradictory or malformed framing on the ingest port must get a 400
# (501 for a transfer coding other than chunked) and a closed connection, as RFC 9112 asks,
# and the request pipelined behind it must never be served (request smuggling). Each
# refusal is logged and counted in sensord_http_refused_total{reason="framing"}.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../source_http/http_lib.sh"
HERE=$(dirname "$0")
INGEST_PORT=$(free_port)
http_ini "$T_DIR/p.ini" \
  "[ingest]" "plugin = source_http" "listen = 127.0.0.1:$INGEST_PORT" \
  "[null]" "plugin = sink_null" "inputs = ingest"
start_and_wait sd "$T_DIR/p.ini"
out=$(python3 "$HERE/http_hostile.py" framing "$INGEST_PORT" /phone-producer/)
note "$out"
python3 - "$out" <<'PY' || fail "framing"
import json, sys
res = json.loads(sys.argv[1])
bad = []
for case, r in res.items():
    want = 501 if case == "Transfer-Encoding not chunked" else 400
    if r["status"] != want or not r["closed"] or r["served_next"]:
        bad.append(f"{case}: {r} (want {want}, closed, nothing served after it)")
if bad:
    sys.exit("\n".join(bad))
PY
n=$(python3 -c 'import json,sys; print(len(json.loads(sys.argv[1])))' "$out")
assert_eq "$n" "$(metric 'sensord_http_refused_total{stage="ingest",plugin="source_http",reason="framing"}')" \
  "framing refusals counted"
grep -q 'refused a request from 127.0.0.1: conflicting Content-Length values (400)' "$T_DIR/sd.log" ||
  fail "the refusal was not logged with its reason"
# a well-formed push on the same port still works
assert_eq 200 "$(post_json "http://127.0.0.1:$INGEST_PORT/phone-producer/" "$DATA/sensorlogger/test-push.json")" "a good push"
sd_stop "$SD_PID"
echo ok
