#!/usr/bin/env bash
# kill -9 under load, 10 rounds, with ack = delivered and the default fsync = interval: after
# each restart every reading that got a 200 (in any round so far) is in the log exactly
# once; readings whose POST got no answer may be there or not, but never twice.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/api_lib.sh"
DATA_DIR=$T_DIR/data
ql_ini "$T_DIR/p.ini" "data_dir = $DATA_DIR" "retain_records = 1000000" "retain_bytes = 512M" \
  "retain_age = 0" "log_segment_bytes = 256K"
sed -i 's|^plugin = source_http$|plugin = source_http\nack = delivered|' "$T_DIR/p.ini"
: >"$T_DIR/acked"
for round in $(seq 10); do
  ql_start "$T_DIR/p.ini"
  # 4 threads POST 20-reading batches with unique messageIds until the server goes away.
  python3 - "$HP" "$round" "$T_DIR/acked" <<'PY' &
import http.client, json, sys, threading
port, rnd, out = int(sys.argv[1]), int(sys.argv[2]), sys.argv[3]
lock = threading.Lock()
def worker(w):
    n = 0
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=10)
    while True:
        mid = (rnd * 100 + w) * 100000 + n
        n += 1
        body = json.dumps({"messageId": mid, "sessionId": "s", "deviceId": "d%d" % w,
            "payload": [{"name": "accelerometer", "time": 1732435000000000000 + i,
                         "values": {"x": i, "y": 0.5, "z": -1.0}} for i in range(20)]})
        try:
            conn.request("POST", "/phone-producer/", body, {"Content-Type": "application/json"})
            r = conn.getresponse(); r.read()
        except Exception:
            return
        if r.status == 200:
            with lock, open(out, "a") as f:
                f.write("%d\n" % mid)
ts = [threading.Thread(target=worker, args=(w,)) for w in range(4)]
[t.start() for t in ts]; [t.join() for t in ts]
PY
  poster=$!
  sleep "0.$((3 + RANDOM % 6))"
  kill -KILL "$SD_PID"; wait "$SD_PID" 2>/dev/null || true
  wait "$poster" || true
  ql_start "$T_DIR/p.ini"
  api -X POST "http://127.0.0.1:$QP/query-stream" -H 'Content-Type: application/json' \
    -d '{"sql": "SELECT messageId, time FROM smartphone_sensor_stream;"}' >"$T_DIR/pull.txt"
  python3 - "$T_DIR/pull.txt" "$T_DIR/acked" "$round" <<'PY' || fail "round $round: an acknowledged reading is missing or a reading is there twice"
import collections, json, sys
rows = [tuple(json.loads(l)) for l in open(sys.argv[1]) if l.startswith("[")]
acked = {int(l) for l in open(sys.argv[2])}
count = collections.Counter(rows)
twice = [k for k, c in count.items() if c > 1]
have = collections.Counter(m for m, _ in rows)
missing = [m for m in acked if have[m] != 20]
partial = [m for m, c in have.items() if c != 20]
print("round", sys.argv[3], "rows", len(rows), "acked POSTs", len(acked), "twice", len(twice),
      "acked but missing", len(missing), "partial batches", len(partial))
sys.exit(1 if twice or missing or partial or not acked else 0)
PY
  sd_stop "$SD_PID"
done
