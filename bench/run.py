#!/usr/bin/env python3
"""The reqivo benchmark driver. Called by bench/run.sh, which
installs what is missing first; `make bench` calls run.sh.

It generates the files and a CA, starts nginx on 127.0.0.1 (one worker
pinned to CPU 0; HTTP and HTTPS; keep-alive without a request cap; access
log off; stub_status), builds the clients, runs each of them pinned to
CPU 1, one at a time, and writes bench/REPORT.md (and the raw results to
build/bench/results.json). nginx is stopped on every exit path. The
ws_deflate phase has its own server instead of nginx: gorilla/websocket
(bench/go/ws.go) on CPU 0, stopped at the end of the phase and on exit;
so has multi_hold: `gobench holdserver` (bench/go/hold.go),
which holds every request 1 s, for thousands of transfers at once from
reqivo's multi API, libcurl's multi_socket, Go net/http and the reqivo Go
binding (http.Client over its Transport, and Session.Get), a goroutine per
request (multi_small runs reqivo's and libcurl's multi and wrk against
nginx /small). The HTTP/2 phases (h2_inflight, h2_seq, h2_big) use a third
nginx listener, TLS with http2, and check that every client got HTTP/2 on
one connection (h2_verify).

    python3 bench/run.py [--reps N] [--quick] [--clients raw,reqivo-c,...]
                         [--phases small,big,...] [--report PATH] [--merge]
                         [--note TEXT]
"""
import argparse
import atexit
import datetime
import http.client
import json
import os
import platform
import random
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BENCH = ROOT / "bench"
B = ROOT / "build" / "bench"
WWW = B / "www"
TLS = B / "tls"
NGX = B / "nginx"
VENV = B / "venv"
# BENCH_REQIVO_TREE: measure the library of another checkout (its
# target/release and include/), e.g. a clone of a commit while this working
# tree is being edited. The C clients and Ruby use it; the Go clients link
# this checkout's library (bindings/go, -tags reqivo_tree) all the same.
REQIVO_TREE = Path(os.environ.get("BENCH_REQIVO_TREE") or ROOT).resolve()
REL = REQIVO_TREE / "target" / "release"

SERVER_CPU = "0"
CLIENT_CPU = "1"

PHASES = ["small", "big", "huge", "hold", "https_ka", "https_new", "ws_deflate", "multi_hold", "multi_small",
          "h2_inflight", "h2_seq", "h2_big", "allocs", "callgrind", "syscalls"]
# Run only when named in --phases, and only logged (not in the report):
# h2_cost, allocations and callgrind instructions a request of reqivo_bench
# one request after another over TLS, HTTP/2 and HTTP/1.1 (h2_seq's
# listener and clients, reqivo-h2 and reqivo-h1).
EXTRA_PHASES = ["h2_cost"]
# The HTTP/2 phases (h2_phases below): their own clients, listener and
# report section.
H2_PHASES = ("h2_inflight", "h2_seq", "h2_big")
# h2_inflight: requests kept in flight (by threads, handles, goroutines).
H2_INFLIGHT = 100

# multi_hold: transfers started at once, each on its own connection, all
# held 1 s by the server; --quick: the first only.
MULTI_HOLD_SIZES = [1000, 5000, 10000]
# multi_hold's Ruby clients (at 1,000 only): their own table and targets in
# the report, and their own subsection for --merge.
RUBY_MULTI = ("ruby-reqivo-parallel-multi", "ruby-reqivo-async-multi", "ruby-typhoeus-multi",
              "ruby-nethttp-threads-multi")
# Seconds between two multi_hold runs, once the server has closed the last
# run's connections: the kernel reuses a port in TIME_WAIT for a new
# connect only a second after its last segment (tcp_tw_reuse), so a run
# started at once searches longer for free ports; measured: reqivo at
# 10,000 took 0.95-1.04 s of system time right after another 10,000-run,
# 0.38-0.45 s after a pause of 1 s or more.
MULTI_HOLD_PAUSE = 1.5
# multi_small: transfers kept in flight over as many kept-alive connections.
MULTI_SMALL_CONC = 64

# ws_deflate: message sizes, and messages per run of each (the same
# 128 MiB of payload per run; --quick: 16 MiB).
WS_SIZES = [(1 << 20, 128), (4 << 20, 32)]


def log(msg):
    print(msg, flush=True)


def sh(cmd, **kw):
    """Runs a command, returns (rc, stdout+stderr)."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, **kw)
    return p.returncode, p.stdout


def first_line(cmd):
    try:
        rc, out = sh(cmd)
    except OSError as e:
        return "unavailable (%s)" % e
    out = out.strip().splitlines()
    return out[0].strip() if out else "?"


# ---------------------------------------------------------------- files, TLS


def write_if_changed(path, data):
    if path.exists() and path.read_bytes() == data:
        return
    path.write_bytes(data)


def prepare_files():
    WWW.mkdir(parents=True, exist_ok=True)
    rnd = random.Random(11)
    small = (b"reqivo benchmark /small: " + b"x" * 100)[:99] + b"\n"
    assert len(small) == 100
    write_if_changed(WWW / "small", small)
    items = []
    i = 0
    while True:
        items.append({"id": i, "name": "item-%04d" % i, "ok": i % 3 != 0, "score": round(rnd.random() * 100, 3)})
        doc = json.dumps({"items": items, "total": len(items)}, separators=(",", ":")).encode()
        if len(doc) >= 1000:
            break
        i += 1
    write_if_changed(WWW / "json", doc + b"\n")
    big = WWW / "big"
    if not big.exists() or big.stat().st_size != 1 << 20:
        big.write_bytes(rnd.randbytes(1 << 20))
    huge = WWW / "huge"
    if not huge.exists() or huge.stat().st_size != 256 << 20:
        # 256 MiB, generated here (never committed): 1 MiB of random bytes
        # repeated, so that it is real data in the page cache.
        with open(huge, "wb") as f:
            block = rnd.randbytes(1 << 20)
            for _ in range(256):
                f.write(block)


def prepare_tls():
    TLS.mkdir(parents=True, exist_ok=True)
    (TLS / "empty").mkdir(exist_ok=True)
    if (TLS / "server.pem").exists() and (TLS / "ca.pem").exists():
        return
    ext = TLS / "server.ext"
    ext.write_text(
        "basicConstraints=CA:FALSE\nkeyUsage=digitalSignature\nextendedKeyUsage=serverAuth\n"
        "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
    )
    cmds = [
        ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "ca.key"],
        ["openssl", "req", "-x509", "-new", "-key", "ca.key", "-sha256", "-days", "3650",
         "-subj", "/CN=reqivo bench CA", "-addext", "basicConstraints=critical,CA:TRUE",
         "-addext", "keyUsage=critical,keyCertSign,cRLSign", "-out", "ca.pem"],
        ["openssl", "ecparam", "-name", "prime256v1", "-genkey", "-noout", "-out", "server.key"],
        ["openssl", "req", "-new", "-key", "server.key", "-subj", "/CN=127.0.0.1", "-out", "server.csr"],
        ["openssl", "x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
         "-CAcreateserial", "-days", "3650", "-sha256", "-extfile", "server.ext", "-out", "server.pem"],
    ]
    for c in cmds:
        rc, out = sh(c, cwd=TLS)
        if rc != 0:
            sys.exit("openssl failed: %s\n%s" % (" ".join(c), out))


# ---------------------------------------------------------------- nginx


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Nginx:
    def __init__(self):
        self.proc = None
        self.port = free_port()
        self.tls_port = free_port()
        while self.tls_port == self.port:
            self.tls_port = free_port()
        # TLS with http2 (ALPN h2): the h2_* phases. The other TLS listener
        # stays HTTP/1.1 only, so that https_ka and https_new measure what
        # they always did (libcurl and Go would otherwise choose h2).
        self.h2_port = free_port()
        while self.h2_port in (self.port, self.tls_port):
            self.h2_port = free_port()
        self.binary = shutil.which("nginx") or "/usr/sbin/nginx"

    def conf(self):
        user = "user root;\n" if os.geteuid() == 0 else ""
        return f"""# generated by bench/run.py
{user}daemon off;
master_process on;
worker_processes 1;
worker_cpu_affinity 01;
pid {NGX}/nginx.pid;
error_log {NGX}/error.log warn;
events {{ worker_connections 4096; }}
http {{
    access_log off;
    keepalive_requests 1000000000;
    keepalive_timeout 300s;
    client_body_temp_path {NGX}/tmp/body;
    proxy_temp_path {NGX}/tmp/proxy;
    fastcgi_temp_path {NGX}/tmp/fastcgi;
    uwsgi_temp_path {NGX}/tmp/uwsgi;
    scgi_temp_path {NGX}/tmp/scgi;
    default_type application/octet-stream;
    sendfile on;
    ssl_protocols TLSv1.2 TLSv1.3;
    ssl_session_cache off;
    ssl_session_tickets off;
    server {{
        listen 127.0.0.1:{self.port};
        listen 127.0.0.1:{self.tls_port} ssl;
        listen 127.0.0.1:{self.h2_port} ssl http2;
        # HTTP/2: more streams than h2_inflight keeps in flight; requests
        # per connection and idle time are keepalive_requests and
        # keepalive_timeout's (nginx 1.19.7+)
        http2_max_concurrent_streams 128;
        ssl_certificate {TLS}/server.pem;
        ssl_certificate_key {TLS}/server.key;
        root {WWW};
        # small responses leave in one writev (head and body together)
        location = /small {{ default_type text/plain; sendfile off; }}
        location = /json {{ default_type application/json; sendfile off; }}
        location = /nginx_status {{ stub_status; }}
    }}
}}
"""

    def start(self):
        (NGX / "tmp").mkdir(parents=True, exist_ok=True)
        (NGX / "nginx.conf").write_text(self.conf())
        rc, out = sh([self.binary, "-t", "-p", str(NGX), "-c", str(NGX / "nginx.conf")])
        if rc != 0:
            sys.exit("nginx -t failed:\n" + out)
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, self.binary, "-p", str(NGX), "-c", str(NGX / "nginx.conf")],
            stdout=subprocess.DEVNULL, stderr=open(NGX / "stderr.log", "w"),
        )
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                socket.create_connection(("127.0.0.1", self.tls_port), 0.2).close()
                socket.create_connection(("127.0.0.1", self.h2_port), 0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    sys.exit("nginx exited: " + (NGX / "stderr.log").read_text() + (NGX / "error.log").read_text())
                time.sleep(0.05)
        sys.exit("nginx did not start")

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGQUIT)
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def cpu_us(self):
        """CPU time (user + system, µs) nginx's processes have used so far:
        the master and its workers (/proc, in clock ticks)."""
        if not self.proc:
            return None
        tick, total = os.sysconf("SC_CLK_TCK"), 0
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                with open("/proc/%s/stat" % entry) as f:
                    fields = f.read().rsplit(")", 1)[1].split()
            except OSError:
                continue
            if int(entry) == self.proc.pid or int(fields[1]) == self.proc.pid:
                total += int(fields[11]) + int(fields[12])  # utime, stime
        return total * 1e6 / tick

    def accepts(self):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        c.request("GET", "/nginx_status", headers={"Connection": "close"})
        body = c.getresponse().read().decode()
        c.close()
        # "Active connections: 1 \nserver accepts handled requests\n 5 5 9 \n..."
        return int(body.splitlines()[2].split()[0])

    def url(self, path, tls=False, h2=False):
        if h2:
            return "https://127.0.0.1:%d/%s" % (self.h2_port, path)
        if tls:
            return "https://127.0.0.1:%d/%s" % (self.tls_port, path)
        return "http://127.0.0.1:%d/%s" % (self.port, path)


# ---------------------------------------------------------------- clients


class Client:
    def __init__(self, cid, label, argv, env=None, skip=None, c_api=False, ws=False, ws_only=False, multi=False):
        self.id = cid
        self.label = label
        self.argv_prefix = argv
        self.env = env or {}
        self.skip = skip  # reason, or None
        self.c_api = c_api  # a C program (in-loop malloc counts, callgrind)
        self.skip_phase = {}  # phase -> reason
        self.ws = ws or ws_only  # has the ws mode (phase ws_deflate)
        self.ws_only = ws_only  # a WebSocket client only: no HTTP phase
        self.multi = multi  # a client of the multi phases only
        self.multi_phases = {"multi_hold", "multi_small"}  # which of them
        self.multi_sizes = None  # the multi_hold sizes it runs (None: every one)
        self.h2_phases = set()  # a client of these HTTP/2 phases only (H2_PHASES)
        self.http_version = None  # h2 phases: the version it asks for and must get, "2" or "1.1"
        self.modes = {}  # a phase's mode -> the argument this client takes for it

    def argv(self, mode, url, count, warm=None):
        a = list(self.argv_prefix) + [self.modes.get(mode, mode), url, str(count)]
        if warm:
            a.append(warm)
        return a


def build_clients(args):
    """Builds every client; returns the list (unbuildable ones carry a skip reason)."""
    B.mkdir(parents=True, exist_ok=True)
    cc = os.environ.get("CC", "cc")
    cflags = ["-O2", "-g", "-Wall", "-Wextra", "-std=gnu11"]
    notes = {}

    def cbuild(out, src, extra):
        rc, o = sh([cc] + cflags + ["-o", str(B / out), str(BENCH / "clients" / src)] + extra)
        return None if rc == 0 else "compile failed: " + o.strip().splitlines()[-1] if o.strip() else "compile failed"

    rc, o = sh([cc, "-O2", "-shared", "-fPIC", "-o", str(B / "malloc_count.so"), str(BENCH / "malloc_count.c")])
    if rc != 0:
        sys.exit("malloc_count.c: " + o)

    lib_ok = (REL / "libreqivo.so").exists() and (REL / "libreqivo.a").exists()
    lib_skip = None if lib_ok else "target/release/libreqivo.{so,a} missing (run `make lib`)"

    raw_skip = cbuild("raw_bench", "raw_bench.c", ["-lssl", "-lcrypto"])
    curl_skip = cbuild("curl_bench", "curl_bench.c", ["-lcurl"])
    reqivo_skip = lib_skip
    if not reqivo_skip:
        base = ["-I" + str(REQIVO_TREE / "include"), "-L" + str(REL), "-lreqivo", "-Wl,-rpath," + str(REL)]
        header = (REQIVO_TREE / "include" / "reqivo.h").read_text()
        reqivo_skip = "no TLS configuration API"
        if "reqivo_tls_config_builder_add_root_pem" in header and "reqivo_session_set_tls" in header:
            reqivo_skip = cbuild("reqivo_bench", "reqivo_bench.c", ["-DBENCH_HAVE_TLS_API"] + base)
            if not reqivo_skip:
                notes["reqivo C and TLS"] = "the CA is added with reqivo_tls_config_builder_add_root_pem"
        if reqivo_skip:
            notes["reqivo C and TLS"] = ("the header has no usable TLS configuration API (%s): the CA reaches "
                                         "reqivo through SSL_CERT_FILE" % reqivo_skip)
            reqivo_skip = cbuild("reqivo_bench", "reqivo_bench.c", base)

    clients = [
        Client("raw", "raw C loop", [str(B / "raw_bench")], skip=raw_skip, c_api=True),
        Client("reqivo-c", "reqivo (C API)", [str(B / "reqivo_bench")], skip=reqivo_skip, c_api=True, ws=True),
        Client("curl", "libcurl easy", [str(B / "curl_bench")], skip=curl_skip, c_api=True),
    ]

    # The multi phases: event-driven clients on one thread.
    mr_skip = lib_skip
    if not mr_skip:
        if "reqivo_multi_poll" not in (REQIVO_TREE / "include" / "reqivo.h").read_text():
            mr_skip = "include/reqivo.h has no multi API"
        else:
            mr_skip = cbuild("multi_reqivo", "multi_reqivo.c", base)
    clients.append(Client("reqivo-multi", "reqivo multi (C API)", [str(B / "multi_reqivo")], skip=mr_skip,
                          multi=True))
    clients.append(Client("curl-multi", "libcurl multi_socket + epoll", [str(B / "multi_curl")],
                          skip=cbuild("multi_curl", "multi_curl.c", ["-lcurl"]), multi=True))

    # Go: one program, four clients (gorilla: the ws_deflate phase only).
    go = shutil.which("go")
    go_skip = None
    if not go:
        go_skip = "go not installed"
    elif lib_skip:
        go_skip = lib_skip
    else:
        rc, flags = sh([str(ROOT / "bindings" / "go" / "cgo_cflags.sh")])
        env = dict(os.environ, CGO_CFLAGS=flags.strip(), CGO_ENABLED="1")
        # -tags reqivo_tree: this checkout's target/release/libreqivo.a (bindings/go/link_tree.go)
        rc, o = sh([go, "build", "-tags", "reqivo_tree", "-o", str(B / "gobench"), "."], cwd=BENCH / "go", env=env)
        if rc != 0:
            go_skip = "go build failed: " + (o.strip().splitlines() or ["?"])[-1]
    for impl, label in [("reqivo", "reqivo Go (plain calls)"), ("transport", "reqivo Go (http.Client+Transport)")]:
        clients.append(Client("go-" + impl, label, [str(B / "gobench"), impl], skip=go_skip, ws=impl == "reqivo"))
    clients.append(Client("go-nethttp", "Go net/http", [str(B / "gobench"), "nethttp"], skip=go_skip))
    clients.append(Client("go-gorilla", "gorilla/websocket client (Go)", [str(B / "gobench"), "gorilla"],
                          skip=go_skip, ws_only=True))
    go_multi = Client("go-nethttp-multi", "Go net/http (a goroutine each)", [str(B / "gobench"), "multi"],
                      skip=go_skip, multi=True)
    go_multi.multi_phases = {"multi_hold"}
    clients.append(go_multi)
    # The reqivo Go binding's event-driven path (its process-wide multi on
    # Go's netpoller): `gobench multi hold-transport|hold-session URL C`.
    for cid, label, mode in [("go-reqivo-transport-multi", "reqivo Go Transport (a goroutine each)", "hold-transport"),
                             ("go-reqivo-session-multi", "reqivo Go Session (a goroutine each)", "hold-session")]:
        c = Client(cid, label, [str(B / "gobench"), "multi"], skip=go_skip, multi=True)
        c.multi_phases = {"multi_hold"}
        c.modes = {"hold": mode}
        clients.append(c)
    wrk = shutil.which("wrk")
    wrk_c = Client("wrk", "wrk -t1 -c%d" % MULTI_SMALL_CONC, [wrk or "wrk"],
                   skip=None if wrk else "wrk not installed (apt package wrk)", multi=True)
    wrk_c.multi_phases = {"multi_small"}
    clients.append(wrk_c)
    clients.extend(h2_clients(clients, lib_skip, lambda: cbuild(
        "threads_reqivo", "threads_reqivo.c", base + ["-pthread"]), go_skip))

    # Ruby.
    ruby = shutil.which("ruby")
    rb = [ruby or "ruby", str(BENCH / "ruby" / "bench.rb")]
    rb_env = {"REQIVO_LIB": str(REL / "libreqivo.so")}
    ruby_reqivo_skip = ruby_skip = None
    if not ruby:
        ruby_skip = ruby_reqivo_skip = "ruby not installed"
    else:
        rc, o = sh([ruby, "-e", "require 'ffi'"])
        ffi_missing = rc != 0
        binding = ROOT / "bindings" / "ruby" / "lib" / "reqivo.rb"
        if lib_skip:
            ruby_reqivo_skip = lib_skip
        elif not binding.exists():
            ruby_reqivo_skip = "bindings/ruby not present"
        elif ffi_missing:
            ruby_reqivo_skip = "the ffi gem is not installed"
        else:
            rc, o = sh([ruby, "-I", str(binding.parent), "-e",
                        "require 'reqivo'; s = Reqivo::Session.new; s.close; print Reqivo.library_version"],
                       env=dict(os.environ, **rb_env), timeout=60)
            if rc != 0:
                ruby_reqivo_skip = "bindings/ruby does not load: " + (o.strip().splitlines() or ["?"])[-1][:200]
    clients.append(Client("ruby-reqivo", "reqivo Ruby",
                          [rb[0], "-I", str(ROOT / "bindings" / "ruby" / "lib"), rb[1], "reqivo"],
                          env=rb_env, skip=ruby_reqivo_skip))
    clients.append(Client("ruby-nethttp", "Ruby Net::HTTP", rb + ["nethttp"], skip=ruby_skip))
    # multi_hold at 1,000 only (RUBY_MULTI, a table of their own): the
    # binding's Session#parallel (one thread) and the binding under the async
    # gem's fiber scheduler (a fiber each), Typhoeus' Hydra (libcurl multi via
    # ethon), and Net::HTTP with a Thread per request.
    rbm = [ruby or "ruby", "-I", str(ROOT / "bindings" / "ruby" / "lib"), str(BENCH / "ruby" / "multi.rb")]
    for cid, label, impl, gem, pkg, base_skip in [
            ("ruby-reqivo-parallel-multi", "reqivo Ruby Session#parallel (one thread)", "parallel", None, None,
             ruby_reqivo_skip),
            ("ruby-reqivo-async-multi", "reqivo Ruby under Async (a fiber each)", "async", "async", "ruby-async",
             ruby_reqivo_skip),
            ("ruby-typhoeus-multi", "Typhoeus Hydra (Ruby, libcurl multi)", "hydra", "typhoeus", "ruby-typhoeus",
             ruby_skip),
            ("ruby-nethttp-threads-multi", "Ruby Net::HTTP (a Thread each)", "nethttp-threads", None, None,
             ruby_skip)]:
        skip = base_skip
        if not skip and gem and sh([ruby, "-e", "require '%s'" % gem])[0] != 0:
            skip = "the %s gem is not installed (apt package %s)" % (gem, pkg)
        c = Client(cid, label, rbm + [impl], env=rb_env, skip=skip, multi=True)
        c.multi_phases = {"multi_hold"}
        c.multi_sizes = {1000}
        clients.append(c)

    # Python.
    py = VENV / "bin" / "python"
    pyv = [str(py), str(BENCH / "python" / "bench.py")]
    req_skip = rq_skip = None
    if not py.exists():
        req_skip = rq_skip = "no venv at build/bench/venv (bench/run.sh creates it)"
    else:
        if sh([str(py), "-c", "import requests"])[0] != 0:
            req_skip = "requests not installed in build/bench/venv"
        rc, o = sh([str(py), "-c", "import reqivo; assert reqivo.__version__ == '0.2.0', reqivo.__version__"])
        if rc != 0:
            rq_skip = "Reqivo 0.2.0 not installed in build/bench/venv: " + (o.strip().splitlines() or ["?"])[-1]
    clients.append(Client("py-requests", "Python requests", pyv + ["requests"], skip=req_skip))
    py_reqivo = Client("py-reqivo", "Python Reqivo 0.2.0", pyv + ["reqivo"], skip=rq_skip)
    py_reqivo.skip_phase["huge"] = ("Reqivo 0.2.0 has no streaming download: it reads every body whole "
                                    "with `bytes += recv(4096)` (quadratic; 256 MiB would take hours)")
    clients.append(py_reqivo)

    if args.clients:
        want = args.clients.split(",")
        clients = [c for c in clients if c.id in want]
    return clients, notes


def h2_clients(clients, lib_skip, build_threads, go_skip):
    """The HTTP/2 phases' clients, over TLS to nginx: the same programs as
    elsewhere (and threads_reqivo), with BENCH_HTTP_VERSION saying which
    version each asks for and must get. h2_inflight: reqivo's multi with
    H2_INFLIGHT transfers on one thread (bench/clients/multi_reqivo.c),
    reqivo's blocking API from H2_INFLIGHT threads on one session,
    libcurl's multi with HTTP/2
    multiplexing (bench/clients/multi_curl.c), Go net/http with as many
    goroutines (bench/go/inflight.go), and reqivo over HTTP/1.1 with as
    many threads and connections for reference; h2_seq and h2_big:
    reqivo_bench over HTTP/2 and HTTP/1.1, and curl_bench over HTTP/2."""
    by_id = {c.id: c for c in clients}
    h2_skip = lib_skip
    if not h2_skip and "reqivo_session_set_http_version" not in (REQIVO_TREE / "include" / "reqivo.h").read_text():
        h2_skip = "include/reqivo.h has no reqivo_session_set_http_version (no HTTP/2)"
    threads_skip = h2_skip or build_threads()
    k = "{:,}".format(H2_INFLIGHT)
    out = []
    multi_skip = (h2_skip or by_id["reqivo-multi"].skip) if "reqivo-multi" in by_id else "not built"
    for cid, label, argv, skip, version, phases in [
            ("reqivo-h2-multi", "reqivo multi, HTTP/2: %s transfers, one thread, one session" % k,
             [str(B / "multi_reqivo")], multi_skip, "2", {"h2_inflight"}),
            ("reqivo-h2-threads", "reqivo, HTTP/2: %s threads, one session" % k, [str(B / "threads_reqivo")],
             threads_skip, "2", {"h2_inflight"}),
            ("curl-h2-multi", "libcurl multi, HTTP/2 multiplexed: %s handles" % k, [str(B / "multi_curl")],
             by_id["curl-multi"].skip if "curl-multi" in by_id else "not built", "2", {"h2_inflight"}),
            ("go-nethttp-h2", "Go net/http, HTTP/2: %s goroutines" % k, [str(B / "gobench")], go_skip, "2",
             {"h2_inflight"}),
            ("reqivo-h1-threads", "reqivo, HTTP/1.1: %s threads, %s connections (reference)" % (k, k),
             [str(B / "threads_reqivo")], threads_skip, "1.1", {"h2_inflight"}),
            ("reqivo-h2", "reqivo (C API), HTTP/2", [str(B / "reqivo_bench")],
             (h2_skip or by_id["reqivo-c"].skip) if "reqivo-c" in by_id else "not built", "2", {"h2_seq", "h2_big"}),
            ("reqivo-h1", "reqivo (C API), HTTP/1.1", [str(B / "reqivo_bench")],
             (h2_skip or by_id["reqivo-c"].skip) if "reqivo-c" in by_id else "not built", "1.1", {"h2_seq", "h2_big"}),
            ("curl-h2", "libcurl easy, HTTP/2", [str(B / "curl_bench")],
             by_id["curl"].skip if "curl" in by_id else "not built", "2", {"h2_seq", "h2_big"}),
            ("curl-h1", "libcurl easy, HTTP/1.1", [str(B / "curl_bench")],
             by_id["curl"].skip if "curl" in by_id else "not built", "1.1", {"h2_seq"})]:
        c = Client(cid, label, argv, env={"BENCH_HTTP_VERSION": version}, skip=skip)
        c.h2_phases = phases
        c.http_version = version
        if cid == "go-nethttp-h2":
            c.modes = {"small": "inflight"}  # gobench inflight URL SECONDSs K
        out.append(c)
    return out


# ---------------------------------------------------------------- running


class Runner:
    def __init__(self, nginx, args):
        self.ngx = nginx
        self.args = args
        self.results = []  # dicts
        # A small, fixed environment: the same for every client and every
        # machine (requests, for one, scans os.environ on every request).
        keep = ("PATH", "HOME", "LANG", "LC_ALL", "USER", "LOGNAME", "TMPDIR")
        self.base_env = {k: os.environ[k] for k in keep if k in os.environ}
        ca = str(TLS / "ca.pem")
        self.base_env.update({
            "BENCH_CA": ca,
            "SSL_CERT_FILE": ca,
            "SSL_CERT_DIR": str(TLS / "empty"),
            "REQUESTS_CA_BUNDLE": ca,
            "CURL_CA_BUNDLE": ca,
        })
        self.stub_overhead = 0
        self.h2_failed = []  # the HTTP/2 phases' failed runs and checks (the exit status)

    def calibrate(self):
        a0 = self.ngx.accepts()
        a1 = self.ngx.accepts()
        self.stub_overhead = a1 - a0  # the status request's own connection

    def spawn(self, argv, env, timeout):
        with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
            p = subprocess.Popen(argv, stdout=out, stderr=err, env=env, start_new_session=True)
            timed_out = []

            def kill():
                timed_out.append(1)
                try:
                    os.killpg(p.pid, signal.SIGKILL)
                except OSError:
                    pass

            t = threading.Timer(timeout, kill)
            t.start()
            try:
                _, status, ru = os.wait4(p.pid, 0)
            finally:
                t.cancel()
            p.returncode = os.waitstatus_to_exitcode(status)
            out.seek(0)
            err.seek(0)
            return p.returncode, out.read().decode(errors="replace"), err.read().decode(errors="replace"), ru, bool(timed_out)

    def run(self, client, phase, rep, mode, url, count, warm=None, wrapper=None, env=None, timeout=240):
        argv = ["taskset", "-c", CLIENT_CPU] + (wrapper or []) + client.argv(mode, url, count, warm)
        e = dict(self.base_env, **client.env, **(env or {}))
        a0 = self.ngx.accepts()
        rc, out, err, ru, timed_out = self.spawn(argv, e, timeout)
        a1 = self.ngx.accepts()
        rec = {
            "client": client.id, "phase": phase, "rep": rep, "mode": mode, "url": url, "count": str(count),
            "rc": rc, "conns": a1 - a0 - self.stub_overhead,
            "child_utime_s": ru.ru_utime, "child_stime_s": ru.ru_stime, "child_maxrss_kb": ru.ru_maxrss,
        }
        data = None
        for line in reversed(out.strip().splitlines()):
            if line.startswith("{"):
                try:
                    data = json.loads(line)
                except ValueError:
                    pass
                break
        if timed_out:
            rec["error"] = "timed out after %d s" % timeout
        elif data is None or rc != 0 or "error" in data:
            msg = (data or {}).get("error") or (err.strip().splitlines() or ["exit %d" % rc])[-1]
            rec["error"] = msg[:300]
        rec["data"] = data
        rec["stderr_tail"] = err[-2000:]
        self.results.append(rec)
        return rec


def summarize_small(rec):
    d = rec["data"]
    n = d["n"]
    return "%8.0f req/s  %6.1f us/req (u %.1f s %.1f)  conns %d" % (
        n / d["secs"], (d["utime_us"] + d["stime_us"]) / n, d["utime_us"] / n, d["stime_us"] / n, rec["conns"])


def run_phases(runner, clients, args):
    ngx = runner.ngx
    q = args.quick
    small_dur = "0.7s" if q else "2s"
    big_dur = "0.7s" if q else "1.5s"
    tls_dur = "0.7s" if q else "2s"
    new_dur = "0.7s" if q else "1.5s"
    hold_n = 2000 if q else 10000
    phases = args.phases.split(",") if args.phases else PHASES
    reps = args.reps
    reps_mem = min(reps, 3)  # hold and huge barely vary
    active = [c for c in clients if not c.skip and not c.ws_only and not c.multi and not c.h2_phases]

    def each(phase, fn):
        if phase not in phases:
            return
        t0 = time.time()
        log("== %s" % phase)
        fn()
        log("   (%s: %.0f s)" % (phase, time.time() - t0))

    def reps_loop(phase, mode, url, count, warm=None, fmt=None, https=False, timeout=None, n_reps=None):
        if timeout is None:
            timeout = 60 + (float(count[:-1]) if str(count).endswith("s") else 120)
        for rep in range(1, (n_reps or reps) + 1):
            for c in active:
                if phase in c.skip_phase:
                    continue
                if https and c.skip_phase.get("https"):
                    continue
                rec = runner.run(c, phase, rep, mode, url, count, warm, timeout=timeout)
                if "error" in rec:
                    log("   %-14s rep %d: FAILED %s" % (c.id, rep, rec["error"]))
                    if https and "UNSUPPORTED_SCHEME" in rec["error"]:
                        c.skip_phase["https"] = "https not supported by this build (%s)" % rec["error"]
                else:
                    log("   %-14s rep %d: %s" % (c.id, rep, (fmt or summarize_small)(rec)))

    each("small", lambda: reps_loop("small", "ka", ngx.url("small"), small_dur))
    each("big", lambda: reps_loop(
        "big", "ka", ngx.url("big"), big_dur,
        fmt=lambda r: "%8.0f MB/s" % (r["data"]["bytes"] / r["data"]["secs"] / 1e6)))
    each("huge", lambda: reps_loop(
        "huge", "stream", ngx.url("huge"), 1, warm=ngx.url("small"), n_reps=reps_mem,
        fmt=lambda r: "%8.0f MB/s  peak RSS +%d KiB (from %d KiB)" % (
            r["data"]["bytes"] / r["data"]["secs"] / 1e6,
            r["data"]["hwm_after_kb"] - r["data"]["rss_before_kb"], r["data"]["rss_before_kb"])))
    each("hold", lambda: reps_loop(
        "hold", "hold", ngx.url("json"), hold_n, n_reps=reps_mem,
        fmt=lambda r: "%8.0f B/response retained" % (
            (r["data"]["rss_after_kb"] - r["data"]["rss_before_kb"]) * 1024 / r["data"]["n"])))
    each("https_ka", lambda: reps_loop("https_ka", "ka", ngx.url("small", tls=True), tls_dur, https=True))
    each("https_new", lambda: reps_loop(
        "https_new", "newconn", ngx.url("small", tls=True), new_dur, https=True,
        fmt=lambda r: "%8.0f new conn/s  conns %d" % (r["data"]["n"] / r["data"]["secs"], r["conns"])))

    each("ws_deflate", lambda: ws_deflate(runner, [c for c in clients if not c.skip and c.ws], args))
    multi = [c for c in clients if not c.skip and c.multi]
    each("multi_hold", lambda: multi_hold(runner, [c for c in multi if "multi_hold" in c.multi_phases], args))
    each("multi_small", lambda: multi_small(runner, [c for c in multi if "multi_small" in c.multi_phases], args))
    for ph in H2_PHASES:
        each(ph, lambda ph=ph: h2_phase(runner, ph, [c for c in clients if not c.skip and ph in c.h2_phases], args))

    def count_allocs(c, phase, url):
        """Allocations a request in reqivo_bench's measured loop of 2,000
        (bench/malloc_count.c): calls and bytes, logged and recorded."""
        rec = runner.run(c, phase, 1, "ka", url, 2000, env={"LD_PRELOAD": str(B / "malloc_count.so")})
        if "error" in rec:
            log("   %-14s FAILED %s" % (c.id, rec["error"]))
            return
        d = rec["data"]
        extra = ""
        if "go_mallocs" in d:
            extra = "  Go heap objects/req %.1f" % (d["go_mallocs"] / d["n"])
        if "ruby_objects" in d:
            extra = "  Ruby objects/req %.1f" % (d["ruby_objects"] / d["n"])
        if "mallocs" in d:
            log("   %-14s malloc-family calls/req %.2f (realloc %.2f) bytes/req %.0f%s" % (
                c.id, (d["mallocs"] + d["reallocs"]) / d["n"], d["reallocs"] / d["n"],
                d["malloc_bytes"] / d["n"], extra))
        else:
            log("   %-14s no counter readable%s" % (c.id, extra))

    def allocs():
        for c in active:
            count_allocs(c, "allocs", ngx.url("small"))

    each("allocs", allocs)

    def count_instructions(c, url, tag):
        """callgrind's instructions a request: the totals of two runs of
        reqivo_bench (n_lo and n_hi requests after a warm-up), their
        difference over n_hi - n_lo, so start-up and handshakes cancel.
        The profiles stay in build/bench/callgrind.TAG.N.out."""
        n_hi, n_lo = (1000, 100) if q else (2000, 200)
        totals = {}
        for n in (n_lo, n_hi):
            out = B / ("callgrind.%s.%d.out" % (tag, n))
            rec = runner.run(c, "callgrind", 1, "ka", url, n,
                             wrapper=["valgrind", "--tool=callgrind", "--dump-instr=yes",
                                      "--callgrind-out-file=" + str(out)],
                             env={"BENCH_WARMUP": "20"}, timeout=600)
            if "error" in rec or not out.exists():
                log("   %-14s FAILED %s" % (c.id, rec.get("error")))
                return None
            m = re.search(r"^(?:summary|totals):\s*(\d+)", out.read_text(errors="replace"), re.M)
            totals[n] = int(m.group(1)) if m else None
            rec["callgrind_total"] = totals[n]
        if not all(totals.values()):
            return None
        per = (totals[n_hi] - totals[n_lo]) / (n_hi - n_lo)
        log("   %-14s %8.0f instructions/request" % (c.id, per))
        return per, n_lo, n_hi

    def callgrind():
        if not shutil.which("valgrind"):
            log("   valgrind missing: skipped")
            return
        for c in active:
            if not c.c_api:
                continue
            got = count_instructions(c, ngx.url("small"), c.id)
            if not got:
                continue
            per, n_lo, n_hi = got
            runner.results.append({"client": c.id, "phase": "callgrind_per_req", "value": per,
                                   "n_hi": n_hi, "n_lo": n_lo})
            if c.id == "reqivo-c":
                runner.results.append({"client": c.id, "phase": "callgrind_functions",
                                       "value": callgrind_functions(B / ("callgrind.%s.%d.out" % (c.id, n_lo)),
                                                                    B / ("callgrind.%s.%d.out" % (c.id, n_hi)),
                                                                    n_hi - n_lo)})

    each("callgrind", callgrind)

    def h2_cost():
        # One request after another over TLS (h2_seq's clients and
        # listener), counted: HTTP/2 against HTTP/1.1 on the same TLS.
        for c in clients:
            if c.skip or c.id not in ("reqivo-h2", "reqivo-h1"):
                continue
            url = ngx.url("small", tls=True, h2=c.http_version == "2")
            count_allocs(c, "h2_cost_allocs", url)
            if shutil.which("valgrind"):
                count_instructions(c, url, c.id)

    each("h2_cost", h2_cost)

    def syscalls():
        # perf's syscall tracepoints count without slowing the client (strace
        # does, which changes how often a read finds its data waiting).
        tool = "perf" if perf_syscalls_work() else ("strace" if shutil.which("strace") else None)
        if not tool:
            log("   neither perf tracepoints nor strace: skipped")
            return
        log("   counting with %s" % tool)
        n_hi, n_lo = (600, 100) if q else (2200, 200)
        for c in active:
            counts = {}
            for n in (n_lo, n_hi):
                out = B / ("syscalls.%s.%d.txt" % (c.id, n))
                if tool == "perf":
                    wrapper = ["perf", "stat", "-x,", "-o", str(out), "-e",
                               ",".join("syscalls:sys_enter_" + x for x in SYSCALLS)]
                else:
                    wrapper = ["strace", "-f", "-c", "-o", str(out)]
                rec = runner.run(c, "syscalls", 1, "ka", ngx.url("small"), n, wrapper=wrapper,
                                 env={"BENCH_WARMUP": "20"}, timeout=300)
                if "error" in rec or not out.exists():
                    log("   %-14s FAILED %s" % (c.id, rec.get("error")))
                    break
                counts[n] = (parse_perf if tool == "perf" else parse_strace)(out.read_text())
            if len(counts) == 2:
                names = set(counts[n_lo]) | set(counts[n_hi])
                per = {k: (counts[n_hi].get(k, 0) - counts[n_lo].get(k, 0)) / (n_hi - n_lo) for k in names}
                per = {k: v for k, v in per.items() if v >= 0.05}
                runner.results.append({"client": c.id, "phase": "strace_per_req", "value": per, "tool": tool})
                log("   %-14s %s" % (c.id, fmt_syscalls(per)))

    each("syscalls", syscalls)


class WsServer:
    """gobench wsserver: gorilla/websocket with compression, on CPU 0 (or
    another gobench server: `holdserver`, for multi_hold)."""

    def __init__(self, sub="wsserver"):
        self.port = free_port()
        self.proc = None
        self.sub = sub
        self.log = B / (sub + ".log")

    def start(self):
        self.proc = subprocess.Popen(
            ["taskset", "-c", SERVER_CPU, str(B / "gobench"), self.sub, "127.0.0.1:%d" % self.port],
            stdout=open(self.log, "w"), stderr=subprocess.STDOUT, start_new_session=True)
        deadline = time.time() + 10
        while time.time() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), 0.2).close()
                return
            except OSError:
                if self.proc.poll() is not None:
                    sys.exit("%s exited: %s" % (self.sub, self.log.read_text()))
                time.sleep(0.05)
        sys.exit("%s did not start" % self.sub)

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def url(self, size):
        return "ws://127.0.0.1:%d/ws?size=%d" % (self.port, size)

    def stats(self, path="/stats"):
        c = http.client.HTTPConnection("127.0.0.1", self.port, timeout=5)
        c.request("GET", path, headers={"Connection": "close"})
        body = c.getresponse().read()
        c.close()
        return json.loads(body)


def ws_deflate(runner, clients, args):
    """Compressed binary sends to gorilla/websocket."""
    if not clients:
        log("   no client with a ws mode: skipped")
        return
    srv = WsServer()
    atexit.register(srv.stop)
    srv.start()
    log("   gorilla/websocket server on 127.0.0.1:%d, CPU %s" % (srv.port, SERVER_CPU))
    try:
        for size, count in WS_SIZES:
            if args.quick:
                count = max(1, count // 8)
            for rep in range(1, args.reps + 1):
                for c in clients:
                    rec = runner.run(c, "ws_deflate", rep, "ws", srv.url(size), count, warm=str(size),
                                     timeout=300)
                    rec["size"] = size
                    try:
                        got = srv.stats()
                    except (OSError, ValueError) as e:
                        got = []
                        rec.setdefault("error", "no server statistics: %s" % e)
                    rec["server"] = got[-1] if got else None
                    d, sv = rec.get("data") or {}, rec["server"]
                    if "error" not in rec:
                        want = d.get("n", 0) + d.get("warmup", 0)
                        if not sv or sv.get("messages") != want or sv.get("mismatched") or \
                                sv.get("payload_bytes") != want * size:
                            rec["error"] = "server saw %s (expected %d messages of %d bytes, all matching)" % (
                                json.dumps(sv), want, size)
                    if "error" in rec:
                        log("   %-14s %d MiB rep %d: FAILED %s" % (c.id, size >> 20, rep, rec["error"]))
                        continue
                    log("   %-14s %d MiB rep %d: %6.0f MB/s  %5.2f ms CPU/MB (u %.2f s %.2f)  wire %.3f  "
                        "server %.2f ms CPU/MB  [%s]" % (
                            c.id, size >> 20, rep, d["bytes"] / d["secs"] / 1e6,
                            (d["utime_us"] + d["stime_us"]) / 1e3 / (d["bytes"] / 1e6),
                            d["utime_us"] / 1e3 / (d["bytes"] / 1e6), d["stime_us"] / 1e3 / (d["bytes"] / 1e6),
                            sv["wire_bytes"] / sv["payload_bytes"],
                            (sv["utime_us"] + sv["stime_us"]) / 1e3 / (sv["payload_bytes"] / 1e6),
                            d.get("ws_extensions", "?")))
        # System calls per message: two more 1 MiB runs of each client under
        # perf's syscall tracepoints (they do not slow the client), of
        # different lengths; their difference leaves out start and end.
        if perf_syscalls_work():
            size, count = WS_SIZES[0]
            n_lo, n_hi = (4, 16) if args.quick else (count // 8, count)
            for c in clients:
                counts = {}
                for n in (n_lo, n_hi):
                    out = B / ("syscalls.ws.%s.%d.txt" % (c.id, n))
                    wrapper = ["perf", "stat", "-x,", "-o", str(out), "-e",
                               ",".join("syscalls:sys_enter_" + x for x in SYSCALLS)]
                    rec = runner.run(c, "ws_syscalls_run", 1, "ws", srv.url(size), n, warm=str(size),
                                     wrapper=wrapper, timeout=300)
                    srv.stats()
                    if "error" in rec or not out.exists():
                        log("   %-14s syscalls: FAILED %s" % (c.id, rec.get("error")))
                        break
                    counts[n] = parse_perf(out.read_text())
                if len(counts) == 2:
                    names = set(counts[n_lo]) | set(counts[n_hi])
                    per = {k: (counts[n_hi].get(k, 0) - counts[n_lo].get(k, 0)) / (n_hi - n_lo) for k in names}
                    per = {k: v for k, v in per.items() if v >= 0.05}
                    runner.results.append({"client": c.id, "phase": "ws_syscalls", "value": per, "size": size,
                                           "n_lo": n_lo, "n_hi": n_hi})
                    log("   %-14s syscalls per message: %s" % (c.id, fmt_syscalls(per)))
        # Where each client's time goes: a sampling profile of one 1 MiB run.
        if shutil.which("perf"):
            size, count = WS_SIZES[0]
            count = max(1, count // 8) if args.quick else count
            for c in clients:
                data = B / ("perf.ws.%s.data" % c.id)
                rec = runner.run(c, "ws_profile_run", 1, "ws", srv.url(size), count, warm=str(size),
                                 wrapper=["perf", "record", "-q", "-F", "2000", "-o", str(data)], timeout=300)
                srv.stats()
                if "error" in rec or not data.exists():
                    log("   %-14s perf record: FAILED %s" % (c.id, rec.get("error")))
                    continue
                top = perf_top(data)
                runner.results.append({"client": c.id, "phase": "ws_profile", "value": top, "size": size})
                log("   %-14s profile: %s" % (c.id, ", ".join("%.0f%% %s" % (p, f[:60]) for p, _, f in top[:4])))
    finally:
        srv.stop()


def settle_hold(srv, limit=15):
    """Waits (at most `limit` s) until the hold server has no connection of
    the last run open, so that a run does not pay for its predecessor's
    closes on the server's core."""
    deadline = time.time() + limit
    while time.time() < deadline:
        try:
            if srv.stats("/open")["open"] <= 0:
                return True
        except (OSError, ValueError, KeyError):
            pass
        time.sleep(0.1)
    return False


def multi_hold(runner, clients, args):
    """C transfers at once, each on its own connection, held 1 s by the
    server: wall, CPU, peak RSS, threads, descriptors, successes."""
    if not clients:
        log("   no client: skipped")
        return
    srv = WsServer("holdserver")
    atexit.register(srv.stop)
    srv.start()
    srv.stats()  # start counting afresh
    url = "http://127.0.0.1:%d/hold" % srv.port
    sizes = MULTI_HOLD_SIZES[:1] if args.quick else MULTI_HOLD_SIZES
    sizes = [n for n in sizes if any(not c.multi_sizes or n in c.multi_sizes for c in clients)]
    load0 = loadavg()
    log("   hold server (gobench holdserver) on 127.0.0.1:%d, CPU %s; C = %s" % (
        srv.port, SERVER_CPU, ", ".join(map(str, sizes))))
    try:
        for rep in range(1, min(args.reps, 3) + 1):
            for n in sizes:
                for c in clients:
                    if c.multi_sizes and n not in c.multi_sizes:
                        continue
                    if not settle_hold(srv):
                        log("   warning: the hold server still has connections of the last run open")
                    time.sleep(MULTI_HOLD_PAUSE)
                    rec = runner.run(c, "multi_hold", rep, "hold", url, n, timeout=120)
                    rec["size"] = n
                    try:
                        rec["server"] = srv.stats()
                    except (OSError, ValueError) as e:
                        rec["server"] = None
                        log("   no server statistics: %s" % e)
                    d, sv = rec.get("data") or {}, rec["server"] or {}
                    if "error" in rec:
                        log("   %-16s C=%-6d rep %d: FAILED %s" % (c.id, n, rep, rec["error"]))
                        continue
                    log("   %-16s C=%-6d rep %d: %5.2f s wall  %5.2f s CPU (u %.2f s %.2f)  peak RSS %4.0f MiB  "
                        "threads %d  fds %d  ok %d/%d%s  server: %s conns, %s held at once" % (
                            c.id, n, rep, d["secs"], (d["utime_us"] + d["stime_us"]) / 1e6, d["utime_us"] / 1e6,
                            d["stime_us"] / 1e6, d["hwm_kb"] / 1024, d["threads_peak"], d["fds_peak"], d["ok"], n,
                            (" (first error: %s)" % d["first_error"]) if d.get("first_error") else "",
                            sv.get("accepted", "?"), sv.get("peak_held", "?")))
    finally:
        srv.stop()
    runner.results.append({"client": "-", "phase": "multi_load", "which": "multi_hold",
                           "value": [load0, loadavg()]})


def run_wrk(runner, c, rep, url, dur):
    """wrk -t1 -cK -dDUR URL, recorded like a client's run: its own count
    and duration, the whole process's CPU time from wait4."""
    argv = ["taskset", "-c", CLIENT_CPU] + c.argv_prefix + ["-t1", "-c%d" % MULTI_SMALL_CONC, "-d" + dur, url]
    a0 = runner.ngx.accepts()
    rc, out, err, ru, timed_out = runner.spawn(argv, dict(runner.base_env), 60 + float(dur[:-1]))
    a1 = runner.ngx.accepts()
    rec = {"client": c.id, "phase": "multi_small", "rep": rep, "mode": "wrk", "url": url, "count": dur, "rc": rc,
           "conns": a1 - a0 - runner.stub_overhead, "child_utime_s": ru.ru_utime, "child_stime_s": ru.ru_stime,
           "child_maxrss_kb": ru.ru_maxrss, "stdout": out[-2000:], "stderr_tail": err[-2000:]}
    m = re.search(r"(\d+) requests in ([\d.]+)(us|ms|s|m)\b", out)
    if timed_out:
        rec["error"] = "timed out"
    elif rc != 0 or not m:
        rec["error"] = ((err or out).strip().splitlines() or ["exit %d" % rc])[-1][:300]
    else:
        secs = float(m.group(2)) * {"us": 1e-6, "ms": 1e-3, "s": 1, "m": 60}[m.group(3)]
        rec["data"] = {"client": "wrk", "mode": "small", "n": int(m.group(1)), "secs": secs,
                       "utime_us": ru.ru_utime * 1e6, "stime_us": ru.ru_stime * 1e6, "whole_process": True,
                       "lib_version": first_line([c.argv_prefix[0], "--version"]).split(" Copyright")[0]}
        bad = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
        sock = re.search(r"Socket errors: (.*)", out)
        if bad or sock:
            rec["error"] = "wrk: " + "; ".join(x.group(0) for x in (bad, sock) if x)
    rec.setdefault("data", None)
    runner.results.append(rec)
    return rec


def multi_small(runner, clients, args):
    """/small with K transfers in flight over K kept-alive connections."""
    if not clients:
        log("   no client: skipped")
        return
    url = runner.ngx.url("small")
    dur = "1s" if args.quick else "5s"
    load0 = loadavg()
    for rep in range(1, args.reps + 1):
        for c in clients:
            if c.id == "wrk":
                rec = run_wrk(runner, c, rep, url, dur)
            else:
                rec = runner.run(c, "multi_small", rep, "small", url, dur, warm=str(MULTI_SMALL_CONC), timeout=90)
            if "error" in rec:
                log("   %-16s rep %d: FAILED %s" % (c.id, rep, rec["error"]))
                continue
            d = rec["data"]
            log("   %-16s rep %d: %8.0f req/s  %5.1f us CPU/req (u %.1f s %.1f)%s  conns %d" % (
                c.id, rep, d["n"] / d["secs"], (d["utime_us"] + d["stime_us"]) / d["n"], d["utime_us"] / d["n"],
                d["stime_us"] / d["n"], " (whole process)" if d.get("whole_process") else "", rec["conns"]))
    runner.results.append({"client": "-", "phase": "multi_load", "which": "multi_small",
                           "value": [load0, loadavg()]})


def h2_phase(runner, phase, clients, args):
    """The HTTP/2 phases, over TLS to nginx (the http2 listener; the
    HTTP/1.1 clients on the other TLS listener): h2_inflight, H2_INFLIGHT
    requests of /small in flight for 5 s after a 1 s warm-up; h2_seq,
    /small one after another on one connection for 2 s; h2_big, /huge (256
    MiB) streamed once. Each run is checked (h2_verify) and fails loudly
    when a response was not of the version asked for or more connections
    were opened than the phase allows."""
    if not clients:
        log("   no client: skipped")
        return
    ngx = runner.ngx
    q = args.quick
    load0 = loadavg()
    reps = min(args.reps, 3) if phase == "h2_big" else args.reps
    for rep in range(1, reps + 1):
        for c in clients:
            h2 = c.http_version == "2"
            if phase == "h2_inflight":
                rec = runner.run(c, phase, rep, "small", ngx.url("small", tls=True, h2=h2), "1s" if q else "5s",
                                 warm=str(H2_INFLIGHT), timeout=90)
            elif phase == "h2_seq":
                # The server's CPU a request too: its share of the round
                # trip differs between the protocols.
                server0 = ngx.cpu_us()
                rec = runner.run(c, phase, rep, "ka", ngx.url("small", tls=True, h2=h2), "0.7s" if q else "2s",
                                 timeout=90)
                if "data" in rec and server0 is not None:
                    rec["data"]["server_us"] = ngx.cpu_us() - server0
            else:
                rec = runner.run(c, phase, rep, "stream", ngx.url("huge", tls=True, h2=h2), 1,
                                 warm=ngx.url("small", tls=True, h2=h2), timeout=180)
            h2_verify(runner, c, rec)
            if "error" in rec:
                log("   %-17s rep %d: FAILED %s" % (c.id, rep, rec["error"]))
                continue
            d = rec["data"]
            if phase == "h2_big":
                log("   %-17s rep %d: HTTP/%s  %6.2f s  %7.0f MB/s  %5.2f s CPU  conns %d" % (
                    c.id, rep, d["http_version"], d["secs"], d["bytes"] / d["secs"] / 1e6,
                    (d["utime_us"] + d["stime_us"]) / 1e6, rec["conns"]))
            else:
                log("   %-17s rep %d: HTTP/%s  %8.0f req/s  %5.1f us CPU/req (u %.1f s %.1f)  conns %d%s" % (
                    c.id, rep, d["http_version"], d["n"] / d["secs"], (d["utime_us"] + d["stime_us"]) / d["n"],
                    d["utime_us"] / d["n"], d["stime_us"] / d["n"], rec["conns"], h2_conn_detail(d)))
    runner.results.append({"client": "-", "phase": "h2_load", "which": phase, "value": [load0, loadavg()]})


def h2_conn_detail(d):
    """What the client itself says about its connections, for the log and
    the report: reqivo's pool statistics, libcurl's CURLINFO_NUM_CONNECTS."""
    if "h2_connections" in d:
        return " (pool: opened %d, HTTP/2 connections %d, streams %d)" % (
            d["pool_opened"], d["h2_connections"], d.get("h2_streams_opened", 0))
    if "conns_opened" in d:
        return " (libcurl: %d connection%s opened)" % (d["conns_opened"], "" if d["conns_opened"] == 1 else "s")
    return ""


def h2_verify(runner, c, rec):
    """Fails the run (rec["error"], and the driver's exit status) when the
    responses were not of the HTTP version the client asked for (each
    client checks every response and reports the version: reqivo
    `http_major`, libcurl CURLINFO_HTTP_VERSION, Go `ProtoMajor`), or when
    more connections were opened than allowed: one, except for HTTP/1.1
    with requests in flight, whose H2_INFLIGHT threads each have their own.
    Connections: nginx `stub_status` accepts during the process, and where
    the client counts them (reqivo's pool, libcurl) its own count too."""
    if "error" in rec or not rec.get("data"):
        runner.h2_failed.append("%s %s: %s" % (c.id, rec["phase"], rec.get("error", "no result")))
        return
    d = rec["data"]
    one = not (rec["phase"] == "h2_inflight" and c.http_version == "1.1")
    why = None
    if d.get("http_version") != c.http_version:
        why = "the responses were HTTP/%s, not HTTP/%s as asked" % (d.get("http_version"), c.http_version)
    elif one and rec["conns"] != 1:
        why = "nginx accepted %d connections during the run, not 1" % rec["conns"]
    elif one and d.get("pool_opened", 1) != 1:
        why = "reqivo's pool opened %d connections, not 1" % d["pool_opened"]
    elif one and c.http_version == "2" and d.get("h2_connections", 1) != 1:
        why = "reqivo's pool has %d HTTP/2 connections, not 1" % d["h2_connections"]
    elif one and d.get("conns_opened", 1) != 1:
        why = "libcurl opened %d connections, not 1" % d["conns_opened"]
    if why:
        rec["error"] = "check failed: " + why
        runner.h2_failed.append("%s %s rep %d: %s" % (c.id, rec["phase"], rec["rep"], why))


def perf_top(data, n=10):
    """The functions taking 1% or more of a perf.data's samples: [pct, object, symbol]."""
    rc, out = sh(["perf", "report", "-i", str(data), "--stdio", "--no-children", "--sort", "dso,sym",
                  "--percent-limit", "1", "-g", "none"])
    top = []
    for line in out.splitlines():
        m = re.match(r"^\s*([\d.]+)%\s+(\S+)\s+\[[.k]\]\s+(.+?)\s*$", line)
        if m:
            top.append([float(m.group(1)), m.group(2), m.group(3)])
    return top[:n]


SYSCALLS = ["read", "write", "recvfrom", "sendto", "recvmsg", "sendmsg", "readv", "writev", "poll", "ppoll",
            "epoll_wait", "epoll_pwait", "select", "pselect6", "futex", "nanosleep", "clock_nanosleep",
            "sched_yield", "getpid", "ioctl", "newfstatat", "openat", "close", "socket", "connect", "mmap",
            "munmap", "brk", "madvise", "getsockopt", "setsockopt", "fcntl", "rt_sigprocmask", "tgkill",
            "eventfd2", "clock_gettime"]


def perf_syscalls_work():
    if not shutil.which("perf"):
        return False
    rc, out = sh(["perf", "stat", "-x,", "-e", "syscalls:sys_enter_getpid", "true"])
    return rc == 0 and re.search(r"^\d+,", out, re.M) is not None


def parse_perf(text):
    counts = {}
    for line in text.splitlines():
        f = line.split(",")
        if len(f) >= 3 and f[0].isdigit() and f[2].startswith("syscalls:sys_enter_"):
            counts[f[2][len("syscalls:sys_enter_"):]] = int(f[0])
    return counts


def parse_strace(text):
    counts = {}
    for line in text.splitlines():
        f = line.split()
        # % time  seconds  usecs/call  calls  [errors]  syscall
        if len(f) >= 5 and re.match(r"^\d", f[0]) and f[-1] != "total":
            try:
                counts[f[-1]] = int(f[3])
            except ValueError:
                pass
    return counts


def fmt_syscalls(per):
    items = sorted(per.items(), key=lambda kv: -kv[1])
    return " ".join(("%s %.0f" if v >= 100 else "%s %.2g") % (k, v) for k, v in items) or "-"


def callgrind_functions(lo, hi, dn):
    """Self instructions per request by function: (hi - lo) / dn."""
    def table(path):
        rc, out = sh(["callgrind_annotate", "--inclusive=no", "--auto=no", "--threshold=100", str(path)])
        t = {}
        for line in out.splitlines():
            m = re.match(r"^\s*([\d,]+)\s+\(\s*[\d.]+%\)\s+(.+?)\s*$", line)
            if not m or "PROGRAM TOTALS" in m.group(2):
                continue
            where = re.sub(r"\s*\[[^\]]*\]$", "", m.group(2))  # the object file
            fn = where.split(":", 1)[1] if ":" in where else where  # drop the source file (inlining)
            t[fn] = t.get(fn, 0) + int(m.group(1).replace(",", ""))
        return t
    a, b = table(lo), table(hi)
    per = {k: (b.get(k, 0) - a.get(k, 0)) / dn for k in set(a) | set(b)}
    return sorted(([k, v] for k, v in per.items() if v > 0), key=lambda kv: -kv[1])[:25]


# ---------------------------------------------------------------- report


def med(vals):
    return statistics.median(vals) if vals else None


def cell(vals, fmt="{:,.0f}"):
    """median and half-range spread, e.g. '8,012 ±2%'."""
    if not vals:
        return None
    m = med(vals)
    if len(vals) == 1 or m == 0:
        return fmt.format(m)
    spread = (max(vals) - min(vals)) / 2 / abs(m) * 100
    return fmt.format(m) + " ±%.0f%%" % spread


def ratio(a, b, digits=2):
    if a is None or b is None or b == 0:
        return "—"
    return "%.*f×" % (digits, a / b)


class Report:
    def __init__(self, runner, clients, notes, args, started, elapsed, load):
        self.r = runner.results
        self.clients = clients
        self.all_clients = clients
        # the HTTP tables: WebSocket-only clients (gorilla) and the multi
        # phases' clients have no row there
        self.clients = [c for c in clients if not c.ws_only and not c.multi and not c.h2_phases]
        self.wanted = set(args.phases.split(",")) if args.phases else set(PHASES)
        self.notes = notes
        self.args = args
        self.started = started
        self.elapsed = elapsed
        self.load = load
        self.ngx = runner.ngx

    def recs(self, cid, phase):
        return [x for x in self.r if x["client"] == cid and x["phase"] == phase and "error" not in x and x.get("data")]

    def errors(self, cid, phase):
        return [x["error"] for x in self.r if x["client"] == cid and x["phase"] == phase and "error" in x]

    def vals(self, cid, phase, f, recs=None):
        """f of each record of cid in phase (or of `recs`), skipping those
        that lack what f reads."""
        out = []
        for x in self.recs(cid, phase) if recs is None else recs:
            try:
                out.append(f(x["data"], x))
            except (KeyError, ZeroDivisionError, TypeError):
                pass
        return out

    def metric(self, cid, phase, f):
        return med(self.vals(cid, phase, f))

    def extra(self, cid, phase):
        for x in self.r:
            if x["client"] == cid and x["phase"] == phase:
                return x["value"]
        return None

    # metric functions
    rps = staticmethod(lambda d, x: d["n"] / d["secs"])
    cpu = staticmethod(lambda d, x: (d["utime_us"] + d["stime_us"]) / d["n"])
    user = staticmethod(lambda d, x: d["utime_us"] / d["n"])
    sys_ = staticmethod(lambda d, x: d["stime_us"] / d["n"])
    mbps = staticmethod(lambda d, x: d["bytes"] / d["secs"] / 1e6)
    growth = staticmethod(lambda d, x: (d["hwm_after_kb"] - d["rss_before_kb"]) / 1024)
    held = staticmethod(lambda d, x: (d["rss_after_kb"] - d["rss_before_kb"]) * 1024 / d["n"])
    conns = staticmethod(lambda d, x: x["conns"])
    allocs = staticmethod(lambda d, x: (d["mallocs"] + d["reallocs"]) / d["n"])

    def why(self, c, phase):
        if c.skip:
            return "skipped"
        if phase in c.skip_phase:
            return "n/a"
        if phase.startswith("https") and c.skip_phase.get("https"):
            return "n/a"
        if self.errors(c.id, phase):
            return "failed"
        return "—"

    def val_cell(self, c, phase, f, fmt="{:,.0f}"):
        v = self.vals(c.id, phase, f)
        return cell(v, fmt) if v else self.why(c, phase)

    def want(self, *phases):
        """A section is written when one of its phases was asked for."""
        return any(p in self.wanted for p in phases)

    def write(self, path):
        if self.args.merge and Path(path).exists():
            self.merge(path)
            return
        L = []
        now = self.started
        cpu_model = "?"
        try:
            for line in open("/proc/cpuinfo"):
                if line.startswith("model name"):
                    cpu_model = line.split(":", 1)[1].strip()
                    break
        except OSError:
            pass
        L.append("# reqivo benchmark report")
        L.append("")
        L.append("Generated by `make bench` (`bench/run.sh` → `bench/run.py`); do not edit by hand.")
        L.append("")
        L.append("- Date: %s (run took %.1f min)" % (now.strftime("%Y-%m-%d %H:%M UTC"), self.elapsed / 60))
        L.append("- Machine: %s, %d cores online, Linux %s; nginx worker pinned to CPU %s, each client to CPU %s "
                 "(`taskset`)" % (cpu_model, os.cpu_count(), platform.release(), SERVER_CPU, CLIENT_CPU))
        L.append("- Load average (1, 5, 15 min) at the start: %s; at the end: %s (other work on the machine "
                 "shows up as spread)" % self.load)
        L.append("- Repetitions: %d for the timed cells (/small, /big, HTTPS, WebSocket), %d for /huge and held responses, "
                 "clients interleaved within each repetition; a cell is the median, `±x%%` is half the range "
                 "(max − min) over the median" % (self.args.reps, min(self.args.reps, 3)))
        L.append("- Versions: " + "; ".join(self.versions()))
        if self.args.note:
            L.append("- Note: " + self.args.note)
        if float(self.load[0].split()[0]) >= 0.5:
            L.append("")
            L.append("> **The machine was not idle** (load average %s when the run started): wall-clock figures "
                     "(req/s, MB/s) carry the spread shown and can swap close neighbours between runs. The "
                     "instruction, allocation, syscall and memory figures do not depend on load." % self.load[0])
        L.append("")

        ids = [c.id for c in self.clients]

        def base(cid, phase, f):
            return self.metric(cid, phase, f) if cid in ids else None

        at = len(L)
        L.append("## /small (100 B) over HTTP, one kept-alive connection")
        L.append("")
        L.append("| client | req/s | × raw | × curl | CPU µs/req (user + sys) | user µs/req | user × curl | "
                 "connections opened | syscalls/req |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---|")
        raw_rps, curl_rps = base("raw", "small", self.rps), base("curl", "small", self.rps)
        curl_user = base("curl", "small", self.user)
        for c in self.clients:
            rps = self.metric(c.id, "small", self.rps)
            cpu = self.vals(c.id, "small", self.cpu)
            u = self.metric(c.id, "small", self.user)
            s = self.metric(c.id, "small", self.sys_)
            cpu_s = (cell(cpu, "{:.1f}") + " (%.1f + %.1f)" % (u, s)) if cpu else self.why(c, "small")
            conns = self.vals(c.id, "small", self.conns)
            conns_s = ("%d" % med(conns) if len(set(conns)) == 1 else "%s (%s)" % (med(conns), ", ".join(map(str, conns)))) if conns else "—"
            sc = self.extra(c.id, "strace_per_req")
            L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                c.label, self.val_cell(c, "small", self.rps), ratio(rps, raw_rps), ratio(rps, curl_rps),
                cpu_s, "%.1f" % u if u is not None else "—", ratio(u, curl_user), conns_s,
                fmt_syscalls(sc) if sc else "—"))
        L.append("")
        tool = next((x.get("tool") for x in self.r if x["phase"] == "strace_per_req"), None)
        how = {"perf": "`perf stat -e syscalls:sys_enter_…` (tracepoints: the client runs at full speed)",
               "strace": "`strace -f -c` (which slows the client: a read then finds its data waiting more "
                         "often than at full speed)"}.get(tool, "not measured")
        L.append("Connections opened: nginx `stub_status` accepts during the client process (warm-up included); "
                 "1 means every request went over one kept-alive connection. Syscalls/req: %s, difference of "
                 "two runs (%s requests) divided by the difference in requests; calls below 0.05/req are "
                 "left out." % (how, "100/600" if self.args.quick else "200/2,200"))
        L.append("")

        if not self.want("small", "syscalls"):
            del L[at:]
        at = len(L)
        L.append("## Throughput and memory")
        L.append("")
        L.append("| client | /big (1 MiB) MB/s | × raw | × curl | /big page faults/req | "
                 "/huge (256 MiB) streamed MB/s | /huge peak RSS growth MiB | held /json B/response | × raw | × curl |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|")
        raw_big, curl_big = base("raw", "big", self.mbps), base("curl", "big", self.mbps)
        raw_held, curl_held = base("raw", "hold", self.held), base("curl", "hold", self.held)
        for c in self.clients:
            big = self.metric(c.id, "big", self.mbps)
            held = self.metric(c.id, "hold", self.held)
            flt = self.vals(c.id, "big", lambda d, x: d["minflt"] / d["n"])
            L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                c.label, self.val_cell(c, "big", self.mbps), ratio(big, raw_big), ratio(big, curl_big),
                "%.0f" % med(flt) if flt else "—",
                self.val_cell(c, "huge", self.mbps), self.val_cell(c, "huge", self.growth, "{:.2f}"),
                self.val_cell(c, "hold", self.held), ratio(held, raw_held), ratio(held, curl_held)))
        L.append("")
        L.append("/big: keep-alive GETs with the whole body in memory (each client's ordinary buffered call), "
                 "MB = 10⁶ bytes; page faults are the minor faults (getrusage) of the measured loop per request "
                 "(256 = every page of a fresh 1 MiB buffer). /huge: one streamed GET read in 64 KiB pieces and dropped; peak RSS growth is "
                 "VmHWM after the stream minus VmRSS before it (VmHWM reset through `/proc/self/clear_refs` "
                 "after a warm-up on /small). Held: %s /json responses (%s B body) kept at once; "
                 "(VmRSS after − VmRSS before) / count, after a GC for Go, Ruby and Python; reqivo C holds the "
                 "`reqivo_response` pointers, the raw loop and libcurl hold a malloc'd copy of each body." % (
                     "2,000" if self.args.quick else "10,000", (WWW / "json").stat().st_size))
        L.append("")

        if not self.want("big", "huge", "hold"):
            del L[at:]
        at = len(L)
        L.append("## HTTPS (TLS 1.3, ECDSA P-256 certificate from the run's own CA)")
        L.append("")
        L.append("| client | keep-alive /small req/s | × raw | × curl | CPU µs/req | new connections/s "
                 "(full handshake each) | × raw | × curl | × Go net/http |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|")
        raw_t, curl_t = base("raw", "https_ka", self.rps), base("curl", "https_ka", self.rps)
        raw_n, curl_n, go_n = (base("raw", "https_new", self.rps), base("curl", "https_new", self.rps),
                               base("go-nethttp", "https_new", self.rps))
        for c in self.clients:
            t = self.metric(c.id, "https_ka", self.rps)
            nn = self.metric(c.id, "https_new", self.rps)
            L.append("| %s | %s | %s | %s | %s | %s | %s | %s | %s |" % (
                c.label, self.val_cell(c, "https_ka", self.rps), ratio(t, raw_t), ratio(t, curl_t),
                self.val_cell(c, "https_ka", self.cpu, "{:.1f}"), self.val_cell(c, "https_new", self.rps),
                ratio(nn, raw_n), ratio(nn, curl_n), ratio(nn, go_n)))
        L.append("")
        L.append("nginx has `ssl_session_cache off` and `ssl_session_tickets off`, so every new connection is a "
                 "full handshake; new connections: `Connection: close` on each request (libcurl: "
                 "FRESH_CONNECT + FORBID_REUSE; Ruby Net::HTTP: a new `start` per request; Go net/http: "
                 "`Request.Close`).")
        L.append("")

        if not self.want("https_ka", "https_new"):
            del L[at:]
        L.extend(self.ws_section())
        L.extend(self.multi_section())
        L.extend(self.h2_section())

        at = len(L)
        L.append("## Cost per keep-alive /small request")
        L.append("")
        L.append("| client | malloc-family calls/req | bytes requested/req | runtime objects/req | "
                 "instructions/req (callgrind) | × raw | × curl |")
        L.append("|---|---:|---:|---:|---:|---:|---:|")
        ir_raw, ir_curl = self.extra("raw", "callgrind_per_req"), self.extra("curl", "callgrind_per_req")
        for c in self.clients:
            a = self.vals(c.id, "allocs", self.allocs)
            bts = self.vals(c.id, "allocs", lambda d, x: d["malloc_bytes"] / d["n"])
            obj = self.vals(c.id, "allocs", lambda d, x: d["go_mallocs"] / d["n"]) and \
                "Go %.1f" % med(self.vals(c.id, "allocs", lambda d, x: d["go_mallocs"] / d["n"]))
            if not obj and self.vals(c.id, "allocs", lambda d, x: d["ruby_objects"] / d["n"]):
                obj = "Ruby %.1f" % med(self.vals(c.id, "allocs", lambda d, x: d["ruby_objects"] / d["n"]))
            ir = self.extra(c.id, "callgrind_per_req")
            L.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                c.label, "%.2f" % med(a) if a else self.why(c, "allocs"), "%.0f" % med(bts) if bts else "—",
                obj or "—", "{:,.0f}".format(ir) if ir else ("—" if c.c_api else "n/a"),
                ratio(ir, ir_raw), ratio(ir, ir_curl)))
        L.append("")
        L.append("malloc-family calls: malloc, calloc, realloc, posix_memalign/aligned_alloc/memalign counted by "
                 "`bench/malloc_count.c` (LD_PRELOAD) inside the measured loop of 2,000 requests; for Go, Ruby "
                 "and Python that is the C heap only (libreqivo's allocations for the bindings; CPython's "
                 "small objects come from pymalloc arenas and are not seen). Runtime objects: Go "
                 "`MemStats.Mallocs`, Ruby `GC.stat(:total_allocated_objects)`. Instructions: callgrind totals "
                 "of a %s-request run minus a %s-request run, divided by the difference (user space only)." % (
                     "1,000" if self.args.quick else "2,000", "100" if self.args.quick else "200"))
        L.append("")

        if not self.want("allocs", "callgrind"):
            del L[at:]
        if self.want("small", "big", "huge", "hold", "https_ka", "https_new", "allocs", "callgrind", "syscalls"):
            L.extend(self.targets())
        L.extend(self.functions())
        L.extend(self.skips())
        L.append("## Method")
        L.append("")
        L.append("- nginx %s: 1 worker, `keepalive_requests 1000000000`, `keepalive_timeout 300s`, access log "
                 "off, `stub_status`; /small and /json with `sendfile off` (head and body in one write), /big "
                 "and /huge with sendfile; a TLS listener with `http2` for the HTTP/2 phases, the other one "
                 "HTTP/1.1 only. Files are generated into build/bench/www." % self.nginx_version())
        L.append("- Each client program (bench/clients/*.c, bench/go, bench/ruby/bench.rb, "
                 "bench/python/bench.py) takes MODE URL COUNT, runs a warm-up (100 requests), then the measured "
                 "part, and prints one JSON line: wall time, getrusage(RUSAGE_SELF) user and system time "
                 "around the measured part (all threads), /proc/self/status VmRSS/VmHWM, counters. The "
                 "driver also records the child's whole-process rusage from wait4 (build/bench/results.json).")
        L.append("- Timed phases run for a fixed duration (%s) rather than a fixed count, so that slow and fast "
                 "clients take the same time." % ("0.7 s" if self.args.quick else "2 s for /small, 1.5 s for /big and new TLS connections"))
        L.append("- Only 127.0.0.1; the CA is passed explicitly where a client takes one and through "
                 "SSL_CERT_FILE / REQUESTS_CA_BUNDLE otherwise. Clients run with a minimal environment (PATH, "
                 "HOME, LANG and the benchmark's variables).")
        for k, v in self.notes.items():
            if v:
                L.append("- %s: %s" % (k, v))
        L.append("")
        Path(path).write_text("\n".join(L) + "\n")

    def nginx_version(self):
        return first_line([self.ngx.binary, "-v"]).replace("nginx version: ", "")

    def versions(self):
        v = []
        rv = {}
        for x in self.r:
            d = x.get("data") or {}
            if d.get("lib_version"):
                rv[x["client"]] = d["lib_version"]
        rc, commit = sh(["git", "-C", str(REQIVO_TREE), "describe", "--always", "--dirty"])
        v.append("reqivo %s (git %s%s, %s)" % (
            rv.get("reqivo-c") or rv.get("reqivo-multi") or rv.get("reqivo-h2") or rv.get("reqivo-h2-multi")
            or rv.get("reqivo-h2-threads") or "?",
            commit.strip(),
            "" if REQIVO_TREE == ROOT else ", built in " + str(REQIVO_TREE), first_line(["rustc", "--version"])))
        v.append("nginx %s" % self.nginx_version())
        v.append(rv.get("curl") or rv.get("curl-multi") or rv.get("curl-h2") or rv.get("curl-h2-multi") or "libcurl ?")
        v.append(first_line(["openssl", "version"]))
        v.append(first_line(["go", "version"]).replace("go version ", ""))
        if "go-gorilla" in rv:
            v.append(rv["go-gorilla"].split(",")[0])
        v.append(first_line(["ruby", "--version"]).split(" [")[0] + ", ffi " + first_line(
            ["ruby", "-e", "require 'ffi'; print FFI::VERSION"]))
        py = VENV / "bin" / "python"
        if py.exists():
            v.append(first_line([str(py), "--version"]) + ", " + rv.get("py-requests", "requests ?") + ", " +
                     rv.get("py-reqivo", "Reqivo ?"))
        v.append(first_line(["valgrind", "--version"]))
        return v

    def targets(self):
        L = ["## Targets", ""]
        L.append("| target | measured | status |")
        L.append("|---|---|---|")

        def row(name, measured, ok):
            status = "n/a" if ok is None else ("**met**" if ok else "**missed**")
            L.append("| %s | %s | %s |" % (name, measured, status))

        R = "reqivo-c"
        rq = self.metric(R, "small", self.rps)
        raw = self.metric("raw", "small", self.rps)
        row("/small req/s ≥ 0.95× raw C loop",
            "%s vs %s req/s = %s" % (fmt0(rq), fmt0(raw), ratio(rq, raw)) if rq and raw else "not measured",
            rq / raw >= 0.95 if rq and raw else None)
        cpu, cpu_raw = self.metric(R, "small", self.cpu), self.metric("raw", "small", self.cpu)
        row("CPU/req ≤ 1.15× raw loop's",
            "%.1f vs %.1f µs = %s" % (cpu, cpu_raw, ratio(cpu, cpu_raw)) if cpu and cpu_raw else "not measured",
            cpu / cpu_raw <= 1.15 if cpu and cpu_raw else None)
        u, uc = self.metric(R, "small", self.user), self.metric("curl", "small", self.user)
        row("user CPU/req ≤ 0.25× libcurl's",
            "%.1f vs %.1f µs = %s" % (u, uc, ratio(u, uc)) if u is not None and uc else "not measured",
            u / uc <= 0.25 if u is not None and uc else None)
        sc = self.extra(R, "strace_per_req")
        if sc:
            reads = sum(v for k, v in sc.items() if k in ("read", "recvfrom", "recvmsg", "readv"))
            writes = sum(v for k, v in sc.items() if k in ("write", "sendto", "sendmsg", "writev"))
            others = {k: v for k, v in sc.items() if k not in ("read", "recvfrom", "recvmsg", "readv", "write",
                                                              "sendto", "sendmsg", "writev")}
            row("one write and one read syscall per keep-alive request",
                "%.2f writes, %.2f reads%s" % (writes, reads, (", plus " + fmt_syscalls(others)) if others else ""),
                round(reads, 2) <= 1.0 and round(writes, 2) <= 1.0 and not others)
        else:
            row("one write and one read syscall per keep-alive request", "not measured", None)
        a = self.metric(R, "allocs", self.allocs)
        row("≤ 3 heap allocations per keep-alive GET (C API)",
            "%.2f malloc-family calls/req" % a if a is not None else "not measured", a <= 3 if a is not None else None)
        held = self.metric(R, "hold", self.held)
        head = self.vals(R, "hold", lambda d, x: (d["head_bytes"], d["header_count"], d["body_bytes"]))
        if held is not None and head:
            hb, hc, bb = head[0]
            limit = hb + bb + 128 + 32 * hc
            row("held response ≤ raw head + body + 128 + 32/header",
                "%.0f B vs %d B (head %d + body %d + 128 + 32×%d)" % (held, limit, hb, bb, hc), held <= limit)
        else:
            row("held response ≤ raw head + body + 128 + 32/header", "not measured", None)
        big, big_raw = self.metric(R, "big", self.mbps), self.metric("raw", "big", self.mbps)
        row("/big ≥ 0.95× raw loop",
            "%s vs %s MB/s = %s" % (fmt0(big), fmt0(big_raw), ratio(big, big_raw)) if big and big_raw else "not measured",
            big / big_raw >= 0.95 if big and big_raw else None)
        g = self.metric(R, "huge", self.growth)
        row("streaming /huge grows peak RSS ≤ 1 MiB",
            "%.2f MiB" % g if g is not None else "not measured", g <= 1.0 if g is not None else None)
        t, tc = self.metric(R, "https_ka", self.rps), self.metric("curl", "https_ka", self.rps)
        why = self.client_skip(R, "https_ka")
        row("HTTPS keep-alive req/s ≥ libcurl's",
            "%s vs %s req/s = %s" % (fmt0(t), fmt0(tc), ratio(t, tc)) if t and tc else (why or "not measured"),
            t >= tc if t and tc else None)
        nn, ng = self.metric(R, "https_new", self.rps), self.metric("go-nethttp", "https_new", self.rps)
        why = self.client_skip(R, "https_new")
        row("new full handshakes/s ≥ Go's",
            "%s vs %s /s = %s" % (fmt0(nn), fmt0(ng), ratio(nn, ng)) if nn and ng else (why or "not measured"),
            nn >= ng if nn and ng else None)
        gr, gc = self.metric("go-nethttp", "small", self.rps), self.metric("go-nethttp", "small", self.cpu)
        for cid, name in (("go-reqivo", "plain calls"), ("go-transport", "Transport")):
            r, c = self.metric(cid, "small", self.rps), self.metric(cid, "small", self.cpu)
            why = self.client_skip(cid, "small")
            row("Go binding (%s): req/s ≥ net/http's, less CPU/req" % name,
                "%s vs %s req/s (%s), %.1f vs %.1f µs/req (%s)" % (fmt0(r), fmt0(gr), ratio(r, gr), c, gc, ratio(c, gc))
                if r and gr and c and gc else (why or "not measured"),
                (r >= gr and c < gc) if r and gr and c and gc else None)
        rc, nc = self.metric("ruby-reqivo", "small", self.cpu), self.metric("ruby-nethttp", "small", self.cpu)
        why = self.client_skip("ruby-reqivo", "small")
        row("Ruby binding: CPU/req ≤ 0.4× Net::HTTP's",
            "%.1f vs %.1f µs/req = %s" % (rc, nc, ratio(rc, nc)) if rc and nc else (why or "not measured"),
            rc / nc <= 0.4 if rc and nc else None)
        L.append("")
        return L

    def client_skip(self, cid, phase):
        for c in self.all_clients:
            if c.id == cid:
                if c.skip:
                    return "skipped: " + c.skip
                if phase.startswith("https") and c.skip_phase.get("https"):
                    return "skipped: " + c.skip_phase["https"]
                e = self.errors(cid, phase)
                if e:
                    return "failed: " + e[0]
        return None

    def ws_recs(self, cid, size):
        return [x for x in self.recs(cid, "ws_deflate") if x.get("size") == size and x.get("server")]

    def ws_section(self):
        ws_clients = [c for c in self.all_clients if c.ws]
        if not any(x["phase"] == "ws_deflate" for x in self.r):
            return []
        L = ["## Compressed WebSocket sends (permessage-deflate)", ""]
        L.append("| client | message | MB/s sent | × gorilla | client CPU ms/MB (user + sys) | CPU × gorilla | "
                 "wire bytes / payload | server CPU ms/MB | server busy | extension negotiated |")
        L.append("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|")
        sc_rows = []
        mbps = lambda d, x: d["bytes"] / d["secs"] / 1e6
        cpu = lambda d, x: (d["utime_us"] + d["stime_us"]) / 1e3 / (d["bytes"] / 1e6)
        targets = []
        for size, _ in WS_SIZES:
            def v(cid, f):
                return self.vals(cid, "ws_deflate", f, self.ws_recs(cid, size))
            g_mb, g_cpu = med(v("go-gorilla", mbps)), med(v("go-gorilla", cpu))
            for c in ws_clients:
                mb, cp = v(c.id, mbps), v(c.id, cpu)
                if not mb:
                    why = self.why(c, "ws_deflate")
                    L.append("| %s | %d MiB | %s | — | — | — | — | — | — | — |" % (c.label, size >> 20, why))
                    continue
                u = med(v(c.id, lambda d, x: d["utime_us"] / 1e3 / (d["bytes"] / 1e6)))
                sy = med(v(c.id, lambda d, x: d["stime_us"] / 1e3 / (d["bytes"] / 1e6)))
                wire = med(v(c.id, lambda d, x: x["server"]["wire_bytes"] / x["server"]["payload_bytes"]))
                scpu = med(v(c.id, lambda d, x: (x["server"]["utime_us"] + x["server"]["stime_us"]) / 1e3 /
                             (x["server"]["payload_bytes"] / 1e6)))
                busy = med(v(c.id, lambda d, x: (x["server"]["utime_us"] + x["server"]["stime_us"]) / 1e6 /
                             x["server"]["secs"]))
                ext = sorted(set(v(c.id, lambda d, x: d.get("ws_extensions") or "none")))
                L.append("| %s | %d MiB | %s | %s | %s (%.2f + %.2f) | %s | %.3f | %.2f | %.0f%% | `%s` |" % (
                    c.label, size >> 20, cell(mb), ratio(med(mb), g_mb), cell(cp, "{:.2f}"), u, sy,
                    ratio(med(cp), g_cpu), wire, scpu, busy * 100, "`, `".join(ext)))
                if c.id != "go-gorilla" and g_mb:
                    targets.append((c, size, med(mb) / g_mb, med(cp) / g_cpu if g_cpu else None))
        for c in ws_clients:
            sc = self.extra(c.id, "ws_syscalls")
            if sc:
                sc_rows.append("%s %s" % (c.label, fmt_syscalls(sc)))
        L.append("")
        offers = {}
        for x in self.r:
            if x["phase"] == "ws_deflate" and x.get("server") and "error" not in x:
                offers.setdefault(x["client"], x["server"].get("offered"))
        label = {c.id: c.label for c in self.all_clients}
        n1 = dict(WS_SIZES)
        L.append("Each run: one connection, %s warm-up messages, then %s binary messages of 1 MiB (or %s of 4 "
                 "MiB), the same bytes for every client (bench_ws_message / wsMessage: segments of 1 to 16 KiB, "
                 "alternately words from a fixed list and splitmix64 bytes, seeded with the size; the server "
                 "compares every inflated message with its own copy and the run fails on any difference), then "
                 "the close handshake. MB/s: payload bytes (10⁶) over the time from the first measured send to "
                 "the server's Close, which the server sends only after reading every message, so nothing is "
                 "left in socket buffers. CPU ms/MB: getrusage of the client process (every thread) over that "
                 "time, per MB of payload. Wire bytes / payload: what the server read from the socket (frames, "
                 "masks, handshake) over the payload it inflated: the compression each client achieved. Server: "
                 "gorilla/websocket v1.5.3 `Upgrader{EnableCompression: true}` on CPU %s, one goroutine reading "
                 "each message through `NextReader` (inflating it) into a 64 KiB buffer; busy = its CPU time "
                 "over the connection's lifetime (100%% means the server, not the client, set the pace)." % (
                     2, "16" if self.args.quick else "{:,}".format(n1[1 << 20]),
                     "4" if self.args.quick else n1[4 << 20], SERVER_CPU))
        L.append("")
        L.append("Offered: " + "; ".join("%s `%s`" % (label.get(k, k), v) for k, v in offers.items()) +
                 ". gorilla's server accepts any permessage-deflate offer with `server_no_context_takeover; "
                 "client_no_context_takeover`, so every client compresses each message on its own with a 32 KiB "
                 "window. reqivo compresses with flate2's zlib-rs backend, one compressor per connection, reset "
                 "per message; gorilla's client with Go's compress/flate level 1 (BestSpeed), writing each "
                 "message as continuation frames of its 4 KiB write buffer (its default).")
        L.append("")
        profiles = [(c, self.extra(c.id, "ws_profile")) for c in ws_clients]
        profiles = [(c, p) for c, p in profiles if p]
        if profiles:
            L.append("Where each client's time goes (`perf record`, one run of 1 MiB messages; functions with 1% "
                     "of the samples or more of the client's process, the making of its message included):")
            L.append("")
            L.append("| client | share | function |")
            L.append("|---|---:|---|")
            for c, prof in profiles:
                for pct, obj, fn in prof[:8]:
                    L.append("| %s | %.1f%% | `%s` (%s) |" % (c.label, pct, fn.replace("|", "\\|")[:110], obj))
            L.append("")
        if sc_rows:
            L.append("System calls per 1 MiB message (`perf stat` tracepoints; the difference of a %s-message and "
                     "a %s-message run of each client over the difference in messages, so connection set-up and "
                     "process start are left out; below 0.05 left out): " % (
                         "4" if self.args.quick else WS_SIZES[0][1] // 8,
                         "16" if self.args.quick else WS_SIZES[0][1]) + "; ".join(sc_rows) + ".")
            L.append("")
        if targets:
            ok = all(r >= 1.0 for _, _, r, _ in targets)
            L.append("The phase's target, compressed sends at least gorilla's client speed: %s — %s." % (
                "**met**" if ok else "**missed**",
                "; ".join("%s %d MiB %.2f× (CPU/MB %s)" % (c.label, size >> 20, r,
                                                           "%.2f×" % cr if cr else "?")
                          for c, size, r, cr in targets)))
            L.append("")
        L.extend(WS_NOTE)
        return L

    def merge(self, path):
        """--merge: replaces (or adds) in the report at `path` only the
        sections of the phases this run measured that have a section of
        their own (ws_deflate; multi_hold and multi_small; the h2 phases),
        leaving the rest of it as it was."""
        text = Path(path).read_text().split("\n")
        secs = [x for x in (self.ws_section(), self.multi_section(), self.h2_section()) if x]
        if not secs:
            log("   --merge: no section of its own among the phases run; %s left as it was" % path)
            return
        for sec in secs:
            title = sec[0]
            body = sec[:-1] if sec[-1] == "" else sec
            if title in text:
                i = text.index(title)
                j = next((k for k in range(i + 1, len(text)) if text[k].startswith("## ")), len(text))
                if title.startswith("## Event-driven multi API"):
                    body = self.keep_multi_subsections(text[i:j], body)
                elif title == H2_TITLE:
                    body = self.keep_h2_subsections(text[i:j], body)
                text[i:j] = body + [""]
            else:
                j = next((k for k, line in enumerate(text) if line in (
                    "## Cost per keep-alive /small request", "## Targets", "## Method")), len(text))
                text[j:j] = body + [""]
        Path(path).write_text("\n".join(text))

    # The multi section's subsections, by group (their "### " titles): a
    # phase's, or for multi_hold, its C API and Go clients' and its Ruby
    # clients' (RUBY_MULTI), which a run may measure without the others.
    MULTI_SUBSECTIONS = {"multi_hold_ruby": lambda t: t.startswith("### Ruby"),
                         "multi_hold": lambda t: t.endswith("held 1 s by the server") and not t.startswith("### Ruby"),
                         "multi_small": lambda t: t.startswith("### /small")}
    MULTI_GROUP_NAMES = {"multi_hold": "multi_hold (the C API and Go clients)",
                         "multi_hold_ruby": "multi_hold (the Ruby clients)", "multi_small": "multi_small"}

    def keep_multi_subsections(self, old, new):
        """--merge of the multi section when one of its groups of
        subsections (MULTI_SUBSECTIONS) was not run: that group's
        subsections are carried over from the old section (`old`, its lines)
        into the new one, with a header line saying from which run they are
        (the old one's own such line if it had one), instead of being
        dropped."""
        ran = set()
        for x in self.r:
            if x["phase"] == "multi_hold":
                ran.add("multi_hold_ruby" if x["client"] in RUBY_MULTI else "multi_hold")
            elif x["phase"] == "multi_small":
                ran.add("multi_small")
        keep = [g for g in self.MULTI_SUBSECTIONS if g not in ran]
        if not keep:
            return new

        def split(lines):
            """(head, [(group, lines)], tail): the tail starts at MULTI_NOTE."""
            end = lines.index(MULTI_NOTE[0]) if MULTI_NOTE[0] in lines else len(lines)
            starts = [k for k in range(end) if lines[k].startswith("### ")]
            if not starts:
                return lines[:end], [], lines[end:]
            subs = []
            for a, b in zip(starts, starts[1:] + [end]):
                g = next((g for g, f in self.MULTI_SUBSECTIONS.items() if f(lines[a])), None)
                subs.append((g, lines[a:b]))
            return lines[:starts[0]], subs, lines[end:]

        ohead, osubs, _ = split(old)
        nhead, nsubs, ntail = split(new)
        carried = [(g, ls) for g, ls in osubs if g in keep]
        if not carried:
            return new
        field = lambda name: next((x[len(name):] for x in ohead if x.startswith(name)), "?")
        date = field("- Date: ").split(";")[0]
        lib = field("- Library: ")
        loads = field("- Load average (1, 5, 15 min): ")
        # That run's --note, after the Noise line's fixed text.
        onote = field("- Noise: ").partition("memory much less.")[2].strip()
        for g in [g for g in self.MULTI_SUBSECTIONS if g in {g for g, _ in carried}]:
            name = self.MULTI_GROUP_NAMES[g]
            p = "multi_small" if g == "multi_small" else "multi_hold"
            prev = next((x for x in ohead if x.startswith("- %s: not run this time" % name)), None)
            load = next((x.strip()[len(p) + 1:] for x in loads.split(";") if x.strip().startswith(p + " ")), "?")
            line = prev or ("- %s: not run this time; its tables below are the previous report's (%s; library: %s; "
                            "load average %s%s)" % (name, date, lib, load, "; its note: " + onote if onote else ""))
            k = max((i for i, x in enumerate(nhead) if x.startswith("- ")), default=len(nhead) - 1) + 1
            nhead = nhead[:k] + [line] + nhead[k:]
        order = ["multi_hold", "multi_hold_ruby", "multi_small"]
        subs = sorted(nsubs + carried, key=lambda s: order.index(s[0]) if s[0] in order else len(order))
        out = list(nhead)
        for _, ls in subs:
            out.extend(ls)
        return out + ntail

    # The HTTP/2 section's subsections, by phase: how their "### " titles begin.
    H2_SUBSECTIONS = {"h2_inflight": "### %d requests in flight" % H2_INFLIGHT,
                      "h2_seq": "### One request after another", "h2_big": "### A 256 MiB download"}

    def keep_h2_subsections(self, old, new):
        """--merge of the HTTP/2 section when some of its phases were not
        run: their subsections are carried over from the old section (`old`,
        its lines), in phase order, each with a line saying from which run
        it is, instead of being dropped."""
        ran = {x["phase"] for x in self.r if x["phase"] in H2_PHASES}

        def split(lines):
            """(head, {phase: lines}) of a section."""
            starts = [k for k, x in enumerate(lines) if x.startswith("### ")] + [len(lines)]
            subs = {}
            for a, b in zip(starts, starts[1:]):
                ph = next((p for p, t in self.H2_SUBSECTIONS.items() if lines[a].startswith(t)), None)
                while b > a and lines[b - 1] == "":
                    b -= 1
                if ph:
                    subs[ph] = lines[a:b] + [""]  # one blank line after each
            return lines[:starts[0]], subs

        ohead, osubs = split(old)
        nhead, nsubs = split(new)
        date = next((x[len("- Date: "):].split(";")[0] for x in ohead if x.startswith("- Date: ")), "?")
        lib = next((x[len("- Library: "):].split(";")[0] for x in ohead if x.startswith("- Library: ")), "?")
        out = list(nhead)
        for ph in H2_PHASES:
            if ph in nsubs:
                out.extend(nsubs[ph])
            elif ph not in ran and ph in osubs:
                sub = osubs[ph]
                mark = "_%s was not run this time: " % ph
                if not any(x.startswith(mark) for x in sub):
                    sub = sub[:2] + ["%sthis subsection is the previous report's (%s; %s)._" % (mark, date, lib),
                                     ""] + sub[2:]
                out.extend(sub)
        return out[:-1] if out and out[-1] == "" else out

    def h2_section(self):
        """The HTTP/2 phases: one subsection each, with the targets set for them."""
        ran = [ph for ph in H2_PHASES if any(x["phase"] == ph for x in self.r)]
        if not ran:
            return []
        hc = {c.id: c for c in self.all_clients if c.h2_phases}
        L = [H2_TITLE, ""]
        loads = {x["which"]: x["value"] for x in self.r if x["phase"] == "h2_load"}
        rv = {}
        for x in self.r:
            d = x.get("data") or {}
            if d.get("lib_version") and x["client"] in hc:
                rv[x["client"]] = d["lib_version"]
        rc, commit = sh(["git", "-C", str(REQIVO_TREE), "describe", "--always", "--dirty"])
        reps = {"h2_inflight": self.args.reps, "h2_seq": self.args.reps, "h2_big": min(self.args.reps, 3)}
        L.append("- Date: %s; %s; clients interleaved within each repetition; a cell is the median, `±x%%` half "
                 "the range over the median" % (self.started.strftime("%Y-%m-%d %H:%M UTC"),
                                               ", ".join("%s %d repetitions" % (p, reps[p]) for p in ran)))
        rver = next((v for k, v in rv.items() if k.startswith("reqivo")), "reqivo ?")
        others = [next((v.split(" OpenSSL")[0] for k, v in rv.items() if k.startswith("curl")), None),
                  rv.get("go-nethttp-h2"), self.nginx_version()]
        L.append("- Library: %s, git %s%s; %s" % (
            rver if rver.startswith("reqivo") else "reqivo " + rver, commit.strip() or "?",
            "" if REQIVO_TREE == ROOT else " (built in %s, not this working tree)" % REQIVO_TREE,
            "; ".join(x for x in others if x)))
        L.append("- Load average (1, 5, 15 min): " + "; ".join(
            "%s %s at the start, %s at the end" % (k, v[0], v[1]) for k, v in loads.items()))
        L.append("- Noise: 2 cores, nginx pinned to CPU %s and each client to CPU %s, but nothing keeps other work "
                 "off them: req/s and MB/s move with whatever else runs, CPU per request much less.%s" % (
                     SERVER_CPU, CLIENT_CPU, (" " + self.args.note) if self.args.note else ""))
        L.append("")

        rps = lambda d, x: d["n"] / d["secs"]
        cpu = lambda d, x: (d["utime_us"] + d["stime_us"]) / d["n"]
        mbps = lambda d, x: d["bytes"] / d["secs"] / 1e6
        m = lambda cid, ph, f: med(self.vals(cid, ph, f))

        def status(ok):
            return "n/a" if ok is None else ("**met**" if ok else "**missed**")

        def vcell(cid, ph, f, fmt="{:,.0f}"):
            v = self.vals(cid, ph, f)
            if v:
                return cell(v, fmt)
            return self.why(hc[cid], ph) if cid in hc else "—"

        def proto(cid, ph):
            v = sorted({x["data"].get("http_version") for x in self.recs(cid, ph)})
            return ", ".join("HTTP/%s" % x for x in v) if v else "—"

        def conns(cid, ph):
            v = sorted({x["conns"] for x in self.recs(cid, ph)})
            out = "–".join(str(x) for x in (v[0], v[-1])[:len(v)]) if v else "—"
            # The streams' count differs with each repetition's length: left out.
            det = sorted({re.sub(r", streams \d+", "", h2_conn_detail(x["data"]).strip(" ()"))
                          for x in self.recs(cid, ph)} - {""})
            return out + ("; " + "; ".join(det) if det else "")

        def per_rep(a, b, ph, f):
            """a's f over b's, repetition by repetition (they ran one after the other)."""
            va = {x["rep"]: f(x["data"], x) for x in self.recs(a, ph)}
            vb = {x["rep"]: f(x["data"], x) for x in self.recs(b, ph)}
            return ", ".join("%.2f" % (va[k] / vb[k]) for k in sorted(va) if k in vb) or "—"

        def target(name, a, b, ph, f, unit, fmt, ok):
            va, vb = m(a, ph, f), m(b, ph, f)
            return "| %s | %s | %s | %s | %s |" % (
                name, ("%s vs %s %s" % (fmt.format(va), fmt.format(vb), unit)) if va and vb else "not measured",
                ratio(va, vb), per_rep(a, b, ph, f), status(ok(va / vb) if va and vb else None))

        def failures(ph, ids):
            F = []
            for cid in ids:
                for x in self.r:
                    if x["client"] == cid and x["phase"] == ph and "error" in x:
                        F.append("- %s, repetition %d: **failed** — %s" % (
                            hc[cid].label, x["rep"], x["error"].replace("|", "/")))
            return F + [""] if F else []

        RM, RT, CM, GO, R1 = "reqivo-h2-multi", "reqivo-h2-threads", "curl-h2-multi", "go-nethttp-h2", \
            "reqivo-h1-threads"
        if "h2_inflight" in ran:
            ph = "h2_inflight"
            ids = [k for k in (RM, RT, CM, GO, R1) if k in hc]
            L.append("### %d requests in flight on one connection (/small, 100 B)" % H2_INFLIGHT)
            L.append("")
            L.append("| client | protocol | req/s | × libcurl | × Go | CPU µs/req (user + sys) | CPU × libcurl | "
                     "connections opened |")
            L.append("|---|---|---:|---:|---:|---:|---:|---|")
            c_rps, g_rps, c_cpu = m(CM, ph, rps), m(GO, ph, rps), m(CM, ph, cpu)
            for k in ids:
                v, cp = m(k, ph, rps), m(k, ph, cpu)
                u = m(k, ph, lambda d, x: d["utime_us"] / d["n"])
                sy = m(k, ph, lambda d, x: d["stime_us"] / d["n"])
                L.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    hc[k].label, proto(k, ph), vcell(k, ph, rps), ratio(v, c_rps), ratio(v, g_rps),
                    (vcell(k, ph, cpu, "{:.1f}") + " (%.1f + %.1f)" % (u, sy)) if v else "—", ratio(cp, c_cpu),
                    conns(k, ph)))
            L.append("")
            L.extend(failures(ph, ids))
            L.append("| target (reqivo multi, HTTP/2, %d transfers) | measured (medians) | ratio | each repetition | "
                     "status |" % H2_INFLIGHT)
            L.append("|---|---|---:|---|---|")
            L.append(target("req/s ≥ 1.2× libcurl multi's", RM, CM, ph, rps, "req/s", "{:,.0f}", lambda r: r >= 1.2))
            L.append(target("req/s ≥ Go net/http's", RM, GO, ph, rps, "req/s", "{:,.0f}", lambda r: r >= 1.0))
            L.append(target("CPU/req ≤ 0.6× libcurl multi's", RM, CM, ph, cpu, "µs", "{:.1f}", lambda r: r <= 0.6))
            L.append("")
            secs = next((x["data"]["secs"] for k in (RM, RT) for x in self.recs(k, ph)), None)
            L.append("nginx /small over TLS, %d requests kept in flight, counted for %s s after a 1 s warm-up; every "
                     "client first makes one request alone, so that the others find the connection open. reqivo "
                     "multi: `multi_reqivo` (bench/clients), %d transfers added with `reqivo_multi_add` to one "
                     "multi on one thread, each added again when `reqivo_multi_next` gives it back, through one "
                     "session set to `REQIVO_HTTP_VERSION_2`, so all are streams on one connection, driven by "
                     "`reqivo_multi_poll`. reqivo threads: `threads_reqivo`, %d threads each sending its own "
                     "request through one session (`reqivo_session_set_http_version(s, REQIVO_HTTP_VERSION_2)`; "
                     "the pool allows %d "
                     "connections), so all are streams on one connection driven by whichever thread waits; HTTP/1.1: "
                     "the same with `REQIVO_HTTP_VERSION_1_1`, a connection per thread, against nginx's TLS "
                     "listener without http2. libcurl: `multi_curl` with `CURLMOPT_PIPELINING = "
                     "CURLPIPE_MULTIPLEX`, %d easy handles with `CURL_HTTP_VERSION_2TLS` and `CURLOPT_PIPEWAIT`, "
                     "each added again when done, on `curl_multi_socket_action` and epoll (one thread). Go: "
                     "`gobench inflight`, %d goroutines doing GETs through one http.Client (a clone of "
                     "http.DefaultTransport, which negotiates h2 by ALPN), GOMAXPROCS %s. CPU: getrusage of the "
                     "whole process (every thread) over the measured time, per request. Checked in every run (or "
                     "it fails): each response's version (reqivo `http_major`, libcurl `CURLINFO_HTTP_VERSION`, "
                     "Go `ProtoMajor`); connections opened: nginx `stub_status` accepts during the process (1 for "
                     "every HTTP/2 client), and the client's own count where it has one (reqivo's "
                     "`reqivo_pool_get_stats`: `opened`, `h2_connections`, `streams_opened`; libcurl's "
                     "`CURLINFO_NUM_CONNECTS` summed)." % (
                         H2_INFLIGHT, "%.0f" % secs if secs else "?", H2_INFLIGHT, H2_INFLIGHT, H2_INFLIGHT,
                         H2_INFLIGHT, H2_INFLIGHT,
                         next((str(x["data"]["gomaxprocs"]) for x in self.recs(GO, ph)), "?")))
            L.append("")

        RH2, RH1, CH2, CH1 = "reqivo-h2", "reqivo-h1", "curl-h2", "curl-h1"
        if "h2_seq" in ran:
            ph = "h2_seq"
            ids = [k for k in (RH2, RH1, CH2, CH1) if k in hc]
            server = lambda d, x: d["server_us"] / d["n"]
            L.append("### One request after another on one connection (/small, 100 B)")
            L.append("")
            L.append("| client | protocol | req/s | × reqivo HTTP/1.1 | CPU µs/req (user + sys) | "
                     "CPU × reqivo HTTP/1.1 | nginx CPU µs/req | connections opened |")
            L.append("|---|---|---:|---:|---:|---:|---:|---|")
            h_rps, h_cpu = m(RH1, ph, rps), m(RH1, ph, cpu)
            for k in ids:
                v, cp = m(k, ph, rps), m(k, ph, cpu)
                u = m(k, ph, lambda d, x: d["utime_us"] / d["n"])
                sy = m(k, ph, lambda d, x: d["stime_us"] / d["n"])
                L.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    hc[k].label, proto(k, ph), vcell(k, ph, rps), ratio(v, h_rps),
                    (vcell(k, ph, cpu, "{:.1f}") + " (%.1f + %.1f)" % (u, sy)) if v else "—", ratio(cp, h_cpu),
                    vcell(k, ph, server, "{:.1f}"), conns(k, ph)))
            L.append("")
            L.extend(failures(ph, ids))
            L.append("| target (reqivo, HTTP/2) | measured (medians) | ratio | each repetition | status |")
            L.append("|---|---|---:|---|---|")
            L.append(target("req/s ≥ 0.9× reqivo HTTP/1.1's", RH2, RH1, ph, rps, "req/s", "{:,.0f}",
                            lambda r: r >= 0.9))
            L.append(target("CPU/req ≤ 1.1× reqivo HTTP/1.1's", RH2, RH1, ph, cpu, "µs", "{:.1f}",
                            lambda r: r <= 1.1))
            L.append("")
            L.append("nginx /small over TLS, one client program at a time making GETs one after another on one "
                     "connection for %s after 100 warm-up requests: `reqivo_bench ka` (one session, one request "
                     "sent again and again; `BENCH_HTTP_VERSION` sets `reqivo_session_set_http_version`) and "
                     "`curl_bench ka` (one easy handle, `CURL_HTTP_VERSION_2TLS`). The HTTP/1.1 rows are the same "
                     "programs against nginx's TLS listener without http2 (as in the HTTPS section). nginx CPU: "
                     "the user and system time of nginx's processes (/proc) over the run, per request: the "
                     "server's share of each round trip. Checked in every run: each response's version, one "
                     "connection (nginx `stub_status`; reqivo's pool)." % (
                         "0.7 s" if self.args.quick else "2 s"))
            L.append("")

        if "h2_big" in ran:
            ph = "h2_big"
            ids = [k for k in (RH2, RH1, CH2) if k in hc]
            L.append("### A 256 MiB download (/huge), streamed")
            L.append("")
            L.append("| client | protocol | seconds | MB/s | × reqivo HTTP/1.1 | CPU s (user + sys) | "
                     "peak RSS growth MiB | connections opened |")
            L.append("|---|---|---:|---:|---:|---:|---:|---|")
            h_mb = m(RH1, ph, mbps)
            for k in ids:
                v = m(k, ph, mbps)
                u = m(k, ph, lambda d, x: d["utime_us"] / 1e6)
                sy = m(k, ph, lambda d, x: d["stime_us"] / 1e6)
                L.append("| %s | %s | %s | %s | %s | %s | %s | %s |" % (
                    hc[k].label, proto(k, ph), vcell(k, ph, lambda d, x: d["secs"], "{:.2f}"),
                    vcell(k, ph, mbps), ratio(v, h_mb),
                    ("%.2f (%.2f + %.2f)" % (u + sy, u, sy)) if v else "—",
                    vcell(k, ph, self.growth, "{:.2f}"), conns(k, ph)))
            L.append("")
            L.extend(failures(ph, ids))
            L.append("| target (reqivo, HTTP/2) | measured (medians) | ratio | each repetition | status |")
            L.append("|---|---|---:|---|---|")
            L.append(target("MB/s ≥ 0.9× reqivo HTTP/1.1's", RH2, RH1, ph, mbps, "MB/s", "{:,.0f}",
                            lambda r: r >= 0.9))
            L.append("")
            L.append("One GET of /huge (256 MiB, nginx with sendfile) over TLS after 3 warm-up requests of /small on "
                     "the same connection, the body read in 64 KiB pieces and dropped: `reqivo_bench stream` "
                     "(`reqivo_session_open`, `reqivo_stream_read`) and `curl_bench stream` (a write callback that "
                     "drops). Seconds: from the request to the last byte; MB = 10⁶ bytes; peak RSS growth as in "
                     "the /huge column above. Checked in every run: the response's version, one connection.")
            L.append("")
        return L

    def multi_vals(self, cid, phase, f, size=None):
        recs = [x for x in self.recs(cid, phase) if size is None or x.get("size") == size]
        return self.vals(cid, phase, f, recs)

    def multi_section(self):
        if not any(x["phase"] in ("multi_hold", "multi_small") for x in self.r):
            return []
        mc = {c.id: c for c in self.all_clients if c.multi}
        R, CU, GO, WRK = "reqivo-multi", "curl-multi", "go-nethttp-multi", "wrk"
        GT, GS = "go-reqivo-transport-multi", "go-reqivo-session-multi"  # the reqivo Go binding
        RA, TY = "ruby-reqivo-async-multi", "ruby-typhoeus-multi"  # Ruby, at 1,000 only
        label = {R: "reqivo", CU: "libcurl", GO: "Go", WRK: "wrk"}
        L = ["## Event-driven multi API: many transfers on one thread", ""]
        loads = {x["which"]: x["value"] for x in self.r if x["phase"] == "multi_load"}
        rv = {}
        for x in self.r:
            d = x.get("data") or {}
            if d.get("lib_version") and x["client"] in mc:
                rv[x["client"]] = d["lib_version"]
        rc, commit = sh(["git", "-C", str(REQIVO_TREE), "describe", "--always", "--dirty"])
        reps = {"multi_hold": min(self.args.reps, 3), "multi_small": self.args.reps}
        L.append("- Date: %s; %s; clients interleaved within each repetition; a cell is the median, `±x%%` half "
                 "the range over the median" % (
                     self.started.strftime("%Y-%m-%d %H:%M UTC"),
                     ", ".join("%s %d repetitions" % (p, reps[p]) for p in ("multi_hold", "multi_small")
                               if p in loads)))
        rver = rv.get(R) or next((mm.group(1) for mm in (re.match(r"reqivo (\S+)", v) for v in rv.values())
                                  if mm), "?")
        L.append("- Library: reqivo %s, git %s%s%s" % (
            rver, commit.strip() or "?",
            "" if REQIVO_TREE == ROOT else " (built in %s, not this working tree)" % REQIVO_TREE,
            "".join("; " + rv.get(k, d).replace(" net/http", "") for k, d in (
                (CU, "libcurl ?"), (GO, "Go ?"), (WRK, "wrk ?")) if k in rv or any(x["client"] == k for x in self.r))))
        L.append("- Load average (1, 5, 15 min): " + "; ".join(
            "%s %s at the start, %s at the end" % (k, v[0], v[1]) for k, v in loads.items()))
        L.append("- Noise: 2 cores, the server pinned to CPU %s and each client to CPU %s, but nothing keeps other "
                 "work off them: wall times and req/s move with whatever else runs (the load averages above), CPU "
                 "times and memory much less.%s" % (SERVER_CPU, CLIENT_CPU,
                                                   (" " + self.args.note) if self.args.note else ""))
        L.append("")

        def mcell(cid, phase, f, size=None, fmt="{:,.2f}"):
            v = self.multi_vals(cid, phase, f, size)
            if v:
                return cell(v, fmt)
            c = mc.get(cid)
            return self.why(c, phase) if c else "—"

        def status(ok):
            return "n/a" if ok is None else ("**met**" if ok else "**missed**")

        wall = lambda d, x: d["secs"]
        cpu = lambda d, x: (d["utime_us"] + d["stime_us"]) / 1e6
        rss = lambda d, x: d["hwm_kb"] / 1024
        hold_sizes = lambda ids: sorted({x["size"] for x in self.r if x["phase"] == "multi_hold" and "size" in x
                                         and x["client"] in ids})

        def hold_table(n, clients):
            """The C = n table of these clients, then their failed runs and transfers."""
            T = ["| client | wall s | CPU s (user + sys) | peak RSS MiB | threads (peak) | descriptors at peak | "
                 "ok / C | server: connections, most held at once |",
                 "|---|---:|---:|---:|---:|---:|---:|---:|"]
            for c in clients:
                recs = [x for x in self.recs(c.id, "multi_hold") if x.get("size") == n]
                if not recs:
                    errs = [x["error"] for x in self.r if x["client"] == c.id and x["phase"] == "multi_hold" and
                            x.get("size") == n and "error" in x]
                    T.append("| %s | %s | — | — | — | — | — | — |" % (
                        c.label, ("failed: " + errs[0][:160].replace("|", "/")) if errs else self.why(c, "multi_hold")))
                    continue
                u = med(self.multi_vals(c.id, "multi_hold", lambda d, x: d["utime_us"] / 1e6, n))
                sy = med(self.multi_vals(c.id, "multi_hold", lambda d, x: d["stime_us"] / 1e6, n))
                thr = sorted({x["data"]["threads_peak"] for x in recs})
                fds = [x["data"]["fds_peak"] for x in recs]
                oks = [x["data"]["ok"] for x in recs]
                nfail = sum(1 for x in self.r if x["client"] == c.id and x["phase"] == "multi_hold" and
                            x.get("size") == n and "error" in x)
                ok_s = ("{:,}/{:,}".format(min(oks), n) if len(set(oks)) == 1 else
                        "{:,}–{:,}/{:,}".format(min(oks), max(oks), n)) + (
                            " (+%d run%s failed)" % (nfail, "s" if nfail > 1 else "") if nfail else "")
                srv = [x.get("server") or {} for x in recs]
                acc = sorted({v.get("accepted", -1) for v in srv})
                held = sorted({v.get("peak_held", -1) for v in srv})
                T.append("| %s | %s | %s (%.2f + %.2f) | %s | %s | %s | %s | %s, %s |" % (
                    c.label, mcell(c.id, "multi_hold", wall, n), mcell(c.id, "multi_hold", cpu, n), u, sy,
                    mcell(c.id, "multi_hold", rss, n, "{:,.0f}"), "–".join("{:,}".format(t) for t in thr),
                    "{:,}".format(max(fds)), ok_s, "–".join("{:,}".format(a) for a in (acc[0], acc[-1])[:len(acc)]),
                    "–".join("{:,}".format(h) for h in (held[0], held[-1])[:len(held)])))
            T.append("")
            # Runs that failed, or finished with failed transfers: the first error of each.
            bad = []
            for c in clients:
                for x in self.r:
                    if x["client"] != c.id or x["phase"] != "multi_hold" or x.get("size") != n:
                        continue
                    d = x.get("data") or {}
                    if "error" in x:
                        bad.append("- %s, repetition %d: failed — %s" % (c.label, x["rep"], x["error"]))
                    elif d.get("failed"):
                        bad.append("- %s, repetition %d: {:,} of {:,} transfers failed, the first with: %s".format(
                            d["failed"], n) % (c.label, x["rep"], d.get("first_error") or "?"))
            if bad:
                T.extend(x.replace("|", "/") for x in bad)
                T.append("")
            return T

        # The C API and Go clients, at every size run; the Ruby ones
        # (RUBY_MULTI) after them, in a subsection of their own.
        all_hold_clients = [mc[k] for k in (R, CU, GO, GT, GS) if k in mc]
        sizes = hold_sizes({c.id for c in all_hold_clients})
        for n in sizes:
            hold_clients = [c for c in all_hold_clients if not c.multi_sizes or n in c.multi_sizes]
            L.append("### %s transfers at once, each on its own connection, held 1 s by the server" % "{:,}".format(n))
            L.append("")
            L.extend(hold_table(n, hold_clients))
            m = lambda cid, f: med(self.multi_vals(cid, "multi_hold", f, n))
            rw, cw, gw = m(R, wall), m(CU, wall), m(GO, wall)
            rc_, cc_, gc_ = m(R, cpu), m(CU, cpu), m(GO, cpu)
            rr, cr = m(R, rss), m(CU, rss)
            rrecs = [x for x in self.recs(R, "multi_hold") if x.get("size") == n]
            L.append("| target (reqivo multi, C = %s) | measured | ratio | status |" % "{:,}".format(n))
            L.append("|---|---|---:|---|")
            fast = min((v, k) for v, k in ((cw, CU), (gw, GO)) if v is not None) if (cw or gw) else None
            L.append("| wall ≤ the faster of libcurl multi and Go | %s | %s | %s |" % (
                "%.2f s vs %.2f s (%s)" % (rw, fast[0], label[fast[1]]) if rw and fast else "not measured",
                ratio(rw, fast[0]) if rw and fast else "—", status(rw <= fast[0] if rw and fast else None)))
            L.append("| CPU ≤ 0.5× libcurl multi's | %s | %s | %s |" % (
                "%.3f s vs 0.5 × %.3f s" % (rc_, cc_) if rc_ is not None and cc_ else "not measured",
                ratio(rc_, cc_) if rc_ is not None and cc_ else "—",
                status(rc_ <= 0.5 * cc_ if rc_ is not None and cc_ else None)))
            L.append("| CPU ≤ Go's | %s | %s | %s |" % (
                "%.3f s vs %.3f s" % (rc_, gc_) if rc_ is not None and gc_ else "not measured",
                ratio(rc_, gc_) if rc_ is not None and gc_ else "—",
                status(rc_ <= gc_ if rc_ is not None and gc_ else None)))
            L.append("| peak RSS ≤ libcurl multi's | %s | %s | %s |" % (
                "%.0f MiB vs %.0f MiB" % (rr, cr) if rr and cr else "not measured",
                ratio(rr, cr) if rr and cr else "—", status(rr <= cr if rr and cr else None)))
            thr = [x["data"]["threads_peak"] for x in rrecs]
            L.append("| threads: 1 | %s | — | %s |" % (
                "%d at most (every run)" % max(thr) if thr else "not measured",
                status(max(thr) == 1 if thr else None)))
            fds = [x["data"]["fds_peak"] for x in rrecs]
            L.append("| descriptors ≤ connections + 8 | %s | — | %s |" % (
                "{:,} at most vs {:,} + 8".format(max(fds), n) if fds else "not measured",
                status(max(fds) <= n + 8 if fds else None)))
            oks = [x["data"]["ok"] for x in rrecs]
            failed_runs = [x for x in self.r if x["client"] == R and x["phase"] == "multi_hold" and
                           x.get("size") == n and "error" in x]
            L.append("| every transfer a 200 | %s | — | %s |" % (
                ("{:,}/{:,} in the worst run".format(min(oks), n) if oks else "no run finished") +
                (", %d run(s) failed" % len(failed_runs) if failed_runs else ""),
                status(bool(oks) and min(oks) == n and not failed_runs) if oks or failed_runs else "n/a"))
            L.append("")
            # The Go binding's targets, against Go net/http.
            gos = [(k, mc[k].label.replace(" (a goroutine each)", "")) for k in (GT, GS) if k in mc]
            if gos:
                gc_, gr = m(GO, cpu), m(GO, rss)
                L.append("| target (reqivo Go binding, C = %s) | client | measured | ratio | status |" %
                         "{:,}".format(n))
                L.append("|---|---|---|---:|---|")
                rows = {}
                for k, lab in gos:
                    kw, kc, kr = m(k, wall), m(k, cpu), m(k, rss)
                    krecs = [x for x in self.recs(k, "multi_hold") if x.get("size") == n]
                    kfail = [x for x in self.r if x["client"] == k and x["phase"] == "multi_hold" and
                             x.get("size") == n and "error" in x]
                    thr = [x["data"]["threads_peak"] for x in krecs]
                    gmp = max((x["data"].get("gomaxprocs", 0) for x in krecs), default=None)
                    oks = [x["data"]["ok"] for x in krecs]
                    rows.setdefault("wall", []).append("| wall ≤ net/http's | %s | %s | %s | %s |" % (
                        lab, "%.2f s vs %.2f s" % (kw, gw) if kw and gw else "not measured",
                        ratio(kw, gw), status(kw <= gw if kw and gw else None)))
                    rows.setdefault("cpu", []).append("| CPU ≤ 0.8× net/http's | %s | %s | %s | %s |" % (
                        lab, "%.3f s vs 0.8 × %.3f s" % (kc, gc_) if kc is not None and gc_ else "not measured",
                        ratio(kc, gc_), status(kc <= 0.8 * gc_ if kc is not None and gc_ else None)))
                    rows.setdefault("rss", []).append("| peak RSS ≤ net/http's | %s | %s | %s | %s |" % (
                        lab, "%.0f MiB vs %.0f MiB" % (kr, gr) if kr and gr else "not measured",
                        ratio(kr, gr), status(kr <= gr if kr and gr else None)))
                    rows.setdefault("thr", []).append("| peak OS threads ≤ GOMAXPROCS + 8 | %s | %s | — | %s |" % (
                        lab, "%d at most vs %d + 8" % (max(thr), gmp) if thr and gmp else "not measured",
                        status(max(thr) <= gmp + 8 if thr and gmp else None)))
                    rows.setdefault("err", []).append("| errors: 0 | %s | %s | — | %s |" % (
                        lab, ("{:,}/{:,} a 200 in the worst run".format(min(oks), n) if oks else "no run finished") +
                        (", %d run(s) failed" % len(kfail) if kfail else ""),
                        status(bool(oks) and min(oks) == n and not kfail) if oks or kfail else "n/a"))
                for key in ("wall", "cpu", "rss", "thr", "err"):
                    L.extend(rows[key])
                L.append("")
        if sizes:
            L.append("Each run: one process on CPU %s starts C GETs of `http://127.0.0.1:PORT/hold` at once (the "
                     "server, `gobench holdserver` on CPU %s, holds each 1 s, then answers 200 with 100 bytes); the "
                     "client waits for all C (at most 60 s, then it fails). Wall: first add to last response. CPU: "
                     "getrusage(RUSAGE_SELF) user + system over that time, every thread, less what the samples "
                     "below cost. Peak RSS: VmHWM at the end (the whole process). Threads and descriptors: "
                     "/proc/self/status `Threads` and the entries of /proc/self/fd (stdin, stdout and stderr "
                     "included), read every 100 ms from the first add until the first response and once at the "
                     "end; the largest. Runs start %.1f s after the server has closed the previous run's connections "
                     "(a TIME_WAIT port is reused by connect only 1 s after its last segment; without the pause a "
                     "10,000-run right after another paid twice the system time searching for ports). "
                     "Server: connections it accepted during the run and the most requests it "
                     "held at the same time (C when all were in flight together). reqivo: `reqivo_multi_add` × C "
                     "of one request through a session whose pool allows C connections to the host "
                     "(`reqivo_pool_config.max_per_host = max_total = C`), then `reqivo_multi_poll` until "
                     "`reqivo_multi_next` has given every transfer back; each response checked and freed. libcurl: "
                     "C easy handles made and added at once, `curl_multi_socket_action` driven by epoll "
                     "(CURLMOPT_SOCKETFUNCTION, CURLMOPT_TIMERFUNCTION), CURLMOPT_MAX_HOST_CONNECTIONS and "
                     "MAX_TOTAL_CONNECTIONS 0, no pipelining, bodies dropped, each handle cleaned up when done. Go: "
                     "C goroutines doing `client.Get` through a clone of http.DefaultTransport with MaxConnsPerHost "
                     "0 and MaxIdleConnsPerHost C, bodies read into io.Discard, GOMAXPROCS %s. reqivo Go binding "
                     "(the working tree's bindings/go; a request beyond its few blocking slots goes to its "
                     "process-wide `reqivo_multi`, driven by a goroutine on Go's netpoller): C goroutines on a "
                     "pool of `reqivo.NewPool(PoolConfig{MaxPerHost: C, MaxTotal: C})`; Transport: `client.Get` "
                     "through an http.Client (the same Timeout as net/http's) over "
                     "`reqivo.NewTransport(reqivo.WithPool(pool))`, bodies read into io.Discard; Session: "
                     "`Session.Get(context.Background(), URL)` on a session made with `reqivo.WithPool(pool)` "
                     "(the library's default timeouts), the body kept in the Response until it is dropped; "
                     "GOMAXPROCS as for net/http. Their targets compare medians with "
                     "net/http's; threads: the largest peak of any run. Each process raises "
                     "its descriptor limit to the hard limit (%s here)." % (
                         CLIENT_CPU, SERVER_CPU, MULTI_HOLD_PAUSE,
                         next((str(x["data"]["gomaxprocs"]) for x in self.recs(GO, "multi_hold")), "default"),
                         next(("{:,}".format(x["data"]["nofile"]) for x in self.recs(R, "multi_hold")), "?")))
            L.append("")

        def ruby_versions(vs):
            """The clients' lib_version strings, Ruby's own version said once
            and libcurl's without its list of features."""
            rubies = sorted({mm.group(1) for mm in (re.search(r", Ruby (\S+)$", v) for v in vs) if mm})
            vs = [re.sub(r"(libcurl/[^\s,)]+).*\)", r"\1)", re.sub(r", Ruby \S+$", "", v)) for v in vs]
            return "; ".join(["Ruby " + ", ".join(rubies)] * bool(rubies) + vs).replace("|", "/")

        # Ruby at 1,000: the binding's two event-driven paths against
        # Typhoeus' Hydra, with Net::HTTP's thread per request beside them.
        RP, RN = "ruby-reqivo-parallel-multi", "ruby-nethttp-threads-multi"
        ruby_clients = [mc[k] for k in (RP, RA, TY, RN) if k in mc]
        for n in hold_sizes({c.id for c in ruby_clients}):
            L.append("### Ruby: %s transfers at once, each on its own connection, held 1 s by the server" %
                     "{:,}".format(n))
            L.append("")
            L.extend(hold_table(n, ruby_clients))
            m = lambda cid, f: med(self.multi_vals(cid, "multi_hold", f, n))
            tw, tc = m(TY, wall), m(TY, cpu)
            mine = [(k, mc[k].label) for k in (RP, RA) if k in mc]
            if mine:
                L.append("| target (reqivo Ruby, C = %s) | client | measured | ratio | status |" % "{:,}".format(n))
                L.append("|---|---|---|---:|---|")
                rows = {}
                for k, lab in mine:
                    kw, kc = m(k, wall), m(k, cpu)
                    krecs = [x for x in self.recs(k, "multi_hold") if x.get("size") == n]
                    kfail = [x for x in self.r if x["client"] == k and x["phase"] == "multi_hold" and
                             x.get("size") == n and "error" in x]
                    thr = [x["data"]["threads_peak"] for x in krecs]
                    oks = [x["data"]["ok"] for x in krecs]
                    rows.setdefault("wall", []).append("| wall ≤ Hydra's | %s | %s | %s | %s |" % (
                        lab, "%.2f s vs %.2f s" % (kw, tw) if kw and tw else "not measured",
                        ratio(kw, tw), status(kw <= tw if kw and tw else None)))
                    rows.setdefault("cpu", []).append("| CPU ≤ 0.7× Hydra's | %s | %s | %s | %s |" % (
                        lab, "%.3f s vs 0.7 × %.3f s" % (kc, tc) if kc is not None and tc else "not measured",
                        ratio(kc, tc), status(kc <= 0.7 * tc if kc is not None and tc else None)))
                    rows.setdefault("thr", []).append("| OS threads ≤ 4 | %s | %s | %s | %s |" % (
                        lab, "%d at most vs 4" % max(thr) if thr else "not measured",
                        ratio(max(thr), 4) if thr else "—", status(max(thr) <= 4 if thr else None)))
                    rows.setdefault("err", []).append("| errors: 0 | %s | %s | — | %s |" % (
                        lab, ("{:,}/{:,} a 200 in the worst run".format(min(oks), n) if oks else "no run finished") +
                        (", %d run(s) failed" % len(kfail) if kfail else ""),
                        status(bool(oks) and min(oks) == n and not kfail) if oks or kfail else "n/a"))
                for key in ("wall", "cpu", "thr", "err"):
                    L.extend(rows[key])
                L.append("")
            nw, nc, nr = m(RN, wall), m(RN, cpu), m(RN, rss)
            nthr = [x["data"]["threads_peak"] for x in self.recs(RN, "multi_hold") if x.get("size") == n]
            beside = []
            for k in (RP, RA):
                kw, kc, kr = m(k, wall), m(k, cpu), m(k, rss)
                kthr = [x["data"]["threads_peak"] for x in self.recs(k, "multi_hold") if x.get("size") == n]
                if kw and kc is not None and kr and kthr:
                    beside.append("%s: wall %s, CPU %s, peak RSS %s, %d threads at most" % (
                        mc[k].label, ratio(kw, nw), ratio(kc, nc), ratio(kr, nr), max(kthr)))
            if beside and nw and nc and nr and nthr:
                L.append("Against Net::HTTP with a thread per request (medians %.2f s wall, %.3f s CPU, %.0f MiB; "
                         "{:,} threads at most): %s.".format(max(nthr)) % (nw, nc, nr, "; ".join(beside)))
                L.append("")
            L.append("bench/ruby/multi.rb, one Ruby process per run, against the same server with the same pauses "
                     "and measurements as the tables above (VmHWM counts every thread's stack pages that were "
                     "touched); targets compare medians with Hydra's, threads the largest peak of any run. "
                     "reqivo Session#parallel: C `batch.get(URL)` queued in one "
                     "`session.parallel(max_in_flight: C)` block on a session whose pool allows C connections, "
                     "so one `reqivo_multi`, driven by the calling thread in `reqivo_multi_poll` (the GVL "
                     "released), carries them and each request's block runs on that thread. reqivo under Async: "
                     "C async tasks in one reactor doing `Session#get` through such a session, so the binding's "
                     "fiber-scheduler path carries them (one `reqivo_multi` per scheduler, waited for in the "
                     "scheduler's io_wait). Typhoeus: C requests queued on a "
                     "`Typhoeus::Hydra.new(max_concurrency: C)`, then `hydra.run`. Net::HTTP: C "
                     "`Thread.new { Net::HTTP.start(host, port) { |h| h.get(path) } }` (open and read timeouts "
                     "60 s), each its own connection and its own OS thread. Session#parallel and Hydra are timed "
                     "from the start of their run (the end of the `parallel` block, `hydra.run`), their requests "
                     "queued before; Async and Net::HTTP from the first task or thread started. Threads and "
                     "descriptors: read every 100 ms until the first answer (Async: by a fiber; Net::HTTP: by "
                     "the main thread, which then joins the others; Session#parallel and Hydra, whose thread "
                     "waits in the library: when the run starts and at the first answer) and at the end. "
                     "Versions: %s." % ruby_versions([rv[k] for k in (RP, RA, TY, RN) if k in rv]))
            L.append("")

        if any(x["phase"] == "multi_small" for x in self.r):
            L.append("### /small, %d transfers in flight over %d kept-alive connections" % (
                MULTI_SMALL_CONC, MULTI_SMALL_CONC))
            L.append("")
            L.append("| client | req/s | × wrk | × libcurl multi | CPU µs/req (user + sys) | CPU s per run | "
                     "connections opened |")
            L.append("|---|---:|---:|---:|---:|---:|---:|")
            rps = lambda d, x: d["n"] / d["secs"]
            per = lambda d, x: (d["utime_us"] + d["stime_us"]) / d["n"]
            w_rps, c_rps = med(self.vals(WRK, "multi_small", rps)), med(self.vals(CU, "multi_small", rps))
            for k in (R, CU, WRK):
                c = mc.get(k)
                if not c:
                    continue
                v = med(self.vals(k, "multi_small", rps))
                u = med(self.vals(k, "multi_small", lambda d, x: d["utime_us"] / d["n"]))
                sy = med(self.vals(k, "multi_small", lambda d, x: d["stime_us"] / d["n"]))
                conns = self.vals(k, "multi_small", self.conns)
                L.append("| %s | %s | %s | %s | %s | %s | %s |" % (
                    c.label, self.val_cell(c, "multi_small", rps), ratio(v, w_rps), ratio(v, c_rps),
                    (cell(self.vals(k, "multi_small", per), "{:.1f}") + " (%.1f + %.1f)" % (u, sy)) if v else "—",
                    cell(self.vals(k, "multi_small", cpu), "{:.2f}") if v else "—",
                    ", ".join(map(str, sorted(set(conns)))) if conns else "—"))
            L.append("")
            r_rps = med(self.vals(R, "multi_small", rps))

            def per_rep(other):
                """reqivo's req/s over other's, repetition by repetition (they ran one after the other)."""
                a = {x["rep"]: rps(x["data"], x) for x in self.recs(R, "multi_small")}
                b = {x["rep"]: rps(x["data"], x) for x in self.recs(other, "multi_small")}
                return ", ".join("%.2f" % (a[k] / b[k]) for k in sorted(a) if k in b)

            L.append("| target (reqivo multi) | measured (medians) | ratio | each repetition | status |")
            L.append("|---|---|---:|---|---|")
            L.append("| req/s ≥ 0.9× wrk's | %s | %s | %s | %s |" % (
                "%s vs %s req/s" % (fmt0(r_rps), fmt0(w_rps)) if r_rps and w_rps else "not measured",
                ratio(r_rps, w_rps), per_rep(WRK) or "—", status(r_rps >= 0.9 * w_rps if r_rps and w_rps else None)))
            L.append("| req/s ≥ 1.2× libcurl multi's | %s | %s | %s | %s |" % (
                "%s vs %s req/s" % (fmt0(r_rps), fmt0(c_rps)) if r_rps and c_rps else "not measured",
                ratio(r_rps, c_rps), per_rep(CU) or "—", status(r_rps >= 1.2 * c_rps if r_rps and c_rps else None)))
            L.append("")
            rc_, wc_, cc_ = (med(self.vals(k, "multi_small", per)) for k in (R, WRK, CU))
            if rc_ and wc_ and cc_:
                L.append("The req/s spread is the machine's (the load averages above): the clients' CPU time per "
                         "request varies far less, and says where each stands: reqivo %.1f µs, %.2f× wrk's and "
                         "%.2f× libcurl's. The one nginx worker on CPU %s serves every client, so its own limit "
                         "compresses the req/s ratios towards 1 as clients get faster." % (
                             rc_, rc_ / wc_, rc_ / cc_, SERVER_CPU))
                L.append("")
            secs = next((x["data"]["secs"] for x in self.recs(R, "multi_small")), None)
            L.append("nginx /small (the harness's nginx, one worker on CPU %s), %d transfers kept in flight for "
                     "%s s. reqivo: a session whose pool allows %d connections, `reqivo_multi_add` again on every "
                     "transfer `reqivo_multi_next` gives back; libcurl: %d easy handles on `curl_multi_socket_action` "
                     "and epoll, each removed and added again when done (libcurl keeps the connection); both after "
                     "a 1 s warm-up, counting the transfers that finish in the measured time, CPU from "
                     "getrusage over it. wrk: `wrk -t1 -c%d -d%s` (its own count and time, which include its "
                     "connects; CPU: the whole process from wait4, its two threads and start-up included). "
                     "Connections opened: nginx `stub_status` accepts during the process." % (
                         SERVER_CPU, MULTI_SMALL_CONC, "%.0f" % secs if secs else "?", MULTI_SMALL_CONC,
                         MULTI_SMALL_CONC, MULTI_SMALL_CONC, "%.0fs" % secs if secs else "?"))
            L.append("")
        L.extend(MULTI_NOTE)
        return L

    def functions(self):
        fns = self.extra("reqivo-c", "callgrind_functions")
        if not fns:
            return []
        total = self.extra("reqivo-c", "callgrind_per_req") or 1
        L = ["## Where reqivo's instructions go (callgrind, self cost per /small request)", ""]
        L.append("| instructions/req | share | function |")
        L.append("|---:|---:|---|")
        for fn, v in fns[:20]:
            L.append("| %s | %.1f%% | `%s` |" % ("{:,.0f}".format(v), v / total * 100, fn.replace("|", "\\|")[:140]))
        L.append("")
        L.append("Annotated profiles: build/bench/callgrind.reqivo-c.*.out (`callgrind_annotate`, "
                 "`--dump-instr=yes`).")
        L.append("")
        return L

    def skips(self):
        L = []
        for c in self.all_clients:
            if c.skip and self.want(*(c.multi_phases if c.multi else c.h2_phases or
                                      set(PHASES) - {"multi_hold", "multi_small"} - set(H2_PHASES))):
                L.append("- %s: skipped — %s" % (c.label, c.skip))
            for ph, why in c.skip_phase.items():
                if ph in self.wanted or (ph == "https" and self.want("https_ka", "https_new")):
                    L.append("- %s, %s: not measured — %s" % (c.label, ph, why))
            seen = set()
            for x in self.r:
                if x["client"] == c.id and "error" in x and (x["phase"], x["error"]) not in seen:
                    if x["phase"].startswith("https") and c.skip_phase.get("https"):
                        continue
                    seen.add((x["phase"], x["error"]))
                    L.append("- %s, %s: failed — %s" % (c.label, x["phase"], x["error"]))
        if not L:
            return []
        return ["## Skipped and failed", ""] + L + [""]


# The HTTP/2 phases' section of the report (its title: --merge finds it).
H2_TITLE = "## HTTP/2 over TLS (nginx `http2`)"


# Why reqivo's compressed sends are where they are: what the profiles
# showed when the phase was added, and what was changed.
# The tables above it are regenerated on every run; bench/README.md says
# how to take the profiles again.
WS_NOTE = [
    "**What limited reqivo, and what was changed.** With a compressor per message, reqivo measured "
    "0.26–0.30× gorilla's client. With flate2's zlib-rs backend and one compressor per "
    "connection, this phase first measured reqivo at gorilla's speed, not clearly above it (C API 0.92–1.21× "
    "over five interleaved runs of each size, 10–25% less client CPU per MB), with gorilla's server busy "
    "97–100% of the time. `perf record` put 90% of reqivo's send time in zlib-rs's level-1 `deflate_quick`, "
    "most of it on the random half of the message: zlib's fastest level hashes and looks up every byte "
    "whatever the data (about 13 ms/MB on random bytes against 3 on the text, on one core of this machine) and "
    "codes bytes that do not compress with its fixed Huffman codes, 5.5% larger than they came (wire/payload "
    "0.708 against gorilla's 0.688), which the server then had to Huffman-decode (13–14 ms/MB against 5–6 "
    "since). Go's level 1 (compress/flate BestSpeed, gorilla's default) skips ahead through input without "
    "matches (about 2 ms/MB on random bytes, 7 on the text). Compression level (level 1 is zlib's fastest; "
    "level 2 costs 1.6× and 3 twice as much here), window size (smaller windows were no faster), masking "
    "(8 bytes at a time, src/ws/mask.rs, under 1%), copies (one memmove of the compressed message into the "
    "frame, about 3%) and system calls (about one `sendto` per message) were not it.",
    "",
    "Changed in src/ws/deflate.rs: each 1 KiB block of a message is judged by the pairs of equal bytes in a "
    "256-byte sample; runs of blocks that look random (Rényi entropy over 7.5 bits per byte: compressed media, "
    "encrypted or random data) go out as stored blocks after a sync flush, and their bytes are given to the "
    "compressor as its dictionary, so that its window stays the peer's and later data can still refer back "
    "to them. Measured interleaved on this workload (C API, five runs of each size): 1.05×/0.92× gorilla "
    "before, 2.55×/2.18× after (1 MiB/4 MiB); client CPU per MB 0.86× → 0.38–0.44× gorilla's; the server's "
    "cost per MB of reqivo's output 13.7 → 5.5–6.0 ms. On other 1 MiB inputs (compressor alone, ms/MB and "
    "output/input): HTML text 3.6 → 3.7 and 0.310 → 0.310, a shared library 7.2 → 4.7 and 0.621 → 0.615, "
    "PNG and JPEG files 9.0 → 5.7 and 0.820 → 0.819, random bytes 13 → 0.3 and 1.055 → 1.000, text with "
    "embedded images 7.6 → 5.2 and 0.690 → 0.690.",
    "",
    "What remains is in the profile above: `deflate_quick` on the compressible part; `set_dictionary`, which "
    "hashes every stored byte into the compressor's window (the price of letting later data refer back to "
    "them); judging the blocks (`Deflater::deflate`); the copy into the frame buffer and the mask. With reqivo "
    "gorilla's server, one goroutine on CPU 0, is busy nearly all the time: MB/s then measures how fast it "
    "inflates reqivo's output, and the client CPU column is reqivo's own cost. gorilla's client writes each "
    "message as continuation frames of its 4 KiB write buffer, one `write` each (the system calls above).",
    "",
]


# What the multi_hold numbers come from (strace -c, perf record, valgrind
# massif at C = 1,000 and 10,000); the tables above are regenerated on
# every run, this is not.
MULTI_NOTE = [
    "**Where reqivo's multi_hold costs come from.** When the phase was added (commit 1aed06b) reqivo made about "
    "15 system calls per transfer (libcurl about 21), and every connection zeroed a 16 KiB read buffer before a "
    "byte had arrived (massif at C = 1,000: 16.3 of the 20.1 MB heap peak): peak RSS was 1.15-1.20x libcurl's "
    "at 5,000 and 10,000. Commit 0b6db57 removed what was avoidable: `socket(2)` makes the socket non-blocking "
    "(no `fcntl` pair), the poller's writable report ends a connect (no `ppoll`), the address connected to names "
    "the peer (no `getpeername`), the socket turns blocking only if a blocking send later takes the connection "
    "from the pool (no `ioctl(FIONBIO)`), no `recvfrom` is tried right after a request is sent, and a new "
    "connection's read buffer starts at 4 KiB; since 6f8af33 a writable report without an error condition "
    "also skips `getsockopt` (SO_ERROR). Per transfer that leaves `socket`, `connect`, `setsockopt` "
    "(TCP_NODELAY), `sendto`, `recvfrom`, `close` and three `epoll_ctl` (add for the connect, modify for the "
    "answer, delete before the connection goes back to the pool), 9 in all (strace -c at C = 1,000); each `reqivo_multi_poll` adds `epoll_pwait`, a `timerfd_settime` and a read of the "
    "waker. CPU is then mostly the kernel's TCP work on loopback (connect, which also runs the server side of "
    "the handshake in the client's softirq; close), the same for every client: at C = 1,000 that keeps reqivo "
    "near half of libcurl's CPU rather than under it, with user time under a fifth of the total.",
    "",
]


def loadavg():
    try:
        return " ".join(open("/proc/loadavg").read().split()[:3])
    except OSError:
        return "?"


def fmt0(v):
    return "{:,.0f}".format(v) if v is not None else "?"


# ---------------------------------------------------------------- main


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--reps", type=int, default=5, help="repetitions of the timed phases (hold and huge: at most 3)")
    ap.add_argument("--quick", action="store_true", help="short runs (a smoke test, not for the report)")
    ap.add_argument("--clients", help="comma-separated client ids")
    ap.add_argument("--phases", help="comma-separated phases: " + ",".join(PHASES + EXTRA_PHASES))
    ap.add_argument("--report", default=str(BENCH / "REPORT.md"))
    ap.add_argument("--merge", action="store_true",
                    help="replace only the sections of the phases run (ws_deflate, multi_*, h2_*) in the existing "
                         "report")
    ap.add_argument("--note", help="a sentence added to the report (e.g. what else ran on the machine)")
    args = ap.parse_args()
    if (os.cpu_count() or 1) < 2:
        log("warning: fewer than 2 CPUs: nginx and the clients share CPU 0")
        global CLIENT_CPU
        CLIENT_CPU = "0"

    started = datetime.datetime.now(datetime.timezone.utc)
    t0 = time.time()
    load0 = loadavg()
    log("== prepare: files in build/bench/www, CA and certificate in build/bench/tls")
    prepare_files()
    prepare_tls()
    log("== build clients")
    clients, notes = build_clients(args)
    for c in clients:
        if c.skip:
            log("   %-14s skipped: %s" % (c.id, c.skip))

    nginx = Nginx()

    def stop(*_):
        nginx.stop()

    atexit.register(stop)
    for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(sig, lambda s, f: sys.exit(128 + s))
    nginx.start()
    log("== nginx on 127.0.0.1:%d (http), :%d (https) and :%d (https with http2), worker on CPU %s" % (
        nginx.port, nginx.tls_port, nginx.h2_port, SERVER_CPU))
    runner = Runner(nginx, args)
    runner.calibrate()
    try:
        run_phases(runner, clients, args)
    finally:
        nginx.stop()
    elapsed = time.time() - t0
    (B / "results.json").write_text(json.dumps({"started": started.isoformat(), "results": runner.results}, indent=1))
    Report(runner, clients, notes, args, started, elapsed, (load0, loadavg())).write(args.report)
    log("== wrote %s and build/bench/results.json (%.1f min)" % (os.path.relpath(args.report), elapsed / 60))
    if runner.h2_failed:
        log("== HTTP/2 phases: %d run(s) FAILED or failed their checks:" % len(runner.h2_failed))
        for f in runner.h2_failed:
            log("   " + f)
        sys.exit(1)


if __name__ == "__main__":
    main()
