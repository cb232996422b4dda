#!/usr/bin/env bash
# Installs reqivo into a temporary prefix and builds programs against the
# installed copy only: C through pkg-config (shared and static), C++ through
# CMake's find_package. Each makes real requests to a local server. Also
# checks that the shared library exports reqivo_* symbols and nothing else.
set -euo pipefail
cd "$(dirname "$0")/../.."
prefix=$(mktemp -d /tmp/reqivo-install.XXXXXX)
work=$(mktemp -d /tmp/reqivo-install-build.XXXXXX)
trap 'rm -rf "$prefix" "$work"' EXIT
passed=0 failed=0
ok() { echo "ok: $1"; passed=$((passed + 1)); }
bad() { echo "FAILED: $1"; failed=$((failed + 1)); }

make -s install PREFIX="$prefix" >/dev/null

# A staged install (DESTDIR) puts files under the stage but records the
# real prefix in reqivo.pc.
stage="$work/stage"
make -s install PREFIX=/opt/reqivo DESTDIR="$stage" >/dev/null
if [ -L "$stage/opt/reqivo/lib/libreqivo.so.0" ] && [ -f "$stage/opt/reqivo/lib/libreqivo.a" ] &&
  grep -q '^prefix=/opt/reqivo$' "$stage/opt/reqivo/lib/pkgconfig/reqivo.pc"; then
  ok "DESTDIR staging keeps the real prefix"
else
  bad "DESTDIR staging"
fi

# Only the C API is exported, under the versioned node.
extra=$(nm -D --defined-only "$prefix/lib/libreqivo.so" | awk '$2 != "A" {print $3}' | sed 's/@.*//' | grep -v '^reqivo_' || true)
if [ -z "$extra" ]; then ok "only reqivo_* symbols exported"; else bad "unexpected exported symbols: $extra"; fi
if readelf -d "$prefix/lib/libreqivo.so" | grep -q 'SONAME.*libreqivo.so.0\]'; then ok "soname libreqivo.so.0"; else bad "soname"; fi

export PKG_CONFIG_PATH="$prefix/lib/pkgconfig"
if [ "$(pkg-config --modversion reqivo)" = "$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)" ]; then
  ok "pkg-config version matches Cargo.toml"
else
  bad "pkg-config version"
fi

# C, shared, through pkg-config only.
cc -std=c11 -Wall -Wextra -Werror -pedantic examples/get.c -o "$work/get_shared" \
  $(pkg-config --cflags --libs reqivo) -Wl,-rpath,"$prefix/lib"
if python3 examples/demo_server.py "$work/get_shared" >"$work/c_shared.log" 2>&1 && grep -q "connection reused" "$work/c_shared.log"; then
  ok "C program via pkg-config (shared) made requests"
else
  bad "C program via pkg-config (shared)"; cat "$work/c_shared.log"
fi

# C, static, through pkg-config --static.
cc -std=c11 -Wall -Wextra -Werror -pedantic examples/get.c -o "$work/get_static" \
  $(pkg-config --cflags reqivo) "$prefix/lib/libreqivo.a" $(pkg-config --libs-only-l --static reqivo | sed 's/-lreqivo//')
if ! ldd "$work/get_static" | grep libreqivo >/dev/null && python3 examples/demo_server.py "$work/get_static" >"$work/c_static.log" 2>&1; then
  ok "C program linked statically made requests"
else
  bad "C program linked statically"; cat "$work/c_static.log"
fi

# C++, through CMake find_package(reqivo).
if cmake -S tests/install/cmake_app -B "$work/cmake" -DCMAKE_PREFIX_PATH="$prefix" -DCMAKE_BUILD_RPATH="$prefix/lib" >"$work/cmake.log" 2>&1 &&
  cmake --build "$work/cmake" >>"$work/cmake.log" 2>&1 &&
  python3 examples/demo_server.py "$work/cmake/cpp_get" >>"$work/cmake.log" 2>&1; then
  ok "C++ program via CMake find_package made requests"
else
  bad "C++ program via CMake"; cat "$work/cmake.log"
fi

# Go, through `#cgo pkg-config: reqivo` (build tag reqivo_pkgconfig), linked
# against the installed shared library.
if (cd examples/go && PKG_CONFIG_PATH="$prefix/lib/pkgconfig" CGO_LDFLAGS="-Wl,-rpath,$prefix/lib" \
  go build -tags reqivo_pkgconfig -o "$work/go_get" . ) >"$work/go.log" 2>&1 &&
  ldd "$work/go_get" | grep "$prefix/lib/libreqivo.so" >/dev/null &&
  python3 examples/demo_server.py "$work/go_get" >>"$work/go.log" 2>&1; then
  ok "Go program via pkg-config made requests with the installed library"
else
  bad "Go program via pkg-config"; cat "$work/go.log"
fi

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

make -s uninstall PREFIX="$prefix" >/dev/null
left=$(find "$prefix" -type f | wc -l)
if [ "$left" -eq 0 ]; then ok "uninstall removes every installed file"; else bad "uninstall left $left files"; fi

echo "install-tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
