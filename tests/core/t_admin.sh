#!/usr/bin/env bash
# Admin endpoints with curl: /healthz (200 running, 503 draining), /stages JSON,
# /metrics in valid Prometheus text format with per-stage series, 404/405 as JSON.
. "$(dirname "$0")/../lib.sh"
port=$(free_port)
A=http://127.0.0.1:$port
cat > "$T_DIR/p.ini" <<INI
[sensord]
plugin_dir = $SENSORD_PLUGIN_DIR
admin_listen = 127.0.0.1:$port
grace = 5s

[gen]
plugin = source_gen
rate = 1000
batch_size = 10

[sink]
plugin = sink_null
inputs = gen
latency = 1s
INI
sd_start admin "$T_DIR/p.ini"
wait_status "$A/healthz" 200
assert_eq '200 {"status":"ok"}' "$(curl -s -w ' %{http_code}' "$A/healthz" | awk '{print $2, $1}')" "healthz running"
sleep 0.3

python3 - "$A" <<'PY'
import json, re, sys, urllib.request
base = sys.argv[1]
st = json.load(urllib.request.urlopen(base + "/stages"))
assert st["phase"] == "running", st
by = {s["name"]: s for s in st["stages"]}
assert by["gen"]["kind"] == "source" and by["gen"]["plugin"] == "source_gen"
assert by["gen"]["outputs"] == ["sink"] and by["sink"]["inputs"] == ["gen"]
assert by["sink"]["state"] == "running"
assert by["gen"]["counters"]["records_out"] > 0
assert by["sink"]["in_flight"] > 0  # latency = 1s holds batches
assert by["sink"]["queue"]["on_full"] == "reject" and by["sink"]["queue"]["max_records"] == 10000

text = urllib.request.urlopen(base + "/metrics").read().decode()
sample = re.compile(r'^(sensord_[a-zA-Z0-9_:]*)(\{[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"(?:,[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*")*\})? (-?[0-9.e+-]+|\+Inf|-Inf|NaN)$')
types, seen = {}, {}
for line in text.splitlines():
    if line.startswith("# HELP "):
        continue
    if line.startswith("# TYPE "):
        _, _, name, kind = line.split(" ")
        assert kind in ("counter", "gauge", "histogram"), line
        assert name not in types, "TYPE twice: " + line
        types[name] = kind
        continue
    m = sample.match(line)
    assert m, "bad line: " + line
    name = m.group(1)
    base_name = re.sub(r'_(bucket|sum|count)$', '', name) if name not in types else name
    assert base_name in types, "sample before its TYPE: " + line
    seen[(name, m.group(2))] = float(m.group(3))
def val(name, labels):
    return seen[(name, "{" + labels + "}")]
assert val("sensord_records_out_total", 'stage="gen",plugin="source_gen"') > 0
assert val("sensord_records_in_total", 'stage="sink",plugin="sink_null"') > 0
assert ("sensord_queue_records", '{stage="sink",plugin="sink_null"}') in seen
assert ("sensord_dropped_records_total", '{stage="sink",plugin="sink_null",reason="queue_full"}') in seen
assert types["sensord_process_seconds"] == "histogram"
# Histogram buckets are cumulative and end with +Inf == _count.
buckets = [(k, v) for k, v in seen.items() if k[0] == "sensord_process_seconds_bucket" and 'stage="sink"' in k[1]]
counts = [v for _, v in buckets]
assert counts == sorted(counts), counts
inf = [v for k, v in buckets if 'le="+Inf"' in k[1]][0]
assert inf == val("sensord_process_seconds_count", 'stage="sink",plugin="sink_null"')
assert val("sensord_null_records_total", 'stage="sink",plugin="sink_null"') > 0  # a plugin's own metric
print("metrics ok:", len(seen), "series")
PY

assert_eq 404 "$(curl -s -o "$T_DIR/404" -w '%{http_code}' "$A/nope")" "unknown path"
assert_contains "$(cat "$T_DIR/404")" '"error":"not found' "404 body"
assert_eq 405 "$(curl -s -o /dev/null -w '%{http_code}' -X POST "$A/metrics")" "POST refused"

# While draining (the sink holds batches for 1 s) /healthz answers 503.
kill -TERM "$SD_PID"
code=
for ((i = 0; i < 40; i++)); do
  code=$(curl -s -o "$T_DIR/h" -w '%{http_code}' "$A/healthz" || true)
  [ "$code" = 503 ] && break
  sleep 0.02
done
assert_eq 503 "$code" "healthz while draining"
assert_eq '{"status":"draining"}' "$(cat "$T_DIR/h")" "draining body"
# Already signalled once: a second SIGTERM would mean "exit now", so just wait.
for ((i = 0; i < 200; i++)); do kill -0 "$SD_PID" 2>/dev/null || break; sleep 0.05; done
rc=0; wait "$SD_PID" || rc=$?
assert_eq 0 "$rc" "exit code after drain"
echo ok
