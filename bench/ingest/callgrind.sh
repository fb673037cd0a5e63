#!/usr/bin/env bash
# Instructions per ingest request, deterministic (callgrind), for comparing commits on a
# noisy machine: sensord (source_http -> sink_null, or the default pipeline's query_local)
# runs under callgrind twice, once with no requests and once with N POSTs of a 100-reading
# batch over keep-alive connections; the difference over N is the cost of one request,
# every thread included. BUILDS="build build-old" compares builds side by side.
# usage: bench/ingest/callgrind.sh   env: N=200 BUILDS=build PIPELINE=null|query
set -euo pipefail
cd "$(dirname "$0")/../.."
N=${N:-200}
BUILDS=${BUILDS:-build}
PIPELINE=${PIPELINE:-null}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
python3 - "$WORK/body.json" <<'PY'
import json, sys
payload = []
t = 1700000000000000000
for i in range(100):
    payload.append({"name": ["accelerometer", "gyroscope", "gravity"][i % 3], "time": t + i * 10000000,
                    "values": {"x": 0.1 * i, "y": -0.2 * i, "z": 9.81}})
json.dump({"messageId": 1, "sessionId": "s", "deviceId": "bench", "payload": payload}, open(sys.argv[1], "w"))
PY

run() { # BUILD REQUESTS -> instructions (Ir) of the whole process
  local build=$1 n=$2 ingest admin sink
  ingest=$(port) admin=$(port)
  if [ "$PIPELINE" = query ]; then
    sink="[engine]
plugin = query_local
inputs = ingest
listen = off
stream = CREATE STREAM smartphone_sensor_stream (name VARCHAR, time BIGINT, values_x DOUBLE, values_y DOUBLE, values_z DOUBLE, messageId BIGINT, sessionId VARCHAR, deviceId VARCHAR) WITH (KAFKA_TOPIC='smartphone-sensor-data', VALUE_FORMAT='JSON')
query.accel = SELECT deviceId, time, values_x FROM smartphone_sensor_stream WHERE name = 'accelerometer' EMIT CHANGES"
  else
    sink="[null]
plugin = sink_null
inputs = ingest"
  fi
  printf '[sensord]\nplugin_dir = %s/plugins\nadmin_listen = 127.0.0.1:%s\nlog_level = warn\n[ingest]\nplugin = source_http\nlisten = 127.0.0.1:%s\nthreads = 1\n%s\n' \
    "$build" "$admin" "$ingest" "$sink" >"$WORK/p.ini"
  valgrind --tool=callgrind --callgrind-out-file="$WORK/cg.out" "$build/sensord" -c "$WORK/p.ini" \
    2>"$WORK/vg.log" &
  local vg=$! i
  for ((i = 0; i < 600; i++)); do curl -s -o /dev/null "http://127.0.0.1:$admin/healthz" && break; sleep 0.1; done
  if [ "$n" -gt 0 ]; then
    python3 - "$ingest" "$n" "$WORK/body.json" <<'PY'
import http.client, sys
port, n, body = int(sys.argv[1]), int(sys.argv[2]), open(sys.argv[3], "rb").read()
c = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
for _ in range(n):
    c.request("POST", "/phone-producer/", body, {"Content-Type": "application/json"})
    r = c.getresponse(); r.read()
    assert r.status == 200, r.status
PY
  fi
  sleep 0.5
  kill -TERM "$vg"
  wait "$vg" || true
  awk '/^summary:/ { print $2 }' "$WORK/cg.out"
}

printf '%-12s %14s %14s %16s %18s\n' build Ir_idle Ir_with_N Ir_per_request Ir_per_reading
for b in $BUILDS; do
  idle=$(run "$b" 0)
  busy=$(run "$b" "$N")
  per=$(((busy - idle) / N))
  printf '%-12s %14s %14s %16s %18s\n' "$b" "$idle" "$busy" "$per" "$((per / 100))"
done
echo "(N=$N POSTs of 100 readings, one keep-alive connection, pipeline=$PIPELINE, $(valgrind --version))"
