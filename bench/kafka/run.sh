#!/usr/bin/env bash
# Kafka benchmarks (figures for docs/BENCHMARKS.md, never a pass/fail):
#  1. sink_kafka to the mock broker: readings/s when saturated (source_gen as fast as it
#     goes), and delivery latency p50/p99 at a steady phone-like rate.
#  2. An ingest node (source_http, ack = delivered -> sink_kafka) under wrk: readings/s and
#     how many 300-readings/s phones that is.
#  3. POST -> SSE latency through the three-process chain (ingest -> Kafka -> query node
#     <- dashboard) against the single-process pipeline, same load, same run.
# Everything runs on this machine over loopback, the mock broker included.
set -euo pipefail
cd "$(dirname "$0")/../.."
BUILD=${BUILD:-build}
make --no-print-directory all "$BUILD/tests-tools/mock_broker" >/dev/null
BIN=$PWD/$BUILD/sensord PLUGINS=$PWD/$BUILD/plugins
OUT=$(mktemp -d "${TMPDIR:-/tmp}/sensord-bench-kafka.XXXXXX")
PIDS=()
trap 'for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done; wait 2>/dev/null || true' EXIT
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v n="sensord_$2" '$1 == n || index($1, n "{") == 1 { s += $NF } END { printf "%d\n", s }'; }
wait_up() { for _ in $(seq 1 200); do curl -s -o /dev/null "$1" && return 0; sleep 0.05; done; echo "no answer at $1" >&2; exit 1; }
stop() { kill -TERM "$1"; wait "$1" 2>/dev/null || true; }

broker() { # starts a mock broker, sets BOOT
  local fifo=$OUT/mb.$1
  mkfifo "$fifo"
  "$BUILD/tests-tools/mock_broker" -b 1 -t smartphone-sensor-data:4 <"$fifo" >"$OUT/mb.$1.out" 2>/dev/null &
  PIDS+=($!)
  exec {MBFD}>"$fifo"
  for _ in $(seq 1 100); do BOOT=$(awk '/^bootstrap/{print $2}' "$OUT/mb.$1.out"); [ -n "$BOOT" ] && return; sleep 0.05; done
}

gen_to_kafka() { # NAME RATE COUNT: source_gen -> sink_kafka; prints seconds taken
  local admin; admin=$(port)
  cat >"$OUT/$1.ini" <<INI
[sensord]
plugin_dir = $PLUGINS
admin_listen = 127.0.0.1:$admin
[gen]
plugin = source_gen
rate = $2
batch_size = 100
device_count = 100
count = $3
[kafka]
plugin = sink_kafka
inputs = gen
brokers = $BOOT
INI
  local t0 t1
  t0=$(date +%s.%N)
  "$BIN" -c "$OUT/$1.ini" >"$OUT/$1.log" 2>&1 &
  local pid=$!
  PIDS+=($pid)
  wait_up "http://127.0.0.1:$admin/metrics"
  for _ in $(seq 1 3000); do [ "$(metric "$admin" kafka_delivered_total)" -ge "$3" ] && break; sleep 0.02; done
  t1=$(date +%s.%N)
  curl -s "http://127.0.0.1:$admin/metrics" >"$OUT/$1.metrics"
  stop "$pid"
  python3 -c "print(f'{$t1 - $t0:.2f}')"
}

echo "--- sink_kafka -> mock broker (1 broker, 4 partitions, idempotent, linger.ms=5)"
broker 1
N=1000000
secs=$(gen_to_kafka saturated 10000000 $N)
echo "saturated: $N readings in ${secs}s = $(python3 -c "print(int($N / $secs))") readings/s;" \
  "delivery latency $(python3 bench/kafka/prom_quantile.py sensord_kafka_delivery_latency_seconds 0.5 0.99 <"$OUT/saturated.metrics")"
for rate in 3000 30000; do
  secs=$(gen_to_kafka "rate$rate" $rate $((rate * 10)))
  echo "steady $rate readings/s for 10 s: delivery latency" \
    "$(python3 bench/kafka/prom_quantile.py sensord_kafka_delivery_latency_seconds 0.5 0.99 <"$OUT/rate$rate.metrics")"
done

echo "--- ingest node: source_http (ack = delivered) -> sink_kafka, wrk 2 threads x 32 connections, 10 s"
BODY=tests/data/sensorlogger/ios-uncalibrated-1s.json
PER_BODY=$(python3 -c "import json,sys; print(len(json.load(open(sys.argv[1]))['payload']))" "$BODY")
HTTP=$(port) ADMIN=$(port)
cat >"$OUT/ingest-bench.ini" <<INI
[sensord]
plugin_dir = $PLUGINS
admin_listen = 127.0.0.1:$ADMIN
[ingest]
plugin = source_http
listen = 127.0.0.1:$HTTP
ack = delivered
[kafka]
plugin = sink_kafka
inputs = ingest
brokers = $BOOT
INI
"$BIN" -c "$OUT/ingest-bench.ini" >"$OUT/ingest-bench.log" 2>&1 &
P=$!; PIDS+=($P)
wait_up "http://127.0.0.1:$ADMIN/metrics"
cat >"$OUT/post.lua" <<LUA
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
local f = io.open("$PWD/$BODY", "rb"); wrk.body = f:read("*a"); f:close()
LUA
wrk -t2 -c32 -d10s -s "$OUT/post.lua" --latency "http://127.0.0.1:$HTTP/phone-producer/" >"$OUT/wrk.txt" 2>&1 || true
rps=$(awk '/^Requests\/sec/{print $2}' "$OUT/wrk.txt")
non2xx=$(awk '/Non-2xx/{print $NF}' "$OUT/wrk.txt")
echo "POSTs of $PER_BODY readings: $rps requests/s = $(python3 -c "print(int($rps * $PER_BODY))") readings/s" \
  "(= $(python3 -c "print(int($rps * $PER_BODY / 300))") phones at 300 readings/s); HTTP latency" \
  "p50 $(awk '$1 == "50%" {print $2}' "$OUT/wrk.txt") p99 $(awk '$1 == "99%" {print $2}' "$OUT/wrk.txt");" \
  "non-2xx: ${non2xx:-0}; delivered $(metric "$ADMIN" kafka_delivered_total), failed $(metric "$ADMIN" kafka_failed_total)"
stop "$P"

QUERY="SELECT deviceId, time, values_x, values_y, values_z FROM smartphone_sensor_stream WHERE name = 'accelerometeruncalibrated' EMIT CHANGES"
PHONES=${PHONES:-10} SECONDS_RUN=${SECONDS_RUN:-15}
echo "--- POST -> SSE latency, $PHONES phones posting 20 readings every 200 ms for ${SECONDS_RUN}s"
HTTP=$(port) API=$(port) SSE=$(port)
cat >"$OUT/single.ini" <<INI
[sensord]
plugin_dir = $PLUGINS
admin_listen = off
[ingest]
plugin = source_http
listen = 127.0.0.1:$HTTP
[engine]
plugin = query_local
inputs = ingest
listen = 127.0.0.1:$API
query.accel = $QUERY
[dashboard]
plugin = out_sse
inputs = engine
listen = 127.0.0.1:$SSE
chart_query = accel
INI
"$BIN" -c "$OUT/single.ini" >"$OUT/single.log" 2>&1 &
P=$!; PIDS+=($P)
wait_up "http://127.0.0.1:$SSE/"
echo "single process (source_http -> query_local -> out_sse): $(python3 bench/kafka/post_sse_latency.py \
  "http://127.0.0.1:$HTTP/phone-producer/" "http://127.0.0.1:$SSE/chart-data/bench" "$PHONES" "$SECONDS_RUN")"
stop "$P"

broker 2
HTTP=$(port) API=$(port) SSE=$(port)
cat >"$OUT/ingest.ini" <<INI
[sensord]
plugin_dir = $PLUGINS
admin_listen = off
[ingest]
plugin = source_http
listen = 127.0.0.1:$HTTP
ack = delivered
[kafka]
plugin = sink_kafka
inputs = ingest
brokers = $BOOT
INI
cat >"$OUT/query.ini" <<INI
[sensord]
plugin_dir = $PLUGINS
admin_listen = off
[kafka]
plugin = source_kafka
brokers = $BOOT
group_id = bench
auto_offset_reset = earliest
[engine]
plugin = query_local
inputs = kafka
listen = 127.0.0.1:$API
[discard]
plugin = sink_null
inputs = engine
INI
cat >"$OUT/dashboard.ini" <<INI
[sensord]
plugin_dir = $PLUGINS
admin_listen = off
[ksql]
plugin = query_ksql
server = http://127.0.0.1:$API
query.accel = $QUERY
[dashboard]
plugin = out_sse
inputs = ksql
listen = 127.0.0.1:$SSE
chart_query = accel
INI
for n in ingest query dashboard; do "$BIN" -c "$OUT/$n.ini" >"$OUT/$n.log" 2>&1 & PIDS+=($!); done
wait_up "http://127.0.0.1:$API/info"
wait_up "http://127.0.0.1:$SSE/"
sleep 4 # the consumer group's first assignment (the mock delays it ~3 s) and the push query
echo "three processes (ingest -> Kafka -> query node <- dashboard, ack = delivered): $(python3 bench/kafka/post_sse_latency.py \
  "http://127.0.0.1:$HTTP/phone-producer/" "http://127.0.0.1:$SSE/chart-data/bench" "$PHONES" "$SECONDS_RUN")"
echo "(logs and configs in $OUT)"
