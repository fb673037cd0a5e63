#!/usr/bin/env bash
# sink_stdout writes each double as the shortest text that reads back as the same double
# (0.1, not 0.10000000000000001), still recognisably a float (100.0), with exponents for
# very large or small values; non-finite values cannot reach it through JSON. Records come
# in flat through source_http's /records.
. "$(dirname "$0")/../lib.sh"
HTTP=$(free_port) ADMIN=$(free_port)
cat >"$T_DIR/p.ini" <<INI
[sensord]
plugin_dir = $SENSORD_PLUGIN_DIR
admin_listen = 127.0.0.1:$ADMIN

[ingest]
plugin = source_http
listen = 127.0.0.1:$HTTP

[out]
plugin = sink_stdout
inputs = ingest
path = $T_DIR/out.ndjson
INI
sd_start sd "$T_DIR/p.ini"
wait_status "http://127.0.0.1:$ADMIN/healthz" 200

# field name -> the exact text expected on the line
cases=(
  "a:0.1" "b:0.30000000000000004" "c:100.0" "d:1e20" "e:1.5e-7" "f:5e-324"
  "g:1.7976931348623157e308" "h:-0.0" "i:123456789.125" "j:2.5" "k:-1234.5678"
  "l:0.0001" "m:1e-5" "n:9007199254740993.0" "o:1e16" "p:1234567890123456.8"
  "q:2.2250738585072014e-308" "r:3.141592653589793" "s:1.0"
)
body='[{"time":1700000000000000000,"deviceId":"dev"'
for c in "${cases[@]}"; do body+=",\"${c%%:*}\":${c#*:}"; done
body+='}]'
code=$(curl -s -o "$T_DIR/reply" -w '%{http_code}' --max-time 5 -H 'Content-Type: application/json' \
  --data-binary "$body" "http://127.0.0.1:$HTTP/records")
assert_eq 200 "$code" "POST /records ($(cat "$T_DIR/reply"))"
for ((i = 0; i < 100; i++)); do [ -s "$T_DIR/out.ndjson" ] && break; sleep 0.05; done
sd_stop "$SD_PID"
line=$(cat "$T_DIR/out.ndjson")
note "$line"
ended=${line//\}/,} # every value now ends in a comma: "a":0.1 must not match 0.10000000000000001
# 9007199254740993.0 is not a double: it reads as 9007199254740992.0, written that way.
expect=( "a:0.1" "b:0.30000000000000004" "c:100.0" "d:1e20" "e:1.5e-7" "f:5e-324"
  "g:1.7976931348623157e308" "h:-0.0" "i:123456789.125" "j:2.5" "k:-1234.5678"
  "l:0.0001" "m:1e-5" "n:9007199254740992.0" "o:1e16" "p:1234567890123456.8"
  "q:2.2250738585072014e-308" "r:3.141592653589793" "s:1.0" )
for c in "${expect[@]}"; do
  assert_contains "$ended" "\"${c%%:*}\":${c#*:}," "double field ${c%%:*}"
done
python3 - "$T_DIR/out.ndjson" "$body" <<'PY' || fail "doubles do not read back as sent"
import json, math, sys
row = json.loads(open(sys.argv[1]).read())
sent = json.loads(sys.argv[2])[0]
fields = row["fields"]
for k, v in sent.items():
    if k in ("time", "deviceId"):
        continue
    got = fields[k]
    assert isinstance(got, float), (k, got)
    assert got == float(v) and math.copysign(1, got) == math.copysign(1, float(v)), (k, got, v)
assert row["timestamp_ns"] == 1700000000000000000 and row["key"] == "dev", row
PY
echo ok
