#!/usr/bin/env bash
# Issue 10, defect 9: `TERMINATE gravity` or `TERMINATE ALL` on the API ended the queries
# of the pipeline file for good: the dashboard got no more rows while pushes were still
# answered 200 and every health check said ok. Queries of the pipeline file are now
# refused by TERMINATE (40001, as DROP STREAM refuses their stream), TERMINATE ALL ends
# only the API's queries and says which it kept, and /healthcheck reports a pipeline query
# that stopped by itself (here: LIMIT reached).
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../source_http/http_lib.sh"
OUT_PORT=$(free_port) INGEST_PORT=$(free_port) API_PORT=$(free_port)
STREAM="CREATE STREAM smartphone_sensor_stream (name VARCHAR, time BIGINT, values_x DOUBLE, values_y DOUBLE, values_z DOUBLE, messageId BIGINT, sessionId VARCHAR, deviceId VARCHAR) WITH (KAFKA_TOPIC='smartphone-sensor-data', VALUE_FORMAT='JSON')"
pipeline() { # FILE QUERY_LINE...
  local file=$1; shift
  http_ini "$file" \
    "[ingest]" "plugin = source_http" "listen = 127.0.0.1:$INGEST_PORT" \
    "[engine]" "plugin = query_local" "inputs = ingest" "listen = 127.0.0.1:$API_PORT" \
    "stream = $STREAM" "$@" \
    "[dashboard]" "plugin = out_sse" "inputs = engine" "listen = 127.0.0.1:$OUT_PORT"
}
pipeline "$T_DIR/p.ini" \
  "query.gravity = SELECT deviceId, time, values_x, values_y, values_z FROM smartphone_sensor_stream WHERE name = 'gravity' EMIT CHANGES" \
  "query.accel = SELECT deviceId, time, values_x FROM smartphone_sensor_stream WHERE name = 'accelerometer' EMIT CHANGES"
start_and_wait sd "$T_DIR/p.ini" "http://127.0.0.1:$API_PORT/info" "http://127.0.0.1:$OUT_PORT/healthz"
API=http://127.0.0.1:$API_PORT
PUSH=http://127.0.0.1:$INGEST_PORT/phone-producer/
HEALTHZ=http://127.0.0.1:$ADMIN_PORT/healthz
json_body() { python3 -c 'import json,sys; print(json.dumps({sys.argv[1]: sys.stdin.read()}))' "$1"; }
ksql() { # SQL on stdin -> "status body"
  json_body ksql >"$T_DIR/req.json"
  curl -s -o "$T_DIR/resp" -w '%{http_code}' --max-time 20 -X POST \
    -H 'Content-Type: application/vnd.ksql.v1+json' --data-binary "@$T_DIR/req.json" "$API/ksql"
  printf ' '; head -c 8000 "$T_DIR/resp"
}
# ids of the running queries, sorted, from LIST QUERIES
query_ids() {
  ksql <<<"LIST QUERIES;" >/dev/null
  python3 -c 'import json,sys; print(" ".join(sorted(q["id"] for q in json.load(open(sys.argv[1]))[0]["queries"])))' "$T_DIR/resp"
}
# push_query NAME: an ad-hoc push query on /query-stream in the background (PID in
# PUSH_PID); its id once the header line arrived, in PUSH_ID.
push_query() {
  json_body sql <<<"SELECT deviceId, values_x FROM smartphone_sensor_stream WHERE name = 'gyroscope' EMIT CHANGES;" >"$T_DIR/$1.req"
  curl -s -N --max-time 30 -X POST -H 'Content-Type: application/json' \
    -H 'Accept: application/vnd.ksqlapi.delimited.v1' \
    --data-binary "@$T_DIR/$1.req" "$API/query-stream" -o "$T_DIR/$1.out" &
  PUSH_PID=$!
  local i
  for ((i = 0; i < 100; i++)); do [ -s "$T_DIR/$1.out" ] && break; sleep 0.05; done
  PUSH_ID=$(head -n1 "$T_DIR/$1.out" | python3 -c 'import json,sys; print(json.load(sys.stdin)["queryId"])')
}
# ended PID: the push query's response finished within 5 s
ended() {
  local i
  for ((i = 0; i < 100; i++)); do kill -0 "$1" 2>/dev/null || return 0; sleep 0.05; done
  return 1
}
health_field() { # python expression on the /healthcheck answer h
  curl -s --max-time 2 "$API/healthcheck" | python3 -c "import json,sys; h=json.load(sys.stdin); print($1)"
}

note "LIST QUERIES at start"
assert_eq "accel gravity" "$(query_ids)" "queries of the pipeline file"
assert_eq True "$(health_field 'h["isHealthy"]')" "/healthcheck at start"

note "TERMINATE <pipeline query> is refused, whatever the case of its id"
for id in gravity GRAVITY '`accel`'; do
  out=$(ksql <<<"TERMINATE $id;")
  assert_contains "$out" '400 {"@type":"statement_error","error_code":40001' "TERMINATE $id"
  assert_contains "$out" "defined in the pipeline file" "TERMINATE $id"
  assert_contains "$out" "SIGHUP" "TERMINATE $id"
done
assert_contains "$(ksql <<<"TERMINATE gravity;")" "query.gravity" "TERMINATE gravity names its key"
assert_eq "accel gravity" "$(query_ids)" "queries after TERMINATE gravity"

note "TERMINATE ALL ends the API's push query, keeps the pipeline's"
push_query p1
note "API push query: $PUSH_ID"
assert_contains "$PUSH_ID" "transient_SMARTPHONE_SENSOR_STREAM_" "push query id"
assert_eq "accel gravity $PUSH_ID" "$(query_ids)" "queries with the push query"
out=$(ksql <<<"TERMINATE ALL;")
note "TERMINATE ALL: $out"
assert_contains "$out" '200 [{"@type":"currentStatus","statementText":"TERMINATE ALL;","commandId":"terminate/ALL/execute","commandStatus":{"status":"SUCCESS","message":"Query terminated."' "TERMINATE ALL"
python3 - "$T_DIR/resp" <<'PY' || fail "TERMINATE ALL: no warning naming the queries kept: $out"
import json, sys
w = json.load(open(sys.argv[1]))[0]["warnings"]
assert len(w) == 1 and "accel" in w[0]["message"] and "gravity" in w[0]["message"], w
assert "pipeline file" in w[0]["message"], w
PY
ended "$PUSH_PID" || fail "the push query's response did not end after TERMINATE ALL"
assert_eq "accel gravity" "$(query_ids)" "queries after TERMINATE ALL"

note "TERMINATE <push query id> still ends an API query"
push_query p2
out=$(ksql <<<"TERMINATE $PUSH_ID;")
assert_contains "$out" '200 [{"@type":"currentStatus"' "TERMINATE $PUSH_ID"
ended "$PUSH_PID" || fail "the push query's response did not end after TERMINATE $PUSH_ID"
assert_eq "accel gravity" "$(query_ids)" "queries after TERMINATE <push id>"

note "the dashboard still gets the pipeline queries' rows"
curl -s -N --max-time 4 "http://127.0.0.1:$OUT_PORT/events/gravity" -o "$T_DIR/gravity.txt" &
G=$!
curl -s -N --max-time 4 "http://127.0.0.1:$OUT_PORT/events/accel" -o "$T_DIR/accel.txt" &
A=$!
sleep 0.5
assert_eq 200 "$(post_json "$PUSH" "$DATA/sensorlogger/android-calibrated-1s.json")" "push"
wait "$G" "$A" || true
assert_eq 50 "$(grep -c '^data: \[' "$T_DIR/gravity.txt" || true)" "rows on /events/gravity after TERMINATE ALL"
assert_eq 50 "$(grep -c '^data: \[' "$T_DIR/accel.txt" || true)" "rows on /events/accel after TERMINATE ALL"
assert_eq True "$(health_field 'h["isHealthy"]')" "/healthcheck after the refused TERMINATEs"
assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$HEALTHZ")" "/healthz"
sd_stop "$SD_PID"

note "a pipeline query that stops by itself (LIMIT 3) makes /healthcheck unhealthy"
INGEST_PORT=$(free_port) API_PORT=$(free_port) OUT_PORT=$(free_port)
pipeline "$T_DIR/limit.ini" \
  "query.gravity = SELECT deviceId, time FROM smartphone_sensor_stream WHERE name = 'gravity' EMIT CHANGES" \
  "query.three = SELECT deviceId, time FROM smartphone_sensor_stream WHERE name = 'accelerometer' EMIT CHANGES LIMIT 3"
start_and_wait sd2 "$T_DIR/limit.ini" "http://127.0.0.1:$API_PORT/info"
API=http://127.0.0.1:$API_PORT
assert_eq True "$(health_field 'h["isHealthy"]')" "/healthcheck before the LIMIT is reached"
assert_eq 200 "$(post_json "http://127.0.0.1:$INGEST_PORT/phone-producer/" "$DATA/sensorlogger/android-calibrated-1s.json")" "push"
for ((i = 0; i < 100; i++)); do # the push is acknowledged before the engine has run it
  code=$(curl -s -o "$T_DIR/health.json" -w '%{http_code}' --max-time 2 "$API/healthcheck")
  [ "$code" = 503 ] && break
  sleep 0.05
done
note "/healthcheck after the LIMIT: $code $(cat "$T_DIR/health.json")"
assert_eq 503 "$code" "/healthcheck status with a pipeline query stopped"
python3 - "$T_DIR/health.json" <<'PY' || fail "/healthcheck does not report query three: $(cat "$T_DIR/health.json")"
import json, sys
h = json.load(open(sys.argv[1]))
assert h["isHealthy"] is False, h
q = h["details"]["queries"]
assert q["isHealthy"] is False, h
assert [s["queryId"] for s in q["stopped"]] == ["three"], h
assert q["stopped"][0]["reason"] == "Limit Reached", h
assert h["details"]["metastore"]["isHealthy"] is True, h
PY
grep -q 'pipeline query stopped.*query=three' "$T_DIR/sd2.log" || fail "no log line for the stopped query: $(tail -n 20 "$T_DIR/sd2.log")"
sd_stop "$SD_PID"
echo "PASS: $T_NAME"
