#!/usr/bin/env python3
"""Scripted SOCKS5 peer (RFC 1928, RFC 1929) for the tests (stdlib only).

Listens on 127.0.0.1, one free port per mode, and prints the ports on one
line of stdout, in this order:

  relay    no authentication; the CONNECT is honoured by relaying to
           127.0.0.1 at the requested port, whatever address or name was
           asked for (so names that do not resolve work, and nothing
           leaves the machine). Each request is recorded as
           "ATYP ADDRESS PORT" (ATYP 1, 3 or 4). A CONNECT to the name
           `seen.peer` is answered by the peer itself: after the success
           reply it reads one HTTP request and answers 200 with the
           records so far, one a line.
  refuse5  no authentication; every CONNECT gets reply 5 (connection
           refused).
  refuse2  the same with reply 2 (not allowed by ruleset).
  badauth  picks username/password and rejects any credentials (status 1).
  stall    reads the greeting and never answers.
  garbage  reads the greeting and answers an HTTP error instead.

Runs until killed, or until its standard input closes when started with
--stdin (so a test that dies leaves no peer behind).
"""
import socket
import sys
import threading

RECORDS = []
LOCK = threading.Lock()


def read_exact(conn, n):
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


def read_greeting(conn):
    version, count = read_exact(conn, 2)
    if version != 5:
        raise ConnectionError("not SOCKS5")
    return read_exact(conn, count)


def read_request(conn):
    """The CONNECT request: (atyp, address text, port)."""
    _version, _cmd, _rsv, atyp = read_exact(conn, 4)
    if atyp == 1:
        addr = socket.inet_ntop(socket.AF_INET, read_exact(conn, 4))
    elif atyp == 4:
        addr = socket.inet_ntop(socket.AF_INET6, read_exact(conn, 16))
    elif atyp == 3:
        addr = read_exact(conn, read_exact(conn, 1)[0]).decode("ascii", "replace")
    else:
        raise ConnectionError("bad ATYP")
    port = int.from_bytes(read_exact(conn, 2), "big")
    return atyp, addr, port


def reply(conn, code):
    conn.sendall(bytes([5, code, 0, 1, 127, 0, 0, 1, 0, 0]))


def pipe(src, dst):
    try:
        while True:
            data = src.recv(65536)
            if not data:
                break
            dst.sendall(data)
    except OSError:
        pass
    finally:
        try:
            dst.shutdown(socket.SHUT_WR)
        except OSError:
            pass


def serve_seen(conn):
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = conn.recv(4096)
        if not chunk:
            return
        head += chunk
    with LOCK:
        body = "".join("%d %s %d\n" % r for r in RECORDS).encode()
    conn.sendall(
        b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\nConnection: close\r\n\r\n"
        % len(body) + body
    )


def relay(conn):
    read_greeting(conn)
    conn.sendall(b"\x05\x00")
    atyp, addr, port = read_request(conn)
    if atyp == 3 and addr == "seen.peer":
        reply(conn, 0)
        serve_seen(conn)
        return
    with LOCK:
        RECORDS.append((atyp, addr, port))
    try:
        upstream = socket.create_connection(("127.0.0.1", port), timeout=10)
    except OSError:
        reply(conn, 5)
        return
    upstream.settimeout(None)
    reply(conn, 0)
    t = threading.Thread(target=pipe, args=(upstream, conn), daemon=True)
    t.start()
    pipe(conn, upstream)
    t.join(30)
    upstream.close()


def refuse(code):
    def handle(conn):
        read_greeting(conn)
        conn.sendall(b"\x05\x00")
        read_request(conn)
        reply(conn, code)

    return handle


def badauth(conn):
    methods = read_greeting(conn)
    if 2 not in methods:
        conn.sendall(b"\x05\xff")
        return
    conn.sendall(b"\x05\x02")
    _ver, ulen = read_exact(conn, 2)
    read_exact(conn, ulen)
    read_exact(conn, read_exact(conn, 1)[0])
    conn.sendall(b"\x01\x01")


def stall(conn):
    read_greeting(conn)
    conn.settimeout(60)
    conn.recv(1)  # until the client gives up


def garbage(conn):
    read_greeting(conn)
    conn.sendall(b"HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")


MODES = [relay, refuse(5), refuse(2), badauth, stall, garbage]


def serve(listener, handle):
    while True:
        conn, _ = listener.accept()

        def run(c=conn):
            try:
                c.settimeout(30)
                handle(c)
            except (OSError, ConnectionError):
                pass
            finally:
                c.close()

        threading.Thread(target=run, daemon=True).start()


def main():
    ports = []
    for handle in MODES:
        listener = socket.socket()
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        listener.bind(("127.0.0.1", 0))
        listener.listen(64)
        ports.append(listener.getsockname()[1])
        threading.Thread(target=serve, args=(listener, handle), daemon=True).start()
    print(" ".join(map(str, ports)), flush=True)
    if "--stdin" in sys.argv:
        sys.stdin.read()
    else:
        threading.Event().wait()


if __name__ == "__main__":
    main()
