#!/usr/bin/env bash
# docs/CONFIG.md must match the config tables compiled into sensord and its plugins:
# regenerate it and compare. On failure run scripts/gen-config-doc.sh and commit the result.
. "$(dirname "$0")/../lib.sh"
cd "$SENSORD_ROOT"
SENSORD_BIN=$SENSORD_BIN SENSORD_PLUGIN_DIR=$SENSORD_PLUGIN_DIR scripts/gen-config-doc.sh "$T_DIR/CONFIG.md"
diff -u docs/CONFIG.md "$T_DIR/CONFIG.md" >"$T_DIR/config.diff" ||
  fail "docs/CONFIG.md is stale (run scripts/gen-config-doc.sh): $(head -40 "$T_DIR/config.diff")"
# Every plugin built is documented.
for so in "$SENSORD_PLUGIN_DIR"/*.so; do
  grep -q "^## $(basename "$so" .so)\$" docs/CONFIG.md || fail "docs/CONFIG.md lacks $(basename "$so" .so)"
done
