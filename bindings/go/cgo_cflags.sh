#!/bin/sh
# Prints a CGO_CFLAGS value that makes Go rebuild the binding whenever
# libreqivo.a or include/reqivo.h changes. cmd/go tracks neither (both lie
# outside the package): without this, a rebuilt library or header can be
# used through a stale cached compile, and `go build -o` can keep a binary
# linked against the old archive. Use:
#
#   CGO_CFLAGS="$(bindings/go/cgo_cflags.sh)" go build ...
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
hash=$(cat "$root/target/release/libreqivo.a" "$root/include/reqivo.h" | sha256sum | cut -c1-16)
echo "${CGO_CFLAGS:--O2 -g} -DREQIVO_BUILD_HASH=$hash"
