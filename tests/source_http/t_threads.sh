#!/usr/bin/env bash
# source_http `threads`: one listening socket per worker thread on the same port
# (SO_REUSEPORT, so the kernel spreads connections over the workers), also for an
# ephemeral port; concurrent pushes over many connections all land, none twice; a second
# sensord on the same port is refused rather than sharing it.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/http_lib.sh"
S=$DATA/sensorlogger
PORT=$(free_port)
http_ini "$T_DIR/p.ini" \
  "[ingest]" "plugin = source_http" "listen = 127.0.0.1:$PORT" "threads = 3" \
  "[ingest_eph]" "plugin = source_http" "listen = 127.0.0.1:0" "threads = 2" \
  "[out]" "plugin = sink_stdout" "inputs = ingest, ingest_eph" "path = $T_DIR/out.ndjson"
start_and_wait sd "$T_DIR/p.ini"

# listening sockets on a port, from /proc (state 0A = LISTEN); no iproute2 needed
listeners() {
  awk -v port="$(printf ':%04X' "$1")" '$2 ~ port"$" && $4 == "0A"' /proc/net/tcp | wc -l
}
assert_eq 3 "$(listeners "$PORT")" "listening sockets for threads = 3"
EPH=$(sed -n 's/.*stage=ingest_eph .*phones push to http:\/\/127\.0\.0\.1:\([0-9]*\)\/phone-producer\/;.*/\1/p' "$T_DIR/sd.log")
[ -n "$EPH" ] || fail "no start-up line for the ephemeral port"
assert_eq 2 "$(listeners "$EPH")" "listening sockets for threads = 2 on an ephemeral port"

# 24 pushes of the 9-reading sample at once, each on its own connection
URL=http://127.0.0.1:$PORT/phone-producer/
pids=()
for i in $(seq 24); do
  curl -s -o /dev/null -w '%{http_code}\n' -H 'Content-Type: application/json' \
    --data-binary "@$S/mixed-sensors.json" "$URL" >"$T_DIR/code.$i" &
  pids+=($!)
done
wait "${pids[@]}" # not a bare wait: sensord is a child too
assert_eq 24 "$(cat "$T_DIR"/code.* | grep -c '^200$')" "concurrent pushes answered 200"
assert_eq 200 "$(post_json "http://127.0.0.1:$EPH/phone-producer/" "$S/mixed-sensors.json")" "push to the ephemeral port"
wait_lines "$T_DIR/out.ndjson" $((25 * 9)) 10
assert_eq $((25 * 9)) "$(wc -l <"$T_DIR/out.ndjson")" "every reading recorded once"

# A second sensord on the same port is refused, not handed half the connections.
cat >"$T_DIR/second.ini" <<INI
[sensord]
plugin_dir = $SENSORD_PLUGIN_DIR
admin_listen = off

[ingest]
plugin = source_http
listen = 127.0.0.1:$PORT
threads = 2

[out]
plugin = sink_null
inputs = ingest
INI
rc=0
timeout $((20 * SD_TIME_SCALE)) "$SENSORD_BIN" -c "$T_DIR/second.ini" >"$T_DIR/second.log" 2>&1 || rc=$?
[ "$rc" != 0 ] && [ "$rc" != 124 ] || fail "a second sensord on port $PORT exited $rc"
assert_contains "$(cat "$T_DIR/second.log")" "cannot listen on 127.0.0.1:$PORT: address in use" "second instance's error"
assert_eq 3 "$(listeners "$PORT")" "the first instance still has its 3 sockets"
sd_stop "$SD_PID"
