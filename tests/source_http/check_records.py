#!/usr/bin/env python3
"""Compares sink_stdout NDJSON output with the records source_http must make from Sensor
Logger sample bodies: one record per reading, fields in order, exact int64 times, key =
deviceId, timestamp = reading time. Usage: check_records.py OUTPUT SAMPLE..."""
import json
import sys


def flatten(prefix, value, numbers_as_double, out):
    if isinstance(value, dict):
        for k, v in value.items():
            flatten(prefix + "_" + k, v, numbers_as_double, out)
    elif isinstance(value, list):
        out.append((prefix, json.dumps(value, separators=(",", ":"))))
    elif isinstance(value, bool) or value is None or isinstance(value, str):
        out.append((prefix, value))
    elif isinstance(value, int) and not numbers_as_double:
        out.append((prefix, value))
    else:
        out.append((prefix, float(value)))


def expected(body):
    for r in body["payload"]:
        t = int(r["time"])
        fields = [("name", r["name"]), ("time", t)]
        flatten("values", r["values"], True, fields)
        if "accuracy" in r:
            flatten("accuracy", r["accuracy"], False, fields)
        for k, v in r.items():
            if k not in ("name", "time", "values", "accuracy"):
                flatten(k, v, True, fields)
        fields += [("messageId", body["messageId"]), ("sessionId", body["sessionId"]),
                   ("deviceId", body["deviceId"])]
        if body.get("userId") is not None:
            fields.append(("userId", body["userId"]))
        yield {"timestamp_ns": t, "key": body["deviceId"], "fields": fields}


def same(a, b):
    # bool is an int in Python: compare types loosely only between int and float.
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(b, float):
        return isinstance(a, (int, float)) and float(a) == b
    return type(a) is type(b) and a == b


def main():
    out_path, samples = sys.argv[1], sys.argv[2:]
    want = []
    for path in samples:
        with open(path) as f:
            want.extend(expected(json.load(f)))
    with open(out_path) as f:
        got = [json.loads(line, object_pairs_hook=list) for line in f if line.strip()]
    if len(got) != len(want):
        sys.exit(f"expected {len(want)} records, got {len(got)}")
    for i, (g, w) in enumerate(zip(got, want)):
        g = dict(g)
        if g["timestamp_ns"] != w["timestamp_ns"] or not isinstance(g["timestamp_ns"], int):
            sys.exit(f"record {i}: timestamp_ns {g['timestamp_ns']!r} != {w['timestamp_ns']}")
        if g["key"] != w["key"]:
            sys.exit(f"record {i}: key {g['key']!r} != {w['key']!r}")
        gf = g["fields"]
        if [k for k, _ in gf] != [k for k, _ in w["fields"]]:
            sys.exit(f"record {i}: field names {[k for k, _ in gf]} != {[k for k, _ in w['fields']]}")
        for (k, gv), (_, wv) in zip(gf, w["fields"]):
            if not same(gv, wv):
                sys.exit(f"record {i}: field {k}: {gv!r} != {wv!r}")
    print(f"{len(got)} records match field by field")


if __name__ == "__main__":
    main()
