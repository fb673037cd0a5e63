#!/usr/bin/env python3
"""Checks push-query rows that crossed query_ksql against the Sensor Logger bodies posted.

usage: check_rows.py ndjson|sse OUTPUT SENSOR BODY...
  ndjson: sink_stdout lines of query `accel` (DEVICEID, TIME, VALUES_X, VALUES_Y, VALUES_Z)
  sse:    an out_sse /chart-data stream ([deviceId, "YYYY-MM-DD HH:MM:SS.ffffff", x, y, z])
Every reading named SENSOR must appear exactly once, with exact values; nothing else.
In ndjson, query_ksql's "_status" notices are checked apart: the query must have said "up"."""
import datetime
import json
import sys
from collections import Counter

kind, output, sensor, bodies = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4:]


def chart_time(ns):
    t = datetime.datetime.fromtimestamp(ns // 1000000000, datetime.timezone.utc)
    return t.strftime("%Y-%m-%d %H:%M:%S") + f".{(ns % 1000000000) // 1000:06d}"


want = Counter()
for path in bodies:
    body = json.load(open(path))
    for r in body["payload"]:
        if r["name"] != sensor:
            continue
        v = r["values"]
        t = int(r["time"])
        if kind == "ndjson":
            want[json.dumps([body["deviceId"], t, float(v["x"]), float(v["y"]), float(v["z"])])] += 1
        else:
            want[json.dumps([body["deviceId"], chart_time(t), float(v["x"]), float(v["y"]), float(v["z"])])] += 1

got = Counter()
status_up = False
if kind == "ndjson":
    for line in open(output):
        r = json.loads(line)
        f = r["fields"]
        if r["schema"] == "_status":
            assert f["QUERY"] == "accel" and f["STATE"] in ("up", "down"), r
            status_up = status_up or f["STATE"] == "up"
            continue
        assert r["schema"] == "accel", r
        assert r["key"] == f["DEVICEID"], r
        got[json.dumps([f["DEVICEID"], f["TIME"], f["VALUES_X"], f["VALUES_Y"], f["VALUES_Z"]])] += 1
else:
    event = None
    for line in open(output):
        line = line.rstrip("\n")
        if line.startswith("event:"):
            event = line[6:].strip()
        elif line.startswith("data:") and event == "new_message":
            row = json.loads(line[5:])
            got[json.dumps([row[0], row[1], float(row[2]), float(row[3]), float(row[4])])] += 1
        elif line == "":
            event = None

if kind == "ndjson" and not status_up:
    print("no _status row saying query accel is up")
    sys.exit(1)
missing, extra = want - got, got - want
print(f"{sum(got.values())} rows, {sum(want.values())} expected, "
      f"{sum(missing.values())} missing, {sum(extra.values())} unexpected")
for k in list(missing)[:3]:
    print("missing:", k)
for k in list(extra)[:3]:
    print("unexpected:", k)
sys.exit(1 if missing or extra else 0)
