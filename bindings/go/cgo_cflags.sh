#!/bin/sh
# Prints a CGO_CFLAGS value for the tree build (-tags reqivo_tree,
# link_tree.go), which links this checkout's target/release/libreqivo.a and
# include/reqivo.h. cmd/go tracks neither (both lie outside the package):
# their hash, added here as a harmless define, is what makes Go rebuild the
# binding, and relink, when either changes; without it a rebuilt library or
# header could be used through a stale cached compile, or `go build -o` keep
# a binary linked against the old archive. link_tree.go refuses to build
# without it. Run it for every build (a value kept from before a rebuild is
# a stale key):
#
#   CGO_CFLAGS="$(bindings/go/cgo_cflags.sh)" go build -tags reqivo_tree ...
#
# An existing CGO_CFLAGS is kept, less any hash an earlier run added.
set -eu
root=$(cd "$(dirname "$0")/../.." && pwd)
lib=$root/target/release/libreqivo.a
if [ ! -f "$lib" ]; then
	echo "cgo_cflags.sh: $lib is missing: run 'make lib' (or cargo build --release) in $root" >&2
	exit 1
fi
hash=$(cat "$lib" "$root/include/reqivo.h" | sha256sum | cut -c1-16)
flags=$(printf '%s\n' "${CGO_CFLAGS:--O2 -g}" | sed 's/ *-DREQIVO_BUILD_HASH=[^ ]*//g')
echo "$flags -DREQIVO_BUILD_HASH=$hash"
