#!/usr/bin/env python3
"""Opens SSE stream requests on out_sse / out_websocket for the hostile tests; prints JSON.

  sse_streams.py seq PORT PREFIX N        N requests, one after another, for PREFIX1..PREFIXN:
                                          each reads the status line and closes
  sse_streams.py hold PORT PREFIX N PATH  keeps PREFIX1..PREFIXN open, then asks for PATH;
                                          closes them all and asks for PATH again until it
                                          gets a 200 (at most 5 s); the 503s of
                                          that wait go to stderr as refused_after
"""
import json
import socket
import sys
import time


def open_stream(port, path):
    """Returns (status, socket). The socket is still open (the stream, if it is one)."""
    s = socket.create_connection(("127.0.0.1", port), timeout=5)
    s.sendall(f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
              "Accept: text/event-stream\r\n\r\n".encode())
    got = b""
    while b"\r\n" not in got:
        b = s.recv(4096)
        if not b:
            break
        got += b
    line = got.split(b"\r\n", 1)[0].split()
    return (int(line[1]) if len(line) > 1 else 0), s


def get(port, path):
    status, s = open_stream(port, path)
    s.close()
    return status


def main():
    cmd, port, prefix, n = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
    if cmd == "seq":
        counts = {}
        for i in range(1, n + 1):
            st = str(get(port, f"{prefix}{i}"))
            counts[st] = counts.get(st, 0) + 1
        print(json.dumps(counts))
        return
    path = sys.argv[5]
    held, statuses = [], {}
    for i in range(1, n + 1):
        st, s = open_stream(port, f"{prefix}{i}")
        statuses[str(st)] = statuses.get(str(st), 0) + 1
        held.append(s)
    while_held = get(port, path)
    for s in held:
        s.close()
    # The closes reach the server a little later: the first tries may still be refused.
    after, refused_after, deadline = 0, 0, time.monotonic() + 5
    while time.monotonic() < deadline:
        after = get(port, path)
        if after == 200:
            break
        refused_after += after == 503
        time.sleep(0.05)
    print(json.dumps({"held": statuses, "while_held": while_held, "after": after}))
    print(json.dumps({"refused_after": refused_after}), file=sys.stderr)


if __name__ == "__main__":
    main()
