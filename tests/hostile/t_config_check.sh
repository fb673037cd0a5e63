#!/usr/bin/env bash
# `sensord -t` checks every listen address before anything binds: admin_listen's host and
# port (with file:line), and no two listeners (admin_listen and every plugin's listen key)
# on one address:port, naming both keys. Before the fix, admin_listen = 999.1.1.1:99999
# and two stages on one port both said "configuration ok". A run refuses the same files.
. "$(dirname "$0")/../lib.sh"
cd "$T_DIR"
PD=$SENSORD_PLUGIN_DIR
P=$(free_port) Q=$(free_port)

check() { # ini-text expected-stderr
  printf '%s\n' "$1" >p.ini
  local out rc=0
  out=$("$SENSORD_BIN" -t -c p.ini -p "$PD" 2>&1 >/dev/null) || rc=$?
  assert_eq 1 "$rc" "exit code of -t"
  assert_eq "$2" "$out" "errors"
}
ok() { # ini-text
  printf '%s\n' "$1" >p.ini
  local out rc=0
  out=$("$SENSORD_BIN" -t -c p.ini -p "$PD" 2>&1) || rc=$?
  assert_eq 0 "$rc" "exit code of -t ($out)"
  assert_contains "$out" "configuration ok" "-t output"
}
GEN='[gen]
plugin = source_gen
[out]
plugin = sink_null
inputs = gen'

# The issue's repro: a port above 65535, then a host that is no IPv4 address (refused
# without a DNS lookup), then no host at all (the admin server needs one).
check "[sensord]
admin_listen = 999.1.1.1:99999
$GEN" 'p.ini:2: [sensord]: key "admin_listen": "999.1.1.1:99999": port must be a number from 0 to 65535: use HOST:PORT such as 127.0.0.1:9180, or off'
check "[sensord]
admin_listen = 999.1.1.1:$P
$GEN" "p.ini:2: [sensord]: key \"admin_listen\": \"999.1.1.1:$P\": \"999.1.1.1\" is not an IPv4 address (four numbers 0 to 255): use HOST:PORT such as 127.0.0.1:9180, or off"
check "[sensord]
admin_listen = :$P
$GEN" "p.ini:2: [sensord]: key \"admin_listen\": \":$P\": needs a host (0.0.0.0 for every interface, but keep it local): use HOST:PORT such as 127.0.0.1:9180, or off"
check "[sensord]
admin_listen = localhost
$GEN" 'p.ini:2: [sensord]: key "admin_listen": "localhost": expected host:port, [ipv6]:port or :port: use HOST:PORT such as 127.0.0.1:9180, or off'

# The plugins word their own listen errors (same parser, lib/net/listen_addr.c).
check "[sensord]
admin_listen = off
[ingest]
plugin = source_http
listen = 300.1.1.1:$P
[out]
plugin = sink_null
inputs = ingest" "p.ini:5: stage \"ingest\" (source_http): key \"listen\": \"300.1.1.1\" is not an IPv4 address (four numbers 0 to 255)"

# Two stages on one port: a wildcard covers every address of its family.
check "[sensord]
admin_listen = off
[ingest]
plugin = source_http
listen = 127.0.0.1:$P
[dash]
plugin = out_sse
inputs = ingest
listen = 0.0.0.0:$P" "p.ini:9: stage \"dash\" (out_sse): key \"listen\": 0.0.0.0:$P would bind the same address and port as stage \"ingest\" (source_http) key \"listen\" = 127.0.0.1:$P (p.ini:5): give one of them another port"

# The admin port against a plugin's, and a default (unset key) against a set one.
check "[sensord]
admin_listen = 127.0.0.1:$P
[ingest]
plugin = source_http
listen = 127.0.0.1:$Q
[engine]
plugin = query_local
inputs = ingest
listen = 127.0.0.1:$P
[dash]
plugin = out_sse
inputs = engine
listen = 127.0.0.1:8000" "p.ini:9: stage \"engine\" (query_local): key \"listen\": 127.0.0.1:$P would bind the same address and port as [sensord] key \"admin_listen\" = 127.0.0.1:$P (p.ini:2): give one of them another port"
check "[sensord]
admin_listen = off
[a]
plugin = source_http
[b]
plugin = source_http
[out]
plugin = sink_null
inputs = a, b" 'p.ini:5: stage "b" (source_http): key "listen": 0.0.0.0:8000 (the default) would bind the same address and port as stage "a" (source_http) key "listen" = 0.0.0.0:8000 (p.ini:3, the default): give one of them another port'
# [::] takes the IPv4 port too on Linux by default.
check "[sensord]
admin_listen = 127.0.0.1:$P
[ingest]
plugin = source_http
listen = [::]:$P
[out]
plugin = sink_null
inputs = ingest" "p.ini:5: stage \"ingest\" (source_http): key \"listen\": [::]:$P would bind the same address and port as [sensord] key \"admin_listen\" = 127.0.0.1:$P (p.ini:2): give one of them another port"

# Fine: one port on two different addresses, port 0 (the kernel picks) twice, off.
ok "[sensord]
admin_listen = 127.0.0.1:$P
[ingest]
plugin = source_http
listen = 127.0.0.2:$P
[eph]
plugin = source_http
listen = 127.0.0.1:0
[eph2]
plugin = source_http
listen = 127.0.0.1:0
[engine]
plugin = query_local
inputs = ingest
listen = off
[out]
plugin = sink_null
inputs = engine, eph, eph2"

# A run refuses the same file before it binds anything.
printf '%s\n' "[sensord]
plugin_dir = $PD
admin_listen = 127.0.0.1:$P
[ingest]
plugin = source_http
listen = 127.0.0.1:$Q
[dash]
plugin = out_sse
inputs = ingest
listen = 127.0.0.1:$Q" >run.ini
rc=0
"$SENSORD_BIN" -c run.ini >run.log 2>&1 || rc=$?
assert_eq 1 "$rc" "exit code of a run"
assert_contains "$(cat run.log)" "run.ini:10: stage \"dash\" (out_sse): key \"listen\": 127.0.0.1:$Q would bind the same address and port as stage \"ingest\" (source_http) key \"listen\" = 127.0.0.1:$Q (run.ini:6)" "run refuses"
assert_contains "$(cat run.log)" "1 configuration error: not starting" "not starting"
echo ok
