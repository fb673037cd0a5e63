#!/usr/bin/env bash
# source_http with auth_token: the Authorization header must be "Bearer <token>" or the
# bare token (401 otherwise, with no record ingested); with error_format = sensorlogger the
# app gets 499 and a line of text to show.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/http_lib.sh"
S=$DATA/sensorlogger
PORT=$(free_port)
PORT_SL=$(free_port)
http_ini "$T_DIR/p.ini" \
  "[ingest]" "plugin = source_http" "listen = 127.0.0.1:$PORT" "auth_token = s3cret" \
  "[ingest_sl]" "plugin = source_http" "listen = 127.0.0.1:$PORT_SL" "auth_token = s3cret" \
  "error_format = sensorlogger" \
  "[out]" "plugin = sink_stdout" "inputs = ingest, ingest_sl" "path = $T_DIR/out.ndjson"
start_and_wait sd "$T_DIR/p.ini"
URL=http://127.0.0.1:$PORT/phone-producer/

assert_eq 401 "$(post_json "$URL" "$S/mixed-sensors.json")" "no header"
assert_eq '{"error":"unauthorized","detail":"missing or wrong Authorization header (set the app'"'"'s Auth Header to \"Bearer <token>\")"}' "$(body)" "401 body"
assert_eq Bearer "$(header WWW-Authenticate)" "WWW-Authenticate"
assert_eq 401 "$(post_json "$URL" "$S/mixed-sensors.json" -H 'Authorization: Bearer wrong')" "wrong token"
assert_eq 401 "$(post_json "$URL" "$S/mixed-sensors.json" -H 'Authorization: Bearer s3cre')" "prefix of the token"
assert_eq 401 "$(post_json "$URL" "$S/mixed-sensors.json" -H 'Authorization: Bearer s3cretX')" "token plus more"
assert_eq 401 "$(post "http://127.0.0.1:$PORT/records" --data-binary '{"a":1}')" "records need auth too"
assert_eq 200 "$(post_json "$URL" "$S/mixed-sensors.json" -H 'Authorization: Bearer s3cret')" "Bearer token"
assert_eq 200 "$(post_json "$URL" "$S/mixed-sensors.json" -H 'Authorization: s3cret')" "bare token"
assert_eq 499 "$(post_json "http://127.0.0.1:$PORT_SL/phone-producer/" "$S/mixed-sensors.json" -H 'Authorization: Bearer nope')" "sensorlogger format"
assert_contains "$(body)" "sensord: missing or wrong Authorization header" "499 text"
wait_lines "$T_DIR/out.ndjson" 18 10
sleep 0.3
assert_eq 18 "$(wc -l <"$T_DIR/out.ndjson")" "only authorized pushes ingested"
assert_eq 5 "$(requests ingest 401)" "401 count"
assert_eq 2 "$(requests ingest 200)" "200 count"
assert_eq 1 "$(requests ingest_sl 499)" "499 count"
# the token never appears in the log
if grep -q s3cret "$T_DIR/sd.log"; then fail "the token was logged"; fi
sd_stop "$SD_PID"
echo ok
