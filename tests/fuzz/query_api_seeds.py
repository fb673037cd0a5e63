#!/usr/bin/env python3
"""Seeds for the query_local API fuzzer: every JSON request body written in the tests
(string literals holding an object with "ksql", "sql", "queryId" or "properties"), every
statement the SQL seeds find (tests/fuzz/sql_seeds.py) as a /ksql, /query and /query-stream
body with and without properties, and a few malformed bodies. One file each in OUT_DIR."""
import hashlib
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import sql_seeds  # noqa: E402

FIELDS = re.compile(r'"(?:ksql|sql|queryId|properties|streamsProperties)"\s*:')
ODD = [
    "", "{", "[]", "null", '"sql"', "{}", '{"sql":null}', '{"sql":5}', '{"ksql":""}',
    '{"sql":"SELECT * FROM smartphone_sensor_stream EMIT CHANGES;","sql":"SHOW STREAMS;"}',
    '{"sql":"SELECT * FROM smartphone_sensor_stream EMIT CHANGES;\\u0000DROP STREAM x;"}',
    '{"ksql":"SELECT * FROM smartphone_sensor_stream;","streamsProperties":{"auto.offset.reset":7}}',
    '{"sql":"SELECT deviceId FROM smartphone_sensor_stream EMIT CHANGES LIMIT 1;",'
    '"properties":{"ksql.streams.auto.offset.reset":"EARLIEST"}}',
    '{"queryId":"transient_SMARTPHONE_SENSOR_STREAM_1"}', '{"queryId":["x"]}',
    '{"ksql":"-- c\\n/* d */ SHOW STREAMS; \'a;b\'; `x;`"}',
    '{"sql":"SELECT * FROM smartphone_sensor_stream EMIT CHANGES;"} trailing',
    '\xef\xbb\xbf{"sql":"SELECT 1;"}',
]


def bodies_in(text):
    out = []
    for m in re.finditer(r"'(\{[^'\n]*\})'|b'(\{[^'\n]*\})'", text):
        s = m.group(1) or m.group(2)
        if FIELDS.search(s):
            out.append(s)
    return out


def main():
    root, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    seen = set()

    def put(s):
        if s in seen:
            return
        seen.add(s)
        name = hashlib.sha1(s.encode()).hexdigest()[:16] + ".json"
        with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
            f.write(s)

    for s in ODD:
        put(s)
    files = subprocess.run(["git", "-C", root, "ls-files", "tests"], capture_output=True,
                           text=True).stdout.split("\n")
    for rel in files:
        path = os.path.join(root, rel)
        if not rel or rel.startswith("tests/fuzz/") or not os.path.isfile(path):
            continue
        try:
            text = open(path, encoding="utf-8").read()
        except (UnicodeDecodeError, OSError):
            continue
        for s in bodies_in(text):
            put(s)
        for s in sql_seeds.js_literals(text) if rel.endswith((".mjs", ".js", ".py")) else []:
            if s.startswith("{") and FIELDS.search(s):
                put(s)

    tmp = os.path.join(out_dir, ".sql")
    subprocess.run([sys.executable, os.path.join(os.path.dirname(__file__), "sql_seeds.py"),
                    root, tmp], check=True, stdout=subprocess.DEVNULL)
    for i, name in enumerate(sorted(os.listdir(tmp))):
        sql = open(os.path.join(tmp, name), encoding="utf-8").read()
        if len(sql) > 2000:
            continue
        for key in ("ksql", "sql"):
            put(json.dumps({key: sql}))
        props = "properties" if i & 1 else "streamsProperties"
        reset = "earliest" if i & 2 else "latest"
        put(json.dumps({"sql" if i & 1 else "ksql": sql, props: {"auto.offset.reset": reset}}))
        os.remove(os.path.join(tmp, name))
    os.rmdir(tmp)
    print(f"query_api seeds: {len(seen)} bodies in {out_dir}")


if __name__ == "__main__":
    main()
