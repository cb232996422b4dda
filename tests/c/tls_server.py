#!/usr/bin/env python3
"""HTTPS peer for the C TLS tests (stdlib ssl plus the openssl command line).

Usage: tls_server.py DIR HTTP_PORT

Makes a fresh test PKI in DIR with openssl (nothing is checked in):
  ca.pem              the CA that signs the server certificates
  server.pem/.key     for localhost and 127.0.0.1 (EC P-256)
  wrong.pem/.key      for wrong.example only
  client-ca.pem       the CA the mTLS port accepts client certificates from
  client-ec.pem/.key  a client certificate, SEC1 "EC PRIVATE KEY"
  client-rsa.pem/.key a client certificate, PKCS#1 "RSA PRIVATE KEY"
  server.pin          base64 SHA-256 of the server's SubjectPublicKeyInfo
  other.pin           the same for a key the server does not have
then listens on 127.0.0.1 and prints one line with four ports:
  OK MTLS TLS12 WRONG
OK serves the good certificate (TLS 1.2 and 1.3), MTLS requires a client
certificate from client-ca, TLS12 speaks TLS 1.2 at most, WRONG serves
wrong.pem. Each connection gets a thread and serves requests until the
client closes (keep-alive). Routes:
  /close          200 "hello tls\\n" with Connection: close
  /redirect-http  302 to http://127.0.0.1:HTTP_PORT/echo (tests/c/server.py)
  anything else   200 "hello tls\\n"
Exits by itself after LIFETIME seconds.
"""
import os
import socket
import ssl
import subprocess
import sys
import threading

LIFETIME = 600
HOLD = 30


def openssl(*args):
    subprocess.run(["openssl", *args], check=True, stdout=subprocess.DEVNULL,
                   stderr=subprocess.PIPE)


def make_pki(d):
    os.makedirs(d, exist_ok=True)
    p = lambda name: os.path.join(d, name)
    ext = p("ext.cnf")

    def ca(name, cn):
        openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", p(name + ".key"))
        openssl("req", "-x509", "-new", "-key", p(name + ".key"), "-sha256", "-days", "2",
                "-subj", "/CN=" + cn, "-out", p(name + ".pem"),
                "-addext", "basicConstraints=critical,CA:TRUE",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign")

    def leaf(name, issuer, cn, san, usage, rsa=False):
        if rsa:
            openssl("genrsa", "-traditional", "-out", p(name + ".key"), "2048")
        else:
            openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", p(name + ".key"))
        with open(ext, "w") as f:
            f.write("basicConstraints=CA:FALSE\nextendedKeyUsage=%s\n" % usage)
            if san:
                f.write("subjectAltName=%s\n" % san)
        openssl("req", "-new", "-key", p(name + ".key"), "-subj", "/CN=" + cn, "-out", p(name + ".csr"))
        openssl("x509", "-req", "-in", p(name + ".csr"), "-CA", p(issuer + ".pem"),
                "-CAkey", p(issuer + ".key"), "-CAcreateserial", "-days", "2", "-sha256",
                "-extfile", ext, "-out", p(name + ".pem"))

    def pin(key, out):
        der = subprocess.run(["openssl", "pkey", "-in", p(key), "-pubout", "-outform", "DER"],
                             check=True, capture_output=True).stdout
        import base64
        import hashlib
        with open(p(out), "w") as f:
            f.write(base64.b64encode(hashlib.sha256(der).digest()).decode())

    ca("ca", "reqivo C test CA")
    ca("client-ca", "reqivo C client CA")
    leaf("server", "ca", "localhost", "DNS:localhost,IP:127.0.0.1", "serverAuth")
    leaf("wrong", "ca", "wrong.example", "DNS:wrong.example", "serverAuth")
    leaf("client-ec", "client-ca", "reqivo-client", None, "clientAuth")
    leaf("client-rsa", "client-ca", "reqivo-client-rsa", None, "clientAuth", rsa=True)
    pin("server.key", "server.pin")
    pin("client-ec.key", "other.pin")
    return p


def response(status, headers, body):
    head = "HTTP/1.1 %s\r\n" % status + "".join("%s: %s\r\n" % h for h in headers) + "\r\n"
    return head.encode("latin-1") + body


def linger_close(raw):
    """Half-closes and reads what the client still sends, so the kernel
    does not answer with a reset that would destroy a TLS alert in flight."""
    try:
        raw.shutdown(socket.SHUT_WR)
        raw.settimeout(0.5)
        while raw.recv(4096):
            pass
    except OSError:
        pass
    raw.close()


def serve(raw, ctx, http_port):
    raw.settimeout(HOLD)
    try:
        conn = ctx.wrap_socket(raw, server_side=True, do_handshake_on_connect=False)
        conn.do_handshake()
    except (ssl.SSLError, OSError):
        linger_close(raw)
        return
    buf = b""
    try:
        while True:
            while b"\r\n\r\n" not in buf:
                data = conn.recv(65536)
                if not data:
                    raise EOFError
                buf += data
            head, _, buf = buf.partition(b"\r\n\r\n")
            lines = head.decode("latin-1").split("\r\n")
            path = lines[0].split(" ")[1] if " " in lines[0] else "/"
            length = 0
            for line in lines[1:]:
                name, _, value = line.partition(":")
                if name.strip().lower() == "content-length":
                    length = int(value.strip())
            while len(buf) < length:
                data = conn.recv(65536)
                if not data:
                    raise EOFError
                buf += data
            buf = buf[length:]
            body = b"hello tls\n"
            if path == "/close":
                conn.sendall(response("200 OK", [("Content-Length", len(body)),
                                                 ("Connection", "close")], body))
                break
            if path == "/redirect-http":
                loc = "http://127.0.0.1:%d/echo" % http_port
                conn.sendall(response("302 Found", [("Location", loc), ("Content-Length", 0)], b""))
                continue
            conn.sendall(response("200 OK", [("Content-Length", len(body))], body))
    except (EOFError, ssl.SSLError, OSError):
        pass
    try:
        conn.unwrap()
    except (ssl.SSLError, OSError, ValueError):
        pass
    linger_close(raw)


def listen(ctx, http_port):
    ls = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    ls.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    ls.bind(("127.0.0.1", 0))
    ls.listen(64)

    def accept_loop():
        while True:
            raw, _ = ls.accept()
            raw.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            threading.Thread(target=serve, args=(raw, ctx, http_port), daemon=True).start()

    threading.Thread(target=accept_loop, daemon=True).start()
    return ls.getsockname()[1]


def context(p, cert, client_ca=None, max_version=None):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    ctx.load_cert_chain(p(cert + ".pem"), p(cert + ".key"))
    ctx.set_alpn_protocols(["http/1.1"])
    if client_ca:
        ctx.verify_mode = ssl.CERT_REQUIRED
        ctx.load_verify_locations(p(client_ca))
    if max_version:
        ctx.maximum_version = max_version
    return ctx


def main():
    d, http_port = sys.argv[1], int(sys.argv[2])
    p = make_pki(d)
    ports = [
        listen(context(p, "server"), http_port),
        listen(context(p, "server", client_ca="client-ca.pem"), http_port),
        listen(context(p, "server", max_version=ssl.TLSVersion.TLSv1_2), http_port),
        listen(context(p, "wrong"), http_port),
    ]
    print(" ".join(str(x) for x in ports), flush=True)
    threading.Event().wait(LIFETIME)


if __name__ == "__main__":
    main()
