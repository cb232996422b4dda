#!/usr/bin/env python3
"""Generates docs/API.md from the doc comments in include/reqivo.h.

Every exported function's comment must say, curl-style, what the function
does and carry the labelled facts a C programmer needs:
  Ownership:, NULL:, Thread safety:, Returns:, Since:
`--check` fails when a comment lacks one, or when docs/API.md is stale.
"""
import re
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = ROOT / "include" / "reqivo.h"
OUT = ROOT / "docs" / "API.md"
LABELS = ["Ownership:", "NULL:", "Thread safety:", "Returns:", "Since:"]

# A doc comment followed by a declaration, up to its ';' or '{'.
ITEM = re.compile(r"/\*\*(?P<doc>.*?)\*/\s*(?P<decl>[^;{]*?(?:;|\{))", re.S)


def clean(doc):
    lines = []
    for line in doc.strip("\n").splitlines():
        line = re.sub(r"^\s*\* ?", "", line)
        lines.append(line.rstrip())
    return "\n".join(lines).strip()


def items(text):
    functions, types = [], []
    for m in ITEM.finditer(text):
        doc, decl = clean(m.group("doc")), " ".join(m.group("decl").split())
        fn = re.search(r"\b(reqivo_\w+)\s*\(", decl)
        if fn and decl.endswith(";"):
            functions.append((fn.group(1), decl, doc))
            continue
        ty = re.match(r"typedef (?:struct|enum) (reqivo_\w+)", decl)
        if ty:
            types.append((ty.group(1), doc))
    return functions, types


def render(functions, types):
    out = ["# reqivo C API reference", "",
           "Generated from `include/reqivo.h` by `tools/gen_api_docs.py`; do not edit.", "",
           "## Types", ""]
    for name, doc in types:
        out += ["### `%s`" % name, "", doc, ""]
    out += ["## Functions", ""]
    for name, decl, doc in sorted(functions):
        out += ["### `%s`" % name, "", "```c", decl, "```", ""]
        for para in doc.split("\n\n"):
            out += [para, ""]
    return "\n".join(out).rstrip() + "\n"


def main():
    text = HEADER.read_text()
    functions, types = items(text)
    missing = []
    for name, _decl, doc in functions:
        lacks = [label for label in LABELS if label not in doc]
        if lacks:
            missing.append("%s lacks %s" % (name, ", ".join(lacks)))
    declared = set(re.findall(r"^[^\s/*#].*?\b(reqivo_\w+)\(", text, re.M))
    undocumented = sorted(declared - {f[0] for f in functions})
    doc = render(functions, types)
    if "--check" in sys.argv:
        problems = missing + ["%s has no doc comment" % n for n in undocumented]
        if not OUT.exists() or OUT.read_text() != doc:
            problems.append("docs/API.md is stale: run tools/gen_api_docs.py")
        for p in problems:
            print("api-docs: " + p)
        print("api-docs: %d functions checked, %d problems" % (len(functions), len(problems)))
        sys.exit(1 if problems else 0)
    OUT.write_text(doc)
    print("wrote %s (%d functions, %d types)" % (OUT.relative_to(ROOT), len(functions), len(types)))


if __name__ == "__main__":
    main()
