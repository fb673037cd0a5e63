#!/usr/bin/env python3
"""POST -> SSE latency: phones post Sensor Logger bodies to source_http while one browser
reads out_sse's /chart-data stream; each accelerometer reading's latency is the time from
the start of its POST to its row arriving on the stream.

usage: post_sse_latency.py INGEST_URL SSE_URL PHONES SECONDS [PERIOD_S] [READINGS]
Prints: readings=N received=M p50_ms=.. p99_ms=.. max_ms=.."""
import datetime
import http.client
import json
import sys
import threading
import time
import urllib.parse
import urllib.request

ingest, sse, phones, seconds = sys.argv[1], sys.argv[2], int(sys.argv[3]), float(sys.argv[4])
period = float(sys.argv[5]) if len(sys.argv) > 5 else 0.2
per_body = int(sys.argv[6]) if len(sys.argv) > 6 else 20
sent, got = {}, {}
lock = threading.Lock()
stop = threading.Event()


def chart_time(ns):
    t = datetime.datetime.fromtimestamp(ns // 1000000000, datetime.timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M:%S") + f".{(ns % 1000000000) // 1000:06d}"


def reader(ready):
    u = urllib.parse.urlparse(sse)
    conn = http.client.HTTPConnection(u.hostname, u.port, timeout=seconds + 30)
    conn.request("GET", u.path)
    resp = conn.getresponse()
    ready.set()
    event = None
    while not stop.is_set():
        line = resp.readline()  # de-chunked
        if not line:
            break
        line = line.decode().rstrip("\n")
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:") and event == "new_message":
            now = time.monotonic()
            try:
                row = json.loads(line[5:])
            except ValueError:
                print("bad SSE data line:", line[:300], file=sys.stderr)
                continue
            with lock:
                got.setdefault((row[0], row[1]), now)


def phone(n):
    base = 1_900_000_000_000_000_000 + n * 10_000_000_000_000
    seq = 0
    while not stop.is_set():
        start = time.monotonic()
        payload = []
        for _ in range(per_body):
            seq += 1
            t = base + seq * 1_000_000  # 1 ms apart: distinct chart times
            payload.append({"name": "accelerometeruncalibrated", "time": t,
                            "values": {"x": 0.001 * seq, "y": -0.5, "z": 1.0}})
        body = json.dumps({"messageId": seq, "sessionId": "bench", "deviceId": f"bench-{n:03d}",
                           "payload": payload}).encode()
        with lock:
            for r in payload:
                sent[(f"bench-{n:03d}", chart_time(r["time"]))] = start
        req = urllib.request.Request(ingest, data=body, headers={"Content-Type": "application/json"})
        try:
            urllib.request.urlopen(req, timeout=20).read()
        except OSError as e:
            print("post failed:", e, file=sys.stderr)
        time.sleep(max(0.0, period - (time.monotonic() - start)))


ready = threading.Event()
rt = threading.Thread(target=reader, args=(ready,), daemon=True)
rt.start()
ready.wait(10)
time.sleep(0.3)
ts = [threading.Thread(target=phone, args=(i,)) for i in range(phones)]
for t in ts:
    t.start()
time.sleep(seconds)
stop.set()
for t in ts:
    t.join()
time.sleep(2)  # the last rows
with lock:
    lat = sorted((got[k] - sent[k]) * 1000 for k in sent if k in got)
    n_sent = len(sent)
if not lat:
    print(f"readings={n_sent} received=0")
    sys.exit(1)
q = lambda p: lat[min(len(lat) - 1, int(p * len(lat)))]
print(f"readings={n_sent} received={len(lat)} p50_ms={q(0.5):.1f} p99_ms={q(0.99):.1f} max_ms={lat[-1]:.1f}")
