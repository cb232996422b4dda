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
if ! ldd "$work/get_static" | grep -q libreqivo && python3 examples/demo_server.py "$work/get_static" >"$work/c_static.log" 2>&1; then
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

make -s uninstall PREFIX="$prefix" >/dev/null
left=$(find "$prefix" -type f | wc -l)
if [ "$left" -eq 0 ]; then ok "uninstall removes every installed file"; else bad "uninstall left $left files"; fi

echo "install-tests: $passed passed, $failed failed"
[ "$failed" -eq 0 ]
