#!/usr/bin/env bash
# source_http error answers: every class with its status, JSON {"error","detail"} body and
# metric (400 JSON, 422 naming the place, 413 by Content-Length and by inflated size,
# 415, 405, 404, bad gzip), CORS, the sensorlogger format (499 + text), and that a refused
# batch leaves nothing in the pipeline (accepted whole or rejected whole).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/http_lib.sh"
S=$DATA/sensorlogger
PORT=$(free_port)
PORT_SL=$(free_port)
http_ini "$T_DIR/p.ini" \
  "[ingest]" "plugin = source_http" "listen = 127.0.0.1:$PORT" "max_body_size = 64K" \
  "cors_origins = http://app.example" \
  "[ingest_sl]" "plugin = source_http" "listen = 127.0.0.1:$PORT_SL" \
  "error_format = sensorlogger" "records_path = off" \
  "[out]" "plugin = sink_stdout" "inputs = ingest, ingest_sl" "path = $T_DIR/out.ndjson"
start_and_wait sd "$T_DIR/p.ini"
URL=http://127.0.0.1:$PORT/phone-producer/
J='Content-Type: application/json'

# 400: not JSON, empty
assert_eq 400 "$(post "$URL" -H "$J" --data-binary '{"messageId":')" "truncated JSON"
assert_contains "$(body)" '{"error":"invalid_json","detail":"line 1 column 13: ' "invalid JSON body"
assert_eq 400 "$(post "$URL" -H "$J" --data-binary '')" "empty body"
assert_contains "$(body)" '"detail":"the body is empty"' "empty body detail"

# 422 naming the place; the three good readings before it are not ingested either
BAD='{"messageId":3,"sessionId":"s","deviceId":"d","payload":[
 {"name":"a","time":1,"values":{"x":1}},{"name":"a","time":2,"values":{"x":1}},
 {"name":"a","time":3,"values":{"x":1}},{"name":"a","time":1.5e18,"values":{"x":1}}]}'
assert_eq 422 "$(post "$URL" -H "$J" --data-binary "$BAD")" "mistyped time"
assert_eq '{"error":"invalid_payload","detail":"payload[3].time: expected integer nanoseconds, got a real number"}' "$(body)" "422 body"
assert_eq 422 "$(post "$URL" -H "$J" --data-binary '{"messageId":3,"sessionId":"s","payload":[]}')" "missing deviceId"
assert_contains "$(body)" '"detail":"deviceId: expected a string, got nothing"' "422 missing field"

# 413: Content-Length over the limit is refused before the body is read
assert_eq 413 "$(post_json "$URL" "$S/large-batch-5s.json")" "over max_body_size"
assert_contains "$(body)" '"error":"body_too_large","detail":"body of 281720 bytes is over max_body_size (65536 bytes)"' "413 body"
# 413: a small gzip body that inflates past the limit (a zip bomb)
head -c 5000000 /dev/zero | gzip -c >"$T_DIR/bomb.gz"
assert_eq 413 "$(post_json "$URL" "$T_DIR/bomb.gz" -H 'Content-Encoding: gzip')" "inflated over limit"
assert_contains "$(body)" 'over max_body_size (65536 bytes) once inflated' "inflated 413 detail"
# a chunked body that goes past the limit: libmicrohttpd cannot answer mid-body, so the
# connection is closed (counted as 413)
code=$(post_json "$URL" "$S/large-batch-5s.json" -H 'Transfer-Encoding: chunked' || true)
[ "$code" != 200 ] || fail "chunked body over the limit was accepted"

# 415: media type, content encoding; 400: corrupt gzip
assert_eq 415 "$(post "$URL" -H 'Content-Type: text/plain' --data-binary '{}')" "text/plain"
assert_contains "$(body)" '"error":"unsupported_media_type"' "415 body"
assert_eq 415 "$(post "$URL" -H "$J" -H 'Content-Encoding: br' --data-binary '{}')" "brotli"
assert_eq 400 "$(post "$URL" -H "$J" -H 'Content-Encoding: gzip' --data-binary '{"not":"gzip"}')" "corrupt gzip"
assert_contains "$(body)" '"error":"bad_encoding","detail":"cannot inflate the body: ' "bad gzip body"

# 405 and 404
assert_eq 405 "$(curl -s -o "$T_DIR/body" -D "$T_DIR/headers" -w '%{http_code}' "$URL")" "GET"
assert_eq "POST, OPTIONS" "$(header Allow)" "Allow header"
assert_eq 404 "$(post "http://127.0.0.1:$PORT/elsewhere" -H "$J" --data-binary '{}')" "unknown path"
assert_contains "$(body)" '"error":"not_found"' "404 body"

# CORS: preflight and the allowed origin echoed; other origins get nothing
assert_eq 204 "$(curl -s -o /dev/null -D "$T_DIR/headers" -w '%{http_code}' -X OPTIONS -H 'Origin: http://app.example' -H 'Access-Control-Request-Method: POST' "$URL")" "preflight"
assert_eq "http://app.example" "$(header Access-Control-Allow-Origin)" "preflight origin"
assert_contains "$(header Access-Control-Allow-Headers)" "Authorization" "preflight headers"
assert_eq 200 "$(post_json "$URL" "$S/test-push.json" -H 'Origin: http://app.example')" "CORS POST"
assert_eq "http://app.example" "$(header Access-Control-Allow-Origin)" "CORS POST origin"
assert_eq 200 "$(post_json "$URL" "$S/test-push.json" -H 'Origin: http://evil.example')" "other origin"
assert_eq "" "$(header Access-Control-Allow-Origin)" "no CORS for other origins"

# error_format = sensorlogger: 499 and a line of text for the app
assert_eq 499 "$(post "http://127.0.0.1:$PORT_SL/phone-producer/" -H "$J" --data-binary "$BAD")" "sensorlogger format"
assert_eq "sensord: payload[3].time: expected integer nanoseconds, got a real number (422 invalid_payload)" "$(body)" "499 text"
assert_contains "$(header Content-Type)" "text/plain" "499 content type"
assert_eq 499 "$(post "http://127.0.0.1:$PORT_SL/records" -H "$J" --data-binary '[]')" "records off in sensorlogger format"

# one good batch: exactly its records come out, none of the refused ones
assert_eq 200 "$(post_json "$URL" "$S/ios-uncalibrated-1s.json")" "good batch"
wait_lines "$T_DIR/out.ndjson" 300 10
sleep 0.3
assert_eq 300 "$(wc -l <"$T_DIR/out.ndjson")" "only the accepted batch was ingested"

# every outcome counted by status and class
assert_eq 3 "$(requests ingest 200)" "200 count"
assert_eq 3 "$(requests ingest 400)" "400 count"
assert_eq 2 "$(requests ingest 422)" "422 count"
assert_eq 3 "$(requests ingest 413)" "413 count"
assert_eq 2 "$(requests ingest 415)" "415 count"
assert_eq 1 "$(requests ingest 405)" "405 count"
assert_eq 1 "$(requests ingest 404)" "404 count"
assert_eq 1 "$(requests ingest 204)" "204 count"
assert_eq 2 "$(requests ingest_sl 499)" "499 count"
pe() { metric "sensord_http_parse_errors_total{stage=\"ingest\",plugin=\"source_http\",class=\"$1\"}"; }
assert_eq 2 "$(pe json)" "json parse errors"
assert_eq 2 "$(pe schema)" "schema parse errors"
assert_eq 3 "$(pe too_large)" "too_large errors"
assert_eq 2 "$(pe media_type)" "media_type errors"
assert_eq 1 "$(pe encoding)" "encoding errors"
# the three refused bodies that reached a parser were declined by the fast path and
# answered by the jansson parser (the messages above); the accepted ones never fell back
assert_eq 3 "$(metric 'sensord_http_parse_fallbacks_total{stage="ingest",plugin="source_http"}')" \
  "fast-path fallbacks"
sd_stop "$SD_PID"
echo ok
