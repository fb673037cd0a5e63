#!/usr/bin/env python3
"""Expected query_local output computed straight from Sensor Logger sample files (an oracle
independent of the C code): rows of the original project's query and of a 1 s tumbling AVG
per device, as ksqlDB would write them.
usage: expect.py filter|avg|records FILE... """
import json, sys
from decimal import Decimal

def java_double(x):
    """Java's Double.toString (what ksqlDB's Jackson writes) for a finite double."""
    if x == 0:
        return "-0.0" if str(x).startswith("-") else "0.0"
    sign = "-" if x < 0 else ""
    digits, exp = Decimal(repr(abs(x))).normalize().as_tuple()[1:]
    ds = "".join(map(str, digits))
    e10 = len(ds) - 1 + exp  # decimal exponent of the first digit
    if -3 <= e10 < 7:
        if e10 < 0:
            return sign + "0." + "0" * (-e10 - 1) + ds
        ip = (ds + "0" * (e10 + 1))[: e10 + 1]
        fp = ds[e10 + 1:] or "0"
        return sign + ip + "." + fp
    return sign + ds[0] + "." + (ds[1:] or "0") + "E" + str(e10)

def val(v):
    if isinstance(v, bool): return "true" if v else "false"
    if isinstance(v, int): return str(v)
    if isinstance(v, float): return java_double(v)
    if v is None: return "null"
    return json.dumps(v, ensure_ascii=False, separators=(",", ":"))

def row(vals):
    return "[" + ",".join(val(v) for v in vals) + "]"

def readings(files):
    for f in files:
        body = json.load(open(f))
        for r in body["payload"]:
            yield body["deviceId"], r

def main():
    mode, files = sys.argv[1], sys.argv[2:]
    if mode == "filter":
        for dev, r in readings(files):
            if r["name"] == "accelerometeruncalibrated":
                v = r["values"]
                print(row([dev, r["time"], float(v["x"]), float(v["y"]), float(v["z"])]))
    elif mode == "avg":
        # SELECT deviceId, AVG(values_x) AS ax, WINDOWSTART AS ws ... WINDOW TUMBLING (SIZE 1
        # SECONDS) GROUP BY deviceId, emitted on every change: one row per reading with x.
        acc = {}
        for dev, r in readings(files):
            x = r.get("values", {}).get("x")
            if x is None: continue
            ws = (r["time"] // 1000000) // 1000 * 1000
            s, n = acc.get((dev, ws), (0.0, 0))
            s, n = s + float(x), n + 1
            acc[(dev, ws)] = (s, n)
            print(json.dumps([dev, s / n, ws]))
    elif mode == "java":
        for a in files: print(java_double(float(a)))

main()
