#!/usr/bin/env python3
"""Socket storms against out_sse / out_websocket for the hostile tests.

Each cycle opens a TCP connection, does part of an HTTP or WebSocket exchange and drops it,
either with a FIN (close) or an RST (SO_LINGER 0). Prints one JSON line with counts, exits 0
unless the server stopped accepting connections.

  sse_storm.py PORT PATH N --end close|rst --stage STAGE [--parallel K]

STAGE is how far each cycle gets before it ends the connection:
  connect   TCP handshake only
  request   the whole GET sent, nothing read
  read      GET sent, a few bytes of the answer read (the stream has started)
  ws-half   half of a WebSocket upgrade request sent (no blank line yet)
  ws-done   whole upgrade sent, the 101 read (the pump owns the socket now)
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


def cycle(args, stats):
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(2.0)
    try:
        s.connect(("127.0.0.1", args.port))
    except OSError:
        stats["connect_failed"] += 1
        s.close()
        return
    try:
        st = args.stage
        if st in ("request", "read"):
            s.sendall(request(args.path, args.port, False))
        elif st == "ws-half":
            req = request(args.path, args.port, True)
            s.sendall(req[: len(req) // 2])
        elif st == "ws-done":
            s.sendall(request(args.path, args.port, True))
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
    ap = argparse.ArgumentParser()
    ap.add_argument("port", type=int)
    ap.add_argument("path")
    ap.add_argument("n", type=int)
    ap.add_argument("--end", choices=["close", "rst"], default="close")
    ap.add_argument("--stage", default="read",
                    choices=["connect", "request", "read", "ws-half", "ws-done"])
    args = ap.parse_args()
    stats = {"cycles": 0, "answered": 0, "io_errors": 0, "connect_failed": 0}
    t0 = time.monotonic()
    for _ in range(args.n):
        cycle(args, stats)
        if stats["connect_failed"] >= 5:
            break
    stats["seconds"] = round(time.monotonic() - t0, 2)
    print(json.dumps(stats))
    sys.exit(1 if stats["connect_failed"] else 0)


if __name__ == "__main__":
    main()
