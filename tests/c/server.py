#!/usr/bin/env python3
"""Scripted HTTP/1.1 peer for the C tests (stdlib only).

Binds 127.0.0.1 on a free port (and, given a path argument, a Unix socket
at that path and an abstract one of the same name), prints the port on the
first line of stdout,
and answers every request with exact canned bytes chosen by path, so the tests
see precisely what the library had to parse. Each connection gets its own
thread and serves requests until the client closes it (keep-alive), unless
the route closes it.

Routes (the query string is ignored; a path ending in /echo is /echo, so the
base-URL tests can check which path the library joined; a HEAD request to
a fixed route gets its head without the body):

  /ok            200, Content-Length body "hello\\n", repeated X-Multi header
  /chunked       200, chunked "hello world\\n" in three chunks (one with an extension)
  /chunked-trailers  200, chunked "hello" with the trailer fields
                 X-Checksum: sha256=abc and Server-Timing: db;dur=53
  /big           200, 100000 pattern bytes (i % 251) with Content-Length
  /big-chunked   the same bytes, chunked, chunk sizes 1..4000
  /redirect      302 -> /ok
  /redirect307   307 to /echo (method and body kept)
  /gzip, /deflate  a text body, content-coded
  /json          a JSON document with every value type and escapes
  /cookie/persistent, /cookie/session, /cookie/scoped   set a cookie (Max-Age, none, Path=/area)
  /redirect2     301 -> /redirect (two hops to /ok)
  /redirect-close  302 -> /ok with a body and Connection: close, then
                 closes (the redirect must be followed on a new connection)
  /loop          302 -> /loop
  /echo          200, body = the request head and body exactly as received
  /http10        HTTP/1.0 200 without keep-alive, then close
  /nocontent     204
  /close         Content-Length 100 but only 10 bytes, then close
  /stall         reads the request, never answers (until the client closes)
  /pattern-chunked/N  N pattern bytes (i % 251), chunked in 1 MiB chunks,
                 written as they are made (a body of any size, for streaming)
  /hold/MS       answers "held" (Content-Length) after MS milliseconds: many
                 requests in flight at once (test_multi.c)
  /slow-body     Content-Length 10, sends 5 bytes, then stalls
  /stats         "connections=N requests=M tunnels=T" and close: N counts
                 accepted connections (this one included), M requests other
                 than /stats, T CONNECT tunnels opened
  /cookie/psl    sets a=1 for Domain=example.co.uk and b=2 for Domain=co.uk
  /cookie/many/N/M  sets N cookies c0..c(N-1), each with a value of M bytes
  /redirect-userinfo  302 to http://user:secret@127.0.0.1:PORT/ok (this
                 server), credentials a client must never use or show
  /coded/C1,C2,...  GZIP_TEXT (the /gzip text) encoded with each coding in
                 turn, listed so in Content-Encoding: gzip and deflate by
                 Python's gzip and zlib, br and zstd by the brotli and zstd
                 command-line tools (Debian packages brotli and zstd);
                 /coded-bomb/N: 64 MiB of zeros through N gzip layers;
                 /coded-cut/C: GZIP_TEXT encoded with C, cut to its first
                 half (a body that ends inside the coded data);
                 /zeros/C/N: N MiB of zeros encoded with C (a bomb)
  /wide/N/M      200 with N header fields X-0..X-(N-1), each a value of M
                 bytes "v", and the body "ok"
  /multipart-echo  a multipart/form-data request parsed by Python's email
                 package (policy HTTP), answered as JSON: the request's
                 Content-Type, the parser's defects, and per part its name,
                 filename, content type, size, sha256, (UTF-8 with
                 replacement) text and first 64 bytes in hex; whether a
                 Content-Length was sent and matched the body;
                 /multipart-307: 307 to /multipart-echo
  /digest/..., /digest-redirect/...  HTTP Digest authentication, checked
                 with hashlib: see tests/c/digest_peer.py

Retries (test_retry.c), counted per KEY (any word the test picks):

  /retry/KEY/N/STATUS[/AFTER]  the first N requests for KEY get STATUS
                 (e.g. 503, 429) with the body "busy" and, with AFTER,
                 Retry-After: "sS" gives S delay seconds, "dS" an HTTP-date
                 S seconds ahead; later ones get 200 "done"
  /retry-close/KEY/N  the first N requests for KEY get the connection
                 closed without an answer; later ones get 200 "done"
  /retry-count/KEY  the number of requests seen for KEY, as text

Faults (test_faults.c), each on the connection of the request:

  /fault/reset-before-head   resets (RST, SO_LINGER 0) without answering
  /fault/reset-mid-head      part of a head, then a reset
  /fault/reset-mid-body      a head with Content-Length 100, 10 bytes, a reset
  /fault/reset-when-idle     /ok's answer, then a reset 50 ms later, while
                             the connection sits idle in the client's pool
  /fault/halfclose-mid-body  Content-Length 100, 10 bytes, then FIN (shutdown
                             of the write side) while still reading
  /fault/halfclose-ends-body a body without framing headers, ended by FIN
  /fault/trickle             a head and body one byte every 100 ms
  /fault/garbage-after       /ok's answer followed by garbage
  /fault/extra-response      /ok's answer followed by a second response
  /fault/http10-chunked      an HTTP/1.0 keep-alive response with a chunked
                             "hello\n" (faulty framing: RFC 9112 §6.1), then
                             "stale\n" to any request sent on it
  /fault/endless-continue    "100 Continue" after "100 Continue", until the
                             client goes away (or HOLD seconds pass)
  /fault/noread              reads the head only, never the body (an upload
                             that cannot drain), for FAULT_HOLD seconds
  anything else  404

It is also an HTTP proxy for the proxy tests: an absolute-form target
(http://any.host:port/path) is served by path as above, whatever the host,
so names that do not resolve can be used; CONNECT to any host's port P
opens a tunnel to 127.0.0.1:P (the TLS peer), except CONNECT to host
refuse.test, which is answered 407.

The server exits by itself after LIFETIME seconds, so a test run that lost its
trap cannot leave it behind.
"""
import email.utils
import gzip
import zlib
import os
import subprocess
import resource
import socket
import struct
import sys
import threading
import time

import digest_peer

LIFETIME = 600
# How long a stalled route or an idle keep-alive connection is held open.
HOLD = 60

lock = threading.Lock()
connections = 0
requests = 0
tunnels = 0

PATTERN = bytes(i % 251 for i in range(100000))


def response(status_line, headers, body=b""):
    head = status_line + "\r\n" + "".join("%s: %s\r\n" % h for h in headers) + "\r\n"
    return head.encode("latin-1") + body


def encode(coding, data):
    """data in content coding `coding`: gzip and deflate by Python's
    modules, br and zstd by the command-line tools."""
    if coding == "gzip":
        return gzip.compress(data, 1)
    if coding == "deflate":
        return zlib.compress(data, 1)
    tool = {"br": ["brotli", "-c", "-q", "6"], "zstd": ["zstd", "-q", "-c"]}[coding]
    return subprocess.run(tool, input=data, stdout=subprocess.PIPE, check=True).stdout


def chunked(data, sizes):
    out = b""
    at = 0
    i = 0
    while at < len(data):
        n = sizes[i % len(sizes)]
        part = data[at : at + n]
        out += b"%x\r\n%s\r\n" % (len(part), part)
        at += n
        i += 1
    return out + b"0\r\n\r\n"


OK = response(
    "HTTP/1.1 200 OK",
    [
        ("Content-Type", "text/plain"),
        ("X-Multi", "one"),
        ("x-multi", "two"),
        ("Content-Length", "6"),
    ],
    b"hello\n",
)
CHUNKED = response("HTTP/1.1 200 OK", [("Transfer-Encoding", "chunked")]) + (
    b"5\r\nhello\r\n1;ext=yes\r\n \r\n6\r\nworld\n\r\n0\r\n\r\n"
)
CHUNKED_TRAILERS = response(
    "HTTP/1.1 200 OK", [("Transfer-Encoding", "chunked"), ("Trailer", "X-Checksum, Server-Timing")]
) + (b"5\r\nhello\r\n0\r\nX-Checksum: sha256=abc \r\nServer-Timing: db;dur=53\r\n\r\n")
BIG = response("HTTP/1.1 200 OK", [("Content-Length", str(len(PATTERN)))], PATTERN)
BIG_CHUNKED = response("HTTP/1.1 200 OK", [("Transfer-Encoding", "chunked")]) + chunked(
    PATTERN, [1, 7, 4000, 100, 333, 2048, 13]
)
REDIRECT = response("HTTP/1.1 302 Found", [("Location", "/ok"), ("Content-Length", "0")])
REDIRECT2 = response(
    "HTTP/1.1 301 Moved Permanently", [("Location", "/redirect"), ("Content-Length", "0")]
)
GZIP_TEXT = b"reqivo decodes gzip and deflate. " * 300
GZIP = response(
    "HTTP/1.1 200 OK",
    [("Content-Encoding", "gzip"), ("Content-Length", str(len(gzip.compress(GZIP_TEXT))))],
    gzip.compress(GZIP_TEXT),
)
DEFLATE = response(
    "HTTP/1.1 200 OK",
    [("Content-Encoding", "deflate"), ("Content-Length", str(len(zlib.compress(GZIP_TEXT))))],
    zlib.compress(GZIP_TEXT),
)
JSON_DOC = (
    '{"name": "reqivo", "version": [0, 1], "ok": true, "none": null, "pi": 3.25,'
    ' "big": -9223372036854775808, "text": "tab\\tquote\\"caf\\u00e9 \\ud83d\\ude00",'
    ' "a/b": {"m~n": "escaped keys"}}'
).encode()
JSON = response(
    "HTTP/1.1 200 OK",
    [("Content-Type", "application/json"), ("Content-Length", str(len(JSON_DOC)))],
    JSON_DOC,
)
SET_PERSISTENT = response(
    "HTTP/1.1 200 OK",
    [("Set-Cookie", "keep=1; Max-Age=3600; Path=/"), ("Content-Length", "0")],
)
SET_SESSION = response(
    "HTTP/1.1 200 OK", [("Set-Cookie", "tab=2; Path=/"), ("Content-Length", "0")]
)
SET_SCOPED = response(
    "HTTP/1.1 200 OK", [("Set-Cookie", "area=3; Path=/area"), ("Content-Length", "0")]
)
REDIRECT_CLOSE = response(
    "HTTP/1.1 302 Found",
    [("Location", "/ok"), ("Connection", "close"), ("Content-Length", "5")],
    b"moved",
)
REDIRECT307 = response(
    "HTTP/1.1 307 Temporary Redirect", [("Location", "/echo"), ("Content-Length", "0")]
)
LOOP = response("HTTP/1.1 302 Found", [("Location", "/loop"), ("Content-Length", "0")])
HTTP10 = b"HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok"
NOCONTENT = response("HTTP/1.1 204 No Content", [("X-Empty", "yes")])
CLOSE = response("HTTP/1.1 200 OK", [("Content-Length", "100")], b"0123456789")
SLOW_BODY = response("HTTP/1.1 200 OK", [("Content-Length", "10")], b"12345")
TRICKLE = response("HTTP/1.1 200 OK", [("Content-Length", "20")], b"twenty bytes of body")
UNFRAMED = b"HTTP/1.1 200 OK\r\n\r\nuntil close"
# How long /fault/noread keeps the connection without reading.
FAULT_HOLD = 5
NOT_FOUND = response(
    "HTTP/1.1 404 Not Found", [("Content-Length", "10")], b"not found\n"
)

# Routes that answer and keep the connection for the next request.
FIXED = {
    "/ok": OK,
    "/chunked": CHUNKED,
    "/chunked-trailers": CHUNKED_TRAILERS,
    "/big": BIG,
    "/big-chunked": BIG_CHUNKED,
    "/redirect": REDIRECT,
    "/redirect2": REDIRECT2,
    "/redirect307": REDIRECT307,
    "/gzip": GZIP,
    "/cookie/persistent": SET_PERSISTENT,
    "/cookie/session": SET_SESSION,
    "/cookie/scoped": SET_SCOPED,
    "/json": JSON,
    "/deflate": DEFLATE,
    "/loop": LOOP,
    "/nocontent": NOCONTENT,
    "/cookie/psl": response(
        "HTTP/1.1 200 OK",
        [("Set-Cookie", "a=1; Domain=example.co.uk; Path=/"),
         ("Set-Cookie", "b=2; Domain=co.uk; Path=/"),
         ("Content-Length", "0")],
    ),
}


def multipart_echo(head, body):
    """The /multipart-echo answer: what an independent parser (the
    standard library's email package) makes of a form upload."""
    import email.parser
    import email.policy
    import hashlib
    import json

    ctype, length = b"", None
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-type":
            ctype = value.strip()
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
    msg = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
        b"Content-Type: " + ctype + b"\r\n\r\n" + body
    )
    parts = []
    for part in msg.iter_parts() if msg.is_multipart() else []:
        data = part.get_payload(decode=True) or b""
        parts.append(
            {
                "name": part.get_param("name", header="content-disposition"),
                "filename": part.get_filename(),
                "content_type": part.get_content_type(),
                "explicit_type": "content-type" in part,
                "size": len(data),
                "sha256": hashlib.sha256(data).hexdigest(),
                "text": data.decode("utf-8", "replace"),
                "hex": data[:64].hex(),
            }
        )
    defects = len(msg.defects) + sum(len(p.defects) for p in msg.walk())
    text = json.dumps(
        {
            "content_type": ctype.decode("latin-1"),
            "length_matches": length == len(body),
            "defects": defects,
            "parts": parts,
        }
    ).encode()
    return response("HTTP/1.1 200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(text)))], text)


def recv_until(conn, buf, needed):
    """Reads until buf holds `needed` bytes; None at EOF."""
    while len(buf) < needed:
        data = conn.recv(65536)
        if not data:
            return None
        buf += data
    return buf


def read_request(conn, buf):
    """Returns (head, body, rest) or None at EOF. The head includes its
    blank line; the body is read by Content-Length, or de-chunked when the
    request is chunked (the body is then the decoded bytes)."""
    while b"\r\n\r\n" not in buf:
        data = conn.recv(65536)
        if not data:
            return None
        buf += data
    end = buf.index(b"\r\n\r\n") + 4
    head, buf = buf[:end], buf[end:]
    if head.split(b"\r\n", 1)[0].split(b" ")[1].startswith(b"/fault/noread"):
        return head, b"", b""  # the body is left unread on purpose
    length, chunked = 0, False
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value.strip())
        if name.strip().lower() == b"transfer-encoding" and value.strip().lower() == b"chunked":
            chunked = True
    if not chunked:
        buf = recv_until(conn, buf, length)
        return None if buf is None else (head, buf[:length], buf[length:])
    body = b""
    while True:
        while b"\r\n" not in buf:
            data = conn.recv(65536)
            if not data:
                return None
            buf += data
        size_line, _, buf = buf.partition(b"\r\n")
        size = int(size_line.split(b";")[0], 16)
        buf = recv_until(conn, buf, size + 2)
        if buf is None:
            return None
        if size == 0:
            return head, body, buf[2:]  # the empty trailer section's CRLF
        body += buf[:size]
        buf = buf[size + 2:]


PATTERN_MIB = bytes(i % 251 for i in range(251 * 4179))  # whole cycles, 1 MiB + 353


def send_pattern_chunked(conn, n):
    """n bytes of i % 251, chunked in 1 MiB chunks, never all in memory."""
    conn.sendall(b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n")
    chunk = 1 << 20
    done = 0
    while done < n:
        size = min(chunk, n - done)
        start = done % 251
        conn.sendall(b"%x\r\n" % size + PATTERN_MIB[start:start + size] + b"\r\n")
        done += size
    conn.sendall(b"0\r\n\r\n")


def hold(conn):
    """Keeps the connection open without answering until the client closes
    it (or HOLD seconds pass)."""
    try:
        while conn.recv(65536):
            pass
    except OSError:
        pass


def tunnel(conn, authority, rest):
    """Answers CONNECT: 407 for refuse.test, else 200 and bytes copied both
    ways between the client and 127.0.0.1:PORT until either side closes."""
    host, _, port = authority.rpartition(":")
    if host == "refuse.test":
        conn.sendall(response("HTTP/1.1 407 Proxy Authentication Required",
                              [("Content-Length", "0")]))
        return False
    global tunnels
    upstream = socket.create_connection(("127.0.0.1", int(port)), timeout=HOLD)
    with lock:
        tunnels += 1
    conn.sendall(b"HTTP/1.1 200 Connection Established\r\n\r\n")
    if rest:
        upstream.sendall(rest)

    def pump(src, dst):
        try:
            while True:
                data = src.recv(65536)
                if not data:
                    break
                dst.sendall(data)
        except OSError:
            pass
        for sock in (src, dst):
            try:
                sock.shutdown(socket.SHUT_RDWR)
            except OSError:
                pass

    other = threading.Thread(target=pump, args=(upstream, conn), daemon=True)
    other.start()
    pump(conn, upstream)
    other.join(HOLD)
    upstream.close()
    return True


def reset(conn):
    """Closes with SO_LINGER 0, so the peer gets RST instead of FIN."""
    conn.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    conn.close()


def fault(conn, path):
    """Runs one /fault/ route; returns True when the connection may go on."""
    name = path[len("/fault/"):]
    if name == "reset-before-head":
        reset(conn)
    elif name == "reset-mid-head":
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Le")
        time.sleep(0.05)
        reset(conn)
    elif name == "reset-mid-body":
        conn.sendall(CLOSE)
        time.sleep(0.05)
        reset(conn)
    elif name == "reset-when-idle":
        conn.sendall(OK)
        time.sleep(0.05)
        reset(conn)
    elif name == "halfclose-mid-body":
        conn.sendall(CLOSE)
        conn.shutdown(socket.SHUT_WR)
        hold(conn)
    elif name == "halfclose-ends-body":
        conn.sendall(UNFRAMED)
        conn.shutdown(socket.SHUT_WR)
        hold(conn)
    elif name == "trickle":
        for b in TRICKLE:
            time.sleep(0.1)
            conn.sendall(bytes([b]))
        return True
    elif name == "garbage-after":
        conn.sendall(OK + b"GARBAGE\r\n\r\n")
        return True
    elif name == "extra-response":
        conn.sendall(OK + NOT_FOUND)
        return True
    elif name == "http10-chunked":
        # Framing a client must distrust (RFC 9112 §6.1): the connection
        # stays open, and a request sent on it anyway gets a wrong answer
        # the test can see.
        conn.sendall(
            b"HTTP/1.0 200 OK\r\nConnection: keep-alive\r\nTransfer-Encoding: chunked\r\n\r\n"
            b"6\r\nhello\n\r\n0\r\n\r\n"
        )
        if read_request(conn, b"") is not None:
            conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\nstale\n")
    elif name == "endless-continue":
        block = b"HTTP/1.1 100 Continue\r\n\r\n" * 1000
        until = time.time() + HOLD
        while time.time() < until:
            conn.sendall(block)
    elif name == "noread":
        time.sleep(FAULT_HOLD)
    else:
        conn.sendall(NOT_FOUND)
        return True
    return False


retry_counts = {}


def retry_route(conn, path):
    """Runs one /retry route; returns True when the connection may go on."""
    parts = path.split("/")
    if parts[1] == "retry-count":
        with lock:
            text = str(retry_counts.get(parts[2], 0)).encode()
        conn.sendall(response("HTTP/1.1 200 OK", [("Content-Length", str(len(text)))], text))
        return True
    with lock:
        seen = retry_counts[parts[2]] = retry_counts.get(parts[2], 0) + 1
    if seen > int(parts[3]):
        conn.sendall(response("HTTP/1.1 200 OK", [("Content-Length", "4")], b"done"))
        return True
    if parts[1] == "retry-close":
        conn.close()
        return False
    headers = [("Content-Length", "4")]
    if len(parts) > 5:
        after = parts[5]
        if after[0] == "d":
            after = email.utils.formatdate(time.time() + int(after[1:]), usegmt=True)
        else:
            after = after[1:]
        headers.append(("Retry-After", after))
    conn.sendall(response("HTTP/1.1 %s Busy" % parts[4], headers, b"busy"))
    return True


def serve(conn):
    global requests
    conn.settimeout(HOLD)
    if conn.family != socket.AF_UNIX:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    buf = b""
    try:
        while True:
            got = read_request(conn, buf)
            if got is None:
                return
            head, body, buf = got
            target = head.split(b" ", 2)[1].decode("latin-1")
            if head.startswith(b"CONNECT "):
                if tunnel(conn, target, buf):
                    return
                continue
            if target.startswith("http://"):
                target = "/" + target[len("http://"):].partition("/")[2]
            path = target.split("?", 1)[0]
            if path != "/stats":
                with lock:
                    requests += 1
            if path in FIXED:
                data = FIXED[path]
                if head.startswith(b"HEAD "):
                    data = data[: data.index(b"\r\n\r\n") + 4]
                conn.sendall(data)
            elif path == "/echo" or path.endswith("/echo"):
                data = head + body
                conn.sendall(
                    response("HTTP/1.1 200 OK", [("Content-Length", str(len(data)))], data)
                )
            elif path == "/multipart-echo":
                conn.sendall(multipart_echo(head, body))
            elif path == "/multipart-307":
                conn.sendall(response("HTTP/1.1 307 Temporary Redirect", [("Location", "/multipart-echo"), ("Content-Length", "0")]))
            elif path.startswith("/cookie/many/"):
                count, size = (int(x) for x in path.split("/")[3:5])
                conn.sendall(
                    response(
                        "HTTP/1.1 200 OK",
                        [("Set-Cookie", "c%d=%s; Path=/" % (i, "v" * size)) for i in range(count)]
                        + [("Content-Length", "0")],
                    )
                )
            elif path == "/redirect-userinfo":
                port = conn.getsockname()[1]
                conn.sendall(
                    response(
                        "HTTP/1.1 302 Found",
                        [("Location", "http://user:secret@127.0.0.1:%d/ok" % port), ("Content-Length", "0")],
                    )
                )
            elif path.startswith(("/coded/", "/coded-bomb/", "/coded-cut/", "/zeros/")):
                parts = path.split("/")
                if parts[1] == "coded-bomb":
                    chain, data = ["gzip"] * int(parts[2]), bytes(64 << 20)
                elif parts[1] == "zeros":
                    chain, data = [parts[2]], bytes(int(parts[3]) << 20)
                else:
                    chain, data = parts[2].split(","), GZIP_TEXT
                for c in chain:
                    data = encode(c, data)
                if parts[1] == "coded-cut":
                    data = data[: len(data) // 2]
                conn.sendall(
                    response(
                        "HTTP/1.1 200 OK",
                        [("Content-Encoding", ", ".join(chain)), ("Content-Length", str(len(data)))],
                        data,
                    )
                )
            elif path.startswith("/wide/"):
                fields, value_len = (int(x) for x in path.split("/")[2:4])
                value = "v" * value_len
                conn.sendall(
                    response(
                        "HTTP/1.1 200 OK",
                        [("X-%d" % i, value) for i in range(fields)] + [("Content-Length", "2")],
                        b"ok",
                    )
                )
            elif path == "/http10":
                conn.sendall(HTTP10)
                return
            elif path == "/close":
                conn.sendall(CLOSE)
                return
            elif path == "/redirect-close":
                conn.sendall(REDIRECT_CLOSE)
                return
            elif path.startswith("/pattern-chunked/"):
                send_pattern_chunked(conn, int(path.split("/")[2]))
            elif path.startswith("/hold/"):
                time.sleep(int(path.split("/")[2]) / 1000)
                conn.sendall(response("HTTP/1.1 200 OK", [("Content-Length", "4")], b"held"))
            elif path == "/stall":
                hold(conn)
                return
            elif path == "/slow-body":
                conn.sendall(SLOW_BODY)
                hold(conn)
                return
            elif path.startswith(("/digest/", "/digest-redirect/")):
                digest_peer.serve(conn, response, head, body, path, target)
            elif path.startswith("/fault/"):
                if not fault(conn, path):
                    return
            elif path.startswith(("/retry/", "/retry-close/", "/retry-count/")):
                if not retry_route(conn, path):
                    return
            elif path == "/stats":
                with lock:
                    text = "connections=%d requests=%d tunnels=%d" % (connections, requests, tunnels)
                conn.sendall(
                    response(
                        "HTTP/1.1 200 OK",
                        [("Connection", "close"), ("Content-Length", str(len(text)))],
                        text.encode(),
                    )
                )
                return
            else:
                conn.sendall(NOT_FOUND)
    except OSError:
        pass
    finally:
        conn.close()


def main():
    threading.Timer(LIFETIME, lambda: os._exit(3)).start()
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind(("127.0.0.1", 0))
    # test_multi.c opens a thousand connections at once: room for them in
    # the accept queue and in this process's descriptor table.
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (max(soft, min(hard, 8192)), hard))
    listener.listen(2048)
    # With a path argument the same routes are served over a Unix socket
    # at that path and in Linux's abstract namespace under the same name
    # (test_targets.c).
    if len(sys.argv) > 1:
        for name in (sys.argv[1], "\0" + sys.argv[1]):
            unix = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
            unix.bind(name)
            unix.listen(64)
            threading.Thread(target=accept_all, args=(unix,), daemon=True).start()
    print(listener.getsockname()[1], flush=True)
    accept_all(listener)


def accept_all(listener):
    global connections
    while True:
        conn, _ = listener.accept()
        with lock:
            connections += 1
        threading.Thread(target=serve, args=(conn,), daemon=True).start()


if __name__ == "__main__":
    try:
        main()
    except KeyboardInterrupt:
        sys.exit(0)
