#!/usr/bin/env bash
# Regenerates docs/CONFIG.md from the config tables compiled into sensord and its plugins
# (`sensord --core-info` / `--plugin-info NAME --format=markdown`), so the doc cannot drift
# from the code. tests/core/t_config_doc.sh fails when the committed file is stale.
set -euo pipefail
cd "$(dirname "$0")/.."
bin=${SENSORD_BIN:-build/sensord}
dir=${SENSORD_PLUGIN_DIR:-build/plugins}
{
  cat docs/CONFIG.head.md
  echo
  "$bin" --core-info --format=markdown
  for so in "$dir"/*.so; do
    echo
    "$bin" -p "$dir" --plugin-info "$(basename "$so" .so)" --format=markdown
  done
} > "${1:-docs/CONFIG.md}"
