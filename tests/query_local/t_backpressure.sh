#!/usr/bin/env bash
# A slow output behind query_local: rows of readings that source_http acknowledged (200)
# are never dropped. query_local waits for room downstream, its own input queue fills, and
# source_http answers 503 to further pushes; every 200-answered reading reaches the output.
. "$(dirname "$0")/../lib.sh"
HP=$(free_port); AP=$(free_port)
cat >"$T_DIR/p.ini" <<INI
[sensord]
plugin_dir = $SENSORD_PLUGIN_DIR
admin_listen = 127.0.0.1:$AP

[ingest]
plugin = source_http
listen = 127.0.0.1:$HP

[engine]
plugin = query_local
inputs = ingest
listen = off
queue.max_records = 600
query.accel = SELECT deviceId, time, values_x FROM smartphone_sensor_stream WHERE name = 'accelerometeruncalibrated' EMIT CHANGES

[out]
plugin = sink_null
inputs = engine
latency = 100ms
queue.max_records = 100
INI
sd_start sensord "$T_DIR/p.ini"
wait_http "http://127.0.0.1:$AP/healthz"
for ((i = 0; i < 100; i++)); do curl -s -o /dev/null "http://127.0.0.1:$HP/" && break; sleep 0.05; done

# 30 phones push one second each (100 accelerometer readings of 300) as fast as they can.
accepted=0 busy=0 posts=()
for ((p = 0; p < 30; p++)); do
  sed "s/\"deviceId\":\"[^\"]*\"/\"deviceId\":\"phone-$p\"/" "$DATA/sensorlogger/ios-uncalibrated-1s.json" >"$T_DIR/b$p.json"
done
for ((p = 0; p < 30; p++)); do
  curl -s -o /dev/null -w '%{http_code}\n' --max-time 20 -H 'Content-Type: application/json' \
    --data-binary "@$T_DIR/b$p.json" "http://127.0.0.1:$HP/phone-producer/" >"$T_DIR/code$p" &
  posts+=("$!")
done
wait "${posts[@]}"
for ((p = 0; p < 30; p++)); do
  case "$(cat "$T_DIR/code$p")" in
    200) accepted=$((accepted + 1)) ;;
    503) busy=$((busy + 1)) ;;
    *) fail "phone $p got $(cat "$T_DIR/code$p")" ;;
  esac
done
note "$accepted pushes accepted, $busy answered 503"
[ "$busy" -gt 0 ] || fail "no push was refused: the slow output did not push back"
[ "$accepted" -gt 0 ] || fail "no push was accepted"

metric() { curl -s "http://127.0.0.1:$AP/metrics" | awk -v m="$1" '$1 ~ "^"m"(\\{|$)" {s += $2} END {print s + 0}'; }
want=$((accepted * 100))
out_rows() { curl -s "http://127.0.0.1:$AP/metrics" | awk '/^sensord_records_in_total\{stage="out"/ {print $2}'; }
for ((i = 0; i < 400 * SD_TIME_SCALE; i++)); do
  [ "$(out_rows)" -ge "$want" ] 2>/dev/null && break
  sleep 0.05
done
got=$(out_rows)
assert_eq "$want" "$got" "rows at the output (100 per accepted push)"
assert_eq 0 "$(metric sensord_query_rows_dropped_total)" "rows dropped by query_local"
[ "$(metric sensord_query_emit_waits_total)" -gt 0 ] || fail "query_local never waited for room"
sd_stop "$SD_PID"
