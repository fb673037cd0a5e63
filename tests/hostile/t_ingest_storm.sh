#!/usr/bin/env bash
# Issue 10, storms on the ingest port: 2,000 connect/close and 2,000 connect/RST cycles,
# each ending after the handshake, after the request, or after the first bytes of the
# answer, while phones push. sensord must stay alive, every real push must get its 200, and
# descriptors and RSS must come back to the baseline taken after a warm-up (descriptors
# within 4; RSS within 8 MiB; under ASan, bounded by its quarantine).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../source_http/http_lib.sh"
HERE=$(dirname "$0")
INGEST_PORT=$(free_port)
http_ini "$T_DIR/p.ini" \
  "[ingest]" "plugin = source_http" "listen = 127.0.0.1:$INGEST_PORT" \
  "[null]" "plugin = sink_null" "inputs = ingest"
start_and_wait sd "$T_DIR/p.ini"
RSS_SLACK_KB=$((8 * 1024))
# ASan keeps up to 256 MiB of freed memory in quarantine (the pushes during the storm free
# plenty): there RSS is only bounded, and LeakSanitizer at exit is what finds a leak.
ldd "$SD_REAL_BIN" | grep libasan >/dev/null && RSS_SLACK_KB=$((320 * 1024))
field() { python3 -c "import json,sys; print(json.loads(sys.argv[1])[sys.argv[2]])" "$1" "$2"; }
alive() { kill -0 "$SD_PID" 2>/dev/null || { tail -n 40 "$T_DIR/sd.log" >&2; fail "sensord died: $1"; }; }
( while kill -0 "$SD_PID" 2>/dev/null; do
    code=$(post_json "http://127.0.0.1:$INGEST_PORT/phone-producer/" "$DATA/sensorlogger/android-calibrated-1s.json" || true)
    echo "$code" >>"$T_DIR/pushes"
    sleep 0.1
  done ) &
POSTER=$!
python3 "$HERE/sse_storm.py" "$INGEST_PORT" /phone-producer/ 300 --stage mix >/dev/null
base=$(python3 "$HERE/sse_storm.py" proc "$SD_PID")
for end in close rst; do
  out=$(python3 "$HERE/sse_storm.py" "$INGEST_PORT" /phone-producer/ 2000 --stage mix --end "$end" --pid "$SD_PID")
  alive "storm ($end)"
  note "$end: $out"
done
kill "$POSTER" 2>/dev/null || true
wait "$POSTER" 2>/dev/null || true
ok=0
for ((i = 0; i < 100 * SD_TIME_SCALE; i++)); do
  now=$(python3 "$HERE/sse_storm.py" proc "$SD_PID")
  [ "$(field "$now" fds)" -le $(($(field "$base" fds) + 4)) ] && { ok=1; break; }
  sleep 0.05
done
note "baseline $base, after the storms $now"
[ "$ok" = 1 ] || fail "descriptors: baseline $base, after the storms $now"
[ "$(field "$now" rss_kb)" -le $(($(field "$base" rss_kb) + RSS_SLACK_KB)) ] ||
  fail "RSS did not come back: baseline $base, after $now"
pushes=$(sort "$T_DIR/pushes" | uniq -c | tr -s ' ' | tr '\n' ';')
note "real pushes during the storms: $pushes"
[ -z "$(grep -v '^200$' "$T_DIR/pushes" || true)" ] || fail "a real push failed during the storms: $pushes"
sd_stop "$SD_PID"
echo ok
