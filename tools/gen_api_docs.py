#!/usr/bin/env python3
"""Generates docs/API.md, the C reference, from include/reqivo.h.

Everything the header declares is documented from its own doc comment:
every #define constant, every result code (with its number and class),
every struct with every field (C type and comment), every callback type,
every opaque handle and every function. Hand-kept here are only the
index by task (TASKS), the titles of the constant groups (GROUPS) and a
first program (FIRST_PROGRAM); the names they use are checked against the
header, and the program is compiled against it.

Every exported function's comment must say, curl-style, what the function
does and carry the labelled facts a C programmer needs:
  Ownership:, NULL:, Thread safety:, Returns:, Since:

  tools/gen_api_docs.py           writes docs/API.md (`make docs`)
  tools/gen_api_docs.py --check   fails when docs/API.md is stale, a
                                  comment lacks a label, an item has no
                                  comment, the hand-kept parts name
                                  something the header does not declare, or
                                  the first program does not compile
                                  (`make docs-check`); notes, which do not
                                  fail, list exported functions no task
                                  mentions and struct fields without a
                                  comment of their own.
"""
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
HEADER = ROOT / "include" / "reqivo.h"
OUT = ROOT / "docs" / "API.md"
LABELS = ["Ownership:", "NULL:", "Thread safety:", "Returns:", "Since:"]

# ---- hand-kept parts ------------------------------------------------------
# The index by task: (title, what to know, names in the order of use).
# A name is a function, a type, a constant, or a constant prefix ending in
# `*` (REQIVO_ERR_* for the result codes); the check fails on a name the
# header does not declare, and notes exported functions no task mentions.
TASKS = [
    ("Make a request",
     "Create a session once (it is thread-safe; share it), build a request, "
     "send it and read the response's fields directly: `status`, `headers` "
     "and `header_count`, `body` and `body_len`. Free the response once. A call "
     "that fails returns NULL (or a non-zero code) and fills the `reqivo_error` "
     "passed last. See [A first program](#a-first-program).",
     ["reqivo_session_new", "reqivo_request_new", "reqivo_request_add_header",
      "reqivo_request_header_is_framing",
      "reqivo_request_set_body", "reqivo_session_send", "reqivo_response",
      "reqivo_response_header", "reqivo_str", "reqivo_header", "reqivo_timings",
      "REQIVO_RESPONSE_*", "reqivo_response_trailers", "reqivo_response_free",
      "reqivo_request_free",
      "reqivo_session_free"]),
    ("Configure a session",
     "Base URL, default headers, credentials, redirects and decoding apply to "
     "every later send through the session, from any thread.",
     ["reqivo_session_set_base_url", "reqivo_session_set_header",
      "reqivo_session_set_basic_auth", "reqivo_session_set_bearer_token",
      "reqivo_session_set_digest_auth",
      "reqivo_session_set_max_redirects", "reqivo_session_set_decompress"]),
    ("Handle errors",
     "Declare a `reqivo_error` and pass its address last; after a failure "
     "`code` holds a result code and `message` says what went wrong. "
     "`reqivo_code_class` gives the class bindings map to exception types.",
     ["reqivo_error", "reqivo_code_name", "reqivo_code_class", "REQIVO_ERR_*"]),
    ("Set timeouts and limits",
     "In `reqivo_timeout` and `reqivo_limits` a field left 0 takes the "
     "default and `REQIVO_NO_LIMIT` lifts that limit, so "
     "`(reqivo_timeout){.total_ms = 10000}` adds a total limit and keeps the "
     "other defaults. A request's timeouts override the session's field by field.",
     ["reqivo_timeout", "reqivo_timeout_default", "reqivo_session_set_timeout",
      "reqivo_request_set_timeout", "reqivo_limits", "reqivo_session_set_limits",
      "REQIVO_NO_LIMIT", "REQIVO_NO_LIMIT_64"]),
    ("Retry failed requests",
     "Off by default. `reqivo_session_set_retry` with a policy from "
     "`reqivo_retry_default` retries connect errors, connections lost before "
     "any response byte, 429 and 503, for idempotent methods and requests "
     "marked with `reqivo_request_set_idempotent`, waiting a jittered "
     "exponential backoff or the server's Retry-After, never past the total "
     "timeout. The multi makes each wait a timer (`reqivo_multi_timeout_ms`).",
     ["reqivo_retry", "reqivo_retry_default", "reqivo_session_set_retry",
      "reqivo_request_set_idempotent", "REQIVO_RETRY_ON_CONNECT_ERROR",
      "REQIVO_RETRY_ON_RESET", "REQIVO_RETRY_ON_429", "REQIVO_RETRY_ON_503",
      "REQIVO_RETRY_AFTER"]),
    ("Choose the HTTP version",
     "By default a TLS handshake offers `h2`, then `http/1.1`: HTTP/2 when "
     "the server chooses it, HTTP/1.1 otherwise, and HTTP/1.1 over "
     "cleartext. Over HTTP/2 every request to an origin shares one "
     "connection, each a stream on it, from any number of threads and "
     "multis; `reqivo_response.http_major` says which version answered. "
     "`reqivo_session_set_http_version` restricts a session to "
     "`REQIVO_HTTP_VERSION_1_1`, or to `REQIVO_HTTP_VERSION_2` (`h2` alone "
     "over TLS, prior knowledge over cleartext).",
     ["reqivo_session_set_http_version", "REQIVO_HTTP_VERSION_DEFAULT",
      "REQIVO_HTTP_VERSION_1_1", "REQIVO_HTTP_VERSION_2"]),
    ("Stream a download",
     "`reqivo_session_open` returns once the response head is read; read the "
     "body piece by piece with flat memory (no body limit by default), then "
     "free the stream. The connection is reused only if the body was read to "
     "its end; then its trailer fields, if any, are there.",
     ["reqivo_session_open", "reqivo_stream", "reqivo_stream_response",
      "reqivo_stream_read", "reqivo_stream_trailers", "reqivo_stream_free", "reqivo_request_set_progress",
      "reqivo_progress_callback"]),
    ("Many requests on one thread",
     "A multi runs any number of transfers in flight on the calling thread: "
     "add requests (from any thread; each is copied), then call "
     "`reqivo_multi_poll` in a loop, or hand `reqivo_multi_fd` and "
     "`reqivo_multi_timeout_ms` to your event loop and call "
     "`reqivo_multi_perform` when either fires; collect each finished transfer "
     "with `reqivo_multi_next`. Responses are the same one-allocation struct as "
     "from `reqivo_session_send`. https, proxies and request bodies from callbacks work as in a blocking send. A transfer added with `reqivo_multi_add_streamed` hands its body to a data callback as it arrives (flat memory for any size), and can pause itself until `reqivo_multi_resume`.",
     ["reqivo_multi_new", "reqivo_multi_add", "reqivo_multi_poll",
      "reqivo_multi_perform", "reqivo_multi_next", "reqivo_multi_done",
      "reqivo_multi_fd", "reqivo_multi_timeout_ms", "reqivo_multi_wakeup",
      "reqivo_multi_in_flight", "reqivo_multi", "reqivo_multi_free",
      "reqivo_multi_add_streamed", "reqivo_data_callback", "reqivo_multi_resume",
      "reqivo_multi_add_ws"]),
    ("Upload (body callback)",
     "For a body in memory use `reqivo_request_set_body`. For a body produced "
     "as it goes, give its size (sent as Content-Length) or -1 (sent chunked) "
     "and a callback that fills the library's buffer and returns 0 at the end. "
     "Such a body is read once: a 307/308 that would send it again is returned "
     "with `REQIVO_RESPONSE_REDIRECT_NOT_FOLLOWED`.",
     ["reqivo_request_set_body_callback", "reqivo_read_callback",
      "reqivo_request_set_progress", "REQIVO_RESPONSE_REDIRECT_NOT_FOLLOWED"]),
    ("Cancel",
     "Pass one token to any number of sends, opens (their streams keep it) "
     "and WebSocket calls, and trigger it from any thread: each call using it "
     "returns `REQIVO_ERR_CANCELLED` (a send, open or stream read within 50 ms).",
     ["reqivo_cancel", "reqivo_cancel_new", "reqivo_cancel_trigger",
      "reqivo_cancel_free", "REQIVO_ERR_CANCELLED"]),
    ("TLS",
     "https works without any of this (the system's roots, TLS 1.2 or later). "
     "For a private CA, a client certificate, pins or a TLS 1.3 minimum, fill "
     "a builder, build the config and set it on the session.",
     ["reqivo_tls_config_builder", "reqivo_tls_config_builder_new",
      "reqivo_tls_config_builder_add_root_pem",
      "reqivo_tls_config_builder_use_system_roots",
      "reqivo_tls_config_builder_set_client_auth_pem",
      "reqivo_tls_config_builder_set_min_version", "REQIVO_TLS_VERSION_*",
      "reqivo_tls_config_builder_add_spki_pin_sha256",
      "reqivo_tls_config_builder_dangerous_disable_verification",
      "reqivo_tls_config_builder_build", "reqivo_tls_config_builder_free",
      "reqivo_tls_config", "reqivo_session_set_tls", "reqivo_tls_config_free",
      "REQIVO_RESPONSE_TLS", "REQIVO_RESPONSE_TLS_RESUMED"]),
    ("Cookies",
     "Each session has its own cookie jar, on by default (RFC 6265).",
     ["reqivo_session_set_cookies", "reqivo_session_clear_cookies",
      "reqivo_session_save_cookies", "reqivo_session_load_cookies",
      "reqivo_session_set_cookie_limits", "reqivo_session_set_public_suffix_list"]),
    ("Proxies",
     "A session connects directly unless given a proxy; it reads the "
     "environment only when asked to.",
     ["reqivo_session_set_proxy", "reqivo_session_set_no_proxy",
      "reqivo_session_use_env_proxy", "REQIVO_ERR_PROXY"]),
    ("Where connections go",
     "Send the socket for a host and port to other addresses, another host "
     "or a Unix domain socket, while the URL, Host, SNI and certificate "
     "checks keep the name.",
     ["reqivo_session_add_resolve", "reqivo_session_add_connect_to",
      "reqivo_session_set_unix_socket"]),
    ("JSON",
     "Send a JSON body, and look values up in a response's JSON body by "
     "JSON Pointer without copying.",
     ["reqivo_request_set_json", "reqivo_response_json", "reqivo_json_lookup", "reqivo_json_value",
      "REQIVO_JSON_*", "reqivo_json_string"]),
    ("Upload a form",
     "A multipart/form-data body (RFC 7578): fields from memory, files "
     "streamed from disk while sending, with a Content-Length and a fresh "
     "boundary; a redirect or retry reopens the files.",
     ["reqivo_multipart", "reqivo_multipart_new", "reqivo_multipart_add_field",
      "reqivo_multipart_add_file", "reqivo_request_set_multipart",
      "reqivo_multipart_free"]),
    ("Hooks and logging",
     "Hooks see every hop (redirects included) on the sending thread; the "
     "logger receives the session's log lines at a level and above.",
     ["reqivo_session_set_hooks", "reqivo_on_request_callback",
      "reqivo_hook_request", "reqivo_hook_request_method",
      "reqivo_hook_request_url", "reqivo_hook_request_set_header",
      "reqivo_hook_request_add_header", "reqivo_hook_request_remove_header",
      "reqivo_on_response_callback", "reqivo_session_set_logger",
      "reqivo_log_callback", "REQIVO_LOG_*"]),
    ("Pools",
     "A session made with a NULL pool gets one of its own. To share "
     "keep-alive connections between sessions, create a pool and pass it to "
     "`reqivo_session_new` for each.",
     ["reqivo_pool_config", "reqivo_pool_config_default", "reqivo_pool_new",
      "reqivo_pool", "reqivo_session_pool", "reqivo_pool_get_stats",
      "reqivo_pool_stats", "reqivo_pool_close_idle", "reqivo_pool_free"]),
    ("WebSocket",
     "The handshake goes through a session (its base URL, headers, auth, "
     "cookies, TLS config and timeouts apply). One thread may send while "
     "another receives; every received message is freed on its own.",
     ["reqivo_ws_options", "reqivo_ws_options_new", "reqivo_ws_options_add_protocol",
      "reqivo_ws_options_add_header", "reqivo_ws_options_set_limits",
      "reqivo_ws_options_set_ping", "reqivo_ws_options_set_deflate",
      "reqivo_ws_options_set_reconnect", "reqivo_ws_reconnect_callback",
      "reqivo_ws_connect", "reqivo_ws_options_free", "reqivo_ws", "reqivo_ws_send",
      "reqivo_ws_send_fragment", "reqivo_ws_receive", "reqivo_ws_try_receive",
      "reqivo_ws_fd", "reqivo_ws_message",
      "REQIVO_WS_*", "reqivo_ws_message_free", "reqivo_ws_ping", "reqivo_ws_close",
      "reqivo_ws_protocol", "reqivo_ws_response", "reqivo_ws_free"]),
    ("Check the version",
     "Compare the library's version at run time with the header's macros.",
     ["reqivo_version", "REQIVO_VERSION_*"]),
]

# Constant groups, by name prefix: (prefix, title, what they are for).
# A #define matching none goes to "Other constants", so none is left out.
GROUPS = [
    ("REQIVO_CLASS_", "Error class constants",
     "What `reqivo_code_class` returns: the base of a result code's range. "
     "Map these to exception types rather than the numbers."),
    ("REQIVO_RESPONSE_", "Response flags",
     "Bits of `reqivo_response.flags`; test one with `flags & REQIVO_RESPONSE_TLS`."),
    ("REQIVO_NO_LIMIT", "No limit",
     "For the fields of `reqivo_timeout` and `reqivo_limits` and the values "
     "given to `reqivo_session_set_cookie_limits`, where 0 means the default."),
    ("REQIVO_DATA_", "Data callback verdicts",
     "What a `reqivo_data_callback` returns for a piece of a streamed body; "
     "any other value aborts the transfer."),
    ("REQIVO_READ_", "Body read callback verdicts",
     "What a `reqivo_read_callback` may return besides a byte count (0 is "
     "the end of the body); any other negative value aborts the send."),
    ("REQIVO_RETRY_", "Retry flags",
     "Bits of `reqivo_retry.flags`: which outcomes are retried, and whether "
     "Retry-After is honoured."),
    ("REQIVO_JSON_", "JSON value types",
     "Values of `reqivo_json_value.type`, as `reqivo_response_json` sets it."),
    ("REQIVO_LOG_", "Log levels",
     "The `level` given to a `reqivo_log_callback`, and the `min_level` of "
     "`reqivo_session_set_logger`."),
    ("REQIVO_TLS_VERSION_", "TLS versions",
     "For `reqivo_tls_config_builder_set_min_version` and "
     "`reqivo_response.tls_version`."),
    ("REQIVO_WS_", "WebSocket message kinds",
     "`reqivo_ws_message.kind`, and the `kind` given to `reqivo_ws_send`."),
    ("REQIVO_VERSION_", "Version macros",
     "The header's version; `reqivo_version` gives the library's."),
]

# A complete first program. The check compiles it against the header.
FIRST_PROGRAM = r"""/* first.c: GET a URL; print the status, the Content-Type and the body. */
#include <stdio.h>
#include <string.h>
#include <reqivo.h>

int main(int argc, char **argv) {
  const char *url = argc > 1 ? argv[1] : "http://127.0.0.1:8080/";
  reqivo_error err; /* filled by a call that fails */
  reqivo_session *s = reqivo_session_new(NULL /* a pool of its own */, &err);
  if (s == NULL) {
    fprintf(stderr, "%s\n", err.message);
    return 1;
  }
  /* 10 s for the whole exchange; fields left 0 keep their defaults. */
  reqivo_session_set_timeout(s, (reqivo_timeout){.total_ms = 10000});

  int ok = 0;
  reqivo_request *req = reqivo_request_new("GET", 3, url, strlen(url), &err);
  const reqivo_response *r = req ? reqivo_session_send(s, req, NULL, &err) : NULL;
  if (r != NULL) {
    printf("HTTP/%u.%u %u %s\n", r->http_major, r->http_minor, r->status, r->reason.ptr);
    reqivo_str type;
    if (reqivo_response_header(r, "Content-Type", 12, 0, &type)) {
      printf("Content-Type: %s\n", type.ptr);
    }
    fwrite(r->body, 1, r->body_len, stdout);
    ok = r->status < 400;
    reqivo_response_free(r); /* one free releases the struct, headers and body */
  } else {
    fprintf(stderr, "GET %s: %s (class %u): %s\n", url, reqivo_code_name(err.code),
            reqivo_code_class(err.code), err.message);
  }
  reqivo_request_free(req); /* every _free accepts NULL */
  reqivo_session_free(s);
  return ok ? 0 : 1;
}
"""

FIRST_PROGRAM_TEXT = [
    "Build it against an installed copy (`make install`), or in this source "
    "tree after `make lib`:",
    "```sh\n"
    "cc first.c $(pkg-config --cflags --libs reqivo) -o first\n"
    "cc -Iinclude first.c -Ltarget/release -lreqivo -Wl,-rpath,$PWD/target/release -o first\n"
    "./first http://127.0.0.1:8080/\n"
    "```",
    "What it relies on:",
    "- Strings go in as a pointer and a length (`\"GET\", 3`), not NUL-terminated; "
    "strings come out as `reqivo_str` (`ptr` and `len`), NUL-terminated too "
    "(except `reqivo_json_value.raw`, which points into a response body).\n"
    "- A `reqivo_response` is one allocation whose fields are read directly "
    "(see [its fields](#reqivo_response)): the body is `body` and `body_len`, "
    "the headers `headers[0]` to `headers[header_count - 1]`. Free it once "
    "with `reqivo_response_free`.\n"
    "- `reqivo_error` is cleared on entry and filled on failure; its `code` is "
    "one of the [result codes](#result-codes).\n"
    "- Sessions are thread-safe; requests, streams and builders are used by "
    "one thread at a time; responses are immutable.",
    "More complete programs: `examples/get.c`, `examples/json_cookies.c`, "
    "`examples/ws_echo.c`.",
]

# ---- parsing --------------------------------------------------------------


def clean(doc):
    """The text of a /** ... */ comment, without its leading stars."""
    lines = []
    for line in doc.strip("\n").splitlines():
        line = re.sub(r"^\s*\* ?", "", line)
        lines.append(line.rstrip())
    return "\n".join(lines).strip()


def code_only(text):
    """The header without preprocessor conditionals, includes and the
    extern "C" wrapper: #defines, comments and declarations remain."""
    out = []
    for line in text.splitlines():
        s = line.strip()
        if (s.startswith("#") and not s.startswith("#define")) or \
                s == 'extern "C" {' or re.match(r'^\}\s*// extern "C"', s):
            out.append("")
        else:
            out.append(line)
    return "\n".join(out)


def skip_comment(text, i):
    """The index after the comment starting at i, or i if none does."""
    if text.startswith("/*", i):
        return text.index("*/", i + 2) + 2
    if text.startswith("//", i):
        j = text.find("\n", i)
        return len(text) if j < 0 else j
    return i


def scan(text, end=";"):
    """Yields (doc, kind, text): each #define line or declaration (up to its
    `end` at brace depth 0) with the doc comment just before it, or None."""
    i, n, doc = 0, len(text), None
    while i < n:
        if text[i].isspace():
            i += 1
        elif text.startswith("/**", i) and not text.startswith("/**/", i):
            j = text.index("*/", i + 3)
            doc, i = clean(text[i + 3:j]), j + 2
        elif text.startswith("/*", i) or text.startswith("//", i):
            i = skip_comment(text, i)
        elif text.startswith("#define", i):
            j = text.find("\n", i)
            j = n if j < 0 else j
            yield doc, "define", text[i:j].strip()
            doc, i = None, j
        else:
            depth, j = 0, i
            while j < n:
                k = skip_comment(text, j)
                if k != j:
                    j = k
                    continue
                c = text[j]
                if c == "{":
                    depth += 1
                elif c == "}":
                    depth -= 1
                elif c == end and depth == 0:
                    break
                j += 1
            yield doc, "decl", text[i:j].strip()
            doc, i = None, j + 1


def flat(s):
    return " ".join(s.split())


def body_of(decl):
    return decl[decl.index("{") + 1:decl.rindex("}")]


class Header:
    def __init__(self, text):
        self.text = text
        m = re.match(r"\s*/\*(?!\*)(.*?)\*/", text, re.S)
        self.intro = clean(m.group(1)) if m else ""
        self.defines = []    # (name, value, doc)
        self.enums = []      # (name, doc, [(name, value, doc)])
        self.structs = []    # (name, doc, [(ctype, name, doc)], decl)
        self.opaque = []     # (name, doc)
        self.callbacks = []  # (name, decl, doc)
        self.functions = []  # (name, decl, doc)
        self.problems = []
        for doc, kind, decl in scan(code_only(text)):
            if kind == "define":
                m = re.match(r"#define\s+(\w+)(?:\s+(.+))?$", decl)
                if m and m.group(2):
                    self.defines.append((m.group(1), m.group(2).strip(), doc))
                continue
            f = flat(decl)
            m = re.match(r"typedef struct (\w+) \{", f)
            if m:
                self.structs.append((m.group(1), doc, self.fields(m.group(1), body_of(decl)), decl))
                continue
            m = re.match(r"enum (\w+)\s*(?::\s*\w+\s*)?\{", f)
            if m:
                self.enums.append((m.group(1), doc, self.members(body_of(decl))))
                continue
            m = re.match(r"typedef struct (\w+) (\w+)$", f)
            if m:
                self.opaque.append((m.group(2), doc))
                continue
            m = re.match(r"typedef .*?\(\*(\w+)\)\s*\(", f)
            if m:
                self.callbacks.append((m.group(1), decl, doc))
                continue
            if re.match(r"typedef (enum \w+|uint32_t) \w+$", f) and doc is None:
                continue  # reqivo_code as C23's enum or as uint32_t
            m = re.search(r"\b(reqivo_\w+)\s*\(", f)
            if m and "(" in f:
                self.functions.append((m.group(1), decl, doc or ""))
                continue
            self.problems.append("a declaration the generator cannot document: %s" % f[:80])

    def fields(self, struct, body):
        out = []
        for doc, _kind, decl in scan(body):
            m = re.match(r"(.*?)\b(\w+)\s*((?:\[[^\]]*\])*)$", flat(decl))
            if not m:
                self.problems.append("%s: a field the generator cannot read: %s" % (struct, decl))
                continue
            ctype = m.group(1).strip() + m.group(3)
            out.append((ctype, m.group(2), doc))
        return out

    def members(self, body):
        out = []
        for doc, _kind, decl in scan(body, end=","):
            m = re.match(r"(\w+)\s*=\s*(.+)$", flat(decl))
            if not m:
                self.problems.append("an enum member the generator cannot read: %s" % decl)
                continue
            out.append((m.group(1), m.group(2), doc))
        return out

    def codes(self):
        return [c for _name, _doc, members in self.enums for c in members]

    def constants(self):
        """Every REQIVO_* value: #defines and enum members."""
        return [(n, v, d) for n, v, d in self.defines] + self.codes()


def crosscheck(h):
    """Counts what the header declares with plain patterns, independently of
    the scanner, so a declaration it misreads cannot drop out of API.md."""
    text, problems = h.text, []
    want = {
        "function": set(re.findall(r"^[^\s/*#].*?\b(reqivo_\w+)\(", text, re.M)),
        "constant": set(re.findall(r"^#define[ \t]+(REQIVO_\w+)[ \t]+\S", text, re.M))
        | set(re.findall(r"^\s+(REQIVO_\w+)\s*=", text, re.M)),
        "struct": set(re.findall(r"typedef struct (\w+) \{", text)),
        "opaque type": set(re.findall(r"typedef struct (\w+) \1;", text)),
        "callback type": set(re.findall(r"typedef [^;]*?\(\*(\w+)\)\(", text)),
    }
    got = {
        "function": {f[0] for f in h.functions},
        "constant": {c[0] for c in h.constants()},
        "struct": {s[0] for s in h.structs},
        "opaque type": {o[0] for o in h.opaque},
        "callback type": {c[0] for c in h.callbacks},
    }
    for kind in want:
        for name in sorted(want[kind] - got[kind]):
            problems.append("the %s %s was not read from the header" % (kind, name))
    return problems


# ---- names, anchors and links ---------------------------------------------


def slug(title):
    """The anchor GitHub gives a heading."""
    s = title.strip().lower()
    s = re.sub(r"[^\w\- ]", "", s)
    return s.replace(" ", "-")


def group_of(name):
    for prefix, title, _intro in GROUPS:
        if name.startswith(prefix):
            return title
    return "Other constants"


class Names:
    """Every name the header declares, and where API.md documents it."""

    def __init__(self, h):
        self.anchor, self.kind = {}, {}
        for name, _decl, _doc in h.functions:
            self.add(name, "function", slug(name))
        for name, _doc, _fields, _decl in h.structs:
            self.add(name, "struct", slug(name))
        for name, _doc in h.opaque:
            self.add(name, "handle", slug(name))
        for name, _decl, _doc in h.callbacks:
            self.add(name, "callback", slug(name))
        for name, _value, _doc in h.defines:
            self.add(name, "constant", slug(group_of(name)))
        for name, _value, _doc in h.codes():
            self.add(name, "code", "result-codes")
        for name, _doc, _members in h.enums:
            self.add(name, "enum", "result-codes")
        self.fields = {s[0]: {f[1] for f in s[2]} for s in h.structs}
        self.first = {}
        for name, _decl, doc in h.functions + h.callbacks:
            self.first[name] = first_sentence(doc)
        for name, doc, *_rest in h.structs + h.opaque:
            self.first[name] = first_sentence(doc)
        for name, _value, doc in h.constants():
            self.first[name] = first_sentence(doc)

    def add(self, name, kind, anchor):
        self.anchor[name], self.kind[name] = anchor, kind

    def resolve(self, token):
        """The anchor of a name, `struct.field`, or `PREFIX*`, else None."""
        if token in self.anchor:
            return self.anchor[token]
        m = re.match(r"(reqivo_\w+)\.(\w+)$", token)
        if m and m.group(2) in self.fields.get(m.group(1), ()):
            return self.anchor[m.group(1)]
        if token.endswith("*"):
            prefix = token[:-1]
            hits = [n for n in self.anchor if n.startswith(prefix)
                    and self.kind[n] in ("constant", "code")]
            anchors = {self.anchor[n] for n in hits}
            if len(anchors) == 1:
                return anchors.pop()
        return None

    def link(self, text, own=None):
        """Links each `name` in prose to its entry (not to `own`)."""
        def sub(m):
            token = m.group(1)
            target = self.resolve(token)
            if target is None or token == own:
                return m.group(0)
            return "[`%s`](#%s)" % (token, target)
        return re.sub(r"(?<!\[)`((?:reqivo|REQIVO)_[\w.]*\*?)`", sub, text)

    def verify(self, text, where):
        """Problems for each name in `text` the header does not declare."""
        out = []
        for token in re.findall(r"`((?:reqivo|REQIVO)_[\w.]*\*?)`", text):
            if self.resolve(token) is None:
                out.append("%s names `%s`, which include/reqivo.h does not declare" % (where, token))
        return out


def first_sentence(doc):
    para = flat((doc or "").split("\n\n")[0])
    m = re.search(r"(?<!e\.g)(?<!i\.e)\.(?=\s|$)", para)
    return para[:m.end()] if m else para


def codeify(text):
    """Puts C in plain prose (`reqivo_<noun>_<verb>`, `*err`, a parameter
    list) in backticks, so Markdown neither eats `<noun>` as HTML nor reads
    underscores and stars as emphasis. Existing code spans stay as they are."""
    parts = re.split(r"(`[^`]*`)", text)
    for i in range(0, len(parts), 2):
        p = re.sub(r"\((const [^)]*)\)", r"`(\1)`", parts[i])
        sub = re.split(r"(`[^`]*`)", p)
        for j in range(0, len(sub), 2):
            sub[j] = re.sub(r"(?<![\w`])(\*?[\w<>]*_[\w<>]+|\*\w+)", r"`\1`", sub[j])
        parts[i] = "".join(sub)
    return "".join(parts)


def cell(text):
    """Text for a table cell: one line, pipes escaped."""
    paras = [flat(p) for p in (text or "").split("\n\n") if p.strip()]
    return "<br>".join(paras).replace("|", "\\|")


# ---- rendering ------------------------------------------------------------


def code_class(code):
    """As reqivo_code_class: the thousands, except 2100 for 2100-2199 (TLS)."""
    return 2100 if 2100 <= code <= 2199 else code // 1000 * 1000


def classes_of(h):
    """{class: name} from reqivo_code_class's comment."""
    doc = next((d for n, _decl, d in h.functions if n == "reqivo_code_class"), "")
    return {int(n): name.strip() for n, name in re.findall(r"\b(\d{4}) ([A-Za-z][A-Za-z ]*?)(?=[,.])", flat(doc))}


def function_doc(doc, names, own):
    """A function's description, then its labelled facts as a list."""
    desc, facts = [], []
    for line in doc.splitlines():
        label = next((l for l in LABELS if line.startswith(l)), None)
        if label:
            facts.append([label, line[len(label):].strip()])
        elif facts and line.strip():
            facts[-1][1] += " " + line.strip()
        elif not facts:
            desc.append(line)
    out = []
    for para in "\n".join(desc).strip().split("\n\n"):
        if para.strip():
            out += [names.link(para, own), ""]
    if facts:
        out += ["- **%s** %s" % (label, names.link(text, own)) for label, text in facts] + [""]
    return out


def tasks_of(name):
    tasks = [t for t, _lead, items in TASKS if name in items]
    if not tasks:
        return []
    return ["Task: " + ", ".join("[%s](#%s)" % (t, slug(t)) for t in tasks) + ".", ""]


def used_by(h, name, names):
    users = [f for f, decl, _doc in h.functions if re.search(r"\b%s\b" % name, decl)]
    if not users:
        return []
    if len(users) > 24:
        return ["Used by %d functions." % len(users), ""]
    return ["Used by: " + ", ".join("[`%s`](#%s)" % (u, slug(u)) for u in sorted(users)) + ".", ""]


def type_cell(ctype, names):
    for name in re.findall(r"\b(reqivo_\w+)\b", ctype):
        if names.kind.get(name) in ("struct", "handle", "callback"):
            return "[`%s`](#%s)" % (ctype, names.anchor[name])
    return "`%s`" % ctype


def render(h, names):
    classes = classes_of(h)
    out = [
        "# reqivo C API reference", "",
        "Generated from `include/reqivo.h` by `tools/gen_api_docs.py` "
        "(`make docs`); do not edit. Everything the header declares is here: "
        "every function, struct field, result code and constant.", "",
        "- [A first program](#a-first-program)",
        "- [Conventions](#conventions)",
        "- [Index by task](#index-by-task): " + ", ".join(
            "[%s](#%s)" % (t, slug(t)) for t, _lead, _items in TASKS),
        "- [Errors](#errors): [error classes](#error-classes), [result codes](#result-codes)",
        "- [Constants](#constants): " + ", ".join(
            "[%s](#%s)" % (t, slug(t)) for t in const_groups(h)),
        "- [Structs](#structs): " + ", ".join(
            "[`%s`](#%s)" % (s[0], slug(s[0])) for s in h.structs),
        "- [Callback types](#callback-types)",
        "- [Handles](#handles) (opaque types)",
        "- [Functions](#functions), in alphabetical order",
        "",
        "## A first program", "",
        "```c", FIRST_PROGRAM.rstrip("\n"), "```", "",
    ]
    for para in FIRST_PROGRAM_TEXT:
        out += [names.link(para), ""]

    conventions = re.sub(r"^Conventions:\s*", "", h.intro.split("\n\n", 1)[-1])
    conventions = conventions[:1].upper() + conventions[1:]
    out += ["## Conventions", "", "From the header's opening comment:", "",
            names.link(codeify(conventions)), ""]

    out += ["## Index by task", "",
            "What to call for each job, in the usual order; every name links to "
            "its entry.", ""]
    mentioned = set()
    for title, lead, items in TASKS:
        out += ["### %s" % title, "", names.link(lead), ""]
        for item in items:
            mentioned.add(item)
            summary = names.first.get(item)
            if summary is None:  # a group of constants
                hits = [n for n in names.anchor if n.startswith(item[:-1])]
                summary = "%s (%d constants)." % (
                    "Result codes" if item.startswith("REQIVO_ERR_") else group_of(hits[0]), len(hits))
            out.append("- %s: %s" % (names.link("`%s`" % item), names.link(summary, item)))
        out.append("")
    rest = sorted(f for f, _d, _doc in h.functions if f not in mentioned)
    if rest:
        out += ["### Other functions", ""]
        out += ["- [`%s`](#%s): %s" % (f, slug(f), names.link(names.first[f], f)) for f in rest]
        out.append("")

    out += ["## Errors", "",
            names.link("A fallible call returns NULL, -1 or a non-zero code and fills the "
                       "`reqivo_error` passed as its last argument (which may be NULL). "
                       "`reqivo_code_name` gives a code's name, `reqivo_code_class` its "
                       "class: the thousands of its number, except 2100 for the TLS "
                       "codes 2101-2199. Result codes are `uint32_t` (`reqivo_code` is "
                       "an enum only in C23 and C++)."), "",
            "### Error classes", "",
            "| Class | Meaning | Codes |", "|---:|---|---|"]
    codes = [(n, int(v, 0), d) for n, v, d in h.codes()]
    for cls in sorted(classes):
        members = [n for n, v, _d in codes if v and code_class(v) == cls]
        out.append("| %d | %s | %s |" % (cls, classes[cls], ", ".join("`%s`" % m for m in members)))
    out += ["", "### Result codes", "",
            names.link("Every `reqivo_code`, in order; a code is never renumbered."), "",
            "| Code | Number | Class | Meaning |", "|---|---:|---|---|"]
    for n, v, d in codes:
        cls = code_class(v) if v else 0
        cls_text = "%d %s" % (cls, classes.get(cls, "")) if v else "none"
        out.append("| `%s` | %d | %s | %s |" % (n, v, cls_text.strip(), names.link(cell(d))))
    out.append("")

    out += ["## Constants", "",
            "Every `#define` of the header, by use.", ""]
    for title, intro, members in const_groups(h).values():
        out += ["### %s" % title, ""]
        if intro:
            out += [names.link(intro), ""]
        out += ["| Name | Value | Meaning |", "|---|---|---|"]
        for n, v, d in members:
            out.append("| `%s` | `%s` | %s |" % (n, v, names.link(cell(d), n)))
        out.append("")

    out += ["## Structs", "",
            "Structs the caller reads or fills in, with every field in order. "
            "Structs that start with `struct_size` grow only by appending fields.", ""]
    for name, doc, fields, decl in h.structs:
        out += ["### `%s`" % name, ""]
        for para in (doc or "").split("\n\n"):
            out += [names.link(para, name), ""]
        out += ["```c", "typedef struct %s {" % name]
        out += ["  %s;" % c_field(ctype, field) for ctype, field, _d in fields]
        out += ["} %s;" % name, "```", "",
                "| Field | C type | Meaning |", "|---|---|---|"]
        for ctype, field, fdoc in fields:
            text = fdoc or undocumented_field(field, fields, doc)
            out.append("| `%s` | %s | %s |" % (field, type_cell(ctype, names), names.link(cell(text), name)))
        out.append("")
        out += used_by(h, name, names) + tasks_of(name)

    out += ["## Callback types", "",
            "Functions the caller writes; each gets back the `userdata` pointer "
            "given with it.", ""]
    for name, decl, doc in h.callbacks:
        out += ["### `%s`" % name, "", "```c", decl.strip() + ";", "```", ""]
        for para in (doc or "").split("\n\n"):
            out += [names.link(para, name), ""]
        out += used_by(h, name, names) + tasks_of(name)

    out += ["## Handles", "",
            "Opaque types: the library allocates them and the caller holds "
            "pointers, passes them back and frees them with the matching `_free`.", ""]
    for name, doc in h.opaque:
        out += ["### `%s`" % name, ""]
        for para in (doc or "").split("\n\n"):
            out += [names.link(para, name), ""]
        out += used_by(h, name, names) + tasks_of(name)

    out += ["## Functions", ""]
    for name, decl, doc in sorted(h.functions):
        out += ["### `%s`" % name, "", "```c", decl.strip() + ";", "```", ""]
        out += function_doc(doc, names, name)
        out += tasks_of(name)
    return "\n".join(out).rstrip() + "\n"


def undocumented_field(field, fields, struct_doc):
    """What to say of a field without a comment: where the header speaks of it."""
    def mentions(d):
        return any(re.search(r"\b%s\b" % field, span) for span in re.findall(r"`([^`]*)`", flat(d or "")))
    where = ["`%s`" % f for _c, f, d in fields if f != field and mentions(d)]
    if mentions(struct_doc):
        where.insert(0, "the struct's description above")
    if where:
        return "(No comment of its own; see %s.)" % " and ".join(where)
    return "(No comment in the header.)"


def c_field(ctype, field):
    m = re.match(r"(.*?)((?:\[[^\]]*\])+)$", ctype)
    if m:
        return "%s %s%s" % (m.group(1), field, m.group(2))
    return "%s%s%s" % (ctype, "" if ctype.endswith("*") else " ", field)


def const_groups(h):
    """{title: (title, intro, [(name, value, doc)])} in GROUPS order."""
    groups = {title: (title, intro, []) for _p, title, intro in GROUPS}
    groups["Other constants"] = ("Other constants", "", [])
    for n, v, d in h.defines:
        groups[group_of(n)][2].append((n, v, d))
    return {t: g for t, g in groups.items() if g[2]}


# ---- checks ---------------------------------------------------------------


def problems_and_notes(h, names, doc_text):
    problems, notes = list(h.problems) + crosscheck(h), []
    for name, _decl, doc in h.functions:
        if not doc:
            problems.append("%s has no doc comment" % name)
            continue
        lacks = [label for label in LABELS if label not in doc]
        if lacks:
            problems.append("%s lacks %s" % (name, ", ".join(lacks)))
    for kind, items in (("constant", h.constants()), ("struct", h.structs),
                        ("callback type", h.callbacks), ("handle", h.opaque),
                        ("enum", h.enums)):
        for item in items:
            doc = item[1] if kind in ("struct", "handle", "enum") else item[2]
            if not doc:
                problems.append("the %s %s has no doc comment" % (kind, item[0]))
    for name, _doc, fields, _decl in h.structs:
        for _ctype, field, fdoc in fields:
            if not fdoc:
                notes.append("the field %s.%s has no doc comment of its own (add one in src/ffi)" % (name, field))

    classes = classes_of(h)
    if not classes:
        problems.append("no classes found in reqivo_code_class's comment ('1000 usage, ...')")
    for n, v, _d in h.codes():
        v = int(v, 0)
        if v and code_class(v) not in classes:
            problems.append("%s (%d) is in class %d, which reqivo_code_class's comment does not name"
                            % (n, v, code_class(v)))

    for title, lead, items in TASKS:
        problems += names.verify(lead, "task '%s'" % title)
        for item in items:
            problems += names.verify("`%s`" % item, "task '%s'" % title)
    for _p, title, intro in GROUPS:
        problems += names.verify(intro, "constant group '%s'" % title)
    for para in FIRST_PROGRAM_TEXT:
        problems += names.verify(para, "the first program's notes")
    mentioned = {i for _t, _l, items in TASKS for i in items}
    for f in sorted(x[0] for x in h.functions):
        if f not in mentioned:
            notes.append("%s is in no task of the index (add it to TASKS in tools/gen_api_docs.py)" % f)
    others = const_groups(h).get("Other constants")
    if others:
        notes.append("constants in no group (add a prefix to GROUPS): %s"
                     % ", ".join(n for n, _v, _d in others[2]))

    headings = re.findall(r"^#{2,3} (.+)$", doc_text, re.M)
    seen = set()
    for title in headings:
        s = slug(title)
        if s in seen:
            problems.append("two headings share the anchor #%s" % s)
        seen.add(s)
    for target in set(re.findall(r"\]\(#([^)]+)\)", doc_text)):
        if target not in seen:
            problems.append("a link points at #%s, which no heading has" % target)

    problems += compile_first_program()
    return problems, notes


def compile_first_program():
    cc = os.environ.get("CC") or "cc"
    if shutil.which(cc) is None:
        print("api-docs: note: no C compiler (%s); the first program was not compiled" % cc)
        return []
    with tempfile.TemporaryDirectory() as d:
        src = Path(d) / "first.c"
        src.write_text(FIRST_PROGRAM)
        r = subprocess.run([cc, "-std=c11", "-Wall", "-Wextra", "-Werror", "-pedantic",
                            "-fsyntax-only", "-I" + str(HEADER.parent), str(src)],
                           capture_output=True, text=True)
    if r.returncode != 0:
        return ["the first program (FIRST_PROGRAM) does not compile:\n" + r.stderr.strip()]
    return []


def main():
    h = Header(HEADER.read_text())
    names = Names(h)
    doc = render(h, names)
    problems, notes = problems_and_notes(h, names, doc)
    check = "--check" in sys.argv
    if check:
        if not OUT.exists() or OUT.read_text() != doc:
            problems.append("docs/API.md is stale: run 'make docs'")
    else:
        OUT.write_text(doc)
        print("wrote %s (%d functions, %d structs, %d constants, %d result codes)" % (
            OUT.relative_to(ROOT), len(h.functions), len(h.structs), len(h.defines), len(h.codes())))
    for n in notes:
        print("api-docs: note: " + n)
    for p in problems:
        print("api-docs: " + p)
    print("api-docs: %d functions, %d structs, %d constants, %d result codes checked, %d problems" % (
        len(h.functions), len(h.structs), len(h.defines), len(h.codes()), len(problems)))
    sys.exit(1 if problems else 0)


if __name__ == "__main__":
    main()
