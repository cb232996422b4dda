#!/usr/bin/env python3
"""Differential check: reqivo's response reader against h11's.

Every response file of the seed corpora (fuzz/corpus/response_head and
response_reader; chunked bodies after a chunked head) and, when present, of
the fuzz-generated ones (fuzz/target/corpus/...) is read as the answer to a GET and to a HEAD, by
reqivo (the `wire_view` example) and by h11 acting as a client. The two
readings are compared: accepted or refused, status, interim responses,
version, reason, header fields, framing, body, bytes used, connection reuse.

A disagreement passes only when a rule in RULES explains it, and every rule
must be documented under its own heading in fuzz/DIFFERENTIAL.md with the
RFC section behind the choice. Anything else fails the check.

    compare.py [--wire-view PATH] [--verbose] [FILE_OR_DIR ...]
"""
import argparse
import json
import os
import re
import struct
import subprocess
import sys
from collections import Counter

try:
    import h11
    from h11 import _connection as h11_connection
except ImportError:
    sys.exit("compare.py: h11 is missing (pip install h11)")

FUZZ = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ROOT = os.path.dirname(FUZZ)
DOC = os.path.join(FUZZ, "DIFFERENTIAL.md")
# Same as reqivo's default max_header_bytes, so head limits agree.
HEAD_LIMIT = 65536


# How a corpus file becomes a response: as it is, without the control
# bytes of fuzz/src/lib.rs, or (chunked bodies) also after a chunked head.
CHUNKED_HEAD = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
KINDS = {"response_head": "raw", "response_reader": "reader", "chunked": "chunked"}


def corpus_dirs(generated):
    """(directory, kind) pairs for the corpora that exist: the checked-in
    seeds, and with `generated` also what the fuzzers wrote."""
    out = []
    bases = ["corpus"] + ([os.path.join("target", "corpus")] if generated else [])
    for base in bases:
        for target, kind in KINDS.items():
            out.append((os.path.join(FUZZ, base, target), kind))
    return [(d, k) for d, k in out if os.path.isdir(d)]


def strip_control(data):
    """The response bytes of a response_reader input (fuzz/src/lib.rs)."""
    if len(data) < 2:
        return None
    cuts = data[1] % 16
    if len(data) < 2 + 2 * cuts:
        return None
    return data[2 + 2 * cuts:]


def h11_view(data, method):
    conn = h11.Connection(our_role=h11.CLIENT, max_incomplete_event_size=HEAD_LIMIT)
    conn.send(h11.Request(method=method, target="/", headers=[("Host", "example.test")]))
    conn.send(h11.EndOfMessage())
    conn.receive_data(data)
    conn.receive_data(b"")  # then EOF, as reqivo's reader gets it
    v = {"interim": [], "status": 0, "body": b"", "framing": None, "error": None}
    try:
        while True:
            ev = conn.next_event()
            if isinstance(ev, h11.InformationalResponse):
                v["interim"].append(ev.status_code)
            elif isinstance(ev, h11.Response):
                v["status"] = ev.status_code
                v["minor"] = int(ev.http_version.split(b".")[1])
                v["reason"] = ev.reason
                v["headers"] = [(bytes(n), bytes(val)) for n, val in ev.headers.raw_items()]
                v["keep_alive"] = h11_connection._keep_alive(ev)
                reader = conn._reader
                name = type(reader).__name__
                if name == "ContentLengthReader":
                    v["framing"] = "length:%d" % reader._length
                elif name == "ChunkedReader":
                    v["framing"] = "chunked"
                elif name == "Http10Reader":
                    v["framing"] = "close"
                else:
                    v["framing"] = name
            elif isinstance(ev, h11.Data):
                v["body"] += ev.data
            elif isinstance(ev, h11.EndOfMessage):
                break
            elif isinstance(ev, h11.ConnectionClosed):
                v["error"] = "ConnectionClosed"
                break
            else:  # NEED_DATA or PAUSED after EOF: no complete response
                v["error"] = "Incomplete:%r" % (ev,)
                break
    except h11.RemoteProtocolError as e:
        v["error"] = "RemoteProtocolError: %s" % e
    if v["error"] is None:
        v["consumed"] = len(data) - len(conn.trailing_data[0])
    return v


def latin1(s):
    return s.encode("latin-1")


def reqivo_views(cases, wire_view):
    payload = b"".join(struct.pack("<I", len(c)) + c for c in cases)
    out = subprocess.run([wire_view], input=payload, stdout=subprocess.PIPE, check=True).stdout
    views = []
    # Not splitlines(): Latin-1 text may hold U+0085, which it splits on.
    for line in out.decode().split("\n")[:-1]:
        both = json.loads(line)
        for v in both.values():
            v["reason"] = latin1(v["reason"])
            v["body"] = latin1(v["body"])
            v["headers"] = [(latin1(n), latin1(val)) for n, val in v["headers"]]
        views.append(both)
    if len(views) != len(cases):
        sys.exit("compare.py: wire_view answered %d of %d cases" % (len(views), len(cases)))
    return views


# Header fields h11 rewrites while validating (it folds repeated or listed
# Content-Length into one value and lower-cases Transfer-Encoding); their
# effect is compared through the framing instead.
FRAMING_FIELDS = (b"content-length", b"transfer-encoding")


def comparable_headers(headers):
    return [(n.lower(), v) for n, v in headers if n.lower() not in FRAMING_FIELDS]


def framing_of(v):
    # No body and a zero Content-Length mean the same thing on the wire.
    return "length:0" if v["framing"] == "none" else v["framing"]


def differences(r, h):
    """What differs between reqivo's view r and h11's view h."""
    if (r["error"] is None) != (h["error"] is None):
        return ["accepted-by-" + ("reqivo" if r["error"] is None else "h11")]
    if r["error"] is not None:
        return []  # both refuse: error classes are not compared
    diffs = []
    for key in ("interim", "status", "minor", "reason", "body"):
        if r[key] != h[key]:
            diffs.append(key)
    if comparable_headers(r["headers"]) != comparable_headers(h["headers"]):
        diffs.append("headers")
    if framing_of(r) != framing_of(h):
        diffs.append("framing")
    if r["consumed"] != h["consumed"]:
        diffs.append("consumed")
    # A close-delimited body ends the connection whatever the head says.
    if r["framing"] != "close" and r["keep_alive"] != h["keep_alive"]:
        diffs.append("keep_alive")
    return diffs


# ---- documented disagreements -------------------------------------------
# Each rule: (id, test(data, method, reqivo view, h11 view, diffs) -> bool).
# The id is a heading in fuzz/DIFFERENTIAL.md that gives the reason.

HEAD_END = re.compile(rb"\r?\n\r?\n")


def head_part(data):
    m = HEAD_END.search(data)
    return data[: m.end()] if m else data


def field_lines(data):
    return re.split(rb"\r?\n", head_part(data))[1:]


def has_field(data, name):
    return any(l.lower().startswith(name + b":") for l in field_lines(data))


def status_line(data):
    return re.split(rb"\r?\n", data, maxsplit=1)[0]


def rule_te_with_cl(data, method, r, h, diffs):
    return (diffs == ["accepted-by-h11"] and r["error"] == "InvalidFraming"
            and has_field(data, b"transfer-encoding") and has_field(data, b"content-length"))


def rule_obs_fold(data, method, r, h, diffs):
    folded = any(l[:1] in (b" ", b"\t") for l in field_lines(data) if l)
    return diffs == ["accepted-by-h11"] and r["error"] == "InvalidResponseHeader" and folded


def rule_unsolicited_101(data, method, r, h, diffs):
    return diffs == ["accepted-by-reqivo"] and r["status"] == 101


def rule_http10_keep_alive(data, method, r, h, diffs):
    return diffs == ["keep_alive"] and r["minor"] == 0 and r["keep_alive"]


def rule_version(data, method, r, h, diffs):
    m = re.match(rb"HTTP/(\d)\.(\d) ", status_line(data))
    return (diffs == ["accepted-by-h11"] and r["error"] == "InvalidStatusLine"
            and m is not None and m.group(0) not in (b"HTTP/1.0 ", b"HTTP/1.1 "))


def rule_status_range(data, method, r, h, diffs):
    return (diffs == ["accepted-by-h11"] and r["error"] == "InvalidStatusLine"
            and h["status"] > 599)




def rule_no_body_framing_fields(data, method, r, h, diffs):
    return (diffs == ["accepted-by-reqivo"] and r["framing"] == "none"
            and re.search(r"Content-Length|Transfer-Encoding", h["error"]) is not None)


def rule_te_list_empty_elements(data, method, r, h, diffs):
    codings = [c.strip().lower() for l in field_lines(data)
               if l.lower().startswith(b"transfer-encoding:")
               for c in l.split(b":", 1)[1].split(b",")]
    return (diffs == ["accepted-by-reqivo"] and r["framing"] == "chunked"
            and [c for c in codings if c] == [b"chunked"] and b"" in codings)


CONTROL = re.compile(rb"[\x00-\x08\x0a-\x1f\x7f]")


def rule_control_in_head(data, method, r, h, diffs):
    lines = [l[:-1] if l.endswith(b"\r") else l for l in head_part(data).split(b"\n")]
    return (diffs == ["accepted-by-h11"]
            and r["error"] in ("InvalidStatusLine", "InvalidResponseHeader")
            and any(CONTROL.search(l) for l in lines))


def rule_trailer_field_semantics(data, method, r, h, diffs):
    return (diffs == ["accepted-by-reqivo"] and r["framing"] == "chunked"
            and r["body"] == h["body"]
            and re.search(r"Content-Length|Transfer-Encoding", h["error"]) is not None)


def rule_chunk_ext_control(data, method, r, h, diffs):
    body = data[len(head_part(data)):]
    lines = [l[:-1] if l.endswith(b"\r") else l for l in body.split(b"\n")]
    return (diffs == ["accepted-by-h11"] and r["error"] == "InvalidChunk"
            and any(re.match(rb"[0-9a-fA-F]+[ \t]*;", l) and CONTROL.search(l) for l in lines))


def rule_reason_not_utf8(data, method, r, h, diffs):
    if diffs != ["reason"]:
        return False
    try:
        h["reason"].decode("utf-8")
        return False
    except UnicodeDecodeError:
        return r["reason"] == b""


def rule_leading_empty_lines(data, method, r, h, diffs):
    return diffs == ["accepted-by-reqivo"] and data[:1] in (b"\r", b"\n")


def rule_chunk_ext_bws(data, method, r, h, diffs):
    body = data[len(head_part(data)):]
    return (diffs == ["accepted-by-reqivo"] and r["framing"] == "chunked"
            and "illegal chunk header" in h["error"]
            and re.search(rb"(?m)^[0-9a-fA-F]+[ \t]+;", body) is not None)


def rule_header_count_limit(data, method, r, h, diffs):
    return (diffs == ["accepted-by-h11"] and r["error"] == "TooManyHeaders"
            and len(h["headers"]) > 100)


LAST_CHUNK = re.compile(rb"(?:^|\n)0+(?:[ \t]*;[^\r\n]*)?\r\n")


def rule_trailer_bare_lf(data, method, r, h, diffs):
    if diffs != ["accepted-by-h11"] or r["error"] != "InvalidChunk":
        return False
    # The trailer section as h11 read it: after the last chunk, up to
    # where h11 ended the message.
    body = data[len(head_part(data)):h["consumed"]]
    last = None
    for last in LAST_CHUNK.finditer(body):
        pass
    trailer = body[last.end():] if last else b""
    return re.search(rb"(?:^|[^\r])\n", trailer) is not None


RULES = [
    ("header-count-limit", rule_header_count_limit),
    ("trailer-bare-lf", rule_trailer_bare_lf),
    ("chunk-ext-bws", rule_chunk_ext_bws),
    ("reason-not-utf8", rule_reason_not_utf8),
    ("leading-empty-lines", rule_leading_empty_lines),
    ("no-body-framing-fields", rule_no_body_framing_fields),
    ("te-list-empty-elements", rule_te_list_empty_elements),
    ("control-in-head", rule_control_in_head),
    ("trailer-field-semantics", rule_trailer_field_semantics),
    ("chunk-ext-control", rule_chunk_ext_control),
    ("te-with-cl", rule_te_with_cl),
    ("obs-fold", rule_obs_fold),
    ("unsolicited-101", rule_unsolicited_101),
    ("http10-keep-alive", rule_http10_keep_alive),
    ("version", rule_version),
    ("status-range", rule_status_range),
]


def documented_rules():
    try:
        text = open(DOC, encoding="utf-8").read()
    except OSError:
        return set()
    return set(re.findall(r"^### `([a-z0-9-]+)`", text, re.M))


def load_cases(paths):
    cases = []
    for path, kind in paths:
        files = [path] if os.path.isfile(path) else sorted(
            os.path.join(path, f) for f in os.listdir(path))
        for f in files:
            data = open(f, "rb").read()
            if kind != "raw":
                data = strip_control(data)
                if data is None:
                    continue
            if kind == "chunked":
                data = CHUNKED_HEAD + data
            cases.append((os.path.relpath(f, ROOT), data))
    return cases


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--wire-view", default=os.path.join(ROOT, "target", "debug", "examples", "wire_view"))
    ap.add_argument("--verbose", action="store_true")
    ap.add_argument("--generated", action="store_true",
                    help="also the inputs the fuzzers generated (fuzz/target/corpus); without it "
                         "only the checked-in corpus, so the result is the same on every run")
    ap.add_argument("paths", nargs="*", help="response files or directories (raw HTTP)")
    args = ap.parse_args()

    paths = [(p, "raw") for p in args.paths] if args.paths else corpus_dirs(args.generated)
    cases = load_cases(paths)
    # Identical inputs are checked once.
    seen, unique = set(), []
    for name, data in cases:
        if data not in seen:
            seen.add(data)
            unique.append((name, data))
    views = reqivo_views([d for _, d in unique], args.wire_view)

    documented = documented_rules()
    undocumented_rules = [rid for rid, _ in RULES if rid not in documented]
    explained, failures = Counter(), []
    for (name, data), both in zip(unique, views):
        for method in ("GET", "HEAD"):
            r, h = both[method], h11_view(data, method)
            diffs = differences(r, h)
            if not diffs:
                continue
            rule = next((rid for rid, test in RULES if test(data, method, r, h, diffs)), None)
            if rule is not None:
                explained[rule] += 1
                if args.verbose:
                    print("explained (%s): %s %s" % (rule, method, name))
                continue
            failures.append((name, method, diffs, r, h))

    total = 2 * len(unique)
    print("differential: %d readings (%d inputs x GET/HEAD) compared with h11 %s"
          % (total, len(unique), h11.__version__))
    for rule, n in sorted(explained.items()):
        print("differential: %5d explained by `%s`" % (n, rule))
    for name, method, diffs, r, h in failures[:20]:
        print("\nUNDOCUMENTED: %s as the answer to %s differs in %s" % (name, method, ", ".join(diffs)))
        for who, v in (("reqivo", r), ("h11", h)):
            shown = {k: v.get(k) for k in ("error", "status", "interim", "framing", "consumed", "keep_alive")}
            shown["body"] = v.get("body", b"")[:60]
            print("  %-6s %r" % (who, shown))
    if len(failures) > 20:
        print("\n... and %d more" % (len(failures) - 20))
    if undocumented_rules:
        print("rules missing from fuzz/DIFFERENTIAL.md: %s" % ", ".join(undocumented_rules))
    if failures or undocumented_rules:
        print("differential: FAILED (%d undocumented disagreements)" % len(failures))
        return 1
    print("differential: no undocumented disagreement")
    return 0


if __name__ == "__main__":
    sys.exit(main())
