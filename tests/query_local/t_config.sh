#!/usr/bin/env bash
# `sensord -t` compiles query_local's statements and named queries and refuses bad SQL and a
# bad listen value at the key's file:line, all errors at once.
. "$(dirname "$0")/../lib.sh"
ini=$T_DIR/bad.ini
cat >"$ini" <<INI
[sensord]
plugin_dir = $SENSORD_PLUGIN_DIR
admin_listen = off
[ingest]
plugin = source_gen
[engine]
plugin = query_local
inputs = ingest
listen = nope
query.unknown_column = SELECT nope FROM smartphone_sensor_stream EMIT CHANGES
query.typo = SLECT deviceId FROM smartphone_sensor_stream EMIT CHANGES
query.bad/name = SELECT deviceId FROM smartphone_sensor_stream EMIT CHANGES
query.fine = SELECT deviceId FROM smartphone_sensor_stream EMIT CHANGES
[out]
plugin = sink_null
inputs = engine
INI
out=$("$SENSORD_BIN" -c "$ini" -t 2>&1) && fail "sensord -t accepted bad SQL: $out"
assert_contains "$out" "bad.ini:9: stage \"engine\" (query_local): key \"listen\": expected host:port" "bad listen"
assert_contains "$out" "bad.ini:10: stage \"engine\" (query_local): key \"query.unknown_column\": " "unknown column"
assert_contains "$out" "NOPE" "unknown column named"
assert_contains "$out" "bad.ini:11: stage \"engine\" (query_local): key \"query.typo\": line 1:1: Syntax Error" "syntax error"
assert_contains "$out" "bad.ini:12: stage \"engine\" (query_local): key \"query.bad/name\": query name must be" "query name"
[[ "$out" == *query.fine* ]] && fail "a good query was reported: $out"

sed -i -e '/^listen = nope/d' -e '/^query\.\(unknown_column\|typo\|bad\)/d' "$ini"
out=$("$SENSORD_BIN" -c "$ini" -t 2>&1) || fail "good config refused: $out"
echo ok
