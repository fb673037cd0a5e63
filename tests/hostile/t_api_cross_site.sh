#!/usr/bin/env bash
# Issue 10, defect 8: a text/plain POST from any page ran `TERMINATE ALL` on /ksql, and
# nothing checked Host, so DNS rebinding could read the API too. The API now refuses
# Host names other than loopback, IP addresses and allowed_hosts (403); cross-origin
# callers cors_origins does not list (403); bodies that are not JSON or ksqlDB's types
# (415). Allowed origins get CORS headers and their preflights an answer.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../source_http/http_lib.sh"
API_PORT=$(free_port) INGEST_PORT=$(free_port)
http_ini "$T_DIR/p.ini" \
  "[ingest]" "plugin = source_http" "listen = 127.0.0.1:$INGEST_PORT" \
  "[engine]" "plugin = query_local" "inputs = ingest" "listen = 127.0.0.1:$API_PORT" \
  "allowed_hosts = sensord.lan" "cors_origins = http://dash.example:3000" \
  "stream = CREATE STREAM s (name VARCHAR) WITH (KAFKA_TOPIC='t', VALUE_FORMAT='JSON', PARTITIONS=1)"
start_and_wait sd "$T_DIR/p.ini" "http://127.0.0.1:$API_PORT/info"
API=http://127.0.0.1:$API_PORT
refused() { metric "sensord_http_refused_total{stage=\"engine\",plugin=\"query_local\",reason=\"$1\"}"; }
call() { # curl args... -> "status body"
  curl -s -o "$T_DIR/resp" -w '%{http_code}' --max-time 5 "$@"
  printf ' '; cat "$T_DIR/resp"
}
# an API push query the attack would end
curl -s -N --max-time 30 -X POST -H 'Content-Type: application/json' \
  --data-binary '{"sql":"SELECT name FROM s EMIT CHANGES;"}' "$API/query-stream" >"$T_DIR/push.out" &
PUSH=$!
for ((i = 0; i < 50; i++)); do grep -q columnNames "$T_DIR/push.out" && break; sleep 0.05; done
TERM_BODY='{"ksql":"TERMINATE ALL;"}'

out=$(call -X POST -H 'Content-Type: text/plain' -H 'Origin: http://evil.example' --data-binary "$TERM_BODY" "$API/ksql")
note "text/plain from another origin: $out"
assert_contains "$out" "403 " "cross-site text/plain"
assert_contains "$out" "Origin 'http://evil.example' may not call this API" "cross-site text/plain"
out=$(call -X POST -H 'Content-Type: application/x-www-form-urlencoded' -H 'Origin: http://evil.example' --data-binary "$TERM_BODY" "$API/ksql")
assert_contains "$out" "403 " "cross-site form"
out=$(call -X POST -H 'Content-Type: text/plain' --data-binary "$TERM_BODY" "$API/ksql")
note "text/plain without Origin: $out"
assert_contains "$out" "415 " "text/plain body"
assert_contains "$out" '"error_code":41500' "text/plain body"
out=$(call -X POST -H 'Content-Type: application/x-www-form-urlencoded' -H "Origin: http://127.0.0.1:$API_PORT" --data-binary "$TERM_BODY" "$API/ksql")
assert_contains "$out" "415 " "a form from a same-origin page"
assert_eq 1 "$(curl -s --max-time 2 "http://127.0.0.1:$ADMIN_PORT/metrics" | awk '/^sensord_query_push_queries_running/ {print $NF}')" \
  "the API push query after the refused TERMINATE ALLs"

note "DNS rebinding: a Host that is not this server"
out=$(call -H 'Host: evil.example' "$API/info")
note "$out"
assert_contains "$out" "403 " "Host evil.example"
assert_contains "$out" "add it to allowed_hosts" "Host evil.example"
assert_contains "$(call --http2-prior-knowledge -H 'Host: evil.example' "$API/info")" "403 " "Host evil.example over HTTP/2"
for h in "sensord.lan:$API_PORT" "localhost:$API_PORT" "127.0.0.1:$API_PORT" "[::1]:$API_PORT" "192.168.1.20:$API_PORT"; do
  assert_contains "$(call -H "Host: $h" "$API/info")" "200 " "Host $h"
done

note "CORS: a listed origin is served, its preflight answered"
curl -s -D "$T_DIR/h" -o /dev/null --max-time 5 -X POST -H 'Content-Type: application/json' \
  -H 'Origin: http://dash.example:3000' --data-binary '{"ksql":"SHOW STREAMS;"}' "$API/ksql"
grep -qi '^access-control-allow-origin: http://dash.example:3000' "$T_DIR/h" || fail "no ACAO: $(cat "$T_DIR/h")"
code=$(curl -s -D "$T_DIR/h" -o /dev/null -w '%{http_code}' --max-time 5 -X OPTIONS \
  -H 'Origin: http://dash.example:3000' -H 'Access-Control-Request-Method: POST' \
  -H 'Access-Control-Request-Headers: content-type' "$API/ksql")
assert_eq 204 "$code" "preflight"
grep -qi '^access-control-allow-headers: .*Content-Type' "$T_DIR/h" || fail "preflight headers: $(cat "$T_DIR/h")"
assert_contains "$(call -X OPTIONS -H 'Origin: http://evil.example' -H 'Access-Control-Request-Method: POST' "$API/ksql")" "403 " "preflight from another origin"
# a client that is not a browser (no Origin) is served as before, curl -d included
assert_contains "$(call -X POST --data-binary '{"ksql":"SHOW STREAMS;"}' "$API/ksql")" "200 " "curl -d"

note "refusals: host $(refused host), origin $(refused origin), media_type $(refused media_type)"
[ "$(refused host)" -ge 2 ] && [ "$(refused origin)" -ge 3 ] && [ "$(refused media_type)" -ge 2 ] ||
  fail "refusals not counted"
kill "$PUSH" 2>/dev/null || true
sd_stop "$SD_PID"
echo ok
