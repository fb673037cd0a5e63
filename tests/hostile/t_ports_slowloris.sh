#!/usr/bin/env bash
# Issue 10, defect 4 on every other port: the API (256 pending slots), admin (64) and the
# dashboard (out_sse, out_websocket) used to stall under a few hundred sockets that send
# nothing or dribble their headers. With 600 such sockets on each port at once (half idle,
# half dribbling a header byte every 0.5 s, from 127.0.0.2-5), a real request to each port
# from 127.0.0.1 is answered within 2 s, and then every flood socket is closed after
# header_timeout (1 s here; 10 s on admin, which has no key for it), counted and logged.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../source_http/http_lib.sh"
HERE=$(dirname "$0")
INGEST_PORT=$(free_port) API_PORT=$(free_port) SSE_PORT=$(free_port) WS_PORT=$(free_port)
http_ini "$T_DIR/p.ini" \
  "[ingest]" "plugin = source_http" "listen = 127.0.0.1:$INGEST_PORT" "header_timeout = 1s" \
  "[engine]" "plugin = query_local" "inputs = ingest" "listen = 127.0.0.1:$API_PORT" "header_timeout = 1s" \
  "stream = CREATE STREAM s (name VARCHAR) WITH (KAFKA_TOPIC='smartphone-sensor-data', VALUE_FORMAT='JSON')" \
  "query.names = SELECT name FROM s EMIT CHANGES" \
  "[sse]" "plugin = out_sse" "inputs = engine" "listen = 127.0.0.1:$SSE_PORT" "header_timeout = 1s" \
  "[ws]" "plugin = out_websocket" "inputs = engine" "listen = 127.0.0.1:$WS_PORT" "header_timeout = 1s"
start_and_wait sd "$T_DIR/p.ini" "http://127.0.0.1:$API_PORT/info" "http://127.0.0.1:$SSE_PORT/healthz"
FLOOD=127.0.0.2,127.0.0.3,127.0.0.4,127.0.0.5
declare -A URL=([api]="http://127.0.0.1:$API_PORT/info" [admin]="http://127.0.0.1:$ADMIN_PORT/healthz"
  [sse]="http://127.0.0.1:$SSE_PORT/healthz" [ws]="http://127.0.0.1:$WS_PORT/healthz")
declare -A PORT=([api]=$API_PORT [admin]=$ADMIN_PORT [sse]=$SSE_PORT [ws]=$WS_PORT)
declare -A WAIT=([api]=6 [admin]=15 [sse]=6 [ws]=6)
PIDS=()
for p in api admin sse ws; do
  python3 "$HERE/http_hostile.py" idle "${PORT[$p]}" 300 "${WAIT[$p]}" --from "$FLOOD" >"$T_DIR/$p.idle" &
  PIDS+=($!)
  python3 "$HERE/http_hostile.py" slowloris "${PORT[$p]}" 300 "${WAIT[$p]}" --from "$FLOOD" --every 0.5 >"$T_DIR/$p.slow" &
  PIDS+=($!)
done
# the API also speaks HTTP/2: connections that send its preface and then nothing
python3 "$HERE/http_hostile.py" idle "$API_PORT" 300 6 --from "$FLOOD" --preface >"$T_DIR/api.h2" &
PIDS+=($!)
sleep 0.8 # the floods are in
for p in api admin sse ws; do
  t0=$(date +%s%N)
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "${URL[$p]}") || true
  note "$p under 600 flood sockets: $code in $((($(date +%s%N) - t0) / 1000000)) ms"
  assert_eq 200 "$code" "a real request to $p during the flood"
done
# a push still reaches a browser through the flooded ports
curl -s -N --max-time 3 "http://127.0.0.1:$SSE_PORT/events/names" -o "$T_DIR/names.txt" &
CURL=$!
sleep 0.3
assert_eq 200 "$(post_json "http://127.0.0.1:$INGEST_PORT/phone-producer/" "$DATA/sensorlogger/test-push.json" -H 'Content-Type: application/json')" "a push"
wait "$CURL" || true
for pid in "${PIDS[@]}"; do wait "$pid"; done
for p in api admin sse ws; do
  kinds="idle slow"
  [ "$p" = api ] && kinds="idle slow h2"
  for k in $kinds; do
    out=$(cat "$T_DIR/$p.$k")
    note "$p $k: $out"
    python3 -c 'import json,sys; r=json.loads(sys.argv[1]); sys.exit(r["closed_by_server"] != r["opened"])' "$out" ||
      fail "$p ($k): not every flood socket was closed: $out"
  done
done
grep -q "api: closed [0-9]* connections that sent no complete request header" "$T_DIR/sd.log" ||
  grep -q 'reason="header_timeout"' <(curl -s "http://127.0.0.1:$ADMIN_PORT/metrics") || fail "API timeouts not logged"
for m in 'stage="engine",plugin="query_local",reason="header_timeout"' 'stage="sse",plugin="out_sse",reason="header_timeout"' \
  'server="admin",reason="header_timeout"'; do
  v=$(metric "sensord_http_refused_total{$m}")
  note "sensord_http_refused_total{$m} = $v"
  [ "$v" != missing ] && [ "$v" -gt 0 ] || fail "no header_timeout refusals counted for $m"
done
sd_stop "$SD_PID"
echo ok
