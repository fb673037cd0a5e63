#!/usr/bin/env python3
"""Socket storms against out_sse / out_websocket for the hostile tests.

Each cycle opens a TCP connection, does part of an HTTP or WebSocket exchange and drops it,
either with a FIN (close) or an RST (SO_LINGER 0). Prints one JSON line with counts, exits 0
unless the server stopped accepting connections.

  sse_storm.py PORT PATH N --end close|rst --stage STAGE [--pid PID --settle-fds K]
  sse_storm.py proc PID             prints {"fds": open descriptors, "rss_kb": VmRSS}

PATH may hold {i}, the cycle's number (a new stream name each cycle). STAGE is how far each
cycle gets before it ends the connection:
  connect   TCP handshake only
  request   the whole GET sent, nothing read
  read      GET sent, a few bytes of the answer read (the stream has started)
  mix       connect, request and read in turn
  ws-half   half of a WebSocket upgrade request sent (no blank line yet)
  ws-done   whole upgrade sent, the 101 read (the writer threads own the socket now)
  ws-mix    ws-half and ws-done in turn
With --pid, the daemon's descriptors and RSS are read before the storm and again once its
descriptors are back to at most the count before + K (waiting up to 10 s): the JSON then
has fds_before, fds_after, rss_kb_before, rss_kb_after.
"""
import argparse
import base64
import json
import os
import socket
import struct
import sys
import time


def request(path, port, ws):
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}"]
    if ws:
        key = base64.b64encode(os.urandom(16)).decode()
        lines += ["Upgrade: websocket", "Connection: Upgrade", f"Sec-WebSocket-Key: {key}",
                  "Sec-WebSocket-Version: 13"]
    else:
        lines += ["Accept: text/event-stream"]
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


def read_some(s, want, deadline):
    """Reads until want bytes arrived (want 0: until the end of the response headers)."""
    got = b""
    while time.monotonic() < deadline:
        if want > 0 and len(got) >= want:
            break
        if want <= 0 and b"\r\n\r\n" in got:
            break
        try:
            b = s.recv(4096)
        except socket.timeout:
            break
        if not b:
            break
        got += b
    return got


def proc_stats(pid):
    fds = len(os.listdir(f"/proc/{pid}/fd"))
    rss = 0
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1])
    return fds, rss


MIX = {"mix": ["connect", "request", "read"], "ws-mix": ["ws-half", "ws-done"]}


def cycle(args, stats, i):
    st = args.stage
    if st in MIX:
        st = MIX[st][i % len(MIX[st])]
    path = args.path.replace("{i}", str(i))
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2.0)
    try:
        s.connect(("127.0.0.1", args.port))
    except OSError:
        stats["connect_failed"] += 1
        s.close()
        return
    try:
        if st in ("request", "read"):
            s.sendall(request(path, args.port, False))
        elif st == "ws-half":
            req = request(path, args.port, True)
            s.sendall(req[: len(req) // 2])
        elif st == "ws-done":
            s.sendall(request(path, args.port, True))
        if st == "read":
            got = read_some(s, 16, time.monotonic() + 2)
            stats["answered"] += bool(got)
        elif st == "ws-done":
            got = read_some(s, 0, time.monotonic() + 2)
            stats["answered"] += got.startswith(b"HTTP/1.1 101")
    except OSError:
        stats["io_errors"] += 1
    if args.end == "rst":
        s.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    s.close()
    stats["cycles"] += 1


def main():
    if len(sys.argv) == 3 and sys.argv[1] == "proc":
        fds, rss = proc_stats(int(sys.argv[2]))
        print(json.dumps({"fds": fds, "rss_kb": rss}))
        return
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("path")
    ap.add_argument("n", type=int)
    ap.add_argument("--end", choices=["close", "rst"], default="close")
    ap.add_argument("--stage", default="read",
                    choices=["connect", "request", "read", "mix", "ws-half", "ws-done", "ws-mix"])
    ap.add_argument("--pid", type=int)
    ap.add_argument("--settle-fds", type=int, default=4)
    ap.add_argument("--pause-every", type=int, default=0,
                    help="sleep 50 ms after every K cycles (lets the server retire what the "
                         "closed connections held before the next ones come)")
    args = ap.parse_args()
    stats = {"cycles": 0, "answered": 0, "io_errors": 0, "connect_failed": 0}
    if args.pid:
        stats["fds_before"], stats["rss_kb_before"] = proc_stats(args.pid)
    t0 = time.monotonic()
    for i in range(args.n):
        cycle(args, stats, i)
        if args.pause_every and (i + 1) % args.pause_every == 0:
            time.sleep(0.05)
        if stats["connect_failed"] >= 5:
            break
    stats["seconds"] = round(time.monotonic() - t0, 2)
    if args.pid:
        deadline = time.monotonic() + 10
        while True:
            fds, rss = proc_stats(args.pid)
            if fds <= stats["fds_before"] + args.settle_fds or time.monotonic() > deadline:
                break
            time.sleep(0.05)
        stats["fds_after"], stats["rss_kb_after"] = fds, rss
        stats["settle_seconds"] = round(time.monotonic() - t0 - stats["seconds"], 2)
    print(json.dumps(stats))
    sys.exit(1 if stats["connect_failed"] else 0)


if __name__ == "__main__":
    main()
