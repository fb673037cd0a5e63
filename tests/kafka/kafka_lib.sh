# Helpers for the Kafka tests, sourced after tests/lib.sh: the mock broker (started with
# a command pipe), kcat readback as JSON lines, sensord's admin port and metrics.
MOCK_BROKER=${MOCK_BROKER:-$SENSORD_ROOT/$BUILD/tests-tools/mock_broker}
KAFKA_TOPIC=smartphone-sensor-data

need_plugins() { # name...: fail clearly when a plugin this test needs is not built
  local p
  for p in "$@"; do
    [ -f "$SENSORD_PLUGIN_DIR/$p.so" ] || fail "plugin $p is not built ($SENSORD_PLUGIN_DIR/$p.so)"
  done
}

# mb_start [args...]: sets MB_BOOTSTRAP; commands go through mb_cmd.
mb_start() {
  [ -x "$MOCK_BROKER" ] || fail "mock broker not built: make $BUILD/tests-tools/mock_broker"
  local fifo=$T_DIR/mock_broker.in i
  mkfifo "$fifo"
  "$MOCK_BROKER" "$@" <"$fifo" >"$T_DIR/mock_broker.out" 2>"$T_DIR/mock_broker.err" &
  MB_PID=$!
  SD_PIDS+=("$MB_PID")
  exec {MB_FD}>"$fifo"
  for ((i = 0; i < 100 * SD_TIME_SCALE; i++)); do
    MB_BOOTSTRAP=$(awk '/^bootstrap /{print $2}' "$T_DIR/mock_broker.out")
    [ -n "$MB_BOOTSTRAP" ] && return 0
    sleep 0.05
  done
  fail "mock broker did not start: $(cat "$T_DIR/mock_broker.err")"
}

# mb_cmd "down 1": sends one command and waits for its answer.
mb_cmd() {
  local before i
  before=$(grep -c -E '^(ok|error)' "$T_DIR/mock_broker.out" || true)
  echo "$*" >&"$MB_FD"
  for ((i = 0; i < 100 * SD_TIME_SCALE; i++)); do
    local now
    now=$(grep -c -E '^(ok|error)' "$T_DIR/mock_broker.out" || true)
    if [ "$now" -gt "$before" ]; then
      tail -n 1 "$T_DIR/mock_broker.out" | grep -q '^ok' || fail "mock broker refused: $*"
      return 0
    fi
    sleep 0.05
  done
  fail "mock broker did not answer: $*"
}

# kcat_read FILE [topic]: every message of the topic, one JSON object per line
# (partition, offset, key, payload).
kcat_read() {
  local out=$1 topic=${2:-$KAFKA_TOPIC}
  timeout $((30 * SD_TIME_SCALE)) kcat -C -b "$MB_BOOTSTRAP" -t "$topic" -e -q -J >"$out" 2>"$out.err" ||
    fail "kcat could not read $topic: $(cat "$out.err")"
}

# admin_port LOGFILE: the port sensord's admin server reports in its log.
admin_port() {
  local log=$1 i port
  for ((i = 0; i < 200 * SD_TIME_SCALE; i++)); do
    port=$(sed -n 's/.*admin listening on [^ ]* (port \([0-9]*\)).*/\1/p' "$log" | head -n 1)
    [ -n "$port" ] && { echo "$port"; return 0; }
    sleep 0.05
  done
  fail "no admin port in $log"
}

# metric PORT NAME: the summed value of sensord_NAME over all label sets (0 when absent).
metric() {
  curl -s --max-time $((2 * SD_TIME_SCALE)) "http://127.0.0.1:$1/metrics" |
    awk -v n="sensord_$2" '$1 == n || index($1, n "{") == 1 { s += $NF } END { printf "%d\n", s }'
}

# wait_log FILE PATTERN [seconds]
wait_log() {
  local file=$1 pattern=$2 limit=$((${3:-10} * SD_TIME_SCALE)) i
  for ((i = 0; i < limit * 20; i++)); do
    grep -q -- "$pattern" "$file" 2>/dev/null && return 0
    sleep 0.05
  done
  fail "\"$pattern\" did not appear in $file within ${limit}s"
}

# count_lines FILE [PATTERN]: lines (matching PATTERN) in FILE; 0 when it does not exist.
count_lines() {
  local n
  n=$(grep -c -- "${2:-}" "$1" 2>/dev/null) || true
  echo "${n:-0}"
}

# log_has FILE TEXT: TEXT appears in sensord's log (logfmt's \" unescaped first).
log_has() {
  sed 's/\\"/"/g' "$1" | grep -qF -- "$2"
}

# ingest_node_ini FILE ADMIN_PORT HTTP_PORT: an ingest node's [sensord], [ingest] (ack =
# delivered) and [kafka] (to the mock broker) sections; callers append their own keys.
ingest_node_ini() {
  cat >"$1" <<INI
[sensord]
plugin_dir = $SENSORD_PLUGIN_DIR
admin_listen = 127.0.0.1:$2

[ingest]
plugin = source_http
listen = 127.0.0.1:$3
ack = delivered

[kafka]
plugin = sink_kafka
inputs = ingest
brokers = $MB_BOOTSTRAP
INI
}
