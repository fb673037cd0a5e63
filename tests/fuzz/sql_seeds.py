#!/usr/bin/env python3
"""Seeds for the SQL fuzzer: every SQL statement written in docs/SQL.md, the INI files and
the tests, one file each in OUT_DIR (named by content hash). Run by tests/fuzz/fuzz.mk at
build time so new tests seed the fuzzer without anyone copying statements by hand.

Statements are found by their leading keyword (upper case, as the project writes SQL) in
string literals of C/JS/Python sources (adjacent C literals joined), in backtick spans and
code blocks of Markdown, and in the lines of shell scripts and INI files (with their
continuation lines). Not every hit is valid SQL; invalid ones are useful seeds too."""
import hashlib
import os
import re
import subprocess
import sys

KEYWORDS = r"(?:SELECT|CREATE|DROP|SHOW|LIST|DESCRIBE|TERMINATE|INSERT|PRINT|EXPLAIN)"
STARTS = re.compile(r"^\s*" + KEYWORDS + r"\b")
ANYWHERE = re.compile(r"\b" + KEYWORDS + r"\b")


def unescape(s):
    return (s.replace('\\"', '"').replace("\\'", "'").replace("\\n", "\n")
            .replace("\\t", "\t").replace("\\\\", "\\"))


def c_literals(text):
    """Contents of C string literals, adjacent ones (across whitespace) joined."""
    out, lit = [], re.compile(r'"((?:[^"\\\n]|\\.)*)"')
    pos, cur, last_end = 0, None, None
    for m in lit.finditer(text):
        if cur is not None and text[last_end:m.start()].strip() == "":
            cur += m.group(1)
        else:
            if cur is not None:
                out.append(cur)
            cur = m.group(1)
        last_end = m.end()
    if cur is not None:
        out.append(cur)
    return [unescape(s) for s in out]


def js_literals(text):
    """'...', "..." and `...` literals; concatenations with + joined; ${...} dropped."""
    out = []
    lit = re.compile(r"'((?:[^'\\\n]|\\.)*)'|\"((?:[^\"\\\n]|\\.)*)\"|`((?:[^`\\]|\\.)*)`")
    cur, last_end = None, None
    for m in lit.finditer(text):
        s = next(g for g in m.groups() if g is not None) if any(
            g is not None for g in m.groups()) else ""
        s = re.sub(r"\$\{[^}]*\}", "x", s)
        if cur is not None and re.fullmatch(r"\s*\+\s*", text[last_end:m.start()]):
            cur += s
        else:
            if cur is not None:
                out.append(cur)
            cur = s
        last_end = m.end()
    if cur is not None:
        out.append(cur)
    return [unescape(s) for s in out]


def line_statements(text, continuation):
    """From a keyword to the end of its line (INI: plus indented continuation lines)."""
    out, lines = [], text.split("\n")
    for i, line in enumerate(lines):
        m = ANYWHERE.search(line)
        if not m:
            continue
        stmt = line[m.start():]
        j = i + 1
        while continuation and j < len(lines) and lines[j][:1] in (" ", "\t") and lines[j].strip():
            stmt += "\n" + lines[j]
            j += 1
        stmt = unescape(stmt).rstrip().rstrip("\"'`}),\\").rstrip()
        out.append(stmt)
    return out


def markdown(text):
    out = [m.group(1) for m in re.finditer(r"```[a-z]*\n(.*?)```", text, re.S)]
    out += [m.group(1) for m in re.finditer(r"`+([^`\n]+)`+", text)]
    return out


def tracked(root):
    files = subprocess.run(["git", "-C", root, "ls-files", "docs/SQL.md", "tests", "etc",
                            "examples", "bench"], capture_output=True, text=True).stdout
    return [f for f in files.split("\n") if f]


def main():
    root, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    seen = set()
    for rel in tracked(root):
        path = os.path.join(root, rel)
        if rel.startswith("tests/fuzz/") or not os.path.isfile(path):
            continue
        try:
            text = open(path, encoding="utf-8").read()
        except (UnicodeDecodeError, OSError):
            continue
        ext = os.path.splitext(rel)[1]
        if ext in (".c", ".h"):
            found = c_literals(text)
        elif ext in (".mjs", ".js", ".py"):
            found = js_literals(text)
        elif ext == ".md":
            found = markdown(text)
        elif ext == ".ini":
            found = line_statements(text, continuation=True)
        elif ext in (".sh", ""):
            found = line_statements(text, continuation=False) + js_literals(text)
        else:
            continue
        for s in found:
            if not STARTS.match(s) or len(s) < 8:
                continue
            s = s.strip()
            if s not in seen:
                seen.add(s)
                name = hashlib.sha1(s.encode()).hexdigest()[:16] + ".sql"
                with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
                    f.write(s)
    print(f"sql seeds: {len(seen)} statements in {out_dir}")


if __name__ == "__main__":
    main()
