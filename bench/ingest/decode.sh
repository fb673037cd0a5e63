#!/usr/bin/env bash
# Decode micro-benchmark (not a test): jansson vs simdjson on Sensor Logger bodies, decode
# alone and source_http's whole body parsers. usage: bench/ingest/decode.sh [seconds per cell]
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
make -s "$BUILD/pobj/plugins/source_http/ingest_fast.o" >&2
mkdir -p "$BUILD/bench"
cc -O2 -std=c11 -D_GNU_SOURCE -c plugins/source_http/ingest.c -o "$BUILD/bench/ingest.o"
g++ -O2 -std=c++17 bench/ingest/decode_bench.cpp "$BUILD/bench/ingest.o" \
  "$BUILD/pobj/plugins/source_http/ingest_fast.o" -ljansson -lsimdjson -o "$BUILD/bench/decode_bench"
SENSORD_ROOT=$PWD "$BUILD/bench/decode_bench" "${1:-0.5}"
