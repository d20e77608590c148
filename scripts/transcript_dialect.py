#!/usr/bin/python3
# SPDX-License-Identifier: MIT
"""Rewrites transcript files from the old per-role dialects into the shared one
(tests/transcripts/README.md), in place.

    scripts/transcript_dialect.py [FILE...]   # default: tests/transcripts/{server,client}/*.txt

The role comes from the directory (server/ or client/). Old server lines: `E:` (subsequence)
becomes `E~`, `N:` becomes `E!`, `A: ...` (an answer) becomes `H: answer ...`, `T: ...` (a
host action at a sync point) becomes `H: ...`. Old client lines: `E:` (strict order) becomes
`E=`; `H:` stays. A prefix glued to its text (`S|250`) gets its space. Lines already in the
new dialect are left alone, so running the script twice changes nothing. The runners refuse
the old prefixes, so a file this script has not seen fails instead of passing silently.
"""
import glob
import os
import re
import sys

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))

SERVER = {"E:": "E~", "N:": "E!", "A:": "H: answer", "T:": "H:"}
CLIENT = {"E:": "E="}
GLUED = re.compile(r"^([A-Z][:|])(\S)")


def convert_line(line, table):
    if not line or line.startswith("#") or line.startswith("@"):
        return line
    line = GLUED.sub(r"\1 \2", line)
    head, sep, rest = line.partition(" ")
    if head in table:
        return table[head] + (sep + rest if sep else "")
    return line


def role_of(path):
    parts = os.path.normpath(os.path.abspath(path)).split(os.sep)
    if "server" in parts[-2:]:
        return SERVER
    if "client" in parts[-2:]:
        return CLIENT
    raise SystemExit("%s: not under a server/ or client/ directory" % path)


def convert_file(path):
    with open(path, encoding="utf-8", errors="surrogateescape", newline="") as f:
        text = f.read()
    table = role_of(path)
    lines = text.split("\n")
    new = "\n".join(convert_line(l, table) for l in lines)
    if new != text:
        with open(path, "w", encoding="utf-8", errors="surrogateescape", newline="") as f:
            f.write(new)
        return True
    return False


def main(argv):
    files = argv or sorted(glob.glob(os.path.join(ROOT, "tests", "transcripts", "server", "*.txt")) +
                           glob.glob(os.path.join(ROOT, "tests", "transcripts", "client", "*.txt")))
    changed = sum(convert_file(p) for p in files)
    print("%d of %d files rewritten" % (changed, len(files)))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
