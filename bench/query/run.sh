#!/usr/bin/env bash
# Builds and runs the query_local engine benchmark (bench_query.c) with the same flags as the
# plugin, writing the Markdown table to stdout. Usage: bench/query/run.sh [records] [seconds]
set -euo pipefail
cd "$(dirname "$0")/../.."
out=${BUILD:-build}/bench
mkdir -p "$out"
srcs="plugins/query_local/sql_lexer.c plugins/query_local/sql_parser.c plugins/query_local/sql_plan.c
  plugins/query_local/sql_eval.c plugins/query_local/sql_functions.c plugins/query_local/streams.c
  plugins/query_local/windows.c plugins/query_local/ddl.c plugins/query_local/engine.c"
# shellcheck disable=SC2086
${CC:-cc} -O2 -g -std=c11 -D_GNU_SOURCE -Wall -Wextra -Werror -Wno-unused-parameter -Iinclude \
  -o "$out/bench_query" bench/query/bench_query.c $srcs -ljansson -lm -lpthread
"$out/bench_query" "$@"
