#!/usr/bin/env python3
"""Posts Sensor Logger bodies to source_http for a while, from several phones at once,
and files each body by its answer: OUT/acked/*.json (200) or OUT/nacked/*.json (other).

usage: post_load.py URL TEMPLATE_BODY OUT SECONDS [PHONES] [READINGS_PER_BODY] [PERIOD_S]
PERIOD_S: each phone posts at most this often (Sensor Logger's batch period; default 0.1).
Prints one line per second: "t=<s> ok=<n> nok=<n> codes=<counts>"."""
import json
import os
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import Counter

url, template, out, seconds = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
phones = int(sys.argv[5]) if len(sys.argv) > 5 else 4
per_body = int(sys.argv[6]) if len(sys.argv) > 6 else 20
period = float(sys.argv[7]) if len(sys.argv) > 7 else 0.1
base = json.load(open(template))
os.makedirs(f"{out}/acked", exist_ok=True)
os.makedirs(f"{out}/nacked", exist_ok=True)
codes = Counter()
lock = threading.Lock()
deadline = time.monotonic() + seconds


def phone(n):
    mid = 0
    while time.monotonic() < deadline:
        started = time.monotonic()
        mid += 1
        body = dict(base)
        body["deviceId"] = f"load-{n:02d}"
        body["messageId"] = mid
        body["payload"] = [dict(r, time=r["time"] + mid * 1000000) for r in base["payload"][:per_body]]
        data = json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=20) as resp:
                code = resp.status
        except urllib.error.HTTPError as e:
            code = e.code
        except OSError:
            code = 0
        kind = "acked" if code == 200 else "nacked"
        with open(f"{out}/{kind}/{n:02d}-{mid:05d}.json", "wb") as f:
            f.write(data)
        with lock:
            codes[code] += 1
        time.sleep(max(0.0, period - (time.monotonic() - started)))


threads = [threading.Thread(target=phone, args=(i,)) for i in range(phones)]
for t in threads:
    t.start()
t0 = time.monotonic()
while any(t.is_alive() for t in threads):
    time.sleep(1)
    with lock:
        print(f"t={time.monotonic() - t0:.0f} ok={codes[200]} nok={sum(codes.values()) - codes[200]} codes={dict(codes)}", flush=True)
for t in threads:
    t.join()
