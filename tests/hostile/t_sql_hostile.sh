#!/usr/bin/env bash
# Issue 10, defect 2 and the SQL parser's bounds. The SQL arena used to hand out memory
# still in use once a chunk filled: a 12-column SELECT on /query-stream killed the daemon,
# the same query in the INI made `sensord -t` segfault, and a 35-column CREATE STREAM
# registered a stream named JSON. Huge, deep or non-UTF-8 statements must get a clear
# error, never a crash or a stall, and a flood of streams stops at a bound.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../source_http/http_lib.sh"
API_PORT=$(free_port) INGEST_PORT=$(free_port)
STREAM="CREATE STREAM smartphone_sensor_stream (name VARCHAR, time BIGINT, values_x DOUBLE, values_y DOUBLE, values_z DOUBLE, messageId BIGINT, sessionId VARCHAR, deviceId VARCHAR) WITH (KAFKA_TOPIC='smartphone-sensor-data', VALUE_FORMAT='JSON')"
WIDE="SELECT name, time, values_x, values_y, values_z, messageId, sessionId, deviceId, values_x * 2 AS x2, values_y * 2 AS y2, values_z * 2 AS z2, UCASE(name) AS n2 FROM smartphone_sensor_stream EMIT CHANGES"
http_ini "$T_DIR/p.ini" \
  "[ingest]" "plugin = source_http" "listen = 127.0.0.1:$INGEST_PORT" \
  "[engine]" "plugin = query_local" "inputs = ingest" "listen = 127.0.0.1:$API_PORT" "stream = $STREAM" \
  "query.wide = $WIDE"

note "sensord -t with a 12-column query in the INI"
out=$("$SENSORD_BIN" -t -c "$T_DIR/p.ini" 2>&1) || fail "sensord -t failed: $out"
assert_contains "$out" "configuration ok" "sensord -t"

start_and_wait sd "$T_DIR/p.ini" "http://127.0.0.1:$API_PORT/info"
API=http://127.0.0.1:$API_PORT
alive() { kill -0 "$SD_PID" 2>/dev/null || { tail -n 40 "$T_DIR/sd.log" >&2; fail "sensord died: $1"; }; }
json_body() { python3 -c 'import json,sys; print(json.dumps({sys.argv[1]: sys.stdin.read()}))' "$1"; }
ksql() { # SQL on stdin -> "status body"
  json_body ksql >"$T_DIR/req.json"
  curl -s -o "$T_DIR/resp" -w '%{http_code}' --max-time 20 -X POST \
    -H 'Content-Type: application/vnd.ksql.v1+json' --data-binary "@$T_DIR/req.json" "$API/ksql"
  printf ' '; head -c 8000 "$T_DIR/resp"
}
query_head() { # SQL on stdin -> status and the first line of the answer
  json_body sql >"$T_DIR/req.json"
  curl -s -N -o "$T_DIR/resp" -w '%{http_code}' --max-time 2 -X POST \
    -H 'Content-Type: application/vnd.ksqlapi.delimited.v1' --data-binary "@$T_DIR/req.json" \
    "$API/query-stream" || true
  printf " "; head -n1 "$T_DIR/resp" | cut -c1-2000 || true
}

note "a 12-column SELECT on /query-stream"
out=$(query_head <<<"$WIDE;")
assert_contains "$out" '200 {"queryId":' "12-column push query"
assert_contains "$out" '"columnNames":["NAME","TIME","VALUES_X","VALUES_Y","VALUES_Z","MESSAGEID","SESSIONID","DEVICEID","X2","Y2","Z2","N2"]' "12-column push query"
alive "12-column SELECT"

note "a 35-column CREATE STREAM registers its own name"
cols=$(python3 -c 'print(", ".join(f"c{i} DOUBLE" for i in range(35)))')
out=$(ksql <<<"CREATE STREAM wide35 ($cols) WITH (KAFKA_TOPIC='wide35', VALUE_FORMAT='JSON', PARTITIONS=1);")
assert_contains "$out" '"commandStatus":{"status":"SUCCESS"' "CREATE STREAM with 35 columns"
out=$(ksql <<<"DESCRIBE wide35;")
assert_contains "$out" '"name":"WIDE35"' "DESCRIBE wide35"
n=$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))[0]["sourceDescription"]["fields"]))' "$T_DIR/resp")
assert_eq 35 "$n" "fields of wide35"
out=$(ksql <<<"SHOW STREAMS;")
[[ "$out" != *'"name":"JSON"'* ]] || fail "a stream named JSON was registered: $out"

note "a windowed aggregate is accepted"
out=$(query_head <<<"SELECT deviceId, COUNT(*) AS n FROM smartphone_sensor_stream WINDOW TUMBLING (SIZE 1 MINUTE) GROUP BY deviceId EMIT CHANGES;")
assert_contains "$out" '200 {"queryId":' "windowed query"
alive "windowed query"

note "10,000 nested parentheses"
out=$(python3 -c 'print("SELECT " + "(" * 10000 + "1" + ")" * 10000 + " AS v FROM smartphone_sensor_stream EMIT CHANGES;")' | query_head)
assert_contains "$out" "400 " "10,000-deep expression"
assert_contains "$out" "nested too deeply" "10,000-deep expression"
alive "deep expression"

note "a 900 KB statement: 60,000 ORs in a row"
out=$(python3 -c 'print("SELECT name FROM smartphone_sensor_stream WHERE " + " OR ".join(["name = '"'"'a'"'"'"] * 60000) + " EMIT CHANGES;")' | query_head)
assert_contains "$out" "400 " "60,000 ORs"
assert_contains "$out" "nested too deeply" "60,000 ORs"
alive "long OR chain"

note "a body over max_body_size (1 MiB)"
out=$(python3 -c 'print("SELECT name FROM smartphone_sensor_stream WHERE name IN (" + ",".join(["'"'"'a'"'"'"] * 300000) + ") EMIT CHANGES;")' | query_head)
assert_contains "$out" "413 " "a 1.8 MB statement"
assert_contains "$out" "max_body_size" "a 1.8 MB statement"

note "a CREATE STREAM with 5,000 columns and a 5,000-item IN list"
cols=$(python3 -c 'print(", ".join(f"c{i} DOUBLE" for i in range(5000)))')
out=$(ksql <<<"CREATE STREAM toowide ($cols) WITH (KAFKA_TOPIC='toowide', VALUE_FORMAT='JSON', PARTITIONS=1);")
assert_contains "$out" "400 " "5,000 columns"
assert_contains "$out" "at most 1000 columns" "5,000 columns"
out=$(python3 -c 'print("SELECT name FROM smartphone_sensor_stream WHERE name IN (" + ",".join(["'"'"'a'"'"'"] * 5000) + ") EMIT CHANGES;")' | query_head)
assert_contains "$out" '200 {"queryId":' "5,000-item IN list"

note "a flood of CREATE STREAMs stops at 1000 streams"
out=$(python3 - "$API_PORT" <<'PY'
import http.client, json, sys
c = http.client.HTTPConnection("127.0.0.1", int(sys.argv[1]), timeout=10)
ok = refused = 0
last = ""
for i in range(1100):
    body = json.dumps({"ksql": f"CREATE STREAM flood{i} (a VARCHAR) WITH (KAFKA_TOPIC='f{i}', VALUE_FORMAT='JSON', PARTITIONS=1);"})
    c.request("POST", "/ksql", body, {"Content-Type": "application/json"})
    r = c.getresponse()
    data = r.read().decode()
    if r.status == 200:
        ok += 1
    else:
        refused += 1
        last = json.loads(data)["message"]
print(json.dumps({"created": ok, "refused": refused, "message": last}))
PY
)
note "$out"
streams=$(python3 -c 'import json,sys; r=json.loads(sys.argv[1]); print(r["created"])' "$out")
# the pipeline file's stream, wide35 and the floods make 1000
assert_eq 998 "$streams" "streams created by the flood"
assert_contains "$out" "sensord holds at most 1000 streams; drop one first" "the refusal"

note "a statement that is not UTF-8"
printf '{"ksql":"SHOW STREAMS; -- \xff\xfe"}' >"$T_DIR/bad.json"
code=$(curl -s -o "$T_DIR/resp" -w '%{http_code}' --max-time 5 -X POST \
  -H 'Content-Type: application/vnd.ksql.v1+json' --data-binary "@$T_DIR/bad.json" "$API/ksql")
assert_eq 400 "$code" "a body that is not UTF-8"
alive "invalid UTF-8"
assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$API/info")" "/info at the end"
sd_stop "$SD_PID"
echo ok
