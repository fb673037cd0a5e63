# Helpers for query_local's REST API tests: a source_http -> query_local -> sink_stdout
# pipeline on free ports, push queries opened with curl in the background, and the
# expected bytes of a response body per HTTP version (HTTP/1.1 bodies are compared raw,
# chunk framing included). Source after lib.sh; set HTTP=1.1 or HTTP=2 first.
QL_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
SAMPLES=$DATA/sensorlogger
HTTP=${HTTP:-1.1}
if [ "$HTTP" = 2 ]; then CURL_HTTP=(--http2-prior-knowledge); else CURL_HTTP=(--http1.1); fi
ORIGINAL_SQL="SELECT deviceId, time, values_x, values_y, values_z FROM smartphone_sensor_stream WHERE name = 'accelerometeruncalibrated' EMIT CHANGES"
# Readings without an x value are filtered out so every input row changes the average.
AVG_SQL="SELECT deviceId, AVG(values_x) AS ax, WINDOWSTART AS ws FROM smartphone_sensor_stream WINDOW TUMBLING (SIZE 1 SECONDS) WHERE values_x IS NOT NULL GROUP BY deviceId EMIT CHANGES"

# ql_ini FILE [extra engine lines...]: writes the pipeline; sets HP (ingest), QP (API), AP.
ql_ini() {
  local file=$1; shift
  HP=$(free_port); QP=$(free_port); AP=$(free_port)
  OUT=$T_DIR/rows.ndjson
  {
    printf '[sensord]\nplugin_dir = %s\nadmin_listen = 127.0.0.1:%s\n\n' "$SENSORD_PLUGIN_DIR" "$AP"
    printf '[ingest]\nplugin = source_http\nlisten = 127.0.0.1:%s\n\n' "$HP"
    printf '[engine]\nplugin = query_local\ninputs = ingest\nlisten = 127.0.0.1:%s\n' "$QP"
    local line
    for line in "$@"; do printf '%s\n' "$line"; done
    printf '\n[out]\nplugin = sink_stdout\ninputs = engine\npath = %s\n' "$OUT"
  } >"$file"
}

ql_start() { # INI
  sd_start sensord "$1"
  wait_http "http://127.0.0.1:$QP/info"
}

api() { curl -s -S --max-time $((10 * SD_TIME_SCALE)) "${CURL_HTTP[@]}" "$@"; }

# post_sample FILE: one Sensor Logger push into source_http (must be answered 200).
post_sample() {
  local code
  code=$(curl -s -o /dev/null -w '%{http_code}' --max-time $((10 * SD_TIME_SCALE)) -X POST \
    -H 'Content-Type: application/json' --data-binary "@$1" "http://127.0.0.1:$HP/phone-producer/")
  assert_eq 200 "$code" "POST $(basename "$1") to source_http"
}

# qs_open NAME PATH JSON_BODY [curl args...]: a streaming request in the background; the
# raw body goes to $T_DIR/NAME.body, headers to NAME.hdr. Returns once the first body
# bytes (the header line) arrived. Sets QS_PID. (Every wait here scales by SD_TIME_SCALE.)
qs_open() {
  local name=$1 path=$2 body=$3; shift 3
  : >"$T_DIR/$name.body"
  curl -s -N --raw --max-time $((30 * SD_TIME_SCALE)) "${CURL_HTTP[@]}" -D "$T_DIR/$name.hdr" -o "$T_DIR/$name.body" \
    -X POST "$@" --data-binary "$body" "http://127.0.0.1:$QP$path" &
  QS_PID=$!
  local i
  for ((i = 0; i < 200 * SD_TIME_SCALE; i++)); do
    [ -s "$T_DIR/$name.body" ] && return 0
    sleep 0.025
  done
  fail "no response body started for $name within 5s"
}

# qs_wait PID: the streaming request must end by itself within 10 s.
qs_wait() {
  local pid=$1 i
  for ((i = 0; i < 400 * SD_TIME_SCALE; i++)); do
    kill -0 "$pid" 2>/dev/null || { wait "$pid" || true; return 0; }
    sleep 0.025
  done
  kill "$pid" 2>/dev/null
  fail "streaming response did not end within 10s"
}

# wait_lines FILE N: until FILE holds N JSON lines (header or row; chunk framing skipped).
wait_lines() {
  local i
  for ((i = 0; i < 400 * SD_TIME_SCALE; i++)); do
    [ "$(grep -c '^[[{]' "$1" 2>/dev/null || true)" -ge "$2" ] && return 0
    sleep 0.025
  done
  fail "$1: expected $2 JSON lines, got $(grep -c '^[[{]' "$1" 2>/dev/null || true)"
}

# body_of ITEM...: the bytes a response body carries for these writes, each one chunk on
# HTTP/1.1 (hex length, CRLF, bytes, CRLF; then the last chunk), plain on HTTP/2.
body_of() {
  local item
  for item in "$@"; do
    if [ "$HTTP" = 2 ]; then printf '%s' "$item"
    else printf '%X\r\n%s\r\n' "${#item}" "$item"; fi
  done
  [ "$HTTP" = 2 ] || printf '0\r\n\r\n'
}

# query_id NAME: the queryId in the header line of a stream.
query_id() { grep -o '"queryId":"[^"]*"' "$T_DIR/$1.body" | head -n1 | cut -d'"' -f4; }

# header_value NAME HEADER: a response header (case-insensitive), CR stripped.
header_value() { grep -i "^$2:" "$T_DIR/$1.hdr" | head -n1 | cut -d' ' -f2- | tr -d '\r'; }
status_of() { head -n1 "$T_DIR/$1.hdr" | cut -d' ' -f2; }

# Expected rows of the original query (delimited lines, no newline) for the sample files.
expected_rows() { python3 "$QL_DIR/expect.py" filter "$@"; }
