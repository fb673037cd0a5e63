#!/usr/bin/env bash
# Pipeline-level errors through `sensord -t`: unknown input, cycles, wrong kinds, missing
# plugin and plugin key, several at once; and a clean file says "configuration ok".
. "$(dirname "$0")/../lib.sh"
cd "$T_DIR"
PD=$SENSORD_PLUGIN_DIR

check() { # ini-text expected-stderr
  printf '%s\n' "$1" > p.ini
  local out rc=0
  out=$("$SENSORD_BIN" -t -c p.ini -p "$PD" 2>&1 >/dev/null) || rc=$?
  assert_eq 1 "$rc" "exit code"
  assert_eq "$2" "$out" "errors"
}

check '[gen]
plugin = source_gen

[out]
plugin = sink_null
inputs = gen, nothere' 'p.ini:6: stage "out": input "nothere" names no stage (stages: gen, out)'

check '[a]
plugin = fx_passthru_missing
inputs = b' "p.ini:2: stage \"a\": plugin \"fx_passthru_missing\": no fx_passthru_missing.so in $PD (sensord --list-plugins shows what is there)
p.ini:3: stage \"a\": input \"b\" names no stage (stages: a)"

check '[gen]
plugin = source_gen
inputs = out

[out]
plugin = sink_null' 'p.ini:3: stage "gen": input "out" is a sink (sink_null), which has no output: use a source or query stage
p.ini:3: stage "gen" (source_gen): a source takes no inputs: remove inputs
p.ini:5: stage "out" (sink_null): a sink stage needs inputs: add inputs = STAGE[, STAGE…]'

# Errors come in file order whatever found them (keys, graph, validate), and the extra
# lines of a multi-line SQL error are indented under their file:line.
check '[engine]
plugin = query_local
inputs = nope
listen = off
query.x = SELEC 1

[out]
plugin = sink_null
inputs = engine
on_full = blok' "p.ini:3: stage \"engine\": input \"nope\" names no stage (stages: engine, out)
p.ini:5: stage \"engine\" (query_local): key \"query.x\": line 1:1: Syntax Error
    Unknown statement 'SELEC'
    Did you mean 'SELECT'?
p.ini:10: stage \"out\" (sink_null): key \"on_full\": \"blok\" is not one of block, reject, drop"

# One stage's bad keys do not hide another stage's validate() errors: one run, all errors.
check '[gen]
plugin = source_gen
bogus = 1

[out]
plugin = sink_kafka
inputs = gen
kafka.no.such.property = 1' 'p.ini:3: stage "gen" (source_gen): key "bogus": unknown key; known keys: batch_size, count, device_count, inputs, log_level, on_full, plugin, queue.max_bytes, queue.max_records, rate, sensor
p.ini:8: stage "out" (sink_kafka): key "kafka.no.such.property": No such configuration property: "no.such.property"'

check '[x]
rate = 5' 'p.ini:1: stage "x": key "plugin": required key is missing: add plugin = NAME (sensord --list-plugins shows what is there)'

check '[sensord]
admin_listen = off' 'p.ini: no stages: add a section such as [gen] with plugin = source_gen'

# Cycles need query stages: link the fixture query beside the real plugins.
mkdir -p plugins
for p in source_gen sink_null; do ln -sf "$PD/$p.so" plugins/; done
ln -sf "$SENSORD_ROOT/$BUILD/fixtures/fx_passthru.so" plugins/
PD=$T_DIR/plugins
check '[gen]
plugin = source_gen

[a]
plugin = fx_passthru
inputs = gen, b

[b]
plugin = fx_passthru
inputs = a

[out]
plugin = sink_null
inputs = b' 'p.ini:6: stage "a": inputs form a cycle: a -> b -> a'

check '[loop]
plugin = fx_passthru
inputs = loop' 'p.ini:3: stage "loop": inputs form a cycle: loop -> loop'

# Key errors of several stages come all at once, each naming its stage and plugin.
printf '[gen]\nplugin = source_gen\nrate = fast\nbatch_sise = 3\n\n[out]\nplugin = sink_null\ninputs = gen\non_full = maybe\n' > p.ini
out=$("$SENSORD_BIN" -t -c p.ini -p "$PD" 2>&1 >/dev/null) && fail "-t accepted bad keys"
assert_eq 3 "$(grep -c '^p.ini:' <<<"$out")" "three key errors reported together: $out"
assert_contains "$out" 'p.ini:3: stage "gen" (source_gen): key "rate": ' "rate error"
assert_contains "$out" 'p.ini:4: stage "gen" (source_gen): key "batch_sise": ' "typo error"
assert_contains "$out" 'p.ini:9: stage "out" (sink_null): key "on_full": ' "enum error"

# A clean pipeline.
printf '[gen]\nplugin = source_gen\n\n[a]\nplugin = fx_passthru\ninputs = gen\n\n[out]\nplugin = sink_null\ninputs = a, gen\n' > ok.ini
out=$("$SENSORD_BIN" -t -c ok.ini -p "$PD")
assert_eq "ok.ini: configuration ok (3 stages, plugins from $PD)" "$out" "clean check"
echo ok
