#!/usr/bin/env python3
"""Holds many push queries open on query_local's /query-stream (HTTP/1.1) and counts the
rows each one receives; prints JSON. Used by t_push_fanin.sh and bench/api_fanin.

  push_fanin.py PORT N ROWS SQL

Opens N queries, prints "ready" once every one has its header line, then reads until each
query has ROWS rows (or 30 s pass) and prints
{"queries": N, "complete": <queries with ROWS rows>, "rows_min": .., "rows_max": ..,
 "last_row_s": <seconds from "ready" to the last row>}.
"""
import json
import selectors
import socket
import sys
import time


class Query:
    def __init__(self, port, sql):
        body = json.dumps({"sql": sql, "properties": {}}).encode()
        self.s = socket.create_connection(("127.0.0.1", port), timeout=10)
        self.s.sendall(b"POST /query-stream HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
                       b"Content-Type: application/vnd.ksqlapi.delimited.v1\r\n"
                       b"Content-Length: %d\r\n\r\n" % (port, len(body)) + body)
        self.raw = b""      # bytes not yet de-chunked
        self.body = b""     # de-chunked bytes not yet split into lines
        self.head_done = False
        self.header_line = False
        self.rows = 0

    def feed(self, data):
        self.raw += data
        if not self.head_done:
            if b"\r\n\r\n" not in self.raw:
                return
            head, self.raw = self.raw.split(b"\r\n\r\n", 1)
            if not head.startswith(b"HTTP/1.1 200"):
                raise SystemExit("query refused: " + head.split(b"\r\n")[0].decode())
            self.head_done = True
        while True:  # chunked transfer coding
            if b"\r\n" not in self.raw:
                break
            size_line, rest = self.raw.split(b"\r\n", 1)
            size = int(size_line.split(b";")[0], 16)
            if len(rest) < size + 2:
                break
            self.body += rest[:size]
            self.raw = rest[size + 2:]
        *lines, self.body = self.body.split(b"\n")
        for line in lines:
            if line.startswith(b"["):
                self.rows += 1
            elif line.startswith(b"{"):
                self.header_line = True


def main():
    port, n, want, sql = int(sys.argv[1]), int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
    sel = selectors.DefaultSelector()
    queries = []
    for _ in range(n):
        q = Query(port, sql)
        q.s.setblocking(False)
        sel.register(q.s, selectors.EVENT_READ, q)
        queries.append(q)

    def pump(until, deadline):
        while not until() and time.monotonic() < deadline:
            for key, _ in sel.select(timeout=0.2):
                data = key.fileobj.recv(1 << 16)
                if not data:
                    sel.unregister(key.fileobj)
                    continue
                key.data.feed(data)

    pump(lambda: all(q.header_line for q in queries), time.monotonic() + 30)
    if not all(q.header_line for q in queries):
        raise SystemExit("not every query started")
    print("ready", flush=True)
    t0 = time.monotonic()
    last = [t0]

    def done():
        if any(q.rows for q in queries):
            last[0] = time.monotonic()
        return all(q.rows >= want for q in queries)

    pump(done, t0 + 30)
    rows = [q.rows for q in queries]
    print(json.dumps({"queries": n, "complete": sum(r >= want for r in rows),
                      "rows_min": min(rows), "rows_max": max(rows),
                      "last_row_s": round(last[0] - t0, 3)}), flush=True)


if __name__ == "__main__":
    main()
