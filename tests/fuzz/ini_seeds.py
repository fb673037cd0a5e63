#!/usr/bin/env python3
"""Seeds for the INI fuzzer: every tracked .ini file, and every INI text the tests write (shell
heredocs and printf formats with a [section], C string literals of the config tests), one
file each in OUT_DIR (named by content hash). Run by tests/fuzz/fuzz.mk at build time, so a
new test's INI seeds the fuzzer without anyone copying it by hand. Shell expansions ($PORT,
$(cmd), %s) become "1": the text stays an INI file of the same shape."""
import hashlib
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from sql_seeds import c_literals  # noqa: E402

SECTION = re.compile(r"^\s*\[[^\]\n]*\]", re.M)
EXPANSION = re.compile(r"\$\{[^}]*\}|\$\([^)]*\)|\$[A-Za-z_0-9@*#?]+")


def looks_like_ini(text):
    return bool(SECTION.search(text)) and "=" in text


def heredocs(text):
    """Bodies of `<<WORD` / `<<'WORD'` / `<<-WORD` heredocs."""
    out = []
    for m in re.finditer(r"<<-?\s*(['\"]?)([A-Za-z_]+)\1[^\n]*\n", text):
        end = re.compile(r"^\s*" + re.escape(m.group(2)) + r"\s*$", re.M).search(text, m.end())
        if end:
            out.append(text[m.end():end.start()])
    return out


def printf_formats(text):
    """The format strings of printf calls ('...' or "...")."""
    out = []
    for m in re.finditer(r"printf\s+(?:--\s+)?(?:'((?:[^'])*)'|\"((?:[^\"\\]|\\.)*)\")", text):
        fmt = m.group(1) if m.group(1) is not None else m.group(2)
        fmt = fmt.replace("\\n", "\n").replace("\\t", "\t").replace("%%", "\x00")
        fmt = re.sub(r"%[-0-9.]*[sdu]", "1", fmt).replace("\x00", "%")
        out.append(fmt)
    return out


def tracked(root):
    files = subprocess.run(["git", "-C", root, "ls-files", "etc", "examples", "tests"],
                           capture_output=True, text=True).stdout
    return [f for f in files.split("\n") if f and not f.startswith("tests/fuzz/")]


def main():
    root, out_dir = sys.argv[1], sys.argv[2]
    os.makedirs(out_dir, exist_ok=True)
    seen = set()
    for rel in tracked(root):
        path = os.path.join(root, rel)
        if not os.path.isfile(path):
            continue
        try:
            text = open(path, encoding="utf-8").read()
        except (UnicodeDecodeError, OSError):
            continue
        ext = os.path.splitext(rel)[1]
        if ext == ".ini":
            found = [text]
        elif ext in (".sh", ""):
            found = [EXPANSION.sub("1", t) for t in heredocs(text) + printf_formats(text)]
        elif ext == ".c":
            found = c_literals(text)
        else:
            continue
        for s in found:
            if not looks_like_ini(s) or s in seen:
                continue
            seen.add(s)
            name = hashlib.sha1(s.encode()).hexdigest()[:16] + ".ini"
            with open(os.path.join(out_dir, name), "w", encoding="utf-8") as f:
                f.write(s)
    print(f"ini seeds: {len(seen)} files in {out_dir}")


if __name__ == "__main__":
    main()
