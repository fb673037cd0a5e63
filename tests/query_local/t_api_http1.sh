#!/usr/bin/env bash
# query_local's REST API over HTTP/1.1: every endpoint and format byte for byte (chunk
# framing included), plus absolute-form request targets and an ignored Upgrade: h2c.
. "$(dirname "$0")/../lib.sh"
HTTP=1.1
. "$(dirname "$0")/api_lib.sh"
. "$(dirname "$0")/api_checks.sh"

note "absolute-form target with Upgrade: h2c (ksql-python's use_http2): answered HTTP/1.1"
ql_start "$T_DIR/p.ini"
raw=$(python3 - "$QP" <<'PY'
import socket, sys
port = int(sys.argv[1])
body = b'{"sql":"SELECT deviceId FROM smartphone_sensor_stream EMIT CHANGES LIMIT 1;"}'
s = socket.create_connection(("127.0.0.1", port), timeout=5)
s.sendall(b"POST http://127.0.0.1:%d/query-stream HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
          b"Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n"
          b"Content-Type: application/json\r\nContent-Length: %d\r\n\r\n" % (port, port, len(body)) + body)
data = b""
while b'"columnNames"' not in data:
    more = s.recv(65536)
    if not more: break
    data += more
print(data.split(b"\r\n")[0].decode())
print("chunked" if b"Transfer-Encoding: chunked" in data else "not chunked")
print(b'"columnNames":["DEVICEID"]' in data)
PY
)
assert_eq "HTTP/1.1 200 OK${NL}chunked${NL}True" "$raw" "absolute-form + Upgrade: h2c"
assert_eq '{"KsqlServerInfo":{"version":"0.29.0","kafkaClusterId":"sensord","ksqlServiceId":"default_","serverStatus":"RUNNING"}}' \
  "$(curl -s --max-time 5 --request-target "http://127.0.0.1:$QP/info" "http://127.0.0.1:$QP/")" "GET absolute-form /info"
sd_stop "$SD_PID"
echo "ok"
