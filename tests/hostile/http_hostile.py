#!/usr/bin/env python3
"""Hostile HTTP/1.1 clients for the tests in tests/hostile/; each prints one JSON line.

  http_hostile.py framing PORT PATH
      Sends each malformed request of RFC 9112's framing rules, with a second, valid
      request pipelined behind it, and reports per case the status, whether the server
      closed the connection and whether it served the pipelined request.
  http_hostile.py slowloris PORT N SECONDS [--from A.B.C.D[,...]] [--every S]
      Holds N connections (spread over the source addresses given) that send the request
      line and then one header byte every S seconds, for SECONDS; reports how many the
      server closed, and how long after opening (min, max).
  http_hostile.py idle PORT N SECONDS [--from ...] [--preface]
      N connections that send nothing at all (or only the HTTP/2 preface).
  http_hostile.py early-answer PORT PATH BYTES
      Sends a POST whose Content-Length is BYTES (over max_body_size) and writes the whole
      body before reading; reports whether the answer arrived (status) or the write broke.
  http_hostile.py gzip-flood PORT PATH N INFLATED
      N connections at once, each POSTing gzip that inflates to INFLATED bytes of valid
      JSON; reports the statuses and each 503's Retry-After.
"""
import argparse
import gzip
import json
import socket
import sys
import threading
import time


def recv_answer(s, deadline):
    """Reads one answer (head + Content-Length body).
    Returns (status, head, body, bytes after the body, closed)."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            got = s.recv(65536)
        except (socket.timeout, ConnectionError):
            return 0, b"", b"", b"", True
        if not got:
            return 0, buf, b"", b"", True
        buf += got
    head, rest = buf.split(b"\r\n\r\n", 1)
    status = int(head.split(b" ", 2)[1])
    length = 0
    for line in head.split(b"\r\n")[1:]:
        k, _, v = line.partition(b":")
        if k.strip().lower() == b"content-length":
            length = int(v.strip())
    while len(rest) < length:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            got = s.recv(65536)
        except (socket.timeout, ConnectionError):
            break
        if not got:
            break
        rest += got
    return status, head, rest[:length], rest[length:], False


def closed_after(s, rest, deadline):
    """True when the server closes the connection (EOF or RST) before the deadline, and
    whether any bytes (a served pipelined request) came first."""
    extra = rest
    while time.monotonic() < deadline:
        s.settimeout(max(0.01, deadline - time.monotonic()))
        try:
            got = s.recv(65536)
        except socket.timeout:
            return False, extra
        except ConnectionError:
            return True, extra
        if not got:
            return True, extra
        extra += got
    return False, extra


FRAMING = {
    "two differing Content-Length": [b"Content-Length: 2", b"Content-Length: 20"],
    "Content-Length list that differs": [b"Content-Length: 2, 20"],
    "Content-Length with Transfer-Encoding": [b"Content-Length: 2",
                                              b"Transfer-Encoding: chunked"],
    "space before the colon": [b"Transfer-Encoding : chunked"],
    "Content-Length not a number": [b"Content-Length: 2x"],
    "Transfer-Encoding not chunked": [b"Transfer-Encoding: gzip"],
    "two Host headers": [b"Host: a.example"],
    "control byte in a header value": [b"X-Note: a\x01b"],
    "NUL in the path": "nul",
    "%00 in the path": "pct00",
    "bad %-escape in the path": "pctbad",
}


def framing(args):
    out = {}
    for name, extra in FRAMING.items():
        path = args.path
        headers = [b"Host: 127.0.0.1", b"Content-Type: application/json"]
        body = b"{}"
        if extra == "nul":
            path = args.path + "\0x"
        elif extra == "pct00":
            path = args.path + "%00"
        elif extra == "pctbad":
            path = args.path + "%zz"
        if isinstance(extra, list):
            headers += extra
        if not any(h.lower().startswith(b"content-length") or
                   h.lower().startswith(b"transfer-encoding") for h in headers):
            headers.append(b"Content-Length: 2")
        req = b"POST " + path.encode("latin-1") + b" HTTP/1.1\r\n" + b"\r\n".join(headers) + \
            b"\r\n\r\n" + body
        # the request a smuggler hides behind it
        req += b"GET /smuggled HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"
        s = socket.create_connection(("127.0.0.1", args.port), timeout=5)
        s.sendall(req)
        deadline = time.monotonic() + 3
        status, _, _, rest, closed = recv_answer(s, deadline)
        if not closed:
            closed, rest = closed_after(s, rest, deadline)
        s.close()
        out[name] = {"status": status, "closed": closed, "served_next": b"HTTP/1." in rest}
    print(json.dumps(out))


def spread(args, i):
    return args.sources[i % len(args.sources)]


def slow_clients(args, dribble):
    socks, opened, closed_at = [], [], {}
    refused = 0
    t0 = time.monotonic()
    for i in range(args.n):
        s = socket.socket()
        s.bind((spread(args, i), 0))
        s.settimeout(2)
        try:
            s.connect(("127.0.0.1", args.port))
            if dribble:
                s.sendall(b"POST /phone-producer/ HTTP/1.1\r\n")
            elif args.preface:
                s.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n")
        except OSError:
            refused += 1
            s.close()
            continue
        s.setblocking(False)
        socks.append(s)
        opened.append(time.monotonic())
    end = t0 + args.seconds
    next_byte = time.monotonic() + args.every
    while time.monotonic() < end and len(closed_at) < len(socks):
        now = time.monotonic()
        for k, s in enumerate(socks):
            if k in closed_at:
                continue
            try:
                got = s.recv(4096)
                if not got:
                    closed_at[k] = now
                    continue
            except BlockingIOError:
                pass
            except OSError:
                closed_at[k] = now
                continue
            if dribble and now >= next_byte:
                try:
                    s.send(b"X")
                except BlockingIOError:
                    pass
                except OSError:
                    closed_at[k] = now
        if dribble and now >= next_byte:
            next_byte = now + args.every
        time.sleep(0.05)
    lifetimes = [closed_at[k] - opened[k] for k in closed_at]
    for s in socks:
        s.close()
    print(json.dumps({"opened": len(socks), "refused_at_connect": refused,
                      "closed_by_server": len(closed_at),
                      "closed_after_s_min": round(min(lifetimes), 2) if lifetimes else None,
                      "closed_after_s_max": round(max(lifetimes), 2) if lifetimes else None}),
          flush=True)


def early_answer(args):
    s = socket.create_connection(("127.0.0.1", args.port), timeout=10)
    s.sendall(b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n"
              b"Content-Length: %d\r\n\r\n" % (args.path.encode(), args.bytes))
    chunk = b" " * 65536
    sent, write_error = 0, None
    try:
        while sent < args.bytes:
            n = s.send(chunk[: min(len(chunk), args.bytes - sent)])
            sent += n
    except OSError as e:
        write_error = type(e).__name__
    status, head, body, _, _ = recv_answer(s, time.monotonic() + 5)
    s.close()
    print(json.dumps({"sent": sent, "write_error": write_error, "status": status,
                      "body": body.decode(errors="replace")[:200]}))


def gzip_flood(args):
    record = b'{"name":"accelerometer","time":1700000000000000000,"values":{"x":1,"y":2,"z":3}}'
    count = args.inflated // (len(record) + 1)
    doc = b'{"messageId":1,"sessionId":"s","deviceId":"bomb","payload":[' + \
        b",".join([record] * count) + b"]}"
    blob = gzip.compress(doc, 9)
    results = [None] * args.n
    go = threading.Barrier(args.n)

    def one(i):
        s = socket.create_connection(("127.0.0.1", args.port), timeout=30)
        head = b"POST %s HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\n" \
               b"Content-Encoding: gzip\r\nContent-Length: %d\r\n\r\n" % (args.path.encode(),
                                                                         len(blob))
        s.sendall(head + blob[: len(blob) // 2])
        go.wait()  # every request is half way in before any finishes
        try:
            s.sendall(blob[len(blob) // 2:])
            status, h, _, _, _ = recv_answer(s, time.monotonic() + 30)
        except OSError:
            status, h = 0, b""
        retry = None
        for line in h.split(b"\r\n"):
            if line.lower().startswith(b"retry-after:"):
                retry = line.split(b":", 1)[1].strip().decode()
        results[i] = (status, retry)
        s.close()

    threads = [threading.Thread(target=one, args=(i,)) for i in range(args.n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    statuses = {}
    for st, _ in results:
        statuses[str(st)] = statuses.get(str(st), 0) + 1
    retry = sorted({r for st, r in results if st == 503})
    print(json.dumps({"gzip_bytes": len(blob), "inflated_bytes": len(doc),
                      "statuses": statuses, "retry_after": retry}))


def main():
    ap = argparse.ArgumentParser()
    sub = ap.add_subparsers(dest="cmd", required=True)
    p = sub.add_parser("framing")
    p.add_argument("port", type=int)
    p.add_argument("path")
    for name in ("slowloris", "idle"):
        p = sub.add_parser(name)
        p.add_argument("port", type=int)
        p.add_argument("n", type=int)
        p.add_argument("seconds", type=float)
        p.add_argument("--from", dest="sources", default="127.0.0.1",
                       type=lambda v: v.split(","))
        p.add_argument("--every", type=float, default=1.0)
        p.add_argument("--preface", action="store_true",
                       help="idle: send the HTTP/2 connection preface, then nothing")
    p = sub.add_parser("early-answer")
    p.add_argument("port", type=int)
    p.add_argument("path")
    p.add_argument("bytes", type=int)
    p = sub.add_parser("gzip-flood")
    p.add_argument("port", type=int)
    p.add_argument("path")
    p.add_argument("n", type=int)
    p.add_argument("inflated", type=int)
    args = ap.parse_args()
    if args.cmd == "framing":
        framing(args)
    elif args.cmd == "slowloris":
        slow_clients(args, True)
    elif args.cmd == "idle":
        slow_clients(args, False)
    elif args.cmd == "early-answer":
        early_answer(args)
    else:
        gzip_flood(args)


if __name__ == "__main__":
    sys.exit(main())
