#!/usr/bin/env bash
# Issue 10, defect 12: a client that writes its whole body before it reads must get the
# 413 (or any early answer), not a broken pipe. The front end lingers on the close, as
# nginx does: it stops writing, reads and throws away what the client still sends (for at
# most 5 s), then closes. Also an answer to a body sent before a wrong token.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../source_http/http_lib.sh"
HERE=$(dirname "$0")
INGEST_PORT=$(free_port)
http_ini "$T_DIR/p.ini" \
  "[ingest]" "plugin = source_http" "listen = 127.0.0.1:$INGEST_PORT" "max_body_size = 1M" \
  "[null]" "plugin = sink_null" "inputs = ingest"
start_and_wait sd "$T_DIR/p.ini"
for size in 2000000 20000000; do
  out=$(python3 "$HERE/http_hostile.py" early-answer "$INGEST_PORT" /phone-producer/ "$size")
  note "Content-Length $size over max_body_size 1M: $out"
  python3 - "$out" "$size" <<'PY' || fail "the 413 did not reach the client: $out"
import json, sys
r = json.loads(sys.argv[1])
assert r["status"] == 413 and r["write_error"] is None and r["sent"] == int(sys.argv[2]), r
assert "max_body_size" in r["body"], r
PY
done
assert_eq 0 "$(metric 'sensord_http_lingering_sockets{stage="ingest",plugin="source_http"}')" \
  "sockets still lingering once the clients closed"
sd_stop "$SD_PID"
echo ok
