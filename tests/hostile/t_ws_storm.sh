#!/usr/bin/env bash
# Issue 10, storms on the WebSocket port: 2,000 connect/close and 2,000 connect/RST cycles,
# half of them with the upgrade request half sent, half with it done (the 101 read, the
# stream handed to the writer threads), while rows flow. Half of the done ones ask for a new
# made-up stream each time, whose placeholder must be given back when the socket closes.
# sensord must stay alive and answer, and its descriptors and RSS must come back to the
# baseline taken after a warm-up: descriptors within 4, RSS within 8 MiB (an ASan build
# keeps up to 256 MiB of freed memory in quarantine, so it gets 320 MiB).
#
# A request cut off by a FIN half-way through its headers is closed by libmicrohttpd only
# at its connection timeout (3 heartbeats + 10 s: 13 s with heartbeat = 1s here, 55 s by
# default), not when the FIN arrives: those descriptors are allowed until then. The
# header deadline of issue 10 (defect 4) is what will shorten that.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/../source_http/http_lib.sh"
HERE=$(dirname "$0")
WS_PORT=$(free_port) INGEST_PORT=$(free_port)
http_ini "$T_DIR/p.ini" \
  "[ingest]" "plugin = source_http" "listen = 127.0.0.1:$INGEST_PORT" \
  "[ws]" "plugin = out_websocket" "inputs = ingest" "listen = 127.0.0.1:$WS_PORT" \
  "heartbeat = 1s"
start_and_wait sd "$T_DIR/p.ini" "http://127.0.0.1:$WS_PORT/healthz"
BASE=http://127.0.0.1:$WS_PORT
. "$HERE/storm_lib.sh"
# The ws-half storms hold 1,000 sockets at once until header_timeout, each with its 8 KiB
# connection pool; the allocator keeps that heap after they close (measured: +8.3 MiB, just
# over the common 8 MiB), so this test allows 16 MiB outside ASan.
[ "$RSS_SLACK_KB" -ge $((16 * 1024)) ] || RSS_SLACK_KB=$((16 * 1024))

health() { curl -s --max-time 2 "$BASE/healthz" | python3 -c "import json,sys; print(json.load(sys.stdin)[\"$1\"])"; }
storm() { # PATH END STAGE N [settle]: runs the storm, checks the daemon, prints its JSON
  local out want=0
  # shellcheck disable=SC2086
  out=$(python3 "$HERE/sse_storm.py" "$WS_PORT" "$1" "$4" --stage "$3" --end "$2" \
    --pid "$SD_PID" ${STORM_EXTRA:-}) || { alive "storm on $1 ($2)"; fail "the WebSocket port stopped accepting: $out"; }
  alive "storm on $1 ($2, $3)"
  note "$1 $2 $3: $out"
  [ "$3" = ws-done ] && want=$4
  [ "$(field "$out" answered)" = "$want" ] || fail "storm on $1 ($2): not every upgrade got its 101: $out"
  [ "${5:-}" = no-settle ] || [ "$(field "$out" fds_after)" -le $(($(field "$out" fds_before) + 4)) ] ||
    fail "storm on $1 ($2, $3): descriptors did not come back: $out"
}

( while kill -0 "$SD_PID" 2>/dev/null; do
    post_json "http://127.0.0.1:$INGEST_PORT/phone-producer/" \
      "$DATA/sensorlogger/android-calibrated-1s.json" >/dev/null || true
    sleep 0.2
  done ) &
POSTER=$!
storm /chart-data/x close ws-done 300 >/dev/null # warm-up
storm_baseline
T0=$(date +%s)
for end in close rst; do
  storm /chart-data/x "$end" ws-done 500
  # 64 placeholders at most; each is given back once the pump has finished its closed
  # socket, which under a loaded machine can lag a burst: a short pause every 32 cycles.
  STORM_EXTRA="--pause-every 32" storm "/events/made-up-$end-{i}" "$end" ws-done 500
  settle=
  [ "$end" = close ] && settle=no-settle # see above: held until the connection timeout
  storm /chart-data/x "$end" ws-half 1000 $settle
done
kill "$POSTER" 2>/dev/null || true
wait "$POSTER" 2>/dev/null || true

clients_gone() { [ "$(health clients)" = 0 ]; }
storm_settled 400 clients_gone # 20 s: the 13 s timeout, then some
note "settled $(($(date +%s) - T0)) s after the storms began"
# every made-up stream's placeholder came back: none is refused, none is left over
assert_eq 0 "$(health streams_refused)" "made-up streams refused"
assert_eq 0 "$(health waiting_streams)" "placeholders left after the storms"
out=$(python3 "$HERE/sse_storm.py" "$WS_PORT" /events/yet-another 1 --stage ws-done)
assert_eq 1 "$(field "$out" answered)" "a WebSocket upgrade after the storms"
assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' --max-time 2 "$BASE/")" "dashboard page"
alive "after the storms"
sd_stop "$SD_PID"
echo ok
