#!/usr/bin/env bash
# query_ksql against a scripted ksqlDB (fake_ksqldb.mjs): the stream is created over /ksql
# with escaped values, each push query streams over /query-stream (delimited) and its rows
# come out typed, keyed by DEVICEID and timed by TIME; errors before and after the header,
# a cut connection, a server restart and the pre-0.24 HTTP/2-only answer all end in a
# reconnect with backoff, logged once per change with ksqlDB's error verbatim.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/kafka_lib.sh"
need_plugins query_ksql sink_stdout
FAKE=$(dirname "$0")/fake_ksqldb.mjs
QUERY="SELECT deviceId, time, values_x, values_y, values_z FROM smartphone_sensor_stream WHERE name = 'accelerometeruncalibrated' EMIT CHANGES"

# fake_start SCENARIO [PORT]: sets FAKE_PORT, FAKE_PID; requests go to $T_DIR/fake-$SCENARIO.log
fake_start() {
  local port_file=$T_DIR/fake-$1.port i
  rm -f "$port_file"
  node "$FAKE" "$1" "$port_file" ${2:-} >>"$T_DIR/fake-$1.log" 2>&1 &
  FAKE_PID=$!
  SD_PIDS+=("$FAKE_PID")
  for ((i = 0; i < 100; i++)); do [ -s "$port_file" ] && break; sleep 0.05; done
  FAKE_PORT=$(cat "$port_file" 2>/dev/null) || fail "fake ksqlDB ($1) did not start"
}

# write_ini NAME HTTP_VERSION: pipeline query_ksql -> sink_stdout against the fake
write_ini() {
  ADMIN=$(free_port)
  cat >"$T_DIR/$1.ini" <<INI
[sensord]
plugin_dir = $SENSORD_PLUGIN_DIR
admin_listen = 127.0.0.1:$ADMIN

[ksql]
plugin = query_ksql
server = http://127.0.0.1:$FAKE_PORT
http_version = $2
topic = it's-a-topic
reconnect_min = 50ms
reconnect_max = 400ms
query.accel = $QUERY

[out]
plugin = sink_stdout
inputs = ksql
path = $T_DIR/$1.ndjson
INI
}

wait_rows() { # FILE DEVICE COUNT
  local i
  for ((i = 0; i < 200; i++)); do
    [ "$(count_lines "$1" "\"$2\"")" -ge "$3" ] && return 0
    sleep 0.05
  done
  fail "$(basename "$1"): fewer than $3 rows of $2 within 10s (have $(count_lines "$1" "\"$2\""))"
}

check_rows() { # FILE DEVICE COUNT: rows exactly as the fake sent them
  python3 - "$@" <<'PY' || fail "rows of $2 differ"
import json, sys
path, dev, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
n = int(dev.split("-")[1])
rows = [json.loads(l) for l in open(path) if f'"{dev}"' in l]
assert len(rows) >= count, rows
for i, r in enumerate(rows[:count]):
    t = 1732435201000000000 + n * 1000 + i
    want = [("DEVICEID", dev), ("TIME", t), ("VALUES_X", 0.5 * (i + 1)), ("VALUES_Y", -1.25), ("VALUES_Z", None)]
    got = list(r["fields"].items())
    assert got == want, (got, want)
    assert isinstance(r["fields"]["VALUES_X"], float), "DOUBLE column must stay a double"
    assert r["key"] == dev and r["schema"] == "accel" and r["timestamp_ns"] == t, r
PY
}

# ---- config checks: nothing from config can add a statement ----------------------------
FAKE_PORT=1
write_ini bad auto
sed -i -e '/^query.accel/a query.evil = SELECT * FROM smartphone_sensor_stream EMIT CHANGES; DROP STREAM smartphone_sensor_stream' \
  -e '/^query.accel/a stream_name = x; DROP STREAM y' "$T_DIR/bad.ini"
out=$("$SENSORD_BIN" -c "$T_DIR/bad.ini" -t 2>&1) && fail "sensord -t accepted a second statement"
assert_contains "$out" "key \"stream_name\": stream name \"x; DROP STREAM y\" is not an identifier" "stream name validated"
out=$(sed '/^stream_name/d' "$T_DIR/bad.ini" >"$T_DIR/bad2.ini"; "$SENSORD_BIN" -c "$T_DIR/bad2.ini" -t 2>&1) && fail "sensord -t accepted query.evil"
assert_contains "$out" "key \"query.evil\": only one statement is allowed" "stacked statement refused"

# ---- normal, HTTP/1.1 (auto), then the server goes away and comes back ---------------------
fake_start normal
write_ini normal auto
sd_start normal "$T_DIR/normal.ini"
SD=$SD_PID
wait_rows "$T_DIR/normal.ndjson" dev-1 3
check_rows "$T_DIR/normal.ndjson" dev-1 3
python3 - "$T_DIR/fake-normal.log" "$QUERY" <<'PY' || fail "requests to ksqlDB differ"
import json, sys
reqs = [json.loads(l) for l in open(sys.argv[1]) if l.startswith("{")]
assert [r["path"] for r in reqs[:3]] == ["/ksql", "/ksql", "/query-stream"], reqs
assert reqs[0]["body"] == {"ksql": "SHOW STREAMS;", "streamsProperties": {}}, reqs[0]
assert reqs[1]["body"]["ksql"] == (
    "CREATE STREAM smartphone_sensor_stream (name VARCHAR, time BIGINT, values_x DOUBLE, "
    "values_y DOUBLE, values_z DOUBLE, messageId BIGINT, sessionId VARCHAR, deviceId VARCHAR) "
    "WITH (KAFKA_TOPIC='it''s-a-topic', VALUE_FORMAT='JSON');"), reqs[1]
q = reqs[2]
assert q["proto"] == "1.1" and q["accept"] == "application/vnd.ksqlapi.delimited.v1", q
assert q["body"] == {"sql": sys.argv[2] + ";", "properties": {"auto.offset.reset": "latest"}}, q
PY
assert_eq 1 "$(metric "$ADMIN" ksql_up)" "ksql_up while streaming"
kill "$FAKE_PID"; wait "$FAKE_PID" 2>/dev/null || true
sleep 2
[ "$(metric "$ADMIN" ksql_reconnects_total)" -ge 3 ] || fail "no repeated reconnect attempts while ksqlDB was away"
assert_eq 0 "$(metric "$ADMIN" ksql_up)" "ksql_up while ksqlDB is away"
lines=$(grep -c 'query accel \(down\|failed\)' "$T_DIR/normal.log")
[ "$lines" -le 2 ] || fail "reconnect attempts logged $lines times (once per state change expected)"
fake_start normal "$FAKE_PORT"
wait_rows "$T_DIR/normal.ndjson" dev-1 6   # the restarted server numbers connections anew
assert_eq 1 "$(metric "$ADMIN" ksql_up)" "ksql_up after ksqlDB came back"
# Downstream (browsers behind out_sse) was told: up, down (once), up again.
states=$(jq -r 'select(.schema == "_status") | .fields.STATE' "$T_DIR/normal.ndjson" | tr '\n' ' ')
assert_eq "up down up " "$states" "_status notices while ksqlDB went away and came back"
sd_stop "$SD"
kill "$FAKE_PID"

# ---- error before the header (verbatim), then normal ------------------------------------
fake_start error-before
write_ini eb auto
sd_start eb "$T_DIR/eb.ini"
SD=$SD_PID
wait_rows "$T_DIR/eb.ndjson" dev-2 3
check_rows "$T_DIR/eb.ndjson" dev-2 3
log_has "$T_DIR/eb.log" 'query accel failed: HTTP 400: {"@type":"statement_error","error_code":40001,"message":"SMARTPHONE_SENSOR_STREAM does not exist."' ||
  fail "error before the header not logged verbatim"
sd_stop "$SD"
kill "$FAKE_PID"

# ---- error after the header: rows before it are kept, the error is logged ----------------
fake_start error-after
write_ini ea auto
sd_start ea "$T_DIR/ea.ini"
SD=$SD_PID
wait_rows "$T_DIR/ea.ndjson" dev-2 3
check_rows "$T_DIR/ea.ndjson" dev-1 1
log_has "$T_DIR/ea.log" 'query accel down: error after the header: {"@type":"generic_error","error_code":50000,"message":"boom after the header"}' ||
  fail "error after the header not logged verbatim"
sd_stop "$SD"
kill "$FAKE_PID"

# ---- connection cut mid-stream (a row split across chunks first), over HTTP/2 ------------
fake_start close
write_ini cut 2
sd_start cut "$T_DIR/cut.ini"
SD=$SD_PID
wait_rows "$T_DIR/cut.ndjson" dev-2 3
check_rows "$T_DIR/cut.ndjson" dev-1 2
check_rows "$T_DIR/cut.ndjson" dev-2 3
grep -q 'query accel down' "$T_DIR/cut.log" || fail "cut connection not logged"
[ "$(grep -c '"proto":"1.1"' "$T_DIR/fake-close.log")" = 0 ] || fail "http_version = 2 sent an HTTP/1.1 request"
sd_stop "$SD"
kill "$FAKE_PID"

# ---- ksqlDB before 0.24: /query-stream only over HTTP/2 -----------------------------------
fake_start h2only
write_ini h2 auto
sd_start h2 "$T_DIR/h2.ini"
SD=$SD_PID
wait_rows "$T_DIR/h2.ndjson" dev-1 3
check_rows "$T_DIR/h2.ndjson" dev-1 3
grep -q 'switching to HTTP/2' "$T_DIR/h2.log" || fail "no switch to HTTP/2 logged"
log_has "$T_DIR/h2.log" '"error_code":40004'  || fail "the 40004 answer not logged verbatim"
sd_stop "$SD"
note "query_ksql: every scenario passed"
