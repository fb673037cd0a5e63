#!/usr/bin/env bash
# source_http against slow clients, with a single worker thread: a client that stops
# sending is cut off by idle_timeout, one that trickles its body by request_timeout, and
# neither keeps other pushes from being answered meanwhile.
. "$(dirname "$0")/../lib.sh"
. "$(dirname "$0")/http_lib.sh"
S=$DATA/sensorlogger
PORT=$(free_port)
http_ini "$T_DIR/p.ini" \
  "[ingest]" "plugin = source_http" "listen = 127.0.0.1:$PORT" "threads = 1" \
  "request_timeout = 2s" "idle_timeout = 2s" \
  "[out]" "plugin = sink_null" "inputs = ingest"
start_and_wait sd "$T_DIR/p.ini"

python3 - "$PORT" "$S/mixed-sensors.json" <<'PY' || fail "slow clients were not cut off"
import socket, sys, time, urllib.request
port, sample = int(sys.argv[1]), open(sys.argv[2], "rb").read()
head = (b"POST /phone-producer/ HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
        b"Content-Length: %d\r\n\r\n" % len(sample))

def closed_within(sock, seconds, trickle=None):
    """True when the server closes sock within seconds (trickle: bytes sent every 0.2 s)."""
    sock.settimeout(0.2)
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        try:
            if trickle:
                sock.send(trickle.pop(0) if trickle else b"")
            if sock.recv(4096) == b"":
                return True
        except socket.timeout:
            continue
        except (ConnectionResetError, BrokenPipeError):
            return True
    return False

idle = socket.create_connection(("127.0.0.1", port))
idle.sendall(head + sample[:10])
# meanwhile an ordinary push is answered at once
t0 = time.monotonic()
req = urllib.request.Request(f"http://127.0.0.1:{port}/phone-producer/", data=sample,
                             headers={"Content-Type": "application/json"})
assert urllib.request.urlopen(req, timeout=5).status == 200
assert time.monotonic() - t0 < 1.5, "a push waited behind the slow clients"
assert closed_within(idle, 6), "idle client still connected after 6 s (idle_timeout = 2s)"
trickler = socket.create_connection(("127.0.0.1", port))
trickler.sendall(head)
chunks = [sample[i:i + 1] for i in range(10, 70)]
assert closed_within(trickler, 10, chunks), "trickling client not cut off (request_timeout = 2s)"
print("slow clients cut off")
PY
assert_eq 1 "$(requests ingest 200)" "200 count"
assert_eq 1 "$(requests ingest 408)" "request_timeout cut-offs"
assert_eq 1 "$(requests ingest closed)" "idle cut-offs"
sd_stop "$SD_PID"
echo ok
