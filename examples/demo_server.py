#!/usr/bin/env python3
"""Local server for `make demo`: serves a few pages on 127.0.0.1 over
HTTP/1.1 keep-alive, runs the given client command with their URLs, and
exits with the client's status."""
import http.server
import json
import socket
import subprocess
import sys
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


def main():
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = "http://127.0.0.1:%d" % server.server_address[1]
    print("demo server on %s" % base, flush=True)
    status = 0
    for command in sys.argv[1:]:
        urls = [base + p for p in ("/hello", "/json", "/chunked", "/redirect")]
        print("\n$ %s %s" % (command, " ".join(urls)), flush=True)
        status |= subprocess.run(command.split() + urls, timeout=60).returncode
    server.shutdown()
    sys.exit(status)


if __name__ == "__main__":
    main()
