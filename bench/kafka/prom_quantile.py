#!/usr/bin/env python3
"""Quantiles of a Prometheus histogram read from a /metrics page on stdin.

usage: prom_quantile.py METRIC_NAME Q...   e.g. sensord_kafka_delivery_latency_seconds 0.5 0.99
Prints "count=N q0.5=X q0.99=Y" (seconds, linear interpolation inside a bucket)."""
import re
import sys

name, qs = sys.argv[1], [float(q) for q in sys.argv[2:]]
buckets = {}
for line in sys.stdin:
    m = re.match(rf'{re.escape(name)}_bucket\{{.*le="([^"]+)".*\}} ([0-9.e+]+)', line)
    if m:
        le = float("inf") if m.group(1) == "+Inf" else float(m.group(1))
        buckets[le] = buckets.get(le, 0) + float(m.group(2))
edges = sorted(buckets)
total = buckets[edges[-1]] if edges else 0
out = [f"count={int(total)}"]
for q in qs:
    want, prev_le, prev_n, value = q * total, 0.0, 0.0, float("nan")
    for le in edges:
        n = buckets[le]
        if n >= want and total > 0:
            if le == float("inf"):
                value = prev_le
            else:
                value = prev_le + (le - prev_le) * ((want - prev_n) / (n - prev_n) if n > prev_n else 0)
            break
        prev_le, prev_n = le, n
    out.append(f"q{q}={value:.6f}")
print(" ".join(out))
