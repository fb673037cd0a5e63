#!/usr/bin/env python3
"""POST -> row latency through source_http -> query_local -> /query-stream, and in the same
run the baseline: the POST round trip alone (send -> 200 from source_http).
Each POST carries BATCH readings whose `time` is the wall-clock ns at send; the push query
returns that TIME column, so latency = arrival of the row - time of send.
usage: latency.py INGEST_PORT API_PORT RATE(readings/s) BATCH SECONDS [http1|http2]"""
import json, socket, sys, threading, time, uuid

ingest_port, api_port = int(sys.argv[1]), int(sys.argv[2])
rate, batch, seconds = int(sys.argv[3]), int(sys.argv[4]), float(sys.argv[5])
WARMUP_NS = 1_000_000_000
device, session = str(uuid.uuid4()), str(uuid.uuid4())
SQL = ("SELECT deviceId, time, values_x, values_y, values_z FROM smartphone_sensor_stream "
       "WHERE name = 'accelerometeruncalibrated' EMIT CHANGES;")

def read_chunked_lines(sock, on_line):
    buf = b""
    def need(n):
        nonlocal buf
        while len(buf) < n:
            d = sock.recv(65536)
            if not d: raise EOFError
            buf += d
    # response head
    while b"\r\n\r\n" not in buf:
        d = sock.recv(65536)
        if not d: raise EOFError
        buf += d
    head, buf = buf.split(b"\r\n\r\n", 1)
    assert head.startswith(b"HTTP/1.1 200"), head
    while True:
        while b"\r\n" not in buf:
            d = sock.recv(65536)
            if not d: return
            buf += d
        size, buf = buf.split(b"\r\n", 1)
        n = int(size, 16)
        if n == 0: return
        need(n + 2)
        chunk, buf = buf[:n], buf[n + 2:]
        on_line(chunk, time.time_ns())

row_lat, rows_seen, header = [], [0], threading.Event()
def on_line(line, now):
    if line.startswith(b"{"):
        header.set(); return
    t = json.loads(line)[1]
    rows_seen[0] += 1
    row_lat.append((t, now - (t - t % 1000)))  # readings carry send_ns + index (< 1000)

def reader():
    s = socket.create_connection(("127.0.0.1", api_port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    body = json.dumps({"sql": SQL}).encode()
    s.sendall(b"POST /query-stream HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % len(body) + body)
    try: read_chunked_lines(s, on_line)
    except (EOFError, OSError): pass

threading.Thread(target=reader, daemon=True).start()
if not header.wait(5): sys.exit("no push-query header within 5 s")

post = socket.create_connection(("127.0.0.1", ingest_port))
post.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
def post_once(msg_id):
    t0 = time.time_ns() // 1000 * 1000
    payload = [{"name": "accelerometeruncalibrated", "time": t0 + i,
                "values": {"x": 0.01 * i, "y": -0.5, "z": 9.81}} for i in range(batch)]
    body = json.dumps({"messageId": msg_id, "sessionId": session, "deviceId": device,
                       "payload": payload}).encode()
    post.sendall(b"POST /phone-producer/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                 b"Content-Length: %d\r\n\r\n" % len(body) + body)
    resp = b""
    while b"\r\n\r\n" not in resp: resp += post.recv(65536)
    head, rest = resp.split(b"\r\n\r\n", 1)
    clen = int([l.split(b":")[1] for l in head.split(b"\r\n") if l.lower().startswith(b"content-length")][0])
    while len(rest) < clen: rest += post.recv(65536)
    assert head.startswith(b"HTTP/1.1 200"), head
    return t0, time.time_ns() - t0

posts_per_s = rate / batch
interval = 1e9 / posts_per_s
post_rtt, start, n = [], time.time_ns(), 0
sent_rows = 0
while time.time_ns() - start < seconds * 1e9:
    due = start + n * interval
    now = time.time_ns()
    if now < due: time.sleep((due - now) / 1e9)
    t0, rtt = post_once(n)
    if t0 - start >= WARMUP_NS: post_rtt.append(rtt)
    n += 1
    sent_rows += batch
elapsed = (time.time_ns() - start) / 1e9
deadline = time.time() + 5
while rows_seen[0] < sent_rows and time.time() < deadline: time.sleep(0.01)

def pct(xs, p):
    xs = sorted(xs); return xs[min(len(xs) - 1, int(len(xs) * p))] / 1000 if xs else float("nan")
lat = [l for t, l in row_lat if t - start >= WARMUP_NS]
print(json.dumps({
    "readings_per_s": round(sent_rows / elapsed), "batch": batch, "posts": n,
    "rows_expected": sent_rows, "rows_received": rows_seen[0],
    "post_rtt_us": {"p50": pct(post_rtt, .5), "p99": pct(post_rtt, .99), "max": pct(post_rtt, 1)},
    "post_to_row_us": {"p50": pct(lat, .5), "p99": pct(lat, .99), "max": pct(lat, 1)},
}))
