# The REST API checks shared by t_api_http1.sh and t_api_http2.sh: every endpoint, every
# push-query format with its header, rows, errors and endings, byte for byte, over the
# HTTP version in $HTTP. Source after lib.sh and api_lib.sh.
export LC_ALL=C
NL=$'\n'
ql_ini "$T_DIR/p.ini" "retain_age = 0"
ql_start "$T_DIR/p.ini"
IOS=$SAMPLES/ios-uncalibrated-1s.json
mapfile -t ROWS < <(expected_rows "$IOS")
[ "${#ROWS[@]}" -ge 3 ] || fail "the iOS sample should hold accelerometeruncalibrated readings"
R0=${ROWS[0]}; R1=${ROWS[1]}; R2=${ROWS[2]}
COLS='"columnNames":["DEVICEID","TIME","VALUES_X","VALUES_Y","VALUES_Z"],"columnTypes":["STRING","BIGINT","DOUBLE","DOUBLE","DOUBLE"]'
SCHEMA='`DEVICEID` STRING, `TIME` BIGINT, `VALUES_X` DOUBLE, `VALUES_Y` DOUBLE, `VALUES_Z` DOUBLE'
sqlbody() { python3 -c 'import json,sys; print(json.dumps({sys.argv[1]: sys.argv[2]}))' "$1" "$2"; }

note "GET /info, /healthcheck, /"
assert_eq '{"KsqlServerInfo":{"version":"0.29.0","kafkaClusterId":"sensord","ksqlServiceId":"default_","serverStatus":"RUNNING"}}' \
  "$(api "http://127.0.0.1:$QP/info")" "/info"
assert_eq '{"isHealthy":true,"details":{"metastore":{"isHealthy":true},"kafka":{"isHealthy":true},"commandRunner":{"isHealthy":true}},"serverState":"READY"}' \
  "$(api "http://127.0.0.1:$QP/healthcheck")" "/healthcheck"
assert_eq "307 /info" "$(api -o /dev/null -w '%{http_code} %header{location}' "http://127.0.0.1:$QP/")" "GET /"
assert_eq 404 "$(api -o /dev/null -w '%{http_code}' "http://127.0.0.1:$QP/nope")" "unknown path"
assert_eq '{"@type":"generic_error","error_code":40500,"message":"Method GET not allowed on /ksql"}' \
  "$(api "http://127.0.0.1:$QP/ksql")" "GET /ksql"

note "POST /ksql: LIST, CREATE, DESCRIBE, DROP and errors"
ksql() { api -w '\n%{http_code} %{content_type}' -X POST -H 'Content-Type: application/vnd.ksql.v1+json; charset=utf-8' --data-binary "$(sqlbody ksql "$1")" "http://127.0.0.1:$QP/ksql"; }
assert_eq '[{"@type":"streams","statementText":"LIST STREAMS;","streams":[{"type":"STREAM","name":"SMARTPHONE_SENSOR_STREAM","topic":"smartphone-sensor-data","keyFormat":"KAFKA","valueFormat":"JSON","isWindowed":false}],"warnings":[]}]'"${NL}200 application/json" \
  "$(ksql 'LIST STREAMS;')" "LIST STREAMS"
out=$(ksql "CREATE STREAM t2 (id VARCHAR, v DOUBLE) WITH (KAFKA_TOPIC='t2', VALUE_FORMAT='JSON');")
assert_contains "$out" '"@type":"currentStatus"' "CREATE STREAM"
assert_contains "$out" '"commandId":"stream/`T2`/create","commandStatus":{"status":"SUCCESS","message":"Stream created"' "CREATE STREAM"
assert_contains "$out" "${NL}200 application/json" "CREATE STREAM status"
out=$(ksql "CREATE STREAM t2 (id VARCHAR) WITH (KAFKA_TOPIC='t2', VALUE_FORMAT='JSON');")
assert_contains "$out" '{"@type":"statement_error","error_code":40001,' "CREATE existing stream"
assert_contains "$out" "${NL}400 application/json" "CREATE existing stream status"
out=$(ksql "DESCRIBE t2;")
assert_contains "$out" '"@type":"sourceDescription"' "DESCRIBE"
assert_contains "$out" '"name":"T2"' "DESCRIBE"
out=$(ksql "DROP STREAM t2;")
assert_contains "$out" 'Source `T2` (topic: t2) was dropped.' "DROP STREAM"
out=$(ksql "DESCRIBE t2;")
assert_contains "$out" '"error_code":40001' "DESCRIBE dropped stream"
assert_contains "$out" "'T2'" "DESCRIBE dropped stream names it"
out=$(ksql "SELECT * FROM smartphone_sensor_stream EMIT CHANGES;")
assert_contains "$out" '{"@type":"statement_error","error_code":40002,' "SELECT on /ksql"
assert_contains "$out" "${NL}400 application/json" "SELECT on /ksql status"
assert_eq '{"@type":"generic_error","error_code":40000,"message":"\"ksql\" field must be populated"}'"${NL}400 application/json" \
  "$(ksql '  ')" "blank ksql"

note "POST /query-stream errors (before the header, chunked on HTTP/1.1)"
qs_err() { # BODY [curl args] -> "status|content-type|raw body"
  local body=$1; shift
  api --raw -o "$T_DIR/err.body" -w '%{http_code}|%{content_type}' -X POST "$@" --data-binary "$body" "http://127.0.0.1:$QP/query-stream"
  printf '|'; cat "$T_DIR/err.body"
}
err_expect() { # STATUS BODY
  printf '%s|application/json|%s' "$1" "$(body_of "$2")"
}
assert_eq "$(err_expect 400 '{"@type":"statement_error","error_code":40001,"message":"Expected exactly one KSQL statement; found 2 instead","statementText":"SELECT * FROM smartphone_sensor_stream EMIT CHANGES; SHOW STREAMS;","entities":[]}')" \
  "$(qs_err '{"sql":"SELECT * FROM smartphone_sensor_stream EMIT CHANGES; SHOW STREAMS;"}')" "two statements"
assert_eq "$(err_expect 400 '{"@type":"statement_error","error_code":40001,"message":"Neither a query nor a print statement","statementText":"SHOW STREAMS;","entities":[]}')" \
  "$(qs_err '{"sql":"SHOW STREAMS;"}')" "not a query"
out=$(qs_err '{"sql":"SELECT * FROM no_such_stream EMIT CHANGES;"}')
assert_contains "$out" '400|application/json|' "unknown stream"
assert_contains "$out" '{"@type":"statement_error","error_code":40001,"message":"' "unknown stream"
assert_contains "$out" 'NO_SUCH_STREAM' "unknown stream names it"
out=$(qs_err '{"sql":"SELECT nope FROM smartphone_sensor_stream EMIT CHANGES;"}')
assert_contains "$out" '"error_code":40001' "unknown column"
assert_contains "$out" 'NOPE' "unknown column names it"
assert_eq "$(err_expect 400 '{"@type":"statement_error","error_code":40001,"message":"Neither a query nor a print statement","statementText":"CREATE STREAM t3 (a INT) WITH (KAFKA_TOPIC='"'t3'"', VALUE_FORMAT='"'JSON'"');","entities":[]}')" \
  "$(qs_err '{"sql":"CREATE STREAM t3 (a INT) WITH (KAFKA_TOPIC='"'t3'"', VALUE_FORMAT='"'JSON'"');"}')" "CREATE STREAM is not a query"
# a typo gets the parser's message, the same as on /ksql
slect='SLECT * FROM smartphone_sensor_stream EMIT CHANGES;'
assert_eq "$(err_expect 400 '{"@type":"statement_error","error_code":40001,"message":"line 1:1: Syntax Error\nUnknown statement '"'SLECT'"'\nDid you mean '"'SELECT'"'?","statementText":"'"$slect"'","entities":[]}')" \
  "$(qs_err '{"sql":"'"$slect"'"}')" "syntax error on /query-stream"
out=$(api -X POST --data-binary '{"ksql":"'"$slect"'"}' "http://127.0.0.1:$QP/query")
assert_contains "$out" '"error_code":40001,"message":"line 1:1: Syntax Error\nUnknown statement '"'SLECT'"'\nDid you mean '"'SELECT'"'?"' "syntax error on /query"
out=$(ksql "$slect")
assert_contains "$out" '"message":"line 1:1: Syntax Error\nUnknown statement '"'SLECT'"'\nDid you mean '"'SELECT'"'?"' "same syntax error on /ksql"
out=$(qs_err '{"properties":{}}')
assert_eq "$(err_expect 400 '{"@type":"generic_error","error_code":40000,"message":"Invalid JSON in request: Missing required field \"sql\""}')" "$out" "missing sql"
out=$(qs_err '{"sql": ')
assert_contains "$out" '400|application/json|' "invalid JSON"
assert_contains "$out" '{"@type":"generic_error","error_code":40000,"message":"Invalid JSON in request: ' "invalid JSON"
out=$(qs_err '{"sql":"SELECT * FROM smartphone_sensor_stream EMIT CHANGES;","properties":{"auto.offset.reset":"none"}}')
assert_contains "$out" '"error_code":40000' "auto.offset.reset=none"
big=$(python3 -c 'print("{\"sql\":\"" + "x" * 2000000 + "\"}")')
out=$(printf '%s' "$big" | api -o /dev/null -w '%{http_code}' -X POST --data-binary @- "http://127.0.0.1:$QP/query-stream")
assert_eq 413 "$out" "body above max_body_size"

note "delimited (default Accept) with LIMIT: header, rows, end"
qs_open d1 /query-stream "$(sqlbody sql "${ORIGINAL_SQL/ EMIT CHANGES/ EMIT CHANGES LIMIT 2};")"
post_sample "$IOS"
qs_wait "$QS_PID"
QID=$(query_id d1)
[[ "$QID" == transient_SMARTPHONE_SENSOR_STREAM_* ]] || fail "queryId [$QID]"
assert_eq 200 "$(status_of d1)" "delimited status"
assert_eq application/vnd.ksqlapi.delimited.v1 "$(header_value d1 content-type)" "delimited content-type"
assert_eq "$(body_of "{\"queryId\":\"$QID\",$COLS}$NL" "$R0$NL" "$R1$NL")" "$(cat "$T_DIR/d1.body")" "delimited body"

note "application/json with LIMIT: one JSON array"
qs_open j1 /query-stream "$(sqlbody sql "${ORIGINAL_SQL/ EMIT CHANGES/ EMIT CHANGES LIMIT 2};")" -H 'Accept: application/json'
post_sample "$IOS"
qs_wait "$QS_PID"
QID=$(query_id j1)
assert_eq application/json "$(header_value j1 content-type)" "JSON content-type"
assert_eq "$(body_of "[{\"queryId\":\"$QID\",$COLS}" ",$R0" ",$R1" "]")" "$(cat "$T_DIR/j1.body")" "JSON body"

note "application/vnd.ksql.v1+json on /query-stream, and POST /query, with LIMIT"
qs_open v1 /query-stream "$(sqlbody sql "${ORIGINAL_SQL/ EMIT CHANGES/ EMIT CHANGES LIMIT 2};")" -H 'Accept: application/vnd.ksql.v1+json'
post_sample "$IOS"
qs_wait "$QS_PID"
QID=$(query_id v1)
assert_eq application/vnd.ksql.v1+json "$(header_value v1 content-type)" "v1 content-type"
assert_eq "$(body_of "[{\"header\":{\"queryId\":\"$QID\",\"schema\":\"$SCHEMA\"}},$NL" "{\"row\":{\"columns\":$R0}},$NL" "{\"row\":{\"columns\":$R1}},$NL" '{"finalMessage":"Limit Reached"}' ']')" \
  "$(cat "$T_DIR/v1.body")" "v1 body"
qs_open q1 /query "$(python3 -c 'import json,sys; print(json.dumps({"ksql": sys.argv[1], "streamsProperties": {}}))' "${ORIGINAL_SQL/ EMIT CHANGES/ EMIT CHANGES LIMIT 1};")" \
  -H 'Content-Type: application/vnd.ksql.v1+json; charset=utf-8'
post_sample "$IOS"
qs_wait "$QS_PID"
QID=$(query_id q1)
assert_eq application/vnd.ksql.v1+json "$(header_value q1 content-type)" "/query content-type"
assert_eq "$(body_of "[{\"header\":{\"queryId\":\"$QID\",\"schema\":\"$SCHEMA\"}},$NL" "{\"row\":{\"columns\":$R0}},$NL" '{"finalMessage":"Limit Reached"}' ']')" \
  "$(cat "$T_DIR/q1.body")" "/query body"
out=$(api -w '|%{http_code}' -X POST --data-binary '{"ksql":""}' "http://127.0.0.1:$QP/query")
assert_eq '{"@type":"generic_error","error_code":40000,"message":"\"ksql\" field must be populated"}|400' "$out" "/query blank ksql"

note "auto.offset.reset=earliest replays what was retained"
qs_open e1 /query-stream "$(python3 -c 'import json,sys; print(json.dumps({"sql": sys.argv[1], "properties": {"auto.offset.reset": "earliest"}}))' "${ORIGINAL_SQL/ EMIT CHANGES/ EMIT CHANGES LIMIT 3};")"
qs_wait "$QS_PID"
QID=$(query_id e1)
assert_eq "$(body_of "{\"queryId\":\"$QID\",$COLS}$NL" "$R0$NL" "$R1$NL" "$R2$NL")" "$(cat "$T_DIR/e1.body")" "earliest replay"

note "/close-query ends each format with its own ending"
close_query() { api -o /dev/null -w '%{http_code}' -X POST --data-binary "{\"queryId\":\"$1\"}" "http://127.0.0.1:$QP/close-query"; }
for fmt in delimited json v1; do
  case $fmt in
    delimited) accept=application/vnd.ksqlapi.delimited.v1 ;;
    json) accept=application/json ;;
    v1) accept=application/vnd.ksql.v1+json ;;
  esac
  qs_open "c_$fmt" /query-stream "$(sqlbody sql "$ORIGINAL_SQL;")" -H "Accept: $accept"
  pid=$QS_PID
  QID=$(query_id "c_$fmt")
  post_sample "$IOS"
  sleep 0.2
  assert_eq 200 "$(close_query "$QID")" "close-query $fmt"
  qs_wait "$pid"
  n=$(grep -c '' <(expected_rows "$IOS"))
  case $fmt in
    delimited) items=("{\"queryId\":\"$QID\",$COLS}$NL"); for r in "${ROWS[@]}"; do items+=("$r$NL"); done ;;
    json) items=("[{\"queryId\":\"$QID\",$COLS}"); for r in "${ROWS[@]}"; do items+=(",$r"); done; items+=("]") ;;
    v1) items=("[{\"header\":{\"queryId\":\"$QID\",\"schema\":\"$SCHEMA\"}},$NL"); for r in "${ROWS[@]}"; do items+=("{\"row\":{\"columns\":$r}},$NL"); done
        items+=('{"finalMessage":"Query Completed"}' ']') ;;
  esac
  [ "${#ROWS[@]}" = "$n" ] || fail "expected rows changed"
  assert_eq "$(body_of "${items[@]}")" "$(cat "$T_DIR/c_$fmt.body")" "closed $fmt body"
done
assert_eq '{"@type":"generic_error","error_code":40000,"message":"No query with id transient_NOPE_1"}|400' \
  "$(api -w '|%{http_code}' -X POST --data-binary '{"queryId":"transient_NOPE_1"}' "http://127.0.0.1:$QP/close-query")" "close unknown query"

note "a disconnected client's query is freed"
qs_open gone /query-stream "$(sqlbody sql "$ORIGINAL_SQL;")"
kill "$QS_PID"; wait "$QS_PID" 2>/dev/null || true
for ((i = 0; i < 100; i++)); do
  running=$(curl -s "http://127.0.0.1:$AP/metrics" | grep '^sensord_query_push_queries_running' | awk '{print $NF}')
  [ "$running" = 0 ] && break
  sleep 0.05
done
assert_eq 0 "$running" "push queries running after the client left"

sd_stop "$SD_PID"
