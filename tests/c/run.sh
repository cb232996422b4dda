#!/usr/bin/env bash
# The C test suite: builds every tests/c/test_*.c program and runs each
#   release   against target/release/libreqivo.so,
#   valgrind  the same binary under valgrind (leaks and memory errors fail),
#   asan      rebuilt with ASan+UBSan against target/debug/libreqivo.so,
# all against one tests/c/server.py on 127.0.0.1 (and tests/c/tls_server.py,
# whose test PKI is made fresh with openssl). Expects both libraries to
# be built (`make test-c` does that). Prints one line per program and mode,
# then exactly one line `c-tests: N passed, M failed`; exits non-zero if
# anything failed.
set -euo pipefail

cd "$(dirname "$0")/../.."
ROOT=$PWD
CC=${CC:-cc}
PYTHON=${PYTHON:-python3}
OUT=$ROOT/build/c-tests
CFLAGS=(-std=c11 -Wall -Wextra -Werror -pedantic -g -Iinclude)
RELEASE_LIB=$ROOT/target/release
DEBUG_LIB=$ROOT/target/debug
# Bounds on every wait: a hung program is killed and counted as failed, and
# the whole suite stops starting programs after SUITE_LIMIT seconds (a normal
# run takes about a minute, two on a machine shared with other builds).
RUN_TIMEOUT=60
VALGRIND_TIMEOUT=90
SUITE_LIMIT=360
SUITE_DEADLINE=$(($(date +%s) + SUITE_LIMIT))

mkdir -p "$OUT"
rm -f "$OUT"/*.log

passed=0
failed=0
report() { # report PASS|FAIL NAME MODE DETAIL
  printf '%-4s  %-12s %-9s %s\n' "$1" "$2" "$3" "$4"
  if [ "$1" = PASS ]; then passed=$((passed + 1)); else failed=$((failed + 1)); fi
}
show_log() { # the tail of a failed run's log, indented
  sed -e 's/^/    | /' "$1" | tail -n 40
}

for lib in "$RELEASE_LIB" "$DEBUG_LIB"; do
  if [ ! -f "$lib/libreqivo.so" ]; then
    echo "missing $lib/libreqivo.so: run cargo build --release and cargo build first" >&2
    echo "c-tests: 0 passed, 1 failed"
    exit 1
  fi
done

# Every function the header declares must be called by some test program.
missing=()
for fn in $(grep -oE '\breqivo_[a-z0-9_]+\(' include/reqivo.h | tr -d '(' | sort -u); do
  grep -q "\b$fn(" tests/c/test_*.c || missing+=("$fn")
done
if [ ${#missing[@]} -eq 0 ]; then
  report PASS api-coverage header "every function in include/reqivo.h is called"
else
  report FAIL api-coverage header "never called: ${missing[*]}"
fi

# Every function the header declares must be misused in test_misuse.c
# (NULL pointers, bad lengths, unknown values), so a new export cannot ship
# without a misuse case.
unmisused=()
for fn in $(grep -oE '\breqivo_[a-z0-9_]+\(' include/reqivo.h | tr -d '(' | sort -u); do
  grep -q "\b$fn(" tests/c/test_misuse.c || unmisused+=("$fn")
done
if [ ${#unmisused[@]} -eq 0 ]; then
  report PASS misuse-coverage header "every function in include/reqivo.h is misused in test_misuse.c"
else
  report FAIL misuse-coverage header "no misuse case in test_misuse.c: ${unmisused[*]}"
fi

# The server prints its port on its first line.
SERVER_PID=
TLS_SERVER_PID=
WS_SERVER_PID=
H2_PEER_PID=
cleanup() {
  for pid in "$SERVER_PID" "$TLS_SERVER_PID" "$WS_SERVER_PID" "$H2_PEER_PID"; do
    if [ -n "$pid" ]; then
      kill "$pid" 2>/dev/null || true
      wait "$pid" 2>/dev/null || true
    fi
  done
  [ -z "${TLS_DIR:-}" ] || rm -rf "$TLS_DIR" "$TLS_DIR.ports"
  rm -f "${REQIVO_TEST_UNIX:-}"
}
trap cleanup EXIT
# The same routes over a Unix socket too (test_targets.c).
export REQIVO_TEST_UNIX="$OUT/server.$$.sock"
rm -f "$REQIVO_TEST_UNIX"
"$PYTHON" tests/c/server.py "$REQIVO_TEST_UNIX" >"$OUT/server.port" 2>"$OUT/server.log" &
SERVER_PID=$!
PORT=
for _ in $(seq 50); do
  PORT=$(head -n 1 "$OUT/server.port" 2>/dev/null || true)
  [ -n "$PORT" ] && break
  kill -0 "$SERVER_PID" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$PORT" ]; then
  echo "tests/c/server.py did not start:" >&2
  cat "$OUT/server.log" >&2
  echo "c-tests: $passed passed, $((failed + 1)) failed"
  exit 1
fi

# The HTTPS peer prints its four ports (OK MTLS TLS12 WRONG) once its PKI
# is made (in a directory of this run's own); test_tls reads them and the
# PEM files from the environment.
TLS_DIR=$OUT/tls.$$
rm -rf "$TLS_DIR"
"$PYTHON" tests/c/tls_server.py "$TLS_DIR" "$PORT" >"$TLS_DIR.ports" 2>"$OUT/tls_server.log" &
TLS_SERVER_PID=$!
TLS_PORTS=
for _ in $(seq 300); do
  TLS_PORTS=$(head -n 1 "$TLS_DIR.ports" 2>/dev/null || true)
  [ -n "$TLS_PORTS" ] && break
  kill -0 "$TLS_SERVER_PID" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$TLS_PORTS" ]; then
  echo "tests/c/tls_server.py did not start:" >&2
  cat "$OUT/tls_server.log" >&2
  echo "c-tests: $passed passed, $((failed + 1)) failed"
  exit 1
fi
export REQIVO_TLS_DIR="$TLS_DIR" REQIVO_TLS_PORTS="$TLS_PORTS"

# The HTTP/2 peer (the `h2` package; TLS on the same PKI) prints a JSON
# line of its ports; test_h2 reads "H2C TLS SILENT TLS_SILENT NO_ACK
# ALPN_REFUSE" from REQIVO_H2_PORTS.
"$PYTHON" tests/h2_peer.py --tls "$TLS_DIR" >"$OUT/h2_peer.json" 2>"$OUT/h2_peer.log" &
H2_PEER_PID=$!
H2_PORTS=
for _ in $(seq 100); do
  H2_PORTS=$("$PYTHON" -c 'import json, sys
line = sys.stdin.readline()
if line:
    d = json.loads(line)
    print(d["h2c"], d["tls"], d["silent"], d["tls-silent"], d["no-ack"], d["alpn-refuse"])' <"$OUT/h2_peer.json" 2>/dev/null || true)
  [ -n "$H2_PORTS" ] && break
  kill -0 "$H2_PEER_PID" 2>/dev/null || break
  sleep 0.1
done
if [ -z "$H2_PORTS" ]; then
  echo "tests/h2_peer.py did not start:" >&2
  cat "$OUT/h2_peer.log" >&2
  echo "c-tests: $passed passed, $((failed + 1)) failed"
  exit 1
fi
export REQIVO_H2_PORTS="$H2_PORTS"

# The WebSocket peer (the `websockets` package, permessage-deflate accepted
# when offered) prints its port; test_ws
# reads it from REQIVO_WS_PORT and skips without it (outside CI).
if "$PYTHON" -c "import websockets.asyncio.server" 2>/dev/null; then
  "$PYTHON" tests/ws_support/server.py --forever --deflate >"$OUT/ws_server.port" 2>"$OUT/ws_server.log" &
  WS_SERVER_PID=$!
  WS_PORT=
  for _ in $(seq 100); do
    WS_PORT=$(head -n 1 "$OUT/ws_server.port" 2>/dev/null || true)
    [ -n "$WS_PORT" ] && break
    kill -0 "$WS_SERVER_PID" 2>/dev/null || break
    sleep 0.1
  done
  if [ -z "$WS_PORT" ]; then
    echo "tests/ws_support/server.py did not start:" >&2
    cat "$OUT/ws_server.log" >&2
    echo "c-tests: $passed passed, $((failed + 1)) failed"
    exit 1
  fi
  export REQIVO_WS_PORT="$WS_PORT"
fi

# C_TESTS="test_a test_b" runs only those programs (while working on them).
PROGRAMS=()
for src in tests/c/test_*.c; do
  name=$(basename "$src" .c)
  if [ -z "${C_TESTS:-}" ] || [[ " $C_TESTS " == *" $name "* ]]; then
    PROGRAMS+=("$name")
  fi
done

# build NAME VARIANT LIBDIR [extra flags]: compiles, and checks that the
# binary resolves libreqivo from LIBDIR through its rpath alone.
build() {
  local name=$1 variant=$2 libdir=$3
  shift 3
  local bin=$OUT/$name.$variant
  if ! "$CC" "${CFLAGS[@]}" "$@" "tests/c/$name.c" -o "$bin" -L"$libdir" -lreqivo \
    -Wl,-rpath,"$libdir" -pthread >"$OUT/$name.$variant.build.log" 2>&1; then
    return 1
  fi
  # Captured first: `ldd | grep -q` can die of SIGPIPE, which pipefail reports.
  local deps
  deps=$(env -u LD_LIBRARY_PATH ldd "$bin" 2>&1 || true)
  if [[ "$deps" != *"=> $libdir/libreqivo.so"* ]]; then
    printf '%s does not load %s/libreqivo.so:\n%s\n' "$bin" "$libdir" "$deps" \
      >>"$OUT/$name.$variant.build.log"
    return 1
  fi
}

# run NAME MODE LOG LIMIT COMMAND...: runs a program for at most LIMIT
# seconds (less if the suite's time is running out) and reports its line.
run() {
  local name=$1 mode=$2 log=$3 limit=$4
  shift 4
  local left=$((SUITE_DEADLINE - $(date +%s)))
  if [ "$left" -le 0 ]; then
    report FAIL "$name" "$mode" "not run: the suite passed its ${SUITE_LIMIT}s limit"
    return
  fi
  [ "$left" -lt "$limit" ] && limit=$left
  local start end rc=0
  start=$(date +%s.%N)
  env -u LD_LIBRARY_PATH timeout "$limit" "$@" >"$log" 2>&1 || rc=$?
  end=$(date +%s.%N)
  local secs tally
  secs=$(awk -v a="$start" -v b="$end" 'BEGIN { printf "%.1fs", b - a }')
  tally=$(grep -E "^$name: [0-9]+ checks" "$log" | tail -n 1 | sed -e "s/^$name: //" || true)
  [ -n "$tally" ] || tally="no tally"
  if [ "$mode" = valgrind ]; then
    # valgrind's own verdict: error contexts and bytes lost per kind.
    local verdict
    verdict=$(awk '/ERROR SUMMARY:/ { e = $4 }
      /definitely lost:/ { d = $4 } /indirectly lost:/ { i = $4 } /possibly lost:/ { p = $4 }
      END { printf "%s errors, lost %s/%s/%s bytes definite/indirect/possible", e, d, i, p }' "$log")
    tally="$tally; $verdict"
  fi
  if [ "$rc" -eq 0 ] && [ "$tally" != "no tally" ]; then
    report PASS "$name" "$mode" "$tally ($secs)"
  else
    local why="exit $rc"
    [ "$rc" -eq 124 ] && why="timed out"
    report FAIL "$name" "$mode" "$why, $tally ($secs), log $log"
    show_log "$log"
  fi
}

# Under valgrind, definite and indirect leaks fail a program; "possibly
# lost" blocks (found at exit only through a pointer into their middle)
# are counted in its line without failing it. Those known to be benign
# are suppressed in tests/c/valgrind.supp, each with its reason: what the
# library keeps for the life of the process on purpose (the system's
# public suffix list, the default TLS config and its session cache). A
# passing line therefore reads "lost 0/0/0"; a third number above 0 is a
# new case: its stack is in the program's valgrind log.
for name in "${PROGRAMS[@]}"; do
  if ! build "$name" release "$RELEASE_LIB"; then
    report FAIL "$name" release "does not build"
    show_log "$OUT/$name.release.build.log"
    report FAIL "$name" valgrind "does not build"
    continue
  fi
  run "$name" release "$OUT/$name.release.log" "$RUN_TIMEOUT" "$OUT/$name.release" "$PORT"
  run "$name" valgrind "$OUT/$name.valgrind.log" "$VALGRIND_TIMEOUT" valgrind --leak-check=full \
    --errors-for-leak-kinds=definite,indirect --error-exitcode=1 \
    --suppressions=tests/c/valgrind.supp \
    "$OUT/$name.release" "$PORT"
done

for name in "${PROGRAMS[@]}"; do
  if ! build "$name" asan "$DEBUG_LIB" -fsanitize=address,undefined -fno-omit-frame-pointer; then
    report FAIL "$name" asan "does not build"
    show_log "$OUT/$name.asan.build.log"
    continue
  fi
  run "$name" asan "$OUT/$name.asan.log" "$RUN_TIMEOUT" \
    env ASAN_OPTIONS=detect_leaks=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
    "$OUT/$name.asan" "$PORT"
done

# Threads sharing one session (tests/c/stress_threads.c): a longer plain
# run, then a short one under helgrind, whose suppressions drop only the
# races it reports inside libreqivo (Rust's futex-based locks are invisible
# to it; see tests/c/helgrind.supp). A build with -DRACE_SELFTEST adds an
# unguarded counter in the C workers: helgrind must catch it, or the
# suppressions hide more than they should.
HELGRIND_TIMEOUT=120
if build stress_threads release "$RELEASE_LIB"; then
  run stress_threads release "$OUT/stress_threads.release.log" "$RUN_TIMEOUT" \
    "$OUT/stress_threads.release" "$PORT" 500
  run stress_threads helgrind "$OUT/stress_threads.helgrind.log" "$HELGRIND_TIMEOUT" \
    valgrind --tool=helgrind --suppressions=tests/c/helgrind.supp --error-exitcode=1 \
    "$OUT/stress_threads.release" "$PORT" 25
else
  report FAIL stress_threads release "does not build"
  show_log "$OUT/stress_threads.release.build.log"
fi
if build stress_threads selftest "$RELEASE_LIB" -DRACE_SELFTEST; then
  log=$OUT/stress_threads.selftest.log
  env -u LD_LIBRARY_PATH timeout "$HELGRIND_TIMEOUT" valgrind --tool=helgrind \
    --suppressions=tests/c/helgrind.supp "$OUT/stress_threads.selftest" "$PORT" 5 >"$log" 2>&1 || true
  if grep -A3 'Possible data race' "$log" | grep -q 'work (stress_threads.c'; then
    report PASS stress_threads selftest "helgrind reports the planted race in the C workers"
  else
    report FAIL stress_threads selftest "helgrind missed the planted race, log $log"
    show_log "$log"
  fi
else
  report FAIL stress_threads selftest "does not build"
fi

echo "c-tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
