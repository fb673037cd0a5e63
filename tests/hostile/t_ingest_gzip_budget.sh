#!/usr/bin/env bash
# Issue 10, defect 6: 100 connections, each holding gzip that inflates to 7.5 MB, took RSS
# from 12 MB to 759 MB: the bound was max_connections x max_body_size (8 GiB by default).
# One budget, request_memory, now caps the memory of every body in flight together; past
# it a request gets 503 with Retry-After, counted in
# sensord_http_refused_total{reason="memory"}. Peak RSS must stay far below the old figure.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../source_http/http_lib.sh"
HERE=$(dirname "$0")
INGEST_PORT=$(free_port)
http_ini "$T_DIR/p.ini" \
  "[ingest]" "plugin = source_http" "listen = 127.0.0.1:$INGEST_PORT" "request_memory = 64M" \
  "[null]" "plugin = sink_null" "inputs = ingest"
start_and_wait sd "$T_DIR/p.ini"
rss() { awk '/^VmRSS:/ { print $2 }' "/proc/$SD_PID/status"; }
hwm() { awk '/^VmHWM:/ { print $2 }' "/proc/$SD_PID/status"; }
before=$(rss)
out=$(python3 "$HERE/http_hostile.py" gzip-flood "$INGEST_PORT" /phone-producer/ 100 7500000)
peak=$(hwm)
note "100 gzip bodies of 7.5 MB inflated at once: $out; RSS before ${before} KiB, peak ${peak} KiB"
python3 - "$out" <<'PY' || fail "gzip flood: $out"
import json, sys
r = json.loads(sys.argv[1])
st = r["statuses"]
assert set(st) <= {"200", "503"}, st          # nothing else: no 413, no broken connection
assert st.get("503", 0) >= 50, st              # 64 MiB holds at most 8 such bodies at once
assert st.get("200", 0) >= 1, st               # the budget comes back between requests
assert r["retry_after"] == ["1"], r
PY
n503=$(python3 -c 'import json,sys; print(json.loads(sys.argv[1])["statuses"].get("503", 0))' "$out")
assert_eq "$n503" "$(metric 'sensord_http_refused_total{stage="ingest",plugin="source_http",reason="memory"}')" \
  "memory refusals counted"
LIMIT_KB=$((400 * 1024))
ldd "$SD_REAL_BIN" | grep libasan >/dev/null && LIMIT_KB=$((1200 * 1024)) # ASan: shadow + quarantine
[ "$peak" -le "$LIMIT_KB" ] || fail "peak RSS $peak KiB is over $LIMIT_KB KiB"
# once the flood is over, a push gets through again
assert_eq 200 "$(post_json "http://127.0.0.1:$INGEST_PORT/phone-producer/" "$DATA/sensorlogger/android-calibrated-1s.json")" "a push after the flood"
sd_stop "$SD_PID"
echo ok
