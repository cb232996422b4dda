#!/usr/bin/env bash
# The soak (`make soak`, not part of `make test`): starts nginx on
# 127.0.0.1 in a directory of its own under build/soak, builds
# tests/soak/soak.c against target/release/libreqivo.so, and sends one
# million keep-alive requests (SOAK_REQUESTS), printing RSS every 100,000
# (SOAK_SAMPLE). Takes a few minutes; run it niced on a shared machine.
set -euo pipefail
cd "$(dirname "$0")/../.."
ROOT=$PWD
OUT=$ROOT/build/soak
REQUESTS=${SOAK_REQUESTS:-1000000}
SAMPLE=${SOAK_SAMPLE:-100000}
CC=${CC:-cc}
NGINX=$(command -v nginx || true)
for p in /usr/sbin/nginx /usr/local/sbin/nginx; do
  [ -n "$NGINX" ] || { [ -x "$p" ] && NGINX=$p; }
done
[ -n "$NGINX" ] || { echo "soak: nginx is not installed (make deps-system)" >&2; exit 1; }
[ -f target/release/libreqivo.so ] || { echo "soak: run 'make lib' first" >&2; exit 1; }

rm -rf "$OUT"
mkdir -p "$OUT/www" "$OUT/tmp"
printf '{"soak": true, "padding": "%s"}\n' "$(printf '.%.0s' $(seq 64))" >"$OUT/www/small.json"
PORT=$(python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])')
cat >"$OUT/nginx.conf" <<CONF
daemon off; master_process off; worker_processes 1; pid $OUT/nginx.pid; error_log $OUT/error.log;
events { worker_connections 64; }
http { access_log off; keepalive_requests 10000000; keepalive_timeout 60s;
  client_body_temp_path $OUT/tmp; proxy_temp_path $OUT/tmp; fastcgi_temp_path $OUT/tmp;
  uwsgi_temp_path $OUT/tmp; scgi_temp_path $OUT/tmp;
  server { listen 127.0.0.1:$PORT; root $OUT/www; } }
CONF
"$NGINX" -p "$OUT" -c "$OUT/nginx.conf" &
NGINX_PID=$!
trap 'kill "$NGINX_PID" 2>/dev/null || true; wait "$NGINX_PID" 2>/dev/null || true' EXIT
# Bounded wait for the listener: 10 s.
for _ in $(seq 100); do
  (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null && break
  sleep 0.1
done

"$CC" -std=c11 -Wall -Wextra -Werror -O2 -Iinclude tests/soak/soak.c -o "$OUT/soak" \
  -Ltarget/release -lreqivo -Wl,-rpath,"$ROOT/target/release"
echo "soak: $REQUESTS keep-alive requests to nginx on 127.0.0.1:$PORT, RSS every $SAMPLE"
# A generous hang guard: an hour for a run that takes minutes.
timeout 3600 "$OUT/soak" "$PORT" "$REQUESTS" "$SAMPLE"
