#!/usr/bin/env bash
# The benchmark harness: `make bench` runs this after `make lib`.
#
#   bash bench/run.sh [--reps N] [--quick] [--clients raw,reqivo-c,...] [--phases small,big,...]
#                     [--report PATH] [--merge] [--note TEXT]
#   BENCH_NO_BUILD=1: skip `make lib`; BENCH_REQIVO_TREE=DIR: measure the
#   library built in another checkout (bench/README.md)
#
# Installs what is missing (apt: nginx-light, libcurl4-openssl-dev,
# libssl-dev, ruby + ruby-ffi + ruby-async + ruby-typhoeus, valgrind, strace,
# util-linux, openssl, wrk;
# pip, in a venv under build/bench: requests and Reqivo 0.2.0), then runs
# bench/run.py, which starts nginx on 127.0.0.1, runs every client and
# writes bench/REPORT.md. nginx is stopped on every exit (trap here, and
# atexit in run.py). A full run takes about 17 minutes on 2 cores.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
B=$ROOT/build/bench
mkdir -p "$B"

stop_nginx() {
	local pidfile=$B/nginx/nginx.pid pid
	[ -f "$pidfile" ] || return 0
	pid=$(cat "$pidfile" 2>/dev/null) || return 0
	# only our nginx: its command line names our prefix
	if [ -n "$pid" ] && tr '\0' ' ' <"/proc/$pid/cmdline" 2>/dev/null | grep -q "$B/nginx"; then
		kill -QUIT "$pid" 2>/dev/null || true
	fi
}
trap stop_nginx EXIT INT TERM

# ---- system packages, only where missing
missing=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || missing+=(nginx-light)
command -v cc >/dev/null 2>&1 || missing+=(gcc)
{ [ -f /usr/include/curl/curl.h ] || [ -f "/usr/include/$(uname -m)-linux-gnu/curl/curl.h" ]; } || missing+=(libcurl4-openssl-dev)
[ -f /usr/include/openssl/ssl.h ] || missing+=(libssl-dev)
command -v openssl >/dev/null 2>&1 || missing+=(openssl)
command -v ruby >/dev/null 2>&1 || missing+=(ruby)
ruby -e "require 'ffi'" >/dev/null 2>&1 || missing+=(ruby-ffi)
ruby -e "require 'async'" >/dev/null 2>&1 || missing+=(ruby-async)
ruby -e "require 'typhoeus'" >/dev/null 2>&1 || missing+=(ruby-typhoeus)
command -v valgrind >/dev/null 2>&1 || missing+=(valgrind)
command -v strace >/dev/null 2>&1 || missing+=(strace)
command -v taskset >/dev/null 2>&1 || missing+=(util-linux)
python3 -c "import venv, ensurepip" >/dev/null 2>&1 || missing+=(python3-venv)
command -v wrk >/dev/null 2>&1 || missing+=(wrk)
if [ ${#missing[@]} -gt 0 ]; then
	if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
		echo "bench: installing ${missing[*]}"
		apt-get update -qq
		DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}" >/dev/null
	else
		echo "bench: missing ${missing[*]} (not root or no apt-get): the clients that need them are skipped" >&2
	fi
fi

# ---- Python clients in a venv: requests and Reqivo 0.2.0
VENV=$B/venv
if [ ! -x "$VENV/bin/python" ]; then
	python3 -m venv "$VENV" || echo "bench: cannot create $VENV: the Python clients are skipped" >&2
fi
if [ -x "$VENV/bin/python" ] &&
	! "$VENV/bin/python" -c "import requests, reqivo; assert reqivo.__version__ == '0.2.0'" >/dev/null 2>&1; then
	"$VENV/bin/pip" install -q requests "reqivo==0.2.0" ||
		echo "bench: pip install failed: the Python clients are skipped" >&2
fi

# ---- the library (make bench has built it already; this is for direct runs)
if [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
	if ! make -s lib; then
		[ -f target/release/libreqivo.so ] || { echo "bench: the library does not build" >&2; exit 1; }
		echo "bench: warning: 'make lib' failed; measuring the existing target/release/libreqivo" >&2
	fi
fi

python3 bench/run.py "$@"
