#!/usr/bin/env python3
"""Seeds for the WebSocket fuzzer: what clients send after the upgrade, as masked frames
(RFC 6455 section 5.3): resume messages in every shape ws.c reads, pings, pongs, fragmented
and interleaved messages, binary and oversized messages, bad opcodes and reserved bits, a
close. Each file starts with the target's two control bytes (event format, read pattern)."""
import os
import struct
import sys


def frame(opcode, payload=b"", fin=True, mask=b"\x11\x22\x33\x44", rsv=0, length=None):
    n = len(payload) if length is None else length
    head = bytes([(0x80 if fin else 0) | rsv << 4 | opcode])
    bit = 0x80 if mask is not None else 0
    if n < 126:
        head += bytes([bit | n])
    elif n < 65536:
        head += bytes([bit | 126]) + struct.pack(">H", n)
    else:
        head += bytes([bit | 127]) + struct.pack(">Q", n)
    if mask is None:
        return head + payload
    return head + mask + bytes(b ^ mask[i % 4] for i, b in enumerate(payload))


def text(s, **kw):
    return frame(1, s.encode() if isinstance(s, str) else s, **kw)


SEEDS = {
    "resume-int": text('{"last_event_id": 7}'),
    "resume-string": text('{"last_event_id": "9"}'),
    "resume-gone": text('{"last_event_id": 2}'),
    "resume-future": text('{"last_event_id": 18446744073709551615}'),
    "resume-negative": text('{"last_event_id": -1}'),
    "resume-bad": text('{"last_event_id": "9x"}') + text('{"last_event_id": 1.5}'),
    "resume-twice": text('{"last_event_id": 5}') + text('{"last_event_id": 8}'),
    "not-json": text("hello") + text("[1,2]") + text("null"),
    "ping-pong": frame(9, b"hb") + frame(10, b"hb") + frame(9, b"x" * 125),
    "fragmented": text('{"last_e', fin=False) + frame(9, b"p") +
                  frame(0, b'vent_id": 6}', fin=True),
    "binary": frame(2, b"\x00\x01\x02"),
    "close": frame(8, struct.pack(">H", 1000) + b"bye"),
    "close-bad": frame(8, b"\x03"),
    "unmasked": text('{"last_event_id": 7}', mask=None),
    "rsv": text("x", rsv=4),
    "opcode-3": frame(3, b"??"),
    "big": text("a" * 5000),
    "len16": text("b" * 300),
    "len64-lie": frame(1, b"c" * 10, length=1 << 40),
    "utf8-bad": text(b'{"last_event_id": "\xff"}'),
    "ping-too-long": frame(9, b"p" * 126),
    "control-fragmented": frame(9, b"p", fin=False),
}


def main():
    out = sys.argv[1]
    os.makedirs(out, exist_ok=True)
    for i, (name, body) in enumerate(sorted(SEEDS.items())):
        # format = i % 3; read pattern: all as extra bytes, all through the socket, or split.
        for split in (0, 255, 9):
            ctl = bytes([(i % 3) | ((i * 5) % 64) << 2, split])
            with open(os.path.join(out, f"{name}-{split}.ws"), "wb") as f:
                f.write(ctl + body)
    print(f"ws seeds: {len(SEEDS) * 3} in {out}")


if __name__ == "__main__":
    main()
