#!/usr/bin/env bash
# Installs reqivo and builds programs against the installed copy only, with
# exactly the commands README.md's Install section shows (each is checked to
# be there, word for word, then run): C through pkg-config (shared, and
# static through reqivo-static), C++ with c++ and through CMake's
# find_package. Each program makes real requests to a local server and runs
# with no help from the environment beyond what the README shows.
#   (a) a temporary prefix: the rpath line, and the LD_LIBRARY_PATH line;
#   (b) /usr/local (as root; skipped otherwise): the plain C and C++ lines
#       and CMake without CMAKE_PREFIX_PATH, relying on the ldconfig that
#       `make install` runs; then `make uninstall`, which runs ldconfig
#       again, and the machine is left as it was.
# Also: the installed libraries are stripped (sizes printed), the shared one
# exports reqivo_* symbols and nothing else, `make install-debug` provides
# the debug info (gdb finds a source line), and uninstall removes it all.
# Go: a module made in a temporary directory outside the tree with exactly
# the lines and the program README.md's "A Go program outside this
# checkout" shows (require + replace of this checkout's bindings/go, go mod
# tidy), built the ways it shows (shared with the rpath line, static with
# -tags reqivo_static, and plain against /usr/local in (b)), each run
# against a local python3 http.server. The Ruby check uses the temporary
# prefix.
set -euo pipefail
cd "$(dirname "$0")/../.."
root=$PWD
start=$SECONDS
unset LD_LIBRARY_PATH PKG_CONFIG_PATH
# Go: nothing from the caller's environment but the module and build
# caches; -mod=mod so that no GOFLAGS of the caller's (-mod=vendor) decides,
# and go.mod and go.sum are checked to be left as go mod tidy wrote them.
unset CGO_CFLAGS CGO_CPPFLAGS CGO_CXXFLAGS CGO_LDFLAGS GOWORK
export GOFLAGS=-mod=mod
prefix=$(mktemp -d /tmp/reqivo-install.XXXXXX)
work=$(mktemp -d /tmp/reqivo-install-build.XXXXXX)
sys_installed= http_pid=
cleanup() {
  if [ -n "$http_pid" ]; then kill "$http_pid" 2>/dev/null || true; fi
  if [ -n "$sys_installed" ]; then make -s uninstall PREFIX=/usr/local >/dev/null 2>&1 || true; fi
  rm -rf "$prefix" "$work"
}
trap cleanup EXIT
passed=0 failed=0
ok() { echo "ok: $1"; passed=$((passed + 1)); }
bad() { echo "FAILED: $1"; failed=$((failed + 1)); }
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
so=libreqivo.so.$version

# The README's Install section, and a command from it run in DIR with
# /opt/reqivo (the README's example prefix) standing for PREFIX.
install_section=$(awk '/^## Install$/{f=1;next} f&&/^## /{exit} f{print}' README.md)
readme() { # DIR PREFIX COMMAND
  if ! grep -qF -- "$3" <<<"$install_section"; then
    echo "README.md's Install section does not show: $3"
    return 1
  fi
  local cmd=${3//\/opt\/reqivo/$2}
  [ "$(id -u)" != 0 ] || cmd=${cmd#sudo }
  (cd "$1" && eval "$cmd")
}
# grep that reads all its input: `producer | grep -q` can kill the producer
# with SIGPIPE, which pipefail turns into a failure.
has() { grep "$@" >/dev/null; }
# A directory holding app.c (examples/get.c), as in the README.
app_dir() { mkdir -p "$work/$1" && cp examples/get.c "$work/$1/app.c" && echo "$work/$1"; }
# Runs PROGRAM (with arguments) against the demo server; it must succeed and
# reuse a connection.
serves() { # LOG PROGRAM...
  local log=$1; shift
  python3 examples/demo_server.py "$*" >"$log" 2>&1 && grep -q "reused" "$log"
}
mb() { awk -v b="$(stat -c %s "$1")" 'BEGIN { printf "%.1f MB", b / 1048576 }'; }

RPATH_LINE='cc app.c $(pkg-config --cflags --libs reqivo) -Wl,-rpath,$(pkg-config --variable=libdir reqivo)'
PLAIN_LINE='cc app.c $(pkg-config --cflags --libs reqivo)'
PKG_LINE='export PKG_CONFIG_PATH=/opt/reqivo/lib/pkgconfig'
LD_LINE='LD_LIBRARY_PATH=/opt/reqivo/lib ./a.out'
STATIC_LINE='cc app.c $(pkg-config --cflags --libs reqivo-static)'
CPP_LINE='c++ -std=c++17 app.cpp $(pkg-config --cflags --libs reqivo)'
CMAKE_LINE='cmake -S . -B build -DCMAKE_PREFIX_PATH=/opt/reqivo && cmake --build build'
CMAKE_SYS_LINE='cmake -S . -B build && cmake --build build'

# ---- (a) a temporary prefix ----------------------------------------------
readme "$root" "$prefix" 'make install PREFIX=/opt/reqivo' >"$work/install.log" 2>&1 || { cat "$work/install.log"; exit 1; }
if grep -qF -- "-Wl,-rpath" "$work/install.log" && grep -qF "LD_LIBRARY_PATH=$prefix/lib" "$work/install.log"; then
  ok "make install into a prefix outside the linker's path says how to link (rpath or LD_LIBRARY_PATH)"
else
  bad "make install printed no rpath hint"; cat "$work/install.log"
fi

# A staged install (DESTDIR) puts files under the stage but records the
# real prefix in reqivo.pc, and runs no ldconfig.
stage="$work/stage"
make -s install PREFIX=/opt/reqivo DESTDIR="$stage" >"$work/stage.log" 2>&1
if [ -L "$stage/opt/reqivo/lib/libreqivo.so.0" ] && [ -f "$stage/opt/reqivo/lib/libreqivo.a" ] &&
  grep -q '^prefix=/opt/reqivo$' "$stage/opt/reqivo/lib/pkgconfig/reqivo.pc" &&
  ! grep -q ldconfig "$work/stage.log"; then
  ok "DESTDIR staging keeps the real prefix"
else
  bad "DESTDIR staging"; cat "$work/stage.log"
fi

# Stripped: small, no debug info, no LLVM bitcode; the build keeps both.
lib=$prefix/lib
echo "sizes: built $(mb target/release/libreqivo.so) .so, $(mb target/release/libreqivo.a) .a;" \
  "installed $(mb "$lib/$so") .so, $(mb "$lib/libreqivo.a") .a"
if [ "$(stat -c %s "$lib/$so")" -lt $((8 << 20)) ] && [ "$(stat -c %s "$lib/libreqivo.a")" -lt $((32 << 20)) ] &&
  ! readelf -S "$lib/$so" | has '\.debug_info' &&
  ! readelf -SW "$lib/libreqivo.a" 2>/dev/null | has -E '\.debug_info|\.llvmbc'; then
  ok "installed libraries are stripped (.so under 8 MB, .a under 32 MB)"
else
  bad "installed libraries are not stripped"
fi

# Only the C API is exported, under the versioned node.
# Stripping keeps every one the build exports.
exported() { nm -D --defined-only "$1" | awk '$2 != "A" {print $3}' | sed 's/@.*//' | sort; }
extra=$(exported "$lib/libreqivo.so" | grep -v '^reqivo_' || true)
count=$(exported "$lib/libreqivo.so" | wc -l)
if [ -z "$extra" ] && [ "$(exported "$lib/libreqivo.so")" = "$(exported target/release/libreqivo.so)" ]; then
  ok "only reqivo_* symbols exported, all $count the build exports"
else
  bad "exported symbols differ from the build's, or not reqivo_*: $extra"
fi
if readelf -d "$lib/libreqivo.so" | has 'SONAME.*libreqivo.so.0\]'; then ok "soname libreqivo.so.0"; else bad "soname"; fi

export PKG_CONFIG_PATH="$lib/pkgconfig"
if grep -qF -- "$PKG_LINE" <<<"$install_section" && [ "$(pkg-config --modversion reqivo)" = "$version" ]; then
  ok "pkg-config version matches Cargo.toml"
else
  bad "pkg-config version, or README lacks: $PKG_LINE"
fi

# C, shared, the README's rpath line: runs with no environment help.
d=$(app_dir rpath)
if readme "$d" "$prefix" "$RPATH_LINE" && ldd "$d/a.out" | has "$lib/libreqivo.so.0" &&
  serves "$work/rpath.log" "$d/a.out"; then
  ok "C program built with the README's rpath line runs and made requests"
else
  bad "C program with the rpath line"; cat "$work/rpath.log" 2>/dev/null || true
fi

# C, shared, the README's plain line, run with its LD_LIBRARY_PATH line.
d=$(app_dir ldpath)
if readme "$d" "$prefix" "$PLAIN_LINE" && ! readelf -d "$d/a.out" | has -E 'RPATH|RUNPATH' &&
  grep -qF -- "$LD_LINE" <<<"$install_section" &&
  serves "$work/ldpath.log" env "LD_LIBRARY_PATH=$lib" "$d/a.out"; then
  ok "C program built with the plain line runs with the README's LD_LIBRARY_PATH and made requests"
else
  bad "C program with LD_LIBRARY_PATH"; cat "$work/ldpath.log" 2>/dev/null || true
fi

# C, static, the README's reqivo-static line: nothing to find at run time.
d=$(app_dir static)
if readme "$d" "$prefix" "$STATIC_LINE" && ! ldd "$d/a.out" | has libreqivo &&
  serves "$work/static.log" "$d/a.out"; then
  ok "C program linked statically with the README's line made requests"
else
  bad "C program linked statically"; cat "$work/static.log" 2>/dev/null || true
fi

# C++, through CMake find_package(reqivo), the README's cmake line.
cp -r tests/install/cmake_app "$work/cmake_app"
if readme "$work/cmake_app" "$prefix" "$CMAKE_LINE" >"$work/cmake.log" 2>&1 &&
  serves "$work/cmake_run.log" "$work/cmake_app/build/cpp_get"; then
  ok "C++ program via CMake find_package made requests"
else
  bad "C++ program via CMake"; cat "$work/cmake.log" "$work/cmake_run.log" 2>/dev/null || true
fi

# ---- Go, from a module outside the tree ---------------------------------
# README.md's "A Go program outside this checkout": its commands (checked to
# be there word for word, then run with /path/to/reqivo standing for this
# checkout, /opt/reqivo for the prefix and http://127.0.0.1:8000/ for the
# test's server), its go.mod lines and its main.go.
go_start=$SECONDS
go_section=$(awk '/^### A Go program outside this checkout$/{f=1;next} f&&/^##/{exit} f{print}' README.md)
go_block() { awk -v fence="$1" 'f&&/^```$/{exit} f{print} $0==fence{f=1}' <<<"$go_section"; }
go_readme() { # DIR PREFIX COMMAND (output in $work/go_run.log)
  if ! grep -qF -- "$3" <<<"$go_section"; then
    echo "README.md's Go section does not show: $3" | tee "$work/go_run.log"
    return 1
  fi
  local cmd=${3//\/opt\/reqivo/$2}
  cmd=${cmd//\/path\/to\/reqivo/$root}
  cmd=${cmd//http:\/\/127.0.0.1:8000\//$go_url}
  [ "$(id -u)" != 0 ] || cmd=${cmd#sudo }
  (cd "$1" && timeout 600 bash -c "$cmd") >"$work/go_run.log" 2>&1
}
# The program prints the status, Content-Type and library version, then the body.
go_served() { # what the run printed must be the server's answer
  grep -qxF "200 text/html libreqivo $version" "$work/go_run.log" && grep -qF "$go_marker" "$work/go_run.log"
}
GO_INIT_LINE='mkdir app && cd app && go mod init example.com/app'
GO_TIDY_LINE='go mod tidy'
GO_PKG_LINE='export PKG_CONFIG_PATH=/opt/reqivo/lib/pkgconfig'
GO_RPATH_LINE='CGO_LDFLAGS="-Wl,-rpath,$(pkg-config --variable=libdir reqivo)" go build && ./app http://127.0.0.1:8000/'
GO_STATIC_LINE='go build -a -tags reqivo_static && ./app http://127.0.0.1:8000/'
GO_SYS_LINE='go build && ./app http://127.0.0.1:8000/'

# The server: python3's http.server on a free port of 127.0.0.1, for as long
# as these tests may take at most.
mkdir "$work/www"
go_marker="served to a Go program outside the tree ($$)"
echo "<p>$go_marker</p>" >"$work/www/index.html"
timeout 1800 python3 -u -m http.server --bind 127.0.0.1 --directory "$work/www" 0 >"$work/http.log" 2>&1 &
http_pid=$!
go_url=
for _ in $(seq 100); do
  # The log may not exist yet: the background shell opens it.
  port=$(sed -n 's/^Serving HTTP on .* port \([0-9]*\) .*/\1/p' "$work/http.log" 2>/dev/null || true)
  if [ -n "$port" ]; then go_url="http://127.0.0.1:$port/"; break; fi
  sleep 0.1
done
app=$work/app
if [ -z "$go_url" ]; then
  bad "Go: the test's http.server did not start"; cat "$work/http.log"
elif go_readme "$work" "$prefix" "$GO_INIT_LINE" &&
  { echo; go_block '```go.mod' | sed "s|/path/to/reqivo|$root|g"; } >>"$app/go.mod" &&
  go_block '```go' >"$app/main.go" &&
  grep -q '^require github.com/reqivo/reqivo/bindings/go ' "$app/go.mod" &&
  grep -qF "=> $root/bindings/go" "$app/go.mod" && [ -s "$app/main.go" ] &&
  [ -z "$(gofmt -l "$app/main.go")" ] &&
  go_readme "$app" "$prefix" "$GO_TIDY_LINE" && [ -s "$app/go.sum" ]; then
  ok "Go: a module outside the tree with the README's go.mod lines and main.go (gofmt-ed); go mod tidy wrote go.sum"
  go_mod_sum=$(cat "$app/go.mod" "$app/go.sum" | sha256sum)
  # Shared, through pkg-config, the library's directory built in (rpath).
  if grep -qF -- "$GO_PKG_LINE" <<<"$go_section" && go_readme "$app" "$prefix" "$GO_RPATH_LINE" && go_served &&
    ldd "$app/app" | has "$lib/libreqivo.so.0"; then
    ok "Go: the README's rpath line built against the installed libreqivo.so.0; the program made a request"
  else
    bad "Go: the rpath line"; cat "$work/go_run.log"
  fi
  # Static, through reqivo-static: nothing to find at run time.
  if go_readme "$app" "$prefix" "$GO_STATIC_LINE" && go_served && ! ldd "$app/app" | has libreqivo; then
    ok "Go: the README's -tags reqivo_static line linked the installed libreqivo.a; the program made a request"
  else
    bad "Go: the static line"; cat "$work/go_run.log"
  fi
  if [ "$(cat "$app/go.mod" "$app/go.sum" | sha256sum)" = "$go_mod_sum" ]; then
    ok "Go: the builds left go.mod and go.sum as go mod tidy wrote them"
  else
    bad "Go: a build changed go.mod or go.sum (the README misses a step)"; cat "$app/go.mod" "$app/go.sum"
  fi
else
  bad "Go: making the module outside the tree"; cat "$work/go_run.log" "$app/go.mod" 2>/dev/null || true
fi
echo "Go outside the tree, temporary prefix: $((SECONDS - go_start)) s"

# Ruby, finding the installed library through pkg-config (no REQIVO_LIB).
if found=$(env -u REQIVO_LIB PKG_CONFIG_PATH="$prefix/lib/pkgconfig" ruby -Ibindings/ruby/lib \
    -e 'require "reqivo"; print Reqivo::Library.path' 2>"$work/ruby.log") &&
  [ "$(readlink -f "$found")" = "$(readlink -f "$prefix/lib/libreqivo.so")" ] &&
  env -u REQIVO_LIB PKG_CONFIG_PATH="$prefix/lib/pkgconfig" \
    python3 examples/demo_server.py "ruby -Ibindings/ruby/lib examples/ruby/demo.rb" >>"$work/ruby.log" 2>&1; then
  ok "Ruby binding found the installed library through pkg-config and made requests"
else
  bad "Ruby via pkg-config (found: ${found:-nothing})"; cat "$work/ruby.log"
fi

# The README's C and C++ examples compile against the installed copy.
awk '/^## C$/{f=1} f&&/^```c$/{g=1;next} g&&/^```$/{exit} g{print}' README.md >"$work/readme.c"
awk '/^## C\+\+/{f=1} f&&/^```cpp$/{g=1;next} g&&/^```$/{exit} g{print}' README.md >"$work/readme.cpp"
if [ -s "$work/readme.c" ] && [ -s "$work/readme.cpp" ] &&
  cc -std=c11 -Wall -Wextra -Werror -pedantic "$work/readme.c" -o "$work/readme_c" $(pkg-config --cflags --libs reqivo) &&
  c++ -std=c++17 -Wall -Wextra -Werror "$work/readme.cpp" -o "$work/readme_cpp" $(pkg-config --cflags --libs reqivo); then
  ok "README's C and C++ examples compile"
else
  bad "README examples do not compile"
fi

# make install-debug: the .so's debug file, which gdb finds through the
# installed library's debuglink, and the .a with its debug info.
make -s install-debug PREFIX="$prefix" >"$work/debug.log" 2>&1 || cat "$work/debug.log"
dbg=$lib/.debug/$so.debug
gdb -batch -ex "info line reqivo_session_new" "$lib/$so" >"$work/gdb.log" 2>&1 || true
if grep -qF 'make install-debug' <<<"$install_section" && readelf -S "$dbg" 2>/dev/null | has '\.debug_info' &&
  grep -qE '^Line [0-9]+ of "src/.*\.rs"' "$work/gdb.log" && ! grep -qi 'does not match' "$work/gdb.log"; then
  ok "install-debug: gdb resolves reqivo_session_new to $(grep -oE 'Line [0-9]+ of "[^"]+"' "$work/gdb.log") ($(mb "$dbg") debug file)"
else
  bad "install-debug"; cat "$work/gdb.log"
fi
d=$(app_dir static_debug)
if readme "$d" "$prefix" "$STATIC_LINE" && readelf -S "$d/a.out" | has '\.debug_info' &&
  serves "$work/static_debug.log" "$d/a.out"; then
  ok "install-debug: a static program carries the library's debug info and made requests"
else
  bad "install-debug static"; cat "$work/static_debug.log" 2>/dev/null || true
fi
unset PKG_CONFIG_PATH

make -s uninstall PREFIX="$prefix" >/dev/null 2>&1
left=$(find "$prefix" -type f | wc -l)
if [ "$left" -eq 0 ] && [ ! -e "$lib/.debug" ]; then ok "uninstall removes every installed file"; else bad "uninstall left $left files"; fi

# ---- (b) /usr/local, the system prefix -----------------------------------
sys=/usr/local
searched=
for dir in $(PATH=$PATH:/sbin:/usr/sbin ldconfig -v -N -X 2>/dev/null | sed -n 's|^\(/[^:]*\):.*|\1|p'); do
  [ "$(readlink -f "$dir")" = "$(readlink -f $sys/lib)" ] && searched=1
done
if [ "$(id -u)" != 0 ]; then
  echo "skipped: installing into $sys needs root"
elif [ -z "$searched" ]; then
  echo "skipped: $sys/lib is not in the dynamic linker's search path here"
elif compgen -G "$sys/lib/libreqivo*" >/dev/null || [ -e "$sys/include/reqivo.h" ]; then
  echo "skipped: reqivo is already installed in $sys (not touching it; 'make uninstall' removes it)"
else
  # Directories install creates, removed again at the end when empty.
  new_dirs=()
  for dir in $sys/include $sys/lib/pkgconfig $sys/lib/cmake; do [ -d "$dir" ] || new_dirs+=("$dir"); done
  sys_installed=1
  if readme "$root" "$sys" 'sudo make install' >"$work/sys_install.log" 2>&1; then
    if grep -q '^ldconfig' "$work/sys_install.log" && ldconfig -p | has "libreqivo.so.0 .*=> $sys/lib/"; then
      ok "make install into $sys ran ldconfig"
    else
      bad "make install into $sys did not run ldconfig"; cat "$work/sys_install.log"
    fi
  else
    bad "make install into $sys"; cat "$work/sys_install.log"
  fi
  d=$(app_dir sys)
  if readme "$d" "$sys" "$PLAIN_LINE" && ! readelf -d "$d/a.out" | has -E 'RPATH|RUNPATH' &&
    ldd "$d/a.out" | has "$sys/lib/libreqivo.so.0" && serves "$work/sys.log" "$d/a.out"; then
    ok "C program built with the plain line against $sys runs with no help and made requests"
  else
    bad "C program against $sys"; cat "$work/sys.log" 2>/dev/null || true
  fi
  mkdir "$work/cpp_sys" && cp tests/install/cmake_app/main.cpp "$work/cpp_sys/app.cpp"
  if readme "$work/cpp_sys" "$sys" "$CPP_LINE" && serves "$work/cpp_sys.log" "$work/cpp_sys/a.out"; then
    ok "C++ program built with the README's c++ line against $sys made requests"
  else
    bad "C++ program against $sys"; cat "$work/cpp_sys.log" 2>/dev/null || true
  fi
  # Go: the program built above, now the README's plain line against
  # /usr/local with nothing in the environment (no PKG_CONFIG_PATH).
  if [ -f "$app/go.sum" ] && [ -n "$go_url" ]; then
    if go_readme "$app" "$sys" "$GO_SYS_LINE" && go_served && ! readelf -d "$app/app" | has -E 'RPATH|RUNPATH' &&
      ldd "$app/app" | has "$sys/lib/libreqivo.so.0"; then
      ok "Go: the README's plain go build against $sys runs with no help and made a request"
    else
      bad "Go: go build against $sys"; cat "$work/go_run.log"
    fi
  else
    bad "Go against $sys: no module from (a)"
  fi
  cp -r tests/install/cmake_app "$work/cmake_sys"
  if readme "$work/cmake_sys" "$sys" "$CMAKE_SYS_LINE" >"$work/cmake_sys.log" 2>&1 &&
    serves "$work/cmake_sys_run.log" "$work/cmake_sys/build/cpp_get"; then
    ok "C++ program via CMake find_package against $sys made requests"
  else
    bad "C++ program via CMake against $sys"; cat "$work/cmake_sys.log" "$work/cmake_sys_run.log" 2>/dev/null || true
  fi
  make -s uninstall PREFIX=$sys >"$work/sys_uninstall.log" 2>&1
  sys_installed=
  for dir in "${new_dirs[@]}"; do rmdir "$dir" 2>/dev/null || true; done
  if ! compgen -G "$sys/lib/libreqivo*" >/dev/null && [ ! -e "$sys/include/reqivo.h" ] &&
    [ ! -e "$sys/lib/cmake/reqivo" ] && ! ldconfig -p | has libreqivo; then
    ok "make uninstall from $sys removed every file and ran ldconfig (the cache has no libreqivo)"
  else
    bad "uninstall from $sys"; cat "$work/sys_uninstall.log"
  fi
fi

echo "install-tests: $passed passed, $failed failed ($((SECONDS - start)) s)"
[ "$failed" -eq 0 ]
