#!/usr/bin/env bash
# SIGHUP reloads the config the nginx way: the file is checked first (sensord -t in a child),
# (a) a good file is applied (drain as on SIGTERM, re-exec of the same binary, same pid)
# and sensord serves again on the new port; (b) a broken file is refused, logged with its
# file:line, and the old config keeps running; (c) every reading acknowledged before the
# SIGHUP is delivered across the re-exec; (d) a good file whose new port another process
# holds is refused before the drain. SIGUSR1/SIGUSR2 are logged and ignored. Before the fix
# a SIGHUP killed sensord at once.
. "$(dirname "$0")/../lib.sh"
HTTP1=$(free_port) HTTP2=$(free_port) HTTP3=$(free_port) ADMIN=$(free_port)
INI=$T_DIR/p.ini
write_ini() { # http-port [extra line for the [out] section]
  cat >"$INI" <<INI
[sensord]
plugin_dir = $SENSORD_PLUGIN_DIR
admin_listen = 127.0.0.1:$ADMIN
grace = 10s

[ingest]
plugin = source_http
listen = 127.0.0.1:$1

[out]
plugin = sink_stdout
inputs = ingest
${2:-}

[slow]
plugin = sink_null
inputs = ingest
latency = 300ms
INI
}
wait_log() { # pattern [seconds]: the sd.log line, or fail
  local i limit=$((${2:-10} * SD_TIME_SCALE))
  for ((i = 0; i < limit * 20; i++)); do
    grep -q -- "$1" "$T_DIR/sd.log" 2>/dev/null && return 0
    kill -0 "$SD_PID" 2>/dev/null || fail "sensord died waiting for [$1]: $(tail -5 "$T_DIR/sd.log")"
    sleep 0.05
  done
  fail "no [$1] in the log within ${limit}s: $(tail -5 "$T_DIR/sd.log")"
}
SEQ=0 # readings numbered 1..SEQ were accepted (200)
push() { # port records: POSTs that many flat records to /records; the status in CODE
  local body='[' i
  for ((i = 0; i < $2; i++)); do
    SEQ=$((SEQ + 1))
    [ "$i" = 0 ] || body+=','
    body+="{\"time\":1700000000000000000,\"deviceId\":\"dev\",\"seq\":$SEQ}"
  done
  body+=']'
  CODE=$(curl -s -o /dev/null -w '%{http_code}' --max-time $((5 * SD_TIME_SCALE)) \
    -H 'Content-Type: application/json' --data-binary "$body" "http://127.0.0.1:$1/records") || true
  [ "$CODE" = 200 ] || SEQ=$((SEQ - $2))
}
metric() { # name: its value on /metrics
  curl -s --max-time 5 "http://127.0.0.1:$ADMIN/metrics" | awk -v m="$1" '$1 == m {print $2}'
}

write_ini "$HTTP1"
sd_start sd "$INI"
wait_status "http://127.0.0.1:$ADMIN/healthz" 200

# (c) readings acknowledged just before the SIGHUP: sink_null holds each batch 300 ms, so
# most are still queued or held when the reload starts; the drain must deliver them all.
for ((n = 0; n < 10; n++)); do push "$HTTP1" 50; assert_eq 200 "$CODE" "push $n before the reload"; done
acked=$SEQ

# (a) a good file, now on another port: checked, drained, re-executed, serving again.
write_ini "$HTTP2"
t0=$(date +%s%N)
kill -HUP "$SD_PID"
wait_log "msg=\"reload: $INI is ok"
wait_log 'msg="reload: the new configuration is running (reloads since the first start: 1 done, 0 refused)"' 15
wait_status "http://127.0.0.1:$ADMIN/healthz" 200
note "SIGHUP to healthy again: $(( ($(date +%s%N) - t0) / 1000000 )) ms (includes the 300 ms sink latency drain)"
kill -0 "$SD_PID" || fail "sensord is gone"
push "$HTTP2" 1
assert_eq 200 "$CODE" "push to the new port after the reload"
push "$HTTP1" 1
assert_eq 000 "$CODE" "the old port is closed"
log=$(cat "$T_DIR/sd.log")
assert_contains "$log" 'msg="reload: drained: 0 records could not be delivered"' "nothing lost in the drain"
assert_contains "$log" "stage=slow plugin=sink_null msg=\"drain: " "the slow sink drained"
assert_contains "$log" "msg=\"reload: executing " "re-exec logged"
assert_eq 1 "$(metric sensord_reloads_total)" "sensord_reloads_total"
assert_eq 0 "$(metric sensord_reload_failures_total)" "sensord_reload_failures_total"

# Signals whose default action would end the process are logged and ignored.
kill -USR1 "$SD_PID"
kill -USR2 "$SD_PID"
wait_log 'msg="received SIGUSR2: ignored'
assert_contains "$(cat "$T_DIR/sd.log")" 'msg="received SIGUSR1: ignored' "SIGUSR1"

# (b) a broken file (an unknown key, and a port change that must not happen): refused with
# file:line, the old config (port HTTP2) keeps running.
write_ini "$HTTP3" "bogus = 1"
line=$(grep -n '^bogus = 1$' "$INI" | cut -d: -f1)
kill -HUP "$SD_PID"
wait_log 'msg="reload: 1 configuration error in '
assert_contains "$(cat "$T_DIR/sd.log")" "level=error msg=\"reload: $INI:$line: stage \\\"out\\\" (sink_stdout): key \\\"bogus\\\": unknown key" "error with file:line"
assert_contains "$(cat "$T_DIR/sd.log")" "keeping the running configuration" "kept"
kill -0 "$SD_PID" || fail "sensord died on a broken file"
push "$HTTP2" 1
assert_eq 200 "$CODE" "the old config still serves"
push "$HTTP3" 1
assert_eq 000 "$CODE" "the broken file's port was not opened"
assert_eq 1 "$(metric sensord_reload_failures_total)" "sensord_reload_failures_total"
assert_eq 0 "$(metric sensord_config_last_reload_successful)" "last reload failed"
assert_eq 200 "$(curl -s -o /dev/null -w '%{http_code}' "http://127.0.0.1:$ADMIN/healthz")" "healthz"

# (d) a good file whose new port another process holds: -t cannot see it, the reload's
# bind probe does, and refuses before draining (else the new image would fail to start).
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(); open(sys.argv[2], "w").close(); time.sleep(60)' \
  "$HTTP3" "$T_DIR/held" &
HOLDER=$!
SD_PIDS+=("$HOLDER") # killed at exit if the test fails before it does
for ((i = 0; i < 100; i++)); do [ -e "$T_DIR/held" ] && break; sleep 0.05; done
write_ini "$HTTP3"
line=$(grep -n "^listen = 127.0.0.1:$HTTP3\$" "$INI" | cut -d: -f1)
kill -HUP "$SD_PID"
wait_log 'cannot be bound: keeping the running configuration'
kill "$HOLDER"
assert_contains "$(cat "$T_DIR/sd.log")" "level=error msg=\"reload: $INI:$line: stage \\\"ingest\\\" (source_http): key \\\"listen\\\": cannot bind 127.0.0.1:$HTTP3: Address already in use (another process holds it)\"" "bind probe"
push "$HTTP2" 1
assert_eq 200 "$CODE" "still serving the old config after the refused bind"
assert_eq 2 "$(metric sensord_reload_failures_total)" "sensord_reload_failures_total"

sd_stop "$SD_PID"
# Every acknowledged reading, before and after the reload, is in sink_stdout's output
# (stdout, the same file as the log: it must not lose its stdio buffer to the exec).
got=$(grep -o '"seq":[0-9]*' "$T_DIR/sd.log" | sort -u | wc -l)
assert_eq "$SEQ" "$got" "distinct readings written (acknowledged: $acked before the reload, $SEQ in all)"
echo ok
