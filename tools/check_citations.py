#!/usr/bin/env python3
"""Fails when a tracked file cites the project's tracker instead of saying
what it means: an issue, bug or pull-request number (also written
with a hyphen or "#", and an issue named in quotes), a bare "#" followed
by two or more digits, or a link to a forge's issue or pull-request
page. The project's files point only inside the repository (DESIGN §N for
docs/DESIGN.md's sections); RFC numbers and section signs, "#[derive",
"#define", "#include", "PEM #1" and colours after ":" or "=" pass.

  tools/check_citations.py   prints file:line: text for each hit and exits
                             1 when there is one (`make fmt-check`)

Every file `git ls-files` lists is read except the lock files (Cargo.lock,
go.sum, go.mod), which hold other projects' addresses, and binary files.
A line that must keep such text (a test fixture quoting a server, say)
carries the marker "citation-check: allow".
"""
import os
import re
import subprocess
import sys

SKIP_NAMES = {"Cargo.lock", "go.sum", "go.mod"}
ALLOW = "citation-check: allow"

PATTERNS = [
    # A tracker item by number: the word, then a number or a quoted name
    # ("issues" only before a list of numbers: the verb is common here).
    re.compile(r"\b(?:issue|bugs?|PRs?|pull[- ]requests?)[- ]?#?\d+\b"
               r"|\bissues\s+#?\d+\s*(?:,|and\b|&)\s*#?\d+"
               r"|\bissue\s+\"[^\"]+\"", re.IGNORECASE),
    # A bare "#NN" reference, not a colour after ":" or "=".
    re.compile(r"(?:^|(?<=[\s(\[,;]))(?<![:=]\s)#\d{2,}\b"),
    # A forge's issue, pull-request or discussion page.
    re.compile(r"\b(?:github\.com|gitlab\.com|codeberg\.org)/[^\s/]+/[^\s/]+/"
               r"(?:-/)?(?:issues|pull|pulls|merge_requests|discussions)\b", re.IGNORECASE),
]


def tracked_files(root):
    out = subprocess.run(["git", "ls-files", "-z"], cwd=root, check=True,
                         stdout=subprocess.PIPE).stdout
    for name in out.decode("utf-8", "surrogateescape").split("\0"):
        if name and os.path.basename(name) not in SKIP_NAMES:
            yield name


def check(root):
    hits = []
    for name in tracked_files(root):
        path = os.path.join(root, name)
        if os.path.islink(path) or not os.path.isfile(path):
            continue
        with open(path, "rb") as f:
            data = f.read()
        if b"\0" in data:
            continue
        text = data.decode("utf-8", "replace")
        for n, line in enumerate(text.split("\n"), 1):
            if ALLOW in line:
                continue
            if any(p.search(line) for p in PATTERNS):
                hits.append("%s:%d: %s" % (name, n, line.strip()[:160]))
    return hits


def main():
    root = subprocess.run(["git", "rev-parse", "--show-toplevel"], check=True,
                          stdout=subprocess.PIPE, text=True).stdout.strip()
    hits = check(root)
    for h in hits:
        print(h)
    if hits:
        print("check_citations: %d line(s) cite a tracker item; say what is meant instead "
              "(design references: DESIGN §N)" % len(hits), file=sys.stderr)
        sys.exit(1)
    print("check_citations: no tracker citations in tracked files")


if __name__ == "__main__":
    main()
