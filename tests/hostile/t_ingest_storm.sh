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
. "$HERE/storm_lib.sh"
( while kill -0 "$SD_PID" 2>/dev/null; do
    code=$(post_json "http://127.0.0.1:$INGEST_PORT/phone-producer/" "$DATA/sensorlogger/android-calibrated-1s.json" || true)
    echo "$code" >>"$T_DIR/pushes"
    sleep 0.1
  done ) &
POSTER=$!
python3 "$HERE/sse_storm.py" "$INGEST_PORT" /phone-producer/ 300 --stage mix >/dev/null
storm_baseline
for end in close rst; do
  out=$(python3 "$HERE/sse_storm.py" "$INGEST_PORT" /phone-producer/ 2000 --stage mix --end "$end" --pid "$SD_PID")
  alive "storm ($end)"
  note "$end: $out"
done
kill "$POSTER" 2>/dev/null || true
wait "$POSTER" 2>/dev/null || true
storm_settled 100
pushes=$(sort "$T_DIR/pushes" | uniq -c | tr -s ' ' | tr '\n' ';')
note "real pushes during the storms: $pushes"
[ -z "$(grep -v '^200$' "$T_DIR/pushes" || true)" ] || fail "a real push failed during the storms: $pushes"
sd_stop "$SD_PID"
echo ok
