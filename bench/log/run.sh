#!/usr/bin/env bash
# Stream log benchmark (not a test): builds bench/log/bench_log.c against the log sources
# and runs it (append rate per fsync setting, bytes per reading, recovery time of a large
# log). usage: bench/log/run.sh [DIR] [MiB of log for recovery, default 1024]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${TMPDIR:-/tmp}/bench_log.$$
q=plugins/query_local
gcc -std=c11 -D_GNU_SOURCE -O2 -g -Iinclude -Icore -o "$out" bench/log/bench_log.c \
  tests/query_local_engine/test_support.c $q/tlog.c $q/tlog_segment.c $q/tlog_crc32c.c \
  $q/qlog_codec.c $q/sql_lexer.c $q/sql_parser.c $q/sql_plan.c $q/sql_eval.c \
  $q/sql_functions.c $q/streams.c $q/windows.c $q/ddl.c $q/engine.c \
  -lzstd -ljansson -lm -lpthread
trap 'rm -f "$out"' EXIT
"$out" "${1:-${TMPDIR:-/tmp}/bench-log.$$}" "${2:-1024}"
