#!/usr/bin/env python3
"""Compares what kcat read back from the topic with what was posted to source_http.

usage: check_topic.py KCAT_JSON_LINES [--unordered] [--stdout SINK_STDOUT_NDJSON] [--acked FILE]... [--maybe FILE]...
  --acked: Sensor Logger bodies answered 200: every reading must be in the topic
  --maybe: bodies answered otherwise: their readings may be there (retries), or not
Every record is compared field by field (exact integers, float values, types of time and
messageId), the message key must be the deviceId, one key's records stay in one partition
in posting order, and nothing else may be in the topic. With --stdout, the topic must also
equal what sink_stdout saw, field order included. Prints a summary; exits 1 on mismatch."""
import json
import sys
from collections import Counter, defaultdict


def flatten(prefix, value, out):
    if isinstance(value, dict):
        for k, v in value.items():
            flatten(f"{prefix}_{k}", v, out)
    elif isinstance(value, list):
        out[prefix] = json.dumps(value, separators=(",", ":"))
    else:
        out[prefix] = value


def expected_records(path):
    body = json.load(open(path))
    recs = []
    for r in body["payload"]:
        rec = {"name": r["name"], "time": int(r["time"])}
        for k, v in r.items():
            if k in ("name", "time"):
                continue
            flatten(k, v, rec)
        rec["messageId"] = body["messageId"]
        rec["sessionId"] = body["sessionId"]
        rec["deviceId"] = body["deviceId"]
        if "userId" in body:
            rec["userId"] = body["userId"]
        recs.append(rec)
    return recs


def identity(rec):
    # values are compared as numbers: source_http stores sensor values as doubles
    norm = {k: (float(v) if isinstance(v, int) and not isinstance(v, bool)
                and k not in ("time", "messageId") else v) for k, v in rec.items()}
    return (rec.get("deviceId"), rec.get("messageId"), rec.get("name"), rec.get("time"),
            json.dumps(norm, sort_keys=True))


def main(argv):
    topic_file = argv[1]
    stdout_file, acked, maybe, check_order = None, [], [], True
    i = 2
    while i < len(argv):
        if argv[i] == "--unordered":  # resends after 503 legitimately reorder a key
            check_order = False
            i += 1
            continue
        if argv[i] == "--stdout":
            stdout_file = argv[i + 1]
        elif argv[i] == "--acked":
            acked.append(argv[i + 1])
        elif argv[i] == "--maybe":
            maybe.append(argv[i + 1])
        else:
            sys.exit(f"unknown argument {argv[i]}")
        i += 2
    problems = []
    msgs = [json.loads(l) for l in open(topic_file) if l.strip()]
    topic = []
    for m in msgs:
        try:
            value = json.loads(m["payload"])
        except (TypeError, ValueError) as e:
            problems.append(f"p{m['partition']}@{m['offset']}: payload is not JSON: {e}")
            continue
        if not isinstance(value.get("time"), int):
            problems.append(f"p{m['partition']}@{m['offset']}: time is not an integer: {value.get('time')!r}")
        if not isinstance(value.get("messageId"), int):
            problems.append(f"p{m['partition']}@{m['offset']}: messageId is not an integer")
        if m.get("key") != value.get("deviceId"):
            problems.append(f"p{m['partition']}@{m['offset']}: key {m.get('key')!r} != deviceId {value.get('deviceId')!r}")
        topic.append((m["partition"], m["offset"], value))

    have = Counter(identity(v) for _, _, v in topic)
    must = Counter()
    for f in acked:
        must.update(identity(r) for r in expected_records(f))
    may = Counter()
    for f in maybe:
        may.update(identity(r) for r in expected_records(f))
    missing = must - have
    for ident, n in list(missing.items())[:5]:
        problems.append(f"acknowledged reading missing from the topic ({n}x): {ident[:4]}")
    extra = have - must - may
    # duplicates of acknowledged readings are allowed only when resent (at-least-once)
    extra_unknown = Counter({k: n for k, n in extra.items() if k not in must and k not in may})
    for ident, n in list(extra_unknown.items())[:5]:
        problems.append(f"reading in the topic that nobody posted ({n}x): {ident[:4]}")
    if len(missing) > 5 or len(extra_unknown) > 5:
        problems.append(f"... {sum(missing.values())} missing, {sum(extra_unknown.values())} unknown in all")

    # one key -> one partition; offsets ascend in posting order per key
    parts = defaultdict(set)
    for p, _, v in topic:
        parts[v.get("deviceId")].add(p)
    for key, ps in parts.items():
        if len(ps) != 1:
            problems.append(f"key {key} spread over partitions {sorted(ps)}")
    order = defaultdict(list)
    for p, off, v in sorted(topic, key=lambda t: (t[0], t[1])):
        order[v.get("deviceId")].append((v.get("messageId"), v.get("time")))
    if check_order:
        for key, seq in order.items():
            mids = [m for m, _ in seq]
            if mids != sorted(mids):
                problems.append(f"key {key}: messageIds out of order in its partition")

    if stdout_file:
        seen = [json.loads(l) for l in open(stdout_file) if l.strip()]
        want = Counter(json.dumps(list(r["fields"].items())) for r in seen)
        got = Counter(json.dumps(list(v.items())) for _, _, v in topic)
        if want != got:
            diff = list((want - got).items())[:2] + list((got - want).items())[:2]
            problems.append(f"topic differs from sink_stdout (field order included): {diff}")
        keys = Counter(r.get("key") for r in seen)
        tkeys = Counter(v.get("deviceId") for _, _, v in topic)
        if keys != tkeys:
            problems.append("record keys seen by sink_stdout differ from the topic's keys")

    print(f"topic: {len(topic)} records in {len({p for p, _, _ in topic})} partitions, "
          f"{len(parts)} keys; acknowledged readings: {sum(must.values())}; "
          f"unacknowledged: {sum(may.values())}")
    for p in problems[:20]:
        print("MISMATCH:", p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
