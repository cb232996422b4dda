#!/usr/bin/env python3
"""Scripted HTTP/2 peer for the tests (stdlib plus the PyPI `h2` package).

Usage: h2_peer.py [--tls DIR] [--max-streams N]

Listens on 127.0.0.1 and prints one line of stdout, a JSON object of
ports, e.g. {"h2c": 41000, "tls": 41001, "silent": 41002, ...}:
  h2c     HTTP/2 with prior knowledge over cleartext (no upgrade)
  tls     HTTP/2 over TLS, ALPN "h2" only (with --tls; the PKI of
          tests/c/tls_server.py in DIR: server.pem/.key for localhost and
          127.0.0.1 signed by ca.pem, made there if absent); a client
          that does not choose h2 is disconnected after the handshake
  silent  accepts, reads what the client sends and never writes (its
          SETTINGS never arrive); the socket stays open
  tls-silent  the same after a TLS handshake that chose "h2" (with --tls)
  no-ack  h2c: sends its SETTINGS, then reads and never writes again (the
          client's SETTINGS are never acknowledged, no request answered)
  alpn-refuse  reads the TLS ClientHello and answers it with a fatal
          no_application_protocol alert (what OpenSSL servers such as
          nginx send when ALPN offers nothing they speak), then closes
The server's SETTINGS offer MAX_CONCURRENT_STREAMS N (128 unless told),
INITIAL_WINDOW_SIZE 1 MiB, MAX_HEADER_LIST_SIZE 1 MiB and a 16 MiB
connection window, and leave ENABLE_PUSH out: it is the client's to set,
and the peer never pushes (but see /hostile/push-promise). Streams beyond
N are refused with RST_STREAM(REFUSED_STREAM). h2 checks each request's
fields (RFC 9113 §8.2: lowercase names, no connection-specific fields,
the pseudo-fields present once): a malformed request ends the connection
with GOAWAY(PROTOCOL_ERROR), logged.

Routes (the same on h2c and tls; a query string is ignored):
  /ok               200 "hello h2\\n"
  /status/N         status N (200-599; 400 for others), empty body
  /echo             200, JSON {"method", "path", "authority", "scheme",
                    "headers": [[name, value], ...] (the regular fields in
                    the order received), "body_len", "body_sha256"}; the
                    body is read under flow control, so any size works
  /bytes/N          N bytes, byte i = i % 251, in DATA frames sized to the
                    client's windows and max frame size
  /hold/MS          "hello h2\\n" after MS milliseconds; other streams go on
  /big-head/N       "hello h2\\n" after a head of about N bytes of fields
                    (names and values; x-big-I: "aaa...", 1000 bytes of
                    value each), encoded by h2
  /trailers         "hello h2\\n", then trailers x-checksum: abc and
                    grpc-status: 0
  /gzip             content-encoding: gzip, gunzips to "hello h2\\n"
  /redirect         302 to /ok
  /cookie/set       200 with set-cookie: h2=yes; Path=/ (cookies come back
                    in /echo's headers)
  /rst/CODE         RST_STREAM(CODE) before any HEADERS
  /never-ends       HEADERS, one DATA frame "partial", then nothing
  /goaway/N         GOAWAY(NO_ERROR, last_stream_id N); streams <= N are
                    answered ("hello h2\\n" for this one), those > N never
                    are; the connection closes once the last stream <= N
                    is answered
  /goaway-open      GOAWAY(NO_ERROR, 0), then silence with the socket open
  /stats            JSON {"connections" (accepted on all ports),
                    "streams" (requests seen), "max_concurrent" (most
                    streams open at once on one connection),
                    "per_connection_max" (that figure for each connection
                    that carried a stream, in order)}; the request for
                    /stats counts itself
  /stats/reset      zeroes them, answers them zeroed
  anything else     404
HEAD to any route answers with the head GET would have (content-length
included where GET's has it) with END_STREAM on HEADERS, and no DATA or
trailers.
Hostile routes, written as raw frames where `h2` would refuse:
  /hostile/continuation-flood  HEADERS without END_HEADERS, then
                    CONTINUATION frames of 500 bytes of literal fields until
                    the client closes (at most 64 MiB)
  /hostile/huge-headers        a 1 MiB header block, in CONTINUATIONs
  /hostile/settings-flood      100,000 SETTINGS frames, then "hello h2\\n"
  /hostile/ping-flood          100,000 PINGs, then "hello h2\\n"
  /hostile/window-overflow     a WINDOW_UPDATE of 2^31-1 on the stream
  /hostile/window-overflow-conn  the same on stream 0
  /hostile/data-after-end      "hello h2\\n" with END_STREAM, then a DATA
                               frame on the closed stream
  /hostile/push-promise        a PUSH_PROMISE (push is disabled by the
                               client), then "hello h2\\n"
  /hostile/tiny-data           a 1 MiB body in 1-byte DATA frames
Each connection is one thread running a selector loop; every route is a
generator that yields what it waits for (a sleep, window, room in the
output buffer), so slow streams never hold up the others. Logs briefly to
stderr. Exits by itself after LIFETIME seconds.
"""
import argparse
import gzip
import hashlib
import heapq
import importlib.util
import itertools
import json
import os
import selectors
import socket
import ssl
import struct
import sys
import threading
import time

import h2.config
import h2.connection
import h2.errors
import h2.events
import h2.exceptions
import h2.settings

LIFETIME = 600
MAX_STREAMS = 128
STREAM_WINDOW = 1 << 20
MAX_HEADER_LIST = 1 << 20
CONN_WINDOW = 16 << 20
LOW_WATER = 512 << 10    # routes produce only while less than this awaits the socket
WRITE_CHUNK = 256 << 10
READ_BUDGET = 1 << 20    # bytes read before the loop looks at its other work
GOAWAY_GRACE = 0.3       # how long streams <= N may still be on their way
HELLO = b"hello h2\n"
TEXT = [("content-type", "text/plain")]
PATTERN = memoryview(bytes(range(251)) * (70000 // 251 + 2))
TINY_BODY = 1 << 20
FLOOD_CAP = 64 << 20

# What a route's generator yields: a number of seconds to sleep, or one of
DRAIN = "drain"      # room in the output buffer
WINDOW = "window"    # room in the buffer and in the stream's send window
FOREVER = "forever"  # nothing: the stream stays open until the client resets it


def log(msg):
    print("h2_peer: " + msg, file=sys.stderr, flush=True)


# Raw frames (RFC 9113 §4.1) and HPACK literals (RFC 7541 §6.2.2), for what
# the h2 package refuses to send.
DATA, HEADERS, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE, CONTINUATION = 0, 1, 4, 5, 6, 7, 8, 9
END_STREAM, END_HEADERS = 0x1, 0x4
STATUS_200 = b"\x88"  # the static table's ":status: 200"


def frame(kind, flags, sid, payload=b""):
    return struct.pack(">I", len(payload))[1:] + struct.pack(">BBI", kind, flags, sid) + payload


def hpack_string(s):
    """A string literal without Huffman coding: 7-bit prefix length."""
    n, out = len(s), bytearray()
    if n < 127:
        out.append(n)
    else:
        out.append(127)
        n -= 127
        while n >= 128:
            out.append(n % 128 | 128)
            n //= 128
        out.append(n)
    return bytes(out) + s


def hpack_int(value, prefix_bits, flags):
    """An integer with an N-bit prefix (RFC 7541 §5.1), `flags` above it."""
    top = (1 << prefix_bits) - 1
    if value < top:
        return bytes([flags | value])
    out, value = bytearray([flags | top]), value - top
    while value >= 128:
        out.append(value % 128 | 128)
        value //= 128
    out.append(value)
    return bytes(out)


def literal(name, value):
    """A field without indexing, new name: the client's table never changes."""
    return b"\x00" + hpack_string(name) + hpack_string(value)


def literals(size, unit):
    """About `size` bytes of header block, in fields of about `unit` bytes."""
    def field(n, i):
        name = b"x-filler-%d" % i
        length = n - len(name) - 2
        while length > 0 and len(literal(name, b"a" * length)) > n:
            length -= 1
        return literal(name, b"a" * length)
    out, left, i = [], size, 0
    while left > 0:
        f = field(unit if left >= 2 * unit else left, i)
        if len(f) > left:
            break
        out.append(f)
        left -= len(f)
        i += 1
    return b"".join(out)


def header_frames(sid, block, max_size, flags=0):
    """A HEADERS frame and as many CONTINUATIONs as the block needs."""
    pieces = [block[i:i + max_size] for i in range(0, len(block), max_size)]
    out = []
    for i, piece in enumerate(pieces):
        f = (flags if i == 0 else 0) | (END_HEADERS if i == len(pieces) - 1 else 0)
        out.append(frame(HEADERS if i == 0 else CONTINUATION, f, sid, piece))
    return b"".join(out)


def goaway_frame(last):
    return frame(GOAWAY, 0, 0, struct.pack(">II", last, 0))


class Stats:
    """Counters across all connections, for /stats."""

    def __init__(self):
        self.lock = threading.Lock()
        self.reset()

    def reset(self):
        with self.lock:
            self.connections = 0
            self.streams = 0
            self.per_conn = {}

    def connection(self):
        with self.lock:
            self.connections += 1

    def stream(self, cid, open_now):
        with self.lock:
            self.streams += 1
            self.per_conn[cid] = max(self.per_conn.get(cid, 0), open_now)

    def snapshot(self):
        with self.lock:
            return {"connections": self.connections, "streams": self.streams,
                    "max_concurrent": max(self.per_conn.values(), default=0),
                    "per_connection_max": list(self.per_conn.values())}


class Request:
    def __init__(self, headers):
        self.pseudo, self.headers = {}, []
        for name, value in headers:
            name, value = name.decode("latin-1"), value.decode("latin-1")
            if name.startswith(":"):
                self.pseudo[name] = value
            else:
                self.headers.append([name, value])
        self.path = self.pseudo.get(":path", "")
        self.body_len = 0
        self.sha = hashlib.sha256()

    def add(self, data):
        self.body_len += len(data)
        self.sha.update(data)


# Routes: generators of (conn, stream id, request, number from the path).

def route_ok(c, sid, req, arg):
    yield from c.respond(sid, 200, TEXT, HELLO)


def route_status(c, sid, req, code):
    yield from c.respond(sid, code if 200 <= code <= 599 else 400)


def route_echo(c, sid, req, arg):
    body = json.dumps({
        "method": req.pseudo.get(":method"), "path": req.path,
        "authority": req.pseudo.get(":authority"), "scheme": req.pseudo.get(":scheme"),
        "headers": req.headers, "body_len": req.body_len,
        "body_sha256": req.sha.hexdigest(),
    }).encode()
    yield from c.respond(sid, 200, [("content-type", "application/json")], body)


def route_bytes(c, sid, req, n):
    c.send_headers(sid, 200, [("content-type", "application/octet-stream"),
                              ("content-length", str(n))], end=n == 0)

    def piece(off, size):  # a view into the repeating pattern: no copy
        return PATTERN[off % 251:off % 251 + size]
    if n:
        yield from c.send_body(sid, n, piece)


def route_hold(c, sid, req, ms):
    yield ms / 1000
    yield from c.respond(sid, 200, TEXT, HELLO)


def route_big_head(c, sid, req, n):
    fields, left, i = [], n, 0
    while left > 0:
        name = "x-big-%d" % i
        size = max(1, min(1000, left - len(name)))
        fields.append((name, "a" * size))
        left -= len(name) + size
        i += 1
    yield from c.respond(sid, 200, TEXT + fields, HELLO)


def route_trailers(c, sid, req, arg):
    c.send_headers(sid, 200, TEXT)
    yield from c.send_body(sid, len(HELLO), lambda off, n: HELLO[off:off + n],
                           trailers=[("x-checksum", "abc"), ("grpc-status", "0")])


def route_gzip(c, sid, req, arg):
    yield from c.respond(sid, 200, TEXT + [("content-encoding", "gzip")],
                         gzip.compress(HELLO, mtime=0))


def route_redirect(c, sid, req, arg):
    yield from c.respond(sid, 302, [("location", "/ok")])


def route_cookie_set(c, sid, req, arg):
    yield from c.respond(sid, 200, TEXT + [("set-cookie", "h2=yes; Path=/")], HELLO)


def route_rst(c, sid, req, code):
    c.h2.reset_stream(sid, error_code=code & 0xFFFFFFFF)
    return
    yield


def route_never_ends(c, sid, req, arg):
    c.send_headers(sid, 200, TEXT)
    yield from c.send_body(sid, 7, lambda off, n: b"partial"[off:off + n], end=False)
    yield FOREVER


def route_goaway(c, sid, req, last):
    c.goaway(last, sid)
    if sid <= last:
        yield from c.respond(sid, 200, TEXT, HELLO)


def route_goaway_open(c, sid, req, arg):
    c.write_raw(goaway_frame(0))
    c.muted = True
    return
    yield


def route_stats(c, sid, req, arg):
    body = json.dumps(c.peer.stats.snapshot()).encode()
    yield from c.respond(sid, 200, [("content-type", "application/json")], body)


def route_stats_reset(c, sid, req, arg):
    c.peer.stats.reset()
    yield from route_stats(c, sid, req, arg)


def route_not_found(c, sid, req, arg):
    yield from c.respond(sid, 404, TEXT, b"no such route\n")


def hostile_continuation_flood(c, sid, req, arg):
    c.write_raw(frame(HEADERS, 0, sid, STATUS_200))
    c.muted = True  # nothing of h2's may come inside the header block
    batch = frame(CONTINUATION, 0, sid, literals(500, 500)) * 128
    sent = 0
    while sent < FLOOD_CAP:
        c.write_raw(batch)
        sent += len(batch)
        yield DRAIN
    log("continuation flood: %d bytes written, cap reached" % sent)


def hostile_huge_headers(c, sid, req, arg):
    block = STATUS_200 + literals(1 << 20, 1000)
    c.write_raw(header_frames(sid, block, c.h2.max_outbound_frame_size, END_STREAM))
    return
    yield


def flood(c, make, count):
    """`count` frames from make(i), a thousand at a time as the socket takes them."""
    for start in range(0, count, 1000):
        c.write_raw(b"".join(make(i) for i in range(start, min(start + 1000, count))))
        yield DRAIN


def hostile_settings_flood(c, sid, req, arg):
    empty = frame(SETTINGS, 0, 0)
    yield from flood(c, lambda i: empty, 100_000)
    yield from c.respond(sid, 200, TEXT, HELLO)


def hostile_ping_flood(c, sid, req, arg):
    yield from flood(c, lambda i: frame(PING, 0, 0, struct.pack(">Q", i)), 100_000)
    yield from c.respond(sid, 200, TEXT, HELLO)


def hostile_window_overflow(c, sid, req, arg):
    c.write_raw(frame(WINDOW_UPDATE, 0, sid, struct.pack(">I", 2**31 - 1)))
    yield FOREVER


def hostile_window_overflow_conn(c, sid, req, arg):
    c.write_raw(frame(WINDOW_UPDATE, 0, 0, struct.pack(">I", 2**31 - 1)))
    yield FOREVER


def hostile_data_after_end(c, sid, req, arg):
    c.send_headers(sid, 200, TEXT + [("content-length", str(len(HELLO)))])
    c.h2.send_data(sid, HELLO, end_stream=True)
    c.write_raw(frame(DATA, 0, sid, b"after end\n"))
    return
    yield


def hostile_push_promise(c, sid, req, arg):
    c.promised += 2
    block = (b"\x82\x84" + (b"\x87" if c.tls else b"\x86")  # GET, /, https or http
             + literal(b":authority", req.pseudo.get(":authority", "").encode("latin-1")))
    c.write_raw(frame(PUSH_PROMISE, END_HEADERS, sid, struct.pack(">I", c.promised) + block))
    yield from c.respond(sid, 200, TEXT, HELLO)


def hostile_table_size(c, sid, req, arg):
    """A dynamic table size update to 1 MiB, far past the 4096 bytes the
    client's SETTINGS allow: a COMPRESSION_ERROR (RFC 7541 §4.2)."""
    c.write_raw(frame(HEADERS, END_HEADERS | END_STREAM, sid, hpack_int(1 << 20, 5, 0x20) + STATUS_200))
    c.muted = True
    return
    yield


def hostile_table_churn(c, sid, req, arg):
    """Twelve fields of 1,000 bytes each added to the client's dynamic
    table, every one evicting older ones: a legal answer the client must
    decode within its 4096-byte table. The client's table then holds what
    h2's encoder here does not know of, so the connection ends after it
    (GOAWAY with this stream as the last)."""
    block = STATUS_200 + b"".join(
        b"\x40" + hpack_string(b"x-churn-%d" % i) + hpack_string((b"%x" % i) * 990)
        for i in range(12))
    c.write_raw(frame(HEADERS, END_HEADERS, sid, block) + frame(DATA, END_STREAM, sid, HELLO)
                + goaway_frame(sid))
    c.muted = c.closing = True
    return
    yield


def hostile_tiny_data(c, sid, req, arg):
    c.send_headers(sid, 200, [("content-type", "application/octet-stream"),
                              ("content-length", str(TINY_BODY))])
    cycle = b"".join(frame(DATA, 0, sid, bytes([i])) for i in range(251))  # 10 bytes each
    sent = 0
    while sent < TINY_BODY:
        n = min(c.room(sid), TINY_BODY - sent, 16384)
        if n == 0:
            yield WINDOW
            continue
        start = sent % 251 * 10
        c.write_raw(((cycle[start:] + cycle[:start]) * (n // 251 + 1))[:n * 10])
        c.consume_window(sid, n)
        sent += n
    c.h2.end_stream(sid)


EXACT = {
    "/ok": route_ok, "/echo": route_echo, "/trailers": route_trailers, "/stall": route_ok,
    "/gzip": route_gzip, "/redirect": route_redirect, "/cookie/set": route_cookie_set,
    "/never-ends": route_never_ends, "/goaway-open": route_goaway_open,
    "/stats": route_stats, "/stats/reset": route_stats_reset,
    "/hostile/continuation-flood": hostile_continuation_flood,
    "/hostile/huge-headers": hostile_huge_headers,
    "/hostile/settings-flood": hostile_settings_flood,
    "/hostile/ping-flood": hostile_ping_flood,
    "/hostile/window-overflow": hostile_window_overflow,
    "/hostile/window-overflow-conn": hostile_window_overflow_conn,
    "/hostile/data-after-end": hostile_data_after_end,
    "/hostile/push-promise": hostile_push_promise,
    "/hostile/tiny-data": hostile_tiny_data,
    "/hostile/table-size": hostile_table_size,
    "/hostile/table-churn": hostile_table_churn,
}
WITH_NUMBER = {
    "/status": route_status, "/bytes": route_bytes, "/hold": route_hold,
    "/rst": route_rst, "/goaway": route_goaway, "/big-head": route_big_head,
}


def route(path):
    path = path.split("?", 1)[0]
    if path in EXACT:
        return EXACT[path], None
    head, _, number = path.rpartition("/")
    if head in WITH_NUMBER and number.isdigit():
        return WITH_NUMBER[head], int(number)
    return route_not_found, None


class H2Server(h2.connection.H2Connection):
    """h2's connection, minus its own stream limit: h2 would raise before
    decoding the header block (losing HPACK state and the connection), so
    the peer refuses surplus streams itself with RST_STREAM(REFUSED_STREAM)."""

    @property
    def open_inbound_streams(self):
        super().open_inbound_streams  # prunes closed streams
        return 0


class Conn:
    """One HTTP/2 connection: a selector loop over the socket, h2's state
    machine and the routes' generators."""
    ids = itertools.count(1)

    def __init__(self, sock, peer):
        self.sock, self.peer, self.id = sock, peer, next(self.ids)
        self.tls = isinstance(sock, ssl.SSLSocket)
        self.h2 = H2Server(h2.config.H2Configuration(client_side=False, header_encoding=None))
        self.out = bytearray()
        self.requests, self.tasks, self.waits, self.open = {}, {}, {}, set()
        self.heads = set()    # streams of HEAD requests: no DATA, no trailers
        self.timers, self.seq = [], itertools.count()
        self.highest = 0
        self.goaway_last = self.goaway_at = None
        self.promised = 0
        self.muted = False    # h2's output and the client's input are dropped
        self.closing = False  # close once the output is written
        self.done = False
        self.more = False     # the read budget ran out with data still there
        self.sel = selectors.DefaultSelector()

    # The loop.

    def run(self):
        try:
            codes = h2.settings.SettingCodes
            settings = h2.settings.Settings(client=False, initial_values={
                codes.MAX_CONCURRENT_STREAMS: self.peer.max_streams,
                codes.INITIAL_WINDOW_SIZE: STREAM_WINDOW,
                codes.MAX_HEADER_LIST_SIZE: MAX_HEADER_LIST})
            # Push is the client's to refuse and RFC 8441 is not spoken: the
            # SETTINGS frame says nothing of either (h2 would send both as 0).
            del settings[codes.ENABLE_PUSH], settings[codes.ENABLE_CONNECT_PROTOCOL]
            self.h2.local_settings = settings
            self.h2.decoder.max_header_list_size = MAX_HEADER_LIST  # h2 set its default in __init__
            self.h2.initiate_connection()
            self.h2.increment_flow_control_window(CONN_WINDOW - 65535)
            self.sel.register(self.sock, selectors.EVENT_READ)
            mask = selectors.EVENT_READ
            while not self.done:
                self.run_waiters()
                self.flush()
                if self.closing and not self.out:
                    break
                want = selectors.EVENT_READ | (selectors.EVENT_WRITE if self.out else 0)
                if want != mask:
                    self.sel.modify(self.sock, want)
                    mask = want
                for _, ready in self.sel.select(self.timeout()):
                    if ready & selectors.EVENT_READ:
                        self.read()
                    if ready & selectors.EVENT_WRITE and not self.done:
                        self.write()
                if self.more and not self.done:
                    self.more = False
                    self.read()
                self.fire_timers()
                self.check_goaway()
        except Exception as e:  # a bug here must not go unseen, nor kill the peer
            log("connection %d: %s: %s" % (self.id, type(e).__name__, e))
        finally:
            self.close()

    def timeout(self):
        if self.more:
            return 0
        t = None
        if self.timers:
            t = max(0, self.timers[0][0] - time.monotonic())
        if self.goaway_last is not None:
            t = 0.05 if t is None else min(t, 0.05)
        return t

    def read(self):
        got = 0
        while got < READ_BUDGET:
            try:
                data = self.sock.recv(65536)
            except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
                return
            except OSError:
                self.done = True
                return
            if not data:
                self.done = True
                return
            got += len(data)
            self.receive(data)
            if self.done:
                return
        self.more = True

    def write(self):
        try:
            with memoryview(self.out) as view, view[:WRITE_CHUNK] as chunk:
                n = self.sock.send(chunk)
        except (BlockingIOError, InterruptedError, ssl.SSLWantReadError, ssl.SSLWantWriteError):
            return
        except OSError:
            self.done = True
            return
        del self.out[:n]

    def close(self):
        self.sel.close()
        if self.closing and not self.done:
            if self.tls:
                try:
                    self.sock.unwrap()  # sends close_notify; the reply is not awaited
                except (ssl.SSLError, OSError, ValueError):
                    pass
            linger_close(self.sock)
        else:
            self.sock.close()

    # What goes out.

    def flush(self):
        data = self.h2.data_to_send()
        if data and not self.muted:
            self.out += data

    def write_raw(self, data):
        self.flush()  # h2's frames first: they were produced first
        self.out += data

    def room(self, sid):
        """What `sid` may send now: its send window, or 0 while the buffer is full."""
        if len(self.out) >= LOW_WATER:
            return 0
        return self.h2.local_flow_control_window(sid)

    def consume_window(self, sid, n):
        """Charges raw DATA to h2's send windows (h2 has no call for it)."""
        self.h2.outbound_flow_control_window -= n
        self.h2._get_stream_by_id(sid).outbound_flow_control_window -= n

    def send_headers(self, sid, status, fields=(), end=False):
        end = end or sid in self.heads
        self.h2.send_headers(sid, [(":status", str(status)), *fields], end_stream=end)
        self.flush()

    def send_body(self, sid, total, piece, end=True, trailers=None):
        """DATA frames of piece(offset, size) as windows and frame size allow."""
        if sid in self.heads:
            return  # the head ended the stream
        off = 0
        while off < total:
            n = min(self.room(sid), self.h2.max_outbound_frame_size, total - off, 65536)
            if n <= 0:
                yield WINDOW
                continue
            last = off + n == total
            self.h2.send_data(sid, piece(off, n), end_stream=last and end and not trailers)
            self.flush()
            off += n
        if trailers:
            self.h2.send_headers(sid, trailers, end_stream=True)
            self.flush()

    def respond(self, sid, status, fields=(), body=b""):
        fields = [*fields, ("content-length", str(len(body)))]
        self.send_headers(sid, status, fields, end=not body)
        if body:
            yield from self.send_body(sid, len(body), lambda off, n: body[off:off + n])

    def goaway(self, last, current):
        """GOAWAY(last) written raw: h2 would take no more frames after its own."""
        self.write_raw(goaway_frame(last))
        self.goaway_last, self.goaway_at = last, time.monotonic()
        for sid in [s for s in self.requests if s > last and s != current]:
            self.kill(sid)

    def check_goaway(self):
        if self.goaway_last is None or self.closing:
            return
        if any(s <= self.goaway_last for s in self.open):
            return
        if self.highest >= self.goaway_last or time.monotonic() - self.goaway_at > GOAWAY_GRACE:
            self.closing = True

    # What comes in.

    def receive(self, data):
        if self.muted or self.closing:  # h2 would answer each read with another GOAWAY
            return
        try:
            events = self.h2.receive_data(data)
        except h2.exceptions.ProtocolError as e:  # h2 has queued its GOAWAY
            log("connection %d: client error: %s" % (self.id, e))
            self.closing = True
            return
        for ev in events:
            if isinstance(ev, h2.events.RequestReceived):
                self.on_request(ev)
            elif isinstance(ev, h2.events.DataReceived):
                self.on_data(ev)
            elif isinstance(ev, h2.events.StreamEnded):
                if ev.stream_id in self.requests and ev.stream_id not in self.tasks:
                    self.start(ev.stream_id)
            elif isinstance(ev, h2.events.StreamReset):
                self.kill(ev.stream_id)

    def on_request(self, ev):
        sid = ev.stream_id
        self.highest = max(self.highest, sid)
        if self.goaway_last is not None and sid > self.goaway_last:
            self.peer.stats.stream(self.id, len(self.open))
            return  # never answered
        if len(self.open) >= self.peer.max_streams:
            self.peer.stats.stream(self.id, len(self.open))
            self.h2.reset_stream(sid, error_code=h2.errors.ErrorCodes.REFUSED_STREAM)
            return
        self.requests[sid] = Request(ev.headers)
        if self.requests[sid].pseudo.get(":method") == "HEAD":
            self.heads.add(sid)
        self.open.add(sid)
        self.peer.stats.stream(self.id, len(self.open))

    def on_data(self, ev):
        req = self.requests.get(ev.stream_id)
        if req is not None:
            req.add(ev.data)
            if req.path == "/stall":
                return  # its window never opens again: the upload stalls
        try:
            self.h2.acknowledge_received_data(ev.flow_controlled_length, ev.stream_id)
        except h2.exceptions.H2Error:
            pass

    # The routes' generators.

    def start(self, sid):
        fn, number = route(self.requests[sid].path)
        if fn.__name__.startswith("hostile_"):
            log("connection %d stream %d: %s" % (self.id, sid, self.requests[sid].path))
        self.tasks[sid] = fn(self, sid, self.requests[sid], number)
        self.resume(sid)

    def resume(self, sid):
        self.waits.pop(sid, None)
        try:
            wait = next(self.tasks[sid])
        except StopIteration:
            self.finish(sid)
            return
        except h2.exceptions.H2Error as e:
            log("connection %d stream %d: %s: %s" % (self.id, sid, type(e).__name__, e))
            self.finish(sid)
            return
        if isinstance(wait, (int, float)):
            token = next(self.seq)
            heapq.heappush(self.timers, (time.monotonic() + wait, token, sid))
            self.waits[sid] = token
        else:
            self.waits[sid] = wait

    def finish(self, sid):
        self.tasks.pop(sid, None)
        self.waits.pop(sid, None)
        self.requests.pop(sid, None)
        self.open.discard(sid)
        self.heads.discard(sid)

    def kill(self, sid):
        task = self.tasks.get(sid)
        self.finish(sid)
        if task is not None:
            task.close()

    def run_waiters(self):
        for sid, wait in list(self.waits.items()):
            if len(self.out) >= LOW_WATER:
                return
            if self.waits.get(sid) != wait:
                continue
            if wait == DRAIN:
                self.resume(sid)
            elif wait == WINDOW:
                try:
                    if self.h2.local_flow_control_window(sid) > 0:
                        self.resume(sid)
                except h2.exceptions.H2Error:
                    self.kill(sid)

    def fire_timers(self):
        now = time.monotonic()
        while self.timers and self.timers[0][0] <= now:
            _, token, sid = heapq.heappop(self.timers)
            if self.waits.get(sid) == token:
                self.resume(sid)


def linger_close(sock):
    """Half-closes and reads what the client still sends, so the kernel
    does not answer with a reset that would destroy the last frames."""
    try:
        sock.setblocking(True)
        sock.settimeout(0.5)
        socket.socket.shutdown(sock, socket.SHUT_WR)
        while socket.socket.recv(sock, 65536):
            pass
    except OSError:
        pass
    socket.socket.close(sock)


def serve_silent(raw):
    """Reads (the preface, the SETTINGS, what follows) and never writes."""
    try:
        while raw.recv(65536):
            pass
    except OSError:
        pass
    raw.close()


def serve_alpn_refuse(raw):
    """A TLS alert record in the clear: fatal (2), no_application_protocol (120)."""
    try:
        raw.settimeout(5)
        raw.recv(65536)  # the ClientHello (its contents do not matter)
        raw.sendall(b"\x15\x03\x03\x00\x02\x02\x78")
    except OSError:
        pass
    linger_close(raw)


def serve(peer, kind, raw):
    peer.stats.connection()
    raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    if kind == "silent":
        return serve_silent(raw)
    if kind == "alpn-refuse":
        return serve_alpn_refuse(raw)
    if kind == "no-ack":
        try:
            raw.sendall(frame(0x4, 0, 0, struct.pack(">HI", 0x3, MAX_STREAMS)))
        except OSError:
            pass
        return serve_silent(raw)
    sock = raw
    if kind in ("tls", "tls-silent"):
        raw.settimeout(10)
        try:
            sock = peer.tls.wrap_socket(raw, server_side=True)
        except (ssl.SSLError, OSError) as e:
            log("tls handshake: %s" % e)
            raw.close()
            return
        if sock.selected_alpn_protocol() != "h2":
            log("tls: the client did not choose h2 (ALPN %r)" % sock.selected_alpn_protocol())
            linger_close(sock)
            return
        if kind == "tls-silent":
            sock.settimeout(None)
            return serve_silent(sock)
    sock.setblocking(False)
    Conn(sock, peer).run()


def listen(peer, kind):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(256)

    def accept_loop():
        while True:
            raw, _ = ls.accept()
            threading.Thread(target=serve, args=(peer, kind, raw), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    return ls.getsockname()[1]


def tls_context(d):
    """The server certificate of tests/c/tls_server.py's PKI, made if absent."""
    if not (os.path.exists(os.path.join(d, "server.pem")) and
            os.path.exists(os.path.join(d, "server.key"))):
        path = os.path.join(os.path.dirname(os.path.abspath(__file__)), "c", "tls_server.py")
        spec = importlib.util.spec_from_file_location("tls_server", path)
        module = importlib.util.module_from_spec(spec)
        spec.loader.exec_module(module)
        module.make_pki(d)
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(os.path.join(d, "server.pem"), os.path.join(d, "server.key"))
    ctx.set_alpn_protocols(["h2"])
    return ctx


class Peer:
    def __init__(self, max_streams, tls):
        self.stats, self.max_streams, self.tls = Stats(), max_streams, tls


def main():
    ap = argparse.ArgumentParser(description="Scripted HTTP/2 peer for the tests.")
    ap.add_argument("--tls", metavar="DIR", help="also serve TLS with the PKI in DIR")
    ap.add_argument("--max-streams", type=int, default=MAX_STREAMS,
                    help="SETTINGS_MAX_CONCURRENT_STREAMS (default %d)" % MAX_STREAMS)
    args = ap.parse_args()
    peer = Peer(args.max_streams, tls_context(args.tls) if args.tls else None)
    ports = {"h2c": listen(peer, "h2c")}
    if args.tls:
        ports["tls"] = listen(peer, "tls")
        ports["tls-silent"] = listen(peer, "tls-silent")
    ports["silent"] = listen(peer, "silent")
    ports["no-ack"] = listen(peer, "no-ack")
    ports["alpn-refuse"] = listen(peer, "alpn-refuse")
    print(json.dumps(ports), flush=True)
    threading.Event().wait(LIFETIME)


if __name__ == "__main__":
    main()
