#!/usr/bin/env python3
"""Local server for `make demo`: serves a few pages on 127.0.0.1 over
HTTP/1.1 keep-alive, and over HTTPS with a demo CA made for the run (where
the openssl command is available), runs the given client commands with
their URLs, and exits with the clients' status. The CA's file is passed to
the clients in REQIVO_DEMO_CA.

Commands given after --ws (each its own argument) are WebSocket clients:
they get the URL of a WebSocket echo server (ws://127.0.0.1:PORT/chat,
selecting the subprotocol "chat", permessage-deflate accepted) that runs
only when the `websockets` package is importable; without it they are
skipped, with a note, and the demo still succeeds.

With the `h2` package importable, an HTTPS server that speaks HTTP/2 (ALPN
h2) serves /hello too: its URL is the clients' last argument and is in
REQIVO_DEMO_H2_URL, so each shows HTTP/2 negotiated by default."""
import http.server
import json
import os
import shutil
import ssl
import socket
import subprocess
import sys
import tempfile
import threading


class Handler(http.server.BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive, so the client can reuse

    def setup(self):
        super().setup()
        # Head and body go out in separate writes; without this, Nagle holds
        # the body back for a delayed ACK and every timing shows 40 ms.
        self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)

    def log_message(self, fmt, *args):  # keep the demo output readable
        pass

    def send_body(self, status, body, ctype):
        self.send_response(status)
        self.send_header("Content-Type", ctype)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def do_GET(self):
        if self.path == "/hello":
            self.send_body(200, b"Hello from the reqivo demo server\n", "text/plain; charset=utf-8")
        elif self.path == "/json":
            body = json.dumps({"library": "reqivo", "keep_alive": True}).encode()
            self.send_body(200, body, "application/json")
        elif self.path == "/chunked":
            self.send_response(200)
            self.send_header("Transfer-Encoding", "chunked")
            self.end_headers()
            for part in (b"streamed ", b"in ", b"chunks\n"):
                self.wfile.write(b"%x\r\n%s\r\n" % (len(part), part))
            self.wfile.write(b"0\r\n\r\n")
        elif self.path == "/redirect":
            self.send_response(302)
            self.send_header("Location", "/hello")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/login":
            # A persistent cookie (Max-Age), so the saved jar shows it too.
            self.send_response(200)
            self.send_header("Set-Cookie", "demo_session=demo_user; Max-Age=3600; Path=/; HttpOnly")
            self.send_header("Content-Length", "0")
            self.end_headers()
        elif self.path == "/whoami":
            cookie = self.headers.get("Cookie") or "no cookie"
            self.send_body(200, ("you sent: %s\n" % cookie).encode(), "text/plain")
        elif self.path == "/download":
            self.send_body(200, DOWNLOAD, "application/octet-stream")
        else:
            self.send_body(404, b"not found\n", "text/plain")

    def do_POST(self):
        body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
        if self.path == "/echo":
            echo = {"method": self.command, "content_type": self.headers.get("Content-Type"),
                    "length": len(body), "body": body.decode("utf-8", "replace")}
            self.send_body(200, json.dumps(echo).encode(), "application/json")
        else:
            self.send_body(404, b"not found\n", "text/plain")


# 4 MiB of a repeating pattern for streamed downloads (/download).
DOWNLOAD = bytes(range(256)) * (4 * 1024 * 1024 // 256)


def make_demo_pki(directory):
    """A CA and a certificate for 127.0.0.1 signed by it; None without openssl."""
    if shutil.which("openssl") is None:
        return None

    def openssl(*args):
        subprocess.run(["openssl", *args], check=True, cwd=directory,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, timeout=60)

    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key")
    openssl("req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "1",
            "-subj", "/CN=reqivo demo CA", "-out", "ca.pem")
    openssl("ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "server.key")
    openssl("req", "-new", "-key", "server.key", "-subj", "/CN=127.0.0.1", "-out", "server.csr")
    with open(os.path.join(directory, "ext.cnf"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1,DNS:localhost\n")
    openssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
            "-CAcreateserial", "-days", "1", "-sha256", "-extfile", "ext.cnf", "-out", "server.pem")
    return directory


def start_ws_echo():
    """A WebSocket echo server on 127.0.0.1 (websockets' threaded server);
    returns (server, url), or None when the package is missing."""
    try:
        from websockets.exceptions import ConnectionClosed
        from websockets.sync.server import serve as ws_serve
    except ImportError:
        return None

    def echo(ws):
        try:
            for message in ws:
                ws.send(message)
        except ConnectionClosed:
            pass

    server = ws_serve(echo, "127.0.0.1", 0, subprotocols=["chat"])
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server, "ws://127.0.0.1:%d/chat" % server.socket.getsockname()[1]


H2_HELLO = b"Hello over HTTP/2 from the reqivo demo server\n"


def start_h2_server(pki):
    """An HTTPS server on 127.0.0.1 that speaks HTTP/2 alone (ALPN h2, the
    `h2` package), answering every request with H2_HELLO; its URL, or None
    when the package is not importable."""
    try:
        import h2.config
        import h2.connection
        import h2.events
        import h2.exceptions
    except ImportError:
        return None
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(os.path.join(pki, "server.pem"), os.path.join(pki, "server.key"))
    context.set_alpn_protocols(["h2"])
    listener = socket.create_server(("127.0.0.1", 0))

    def serve_connection(sock):
        # The SETTINGS acknowledgement and the answer are separate small
        # writes: without this, Nagle holds the second for the client's ACK.
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        config = h2.config.H2Configuration(client_side=False, header_encoding="utf-8")
        conn = h2.connection.H2Connection(config=config)
        try:
            with context.wrap_socket(sock, server_side=True) as tls:
                conn.initiate_connection()
                tls.sendall(conn.data_to_send())
                while True:
                    data = tls.recv(65536)
                    if not data:
                        return
                    for event in conn.receive_data(data):
                        if isinstance(event, h2.events.RequestReceived):
                            conn.send_headers(event.stream_id, [
                                (":status", "200"), ("server", "reqivo-demo-h2"),
                                ("content-type", "text/plain; charset=utf-8"),
                                ("content-length", str(len(H2_HELLO)))])
                            conn.send_data(event.stream_id, H2_HELLO, end_stream=True)
                    tls.sendall(conn.data_to_send())
        except (OSError, ssl.SSLError, h2.exceptions.H2Error):
            pass  # the client went away or spoke something else

    def accept_forever():
        while True:
            sock, _ = listener.accept()
            threading.Thread(target=serve_connection, args=(sock,), daemon=True).start()

    threading.Thread(target=accept_forever, daemon=True).start()
    return "https://127.0.0.1:%d/hello" % listener.getsockname()[1]


def serve(server):
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main():
    server = serve(http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler))
    base = "http://127.0.0.1:%d" % server.server_address[1]
    urls = [base + p for p in ("/hello", "/json", "/chunked", "/redirect")]
    print("demo server on %s" % base, flush=True)
    env = dict(os.environ)
    with tempfile.TemporaryDirectory(prefix="reqivo-demo-") as pki:
        tls_server = None
        if make_demo_pki(pki):
            tls_server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
            context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
            context.load_cert_chain(os.path.join(pki, "server.pem"), os.path.join(pki, "server.key"))
            tls_server.socket = context.wrap_socket(tls_server.socket, server_side=True)
            serve(tls_server)
            urls.append("https://127.0.0.1:%d/hello" % tls_server.server_address[1])
            env["REQIVO_DEMO_CA"] = os.path.join(pki, "ca.pem")
            print("demo HTTPS server on %s (CA in REQIVO_DEMO_CA)" % urls[-1], flush=True)
            h2_url = start_h2_server(pki)
            if h2_url is None:
                print("the h2 package is not importable: no HTTP/2 server in this demo "
                      "(pip install h2)", flush=True)
            else:
                urls.append(h2_url)
                env["REQIVO_DEMO_H2_URL"] = h2_url
                print("demo HTTP/2 server on %s" % h2_url, flush=True)
        else:
            print("openssl not found: no HTTPS in this demo", flush=True)
        http_clients, ws_clients = [], []
        args = iter(sys.argv[1:])
        for arg in args:
            if arg == "--ws":
                ws_clients.append(next(args))
            else:
                http_clients.append(arg)
        status = 0
        for command in http_clients:
            print("\n$ %s %s" % (command, " ".join(urls)), flush=True)
            status |= subprocess.run(command.split() + urls, env=env, timeout=60).returncode
        if ws_clients:
            ws = start_ws_echo()
            if ws is None:
                print("\nthe websockets package is not importable: the WebSocket part of the "
                      "demo is skipped (pip install websockets)", flush=True)
            else:
                print("\nWebSocket echo server on %s" % ws[1], flush=True)
                for command in ws_clients:
                    print("\n$ %s %s" % (command, ws[1]), flush=True)
                    status |= subprocess.run(command.split() + [ws[1]], env=env, timeout=60).returncode
                ws[0].shutdown()
        server.shutdown()
        if tls_server:
            tls_server.shutdown()
    sys.exit(status)


if __name__ == "__main__":
    main()
