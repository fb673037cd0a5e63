#!/usr/bin/env bash
# Every loader refusal, with its exact message, through `sensord --plugin-info` against
# the fixture plugins, and the same message inside a pipeline check (prefixed by file,
# line and stage).
. "$(dirname "$0")/../lib.sh"
cd "$SENSORD_ROOT"
FX=$BUILD/fixtures
[ -f "$FX/fx_good.so" ] || fail "fixtures not built: run make test-build"

refused() { # name expected-message
  local out rc=0
  out=$("$SENSORD_BIN" --plugin-info "$1" -p "$FX" 2>&1 >/dev/null) || rc=$?
  assert_eq 1 "$rc" "exit code of --plugin-info $1"
  assert_eq "$2" "$out" "refusal of $1"
}

refused fx_missing "plugin \"fx_missing\": no fx_missing.so in $FX (sensord --list-plugins shows what is there)"
refused fx_no_entry "plugin \"fx_no_entry\": $FX/fx_no_entry.so is not a sensord plugin (no sd_plugin_entry symbol)"
refused fx_null_descriptor "plugin \"fx_null_descriptor\": sd_plugin_entry() in $FX/fx_null_descriptor.so returned no descriptor: fix the plugin"
refused fx_bad_magic 'plugin "fx_bad_magic": bad magic 0x12345678 (expected 0x534E5344): not a sensord plugin'
refused fx_other_major "plugin \"fx_other_major\": built for ABI major 2, this sensord speaks ABI major 1: rebuild the plugin against this sensord's plugin.h"
refused fx_other_vendor "plugin \"fx_other_vendor\": built for vendor \"forkd\", this sensord is \"sensord\": rebuild the plugin against this sensord's plugin.h"
refused fx_other_traits 'plugin "fx_other_traits": built for 32-bit big-endian (traits 0x2), this sensord is 64-bit little-endian (traits 0x1): rebuild the plugin for this machine'
refused fx_newer_minor 'plugin "fx_newer_minor": needs ABI 1.3 but this sensord provides 1.1: upgrade sensord'
size=$(grep -o 'needs at least [0-9]*' <("$SENSORD_BIN" --plugin-info fx_short -p "$FX" 2>&1) | grep -o '[0-9]*$')
[ "$size" -gt 64 ] || fail "descriptor size of the ABI not reported"
abi=$("$SENSORD_BIN" --version | grep -o 'plugin ABI [0-9.]*' | grep -o '[0-9.]*$') # fixtures use this header
refused fx_short "plugin \"fx_short\": descriptor is 64 bytes, ABI $abi needs at least $size: rebuild the plugin"
refused fx_name_mismatch 'plugin "fx_name_mismatch": descriptor name "other_name" does not match the file name fx_name_mismatch.so: rename the file or fix the descriptor'
refused fx_unknown_kind 'plugin "fx_unknown_kind": unknown kind 7 (expected 1 source, 2 query or 3 sink): fix the plugin'
refused fx_unknown_flags 'plugin "fx_unknown_flags": unknown descriptor flags 0x80 (ABI 1.1 knows 0x1): fix the plugin'
refused fx_reserved_set 'plugin "fx_reserved_set": descriptor slot reserved[3] is set (ABI 1.1 defines none): rebuild the plugin against this sensord'"'"'s plugin.h'
refused fx_no_init 'plugin "fx_no_init": a sink plugin must provide init(): fix the plugin'
refused fx_no_process 'plugin "fx_no_process": a sink plugin must provide process(): fix the plugin'
refused fx_bad_default 'plugin "fx_bad_default": key "count": default "lots" does not parse: expected an integer'
out=$("$SENSORD_BIN" --plugin-info fx_garbage -p "$FX" 2>&1 >/dev/null) || true
assert_contains "$out" "plugin \"fx_garbage\": cannot load $FX/fx_garbage.so: " "dlopen failure"
refused ../fx_good "plugin \"../fx_good\": invalid plugin name: use the file stem of a .so in $FX, without \"/\" or \"..\""
refused sub/fx_good "plugin \"sub/fx_good\": invalid plugin name: use the file stem of a .so in $FX, without \"/\" or \"..\""

# Only regular files: a directory named like a plugin is refused.
mkdir -p "$T_DIR/plugins/fx_dir.so"
out=$("$SENSORD_BIN" --plugin-info fx_dir -p "$T_DIR/plugins" 2>&1 >/dev/null) || true
assert_eq "plugin \"fx_dir\": $T_DIR/plugins/fx_dir.so is not a regular file: remove it from $T_DIR/plugins" "$out" "directory refused"

# The good fixture is described, secrets masked, pipes escaped in Markdown.
info=$("$SENSORD_BIN" --plugin-info fx_good -p "$FX")
assert_contains "$info" "version:     1.2.3" "version line"
assert_contains "$info" "count  int     5         1 .. 10" "bounded key row"
assert_contains "$info" "(secret)" "secret default masked"
[[ "$info" != *hush* ]] || fail "secret default printed"
md=$("$SENSORD_BIN" --plugin-info fx_good -p "$FX" --format=markdown)
assert_contains "$md" "## fx_good" "markdown heading"
assert_contains "$md" '| `mode` | enum | `fast` | `fast\|safe` |  | an enum |' "markdown row"

# --list-plugins shows loadable ones and why the others are refused, exit 0.
list=$("$SENSORD_BIN" --list-plugins -p "$FX")
assert_contains "$list" "fx_good" "listing"
assert_contains "$list" 'refused: plugin "fx_bad_magic": bad magic' "refusal in listing"

# In a pipeline, the same message is prefixed with file:line and the stage.
cd "$T_DIR"
cat > p.ini <<INI
[sensord]
admin_listen = off

[sink]
plugin = fx_other_major
inputs = sink2

[sink2]
plugin = fx_newer_minor
INI
out=$("$SENSORD_BIN" -t -c p.ini -p "$SENSORD_ROOT/$FX" 2>&1) && fail "-t accepted broken plugins"
assert_eq "p.ini:5: stage \"sink\": plugin \"fx_other_major\": built for ABI major 2, this sensord speaks ABI major 1: rebuild the plugin against this sensord's plugin.h
p.ini:9: stage \"sink2\": plugin \"fx_newer_minor\": needs ABI 1.3 but this sensord provides 1.1: upgrade sensord" "$out" "pipeline loader errors"
echo "ok"
