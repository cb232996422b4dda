#!/usr/bin/env bash
# Checks tests/h2_peer.py itself with curl (built with nghttp2): each route
# on h2c and TLS answers as its docstring says, 100 streams share one
# connection, large bodies go both ways under flow control, and curl fails
# on the hostile routes with a protocol error instead of hanging. Every
# curl is bounded by --max-time; the whole run takes about ten seconds.
# Prints one line per check and exits 1 if any failed.
#
# curl 7.88 fails every request it puts on an h2c prior-knowledge
# connection already in use ("Error in the HTTP2 framing layer", against
# nginx too), so the checks that reuse a connection (parallel streams, a
# redirect followed) run over TLS, where ALPN gives it h2.
set -uo pipefail
cd "$(dirname "$0")/.."
PYTHON=${PYTHON:-python3}

TMP=$(mktemp -d)
PEER_PID=
cleanup() {
  [ -n "$PEER_PID" ] && kill "$PEER_PID" 2>/dev/null
  rm -rf "$TMP"
}
trap cleanup EXIT

"$PYTHON" tests/h2_peer.py --tls "$TMP/pki" >"$TMP/ports" 2>"$TMP/peer.log" &
PEER_PID=$!
for _ in $(seq 100); do
  [ -s "$TMP/ports" ] && break
  sleep 0.1
done
# Prints a Python expression over the JSON document on stdin, named e.
field() { "$PYTHON" -c "import json, sys; e = json.load(sys.stdin); print($1)"; }
port() { field "e['$1']" <"$TMP/ports"; }
if ! H2C=http://127.0.0.1:$(port h2c) || ! TLS=https://127.0.0.1:$(port tls) ||
   ! SILENT=http://127.0.0.1:$(port silent); then
  echo "h2_peer.py did not start:" >&2
  cat "$TMP/peer.log" >&2
  exit 1
fi

FAILED=0
check() {  # NAME EXPECTED ACTUAL
  if [ "$2" == "$3" ]; then
    echo "ok   $1"
  else
    echo "FAIL $1: expected [$2], got [$3]"
    FAILED=1
  fi
}
c2() { curl -sS --max-time 5 --http2-prior-knowledge "$@" 2>>"$TMP/curl.err"; }
ctls() { curl -sS --max-time 5 --http2 --cacert "$TMP/pki/ca.pem" "$@" 2>>"$TMP/curl.err"; }
# curl's exit code for a request that must fail.
fails() { curl -s --max-time "$@" -o /dev/null; echo $?; }
# A request curl must fail quickly with a protocol error: an exit code
# other than 0 and 28 (its timeout), and the words nghttp2 uses for it
# when given.
protocol_error() {  # NAME URL [PATTERN]
  local code
  code=$(curl -sS --max-time 5 --http2-prior-knowledge "$2" -o /dev/null 2>"$TMP/err"; echo $?)
  cat "$TMP/err" >>"$TMP/curl.err"
  check "$1 fails (curl $code)" "yes" "$([ "$code" != 0 ] && [ "$code" != 28 ] &&
    grep -q "${3:-}" "$TMP/err" && echo yes)"
}
stat() { ctls "$TLS/stats" | field "e['$1']"; }

check "h2c /ok" "hello h2 2 200" "$(c2 "$H2C/ok" -w '%{http_version} %{http_code}' | tr '\n' ' ')"
check "tls /ok, ALPN h2" "hello h2 2 200" "$(ctls "$TLS/ok" -w '%{http_version} %{http_code}' | tr '\n' ' ')"
code=$(fails 5 --http1.1 --cacert "$TMP/pki/ca.pem" "$TLS/ok")
check "tls without h2 in ALPN fails (curl $code)" "yes" "$([ "$code" != 0 ] && echo yes)"
check "/status/503" "503 0" "$(c2 "$H2C/status/503" -o /dev/null -w '%{http_code} %{size_download}')"
check "unknown route" "404" "$(c2 "$H2C/nope" -o /dev/null -w '%{http_code}')"
check "HEAD /ok: the head, no body" "200 0 content-length: 9" \
  "$(c2 -I "$H2C/ok" -w '%{http_code} %{size_download} ' -o /dev/null -D "$TMP/head" &&
    tr -d '\r' <"$TMP/head" | grep '^content-length:')"
check "/big-head/20000" "200 hello h2" "$(c2 "$H2C/big-head/20000" -w '%{http_code} ' -o "$TMP/big" &&
  cat "$TMP/big")"
check "/gzip" "hello h2" "$(c2 --compressed "$H2C/gzip")"
check "/redirect followed" "hello h2" "$(ctls -L "$TLS/redirect")"
c2 -c "$TMP/jar" "$H2C/cookie/set" -o /dev/null
check "cookie round trip" "[['cookie', 'h2=yes']]" "$(c2 -b "$TMP/jar" "$H2C/echo" |
  field "[h for h in e['headers'] if h[0] == 'cookie']")"
check "/trailers" "x-checksum: abc|grpc-status: 0|" "$(c2 -D - "$H2C/trailers" -o /dev/null |
  tr -d '\r' | grep -E '^(x-checksum|grpc-status):' | tr '\n' '|')"
check "/echo fields" "POST /echo?q=1 https 127.0.0.1 5 ['x-one', '1']" \
  "$(ctls "$TLS/echo?q=1" -H 'X-One: 1' -d hello | field "e['method'], e['path'], e['scheme'],
    e['authority'].split(':')[0], e['body_len'], *[h for h in e['headers'] if h[0] == 'x-one']")"

# 100 streams held 500 ms each on one connection: all at once.
ctls "$TLS/stats/reset" -o /dev/null
for _ in $(seq 100); do printf 'url = %s\noutput = /dev/null\n' "$TLS/hold/500"; done >"$TMP/hold.cfg"
start=$(date +%s%N)
codes=$(curl -sS --max-time 10 --http2 --cacert "$TMP/pki/ca.pem" -Z --parallel-max 100 \
  -K "$TMP/hold.cfg" -w '%{http_code}\n' 2>>"$TMP/curl.err" | sort | uniq -c | tr -s ' ')
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "100 x /hold/500 in parallel" " 100 200" "$codes"
check "... within 3 s (took $ms ms)" "yes" "$([ "$ms" -lt 3000 ] && echo yes)"
first=$(stat per_connection_max | field "e[0]")
check "... on one connection, $first streams at once (90+)" "yes" "$([ "$first" -ge 90 ] && echo yes)"

# 256 MiB down, byte i = i % 251, checked as it streams.
start=$(date +%s%N)
got=$(c2 --max-time 20 "$H2C/bytes/268435456" | "$PYTHON" -c '
import sys
pattern, n, ok = bytes(range(251)) * 4096, 0, True
while True:
    b = sys.stdin.buffer.read(len(pattern))
    if not b:
        break
    ok = ok and b == pattern[:len(b)]
    n += len(b)
print(n, ok)')
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "/bytes/268435456 h2c ($ms ms)" "268435456 True" "$got"
start=$(date +%s%N)
got=$(ctls --max-time 20 "$TLS/bytes/268435456" -o /dev/null -w '%{size_download}')
ms=$(( ($(date +%s%N) - start) / 1000000 ))
check "/bytes/268435456 tls ($ms ms)" "268435456" "$got"

# 64 MiB up.
head -c 67108864 /dev/urandom >"$TMP/up.bin"
want="67108864 $(sha256sum "$TMP/up.bin" | cut -d' ' -f1)"
for url in "$H2C/echo" "$TLS/echo"; do
  start=$(date +%s%N)
  got=$(curl -sS --max-time 20 --http2-prior-knowledge --cacert "$TMP/pki/ca.pem" \
    --data-binary @"$TMP/up.bin" "$url" 2>>"$TMP/curl.err" | field "e['body_len'], e['body_sha256']")
  check "64 MiB upload ${url%%:*} ($(( ($(date +%s%N) - start) / 1000000 )) ms)" "$want" "$got"
done
rm -f "$TMP/up.bin"

# Resets, GOAWAY, silence (curl exits with 28 on its own timeout).
protocol_error "/rst/2" "$H2C/rst/2" "INTERNAL_ERROR"
protocol_error "/rst/7, retried by curl," "$H2C/rst/7"
check "/goaway/1 answers stream 1" "hello h2" "$(c2 "$H2C/goaway/1")"
protocol_error "/goaway/0, never answered," "$H2C/goaway/0"
protocol_error "/goaway-open" "$H2C/goaway-open"
check "/never-ends: 7 bytes then the timeout" "28 7" \
  "$({ curl -s --max-time 1 --http2-prior-knowledge "$H2C/never-ends" -o /dev/null -w '%{size_download}'
       echo " $?"; } | awk '{print $2, $1}')"
check "silent port: the timeout" "28" "$(fails 1 --http2-prior-knowledge "$SILENT/ok")"
# GOAWAY(3) while streams 1 and 3 are held: those are answered on the
# first connection, curl retries 5 and 7 on new ones (answered there).
ctls "$TLS/stats/reset" -o /dev/null
codes=$(ctls -Z "$TLS/hold/300" "$TLS/hold/300" "$TLS/goaway/3" "$TLS/hold/300" \
  -o /dev/null -o /dev/null -o /dev/null -o /dev/null -w '%{http_code}\n' | sort | uniq -c | tr -s ' ')
check "/goaway/3 amid holds" " 4 200" "$codes"
check "... the unanswered retried elsewhere" "yes" "$([ "$(stat connections)" -ge 2 ] && echo yes)"

# Hostile routes: a protocol error, never a hang nor a success.
protocol_error "/hostile/continuation-flood" "$H2C/hostile/continuation-flood" "CONTINUATION"
protocol_error "/hostile/huge-headers" "$H2C/hostile/huge-headers"
protocol_error "/hostile/settings-flood" "$H2C/hostile/settings-flood" "Flooding"
protocol_error "/hostile/ping-flood" "$H2C/hostile/ping-flood" "Flooding"
protocol_error "/hostile/window-overflow" "$H2C/hostile/window-overflow" "FLOW_CONTROL_ERROR"
protocol_error "/hostile/window-overflow-conn" "$H2C/hostile/window-overflow-conn"
protocol_error "/hostile/push-promise" "$H2C/hostile/push-promise"
# What curl can see of these two: the response before the DATA after
# END_STREAM, and the whole body of 1-byte frames.
check "/hostile/data-after-end" "hello h2" "$(c2 "$H2C/hostile/data-after-end")"
check "/hostile/tiny-data" "1048576 True" "$(c2 "$H2C/hostile/tiny-data" | "$PYTHON" -c '
import sys
b = sys.stdin.buffer.read()
print(len(b), b == (bytes(range(251)) * 4200)[:len(b)])')"

if [ "$FAILED" != 0 ]; then
  echo "--- curl stderr" && cat "$TMP/curl.err"
  echo "--- peer log" && cat "$TMP/peer.log"
fi
exit "$FAILED"
