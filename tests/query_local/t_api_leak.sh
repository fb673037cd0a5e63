#!/usr/bin/env bash
# 1000 push queries over HTTP/1.1 and 1000 over HTTP/2 opened and dropped by their clients:
# every one is freed (push_queries_running back to 0) and, under `make check-asan`, the
# daemon exits without a leak report.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/api_lib.sh"
ql_ini "$T_DIR/p.ini"
ql_start "$T_DIR/p.ini"
running() { curl -s --max-time 5 "http://127.0.0.1:$AP/metrics" | awk '/^sensord_query_push_queries_running/ {print $NF}'; }
node "$QL_DIR/open_drop.mjs" "$QP" 1000 || fail "opening and dropping push queries"
for ((i = 0; i < 100; i++)); do [ "$(running)" = 0 ] && break; sleep 0.1; done
assert_eq 0 "$(running)" "push queries still running after their clients left"
# The engine agrees: no transient query left.
out=$(curl -s --max-time 5 -X POST --data-binary '{"ksql":"SHOW QUERIES;"}' "http://127.0.0.1:$QP/ksql")
[[ "$out" == *transient_* ]] && fail "engine still lists transient queries: $out"
sd_stop "$SD_PID"
grep -q 'LeakSanitizer\|AddressSanitizer' "$T_DIR/sensord.log" && fail "sanitizer report in $T_DIR/sensord.log"
echo ok
