#!/usr/bin/env bash
# source_http with auth_token: the Authorization header must be "Bearer <token>" (scheme
# in any case) or the bare token (401 otherwise, with no record ingested); with error_format = sensorlogger the
# app gets 499 and a line of text to show; every refusal is a warn line naming the client.
# Also: the start-up line gives the push URL, with "(port N)" only for listen port 0.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/http_lib.sh"
S=$DATA/sensorlogger
PORT=$(free_port)
PORT_SL=$(free_port)
http_ini "$T_DIR/p.ini" \
  "[ingest]" "plugin = source_http" "listen = 127.0.0.1:$PORT" "auth_token = s3cret" \
  "[ingest_sl]" "plugin = source_http" "listen = 127.0.0.1:$PORT_SL" "auth_token = s3cret" \
  "error_format = sensorlogger" \
  "[ingest_eph]" "plugin = source_http" "listen = 127.0.0.1:0" "auth_token = s3cret" \
  "[out]" "plugin = sink_stdout" "inputs = ingest, ingest_sl, ingest_eph" "path = $T_DIR/out.ndjson"
start_and_wait sd "$T_DIR/p.ini"
URL=http://127.0.0.1:$PORT/phone-producer/

# the start-up line gives the URL to type into the app; "(port N)" only for port 0
line=$(grep 'stage=ingest ' "$T_DIR/sd.log" | grep 'phones push to')
assert_contains "$line" "msg=\"phones push to $URL; records to http://127.0.0.1:$PORT/records (listening on 127.0.0.1:$PORT, ack=accepted, auth=on)\"" "start-up line"
EPH=$(sed -n 's/.*stage=ingest_eph .*phones push to http:\/\/127\.0\.0\.1:\([0-9]*\)\/phone-producer\/;.* (listening on 127\.0\.0\.1:0 (port \1),.*/\1/p' "$T_DIR/sd.log")
[ -n "$EPH" ] || fail "no start-up line with the ephemeral port: $(grep ingest_eph "$T_DIR/sd.log")"
assert_eq 401 "$(post_json "http://127.0.0.1:$EPH/phone-producer/" "$S/mixed-sensors.json")" "ephemeral port from the log"

assert_eq 401 "$(post_json "$URL" "$S/mixed-sensors.json")" "no header"
assert_eq '{"error":"unauthorized","detail":"missing or wrong Authorization header (set the app'"'"'s Auth Header to \"Bearer <token>\")"}' "$(body)" "401 body"
assert_eq Bearer "$(header WWW-Authenticate)" "WWW-Authenticate"
assert_eq 401 "$(post_json "$URL" "$S/mixed-sensors.json" -H 'Authorization: Bearer wrong')" "wrong token"
assert_eq 401 "$(post_json "$URL" "$S/mixed-sensors.json" -H 'Authorization: Bearer s3cre')" "prefix of the token"
assert_eq 401 "$(post_json "$URL" "$S/mixed-sensors.json" -H 'Authorization: Bearer s3cretX')" "token plus more"
assert_eq 401 "$(post "http://127.0.0.1:$PORT/records" --data-binary '{"a":1}')" "records need auth too"
assert_eq 200 "$(post_json "$URL" "$S/mixed-sensors.json" -H 'Authorization: Bearer s3cret')" "Bearer token"
assert_eq 200 "$(post_json "$URL" "$S/mixed-sensors.json" -H 'Authorization: s3cret')" "bare token"
assert_eq 200 "$(post_json "$URL" "$S/mixed-sensors.json" -H 'Authorization: bearer s3cret')" "lower-case scheme"
assert_eq 401 "$(post_json "$URL" "$S/mixed-sensors.json" -H 'Authorization: bearer S3CRET')" "token case matters"
assert_eq 499 "$(post_json "http://127.0.0.1:$PORT_SL/phone-producer/" "$S/mixed-sensors.json" -H 'Authorization: Bearer nope')" "sensorlogger format"
assert_contains "$(body)" "sensord: missing or wrong Authorization header" "499 text"
wait_lines "$T_DIR/out.ndjson" 27 10
sleep 0.3
assert_eq 27 "$(wc -l <"$T_DIR/out.ndjson")" "only authorized pushes ingested"
assert_eq 6 "$(requests ingest 401)" "401 count"
assert_eq 3 "$(requests ingest 200)" "200 count"
assert_eq 1 "$(requests ingest_sl 499)" "499 count"
assert_eq 1 "$(requests ingest_eph 401)" "401 count on the ephemeral port"
# each refusal is a warning naming the client, the path, the status and why
line=$(grep 'level=warn' "$T_DIR/sd.log" | grep 'rejected push' | grep 'status=401' | head -n1)
[ -n "$line" ] || fail "no warn line for a 401: $(cat "$T_DIR/sd.log")"
assert_contains "$line" 'stage=ingest' "401 log stage"
assert_contains "$line" 'peer=127.0.0.1 path=/phone-producer/ status=401' "401 log fields"
assert_contains "$line" 'missing or wrong Authorization header' "401 log detail"
# the token never appears in the log
if grep -q s3cret "$T_DIR/sd.log"; then fail "the token was logged"; fi
sd_stop "$SD_PID"
echo ok
