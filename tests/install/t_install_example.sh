#!/usr/bin/env bash
# Install test: `make install` into a temporary DESTDIR, build examples/hello_filter out of
# tree against the installed header and sensord.pc only, drop it beside the installed
# plugins, and run the INSTALLED sensord: -t on good and bad pipelines, then a real run of
# source_gen -> hello_filter -> sink_stdout whose output is checked record by record.
. "$(dirname "$0")/../lib.sh"

root=$T_DIR/root
prefix=/usr/local
note "make install PREFIX=$prefix DESTDIR=$root"
make -C "$SENSORD_ROOT" --no-print-directory install PREFIX="$prefix" DESTDIR="$root" \
  BUILD="$BUILD" >"$T_DIR/install.log" 2>&1 || { tail -n 30 "$T_DIR/install.log"; fail "make install failed"; }

bin=$root$prefix/bin/sensord
pcdir=$root$prefix/lib/pkgconfig
[ -x "$bin" ] || fail "no installed sensord at $bin"
[ -f "$pcdir/sensord.pc" ] || fail "no sensord.pc in $pcdir"
[ -f "$root$prefix/include/sensord/plugin.h" ] || fail "plugin.h was not installed"

# The plugin directory the .pc file announces, re-rooted under DESTDIR.
plugindir=$(PKG_CONFIG_PATH=$pcdir pkg-config --variable=plugindir sensord)
assert_eq "$prefix/lib/sensord/abi-1" "$plugindir" "plugindir in sensord.pc"
libdir=$root$plugindir
for p in source_gen sink_stdout; do
  [ -f "$libdir/$p.so" ] || fail "$p.so was not installed into $libdir"
done

# Build the example from a copy, so nothing but the installed files can be found.
src=$T_DIR/hello_filter
cp -r "$SENSORD_ROOT/examples/hello_filter" "$src"
rm -f "$src/hello_filter.so"
export PKG_CONFIG_PATH=$pcdir PKG_CONFIG_SYSROOT_DIR=$root
cflags=$(pkg-config --cflags sensord)
assert_contains "$cflags" "-I$root$prefix/include" "pkg-config --cflags re-rooted to DESTDIR"
make -C "$src" --no-print-directory >"$T_DIR/example-build.log" 2>&1 ||
  { cat "$T_DIR/example-build.log"; fail "the example did not build against the installed sensord"; }
exports=$(nm -D --defined-only "$src/hello_filter.so" | awk '{print $3}' | tr '\n' ' ')
assert_eq "sd_plugin_entry " "$exports" "symbols exported by hello_filter.so"
make -C "$src" --no-print-directory install DESTDIR="$root" PLUGINDIR="$plugindir" \
  >>"$T_DIR/example-build.log" 2>&1 || fail "the example's install target failed"
[ -f "$libdir/hello_filter.so" ] || fail "hello_filter.so is not beside the installed plugins"
unset PKG_CONFIG_PATH PKG_CONFIG_SYSROOT_DIR

info=$("$bin" --plugin-info hello_filter --plugin-dir "$libdir" 2>&1) ||
  fail "--plugin-info hello_filter: $info"
assert_contains "$info" "equals" "--plugin-info lists the example's keys"

out=$T_DIR/out.ndjson
port=$(free_port)
write_ini() { # file, extra lines for the filter stage
  cat >"$1" <<INI
[sensord]
plugin_dir = $libdir
log_level = info
admin_listen = 127.0.0.1:$port
grace = 5s

[gen]
plugin = source_gen
count = 40
rate = 4000
batch_size = 8
device_count = 4

[only_dev2]
plugin = hello_filter
inputs = gen
$2

[out]
plugin = sink_stdout
inputs = only_dev2
path = $out
INI
}

# -t refuses a broken filter stage with file:line messages from the core and the plugin.
bad=$T_DIR/bad.ini
write_ini "$bad" "field = deviceId"
if msg=$("$bin" -t -c "$bad" 2>&1); then fail "sensord -t accepted a stage without equals"; fi
assert_contains "$msg" "$bad:14: stage \"only_dev2\" (hello_filter): key \"equals\": required key is missing" \
  "missing required key"
write_ini "$bad" "field = seen_by
equals = x"
if msg=$("$bin" -t -c "$bad" 2>&1); then fail "sensord -t accepted field = seen_by"; fi
assert_contains "$msg" "$bad:17: stage \"only_dev2\" (hello_filter): key \"field\": \"seen_by\" is the field this stage adds; pick another" \
  "hello_filter's validate message"

ini=$T_DIR/pipeline.ini
write_ini "$ini" "field = deviceId
equals = gen-device-0002"
msg=$("$bin" -t -c "$ini" 2>&1) || fail "sensord -t refused the example pipeline: $msg"

# The real run: 40 records over 4 devices, so 10 pass the filter.
SENSORD_BIN=$bin
sd_start run "$ini"
pid=$SD_PID
wait_http "http://127.0.0.1:$port/metrics" 10
lines=0
for ((i = 0; i < 200; i++)); do
  lines=$( [ -f "$out" ] && wc -l <"$out" || echo 0)
  [ "$lines" -ge 10 ] && break
  kill -0 "$pid" 2>/dev/null || { cat "$T_DIR/run.log"; fail "sensord exited early"; }
  sleep 0.05
done
[ "$lines" -ge 10 ] || { cat "$T_DIR/run.log"; fail "expected 10 output lines within 10s, got $lines"; }
sleep 0.3 # anything that should not pass would show up by now
metrics=$(curl -s --max-time 2 "http://127.0.0.1:$port/metrics")
sd_stop "$pid"

assert_eq 10 "$(wc -l <"$out" | tr -d ' ')" "records written by sink_stdout"
jq -e -s '
  length == 10
  and all(.[]; .fields.deviceId == "gen-device-0002"
               and .fields.seen_by == "only_dev2"
               and .key == "gen-device-0002"
               and .fields.name == "accelerometer"
               and (.fields.values_x | type) == "number"
               and (.timestamp_ns | type) == "number")' "$out" >/dev/null ||
  { head -n 3 "$out"; fail "sink_stdout output does not hold the 10 filtered, tagged records"; }
passed=$(echo "$metrics" | grep '^sensord_hello_filter_records_passed_total' | awk '{print $NF + 0}')
seen=$(echo "$metrics" | grep '^sensord_hello_filter_records_in_total' | awk '{print $NF + 0}')
assert_eq 10 "$passed" "sensord_hello_filter_records_passed_total"
assert_eq 40 "$seen" "sensord_hello_filter_records_in_total"
grep -q 'stage=only_dev2 plugin=hello_filter msg="passing records where deviceId = gen-device-0002"' \
  "$T_DIR/run.log" || { cat "$T_DIR/run.log"; fail "the example's init log line is missing"; }
note "ok: installed sensord ran source_gen -> hello_filter -> sink_stdout"
