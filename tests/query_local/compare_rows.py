#!/usr/bin/env python3
"""Compares rows query_local produced with the oracle's (expect.py), in order.
usage: compare_rows.py api|sink SCHEMA_OR_DASH EXPECTED_FILE ACTUAL_FILE
api: ACTUAL is a delimited /query-stream body (header line, then one JSON array per row).
sink: ACTUAL is sink_stdout NDJSON; rows of schema SCHEMA, fields in column order; the key
must be the first column (DEVICEID) and the timestamp its row time.
Doubles are compared with a relative tolerance of 1e-12 (AVG summation order)."""
import json, math, sys

mode, schema, exp_file, act_file = sys.argv[1:5]
expected = [json.loads(l) for l in open(exp_file) if l.strip()]
if mode == "api":
    lines = [l for l in open(act_file) if l.strip()]
    header, actual = json.loads(lines[0]), [json.loads(l) for l in lines[1:]]
    assert "queryId" in header, header
else:
    actual = []
    for l in open(act_file):
        r = json.loads(l)
        if r["schema"] != schema: continue
        vals = list(r["fields"].values())
        if r["key"] != vals[0]:
            sys.exit(f"row key {r['key']!r} is not the DEVICEID column {vals[0]!r}")
        actual.append(vals)

def same(a, b):
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(a, b, rel_tol=1e-12, abs_tol=1e-15)
    return a == b

if len(actual) != len(expected):
    sys.exit(f"{schema}: expected {len(expected)} rows, got {len(actual)}")
for i, (e, a) in enumerate(zip(expected, actual)):
    if len(e) != len(a) or not all(same(x, y) for x, y in zip(e, a)):
        sys.exit(f"{schema}: row {i}: expected {e}, got {a}")
print(f"{schema}: {len(actual)} rows as expected")
