#!/usr/bin/env bash
# Runs every benchmark (bench/*/run.sh) in turn, or the ones named: bench/run.sh ingest query.
# Benchmarks are not tests: they print figures for docs/BENCHMARKS.md and never fail on speed.
set -euo pipefail
cd "$(dirname "$0")/.."
make --no-print-directory all >/dev/null
names=("$@")
[ ${#names[@]} -gt 0 ] || names=($(for d in bench/*/run.sh; do basename "$(dirname "$d")"; done))
echo "machine: $(nproc) cores, $(free -g | awk '/Mem:/{print $2}') GiB, $(uname -sr), $(date -u +%F)"
for n in "${names[@]}"; do
  echo "=== bench/$n ==="
  bash "bench/$n/run.sh"
done
