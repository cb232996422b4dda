#!/bin/sh
# Tests of the Go binding against this checkout's build (-tags reqivo_tree,
# link_tree.go): builds libreqivo.a when needed, checks that codes_gen.go is
# what tools/gen_bindings.py makes from include/reqivo.h, vets the binding
# and the example, checks that a tree build without the library's hash in
# CGO_CFLAGS stops, then runs the tests with -race and again with -tags
# reqivo_debug (a GC on every handle access). Every step is bounded by a
# timeout. Building against an installed copy (the default, and -tags
# reqivo_static) from a module outside the tree is tests/install/run.sh's
# part.
#
#   bindings/go/test.sh            (from anywhere)
set -eu
cd "$(dirname "$0")"
root=$(cd ../.. && pwd)
GO=${GO:-go}
CARGO=${CARGO:-cargo}

step() { printf '\n== %s\n' "$*"; }

step "library: cargo build --release"
(cd "$root" && timeout 1200 "$CARGO" build --release --locked)

# cmd/go tracks neither libreqivo.a nor include/reqivo.h; their hash in
# CGO_CFLAGS makes a rebuilt library or header reach the tests.
CGO_CFLAGS=$(./cgo_cflags.sh)
export CGO_CFLAGS
tags=reqivo_tree

step "generated code: codes_gen.go against include/reqivo.h"
# Fails with a diff and the command to run (make bindings) when stale.
timeout 60 "${PYTHON:-python3}" ../../tools/gen_bindings.py --check go

step "go vet"
timeout 300 "$GO" vet -tags $tags ./...
(cd ../../examples/go && timeout 300 "$GO" vet -tags $tags ./...)
unformatted=$(gofmt -l . ../../examples/go)
if [ -n "$unformatted" ]; then
	echo "not gofmt-ed: $unformatted" >&2
	exit 1
fi

step "a tree build without the library's hash stops"
if out=$(env -u CGO_CFLAGS timeout 300 "$GO" build -tags $tags . 2>&1); then
	echo "go build -tags $tags succeeded without cgo_cflags.sh's hash: it could link a stale cached build" >&2
	exit 1
elif ! printf '%s\n' "$out" | grep -q 'CGO_CFLAGS=.*cgo_cflags.sh'; then
	printf '%s\n' "$out" >&2
	echo "go build -tags $tags without the hash failed, but not saying to use cgo_cflags.sh" >&2
	exit 1
fi
echo "stopped, saying: $(printf '%s\n' "$out" | grep -o 'error: .*cgo_cflags.sh[^,]*' | head -1)"

# With one processor the cgo gate (ffi.go) has one slot, so a gated
# section that nested another would hang here rather than pass.
step "go test -reqivo.event-driven-only, GOMAXPROCS=1: every request through the driver"
GOMAXPROCS=1 timeout 600 "$GO" test -count=1 -tags $tags -timeout 300s . -args -reqivo.event-driven-only

step "go test -race"
timeout 600 "$GO" test -count=1 -race -tags $tags -timeout 300s ./...

step "go test -tags reqivo_debug"
timeout 600 "$GO" test -count=1 -tags $tags,reqivo_debug -timeout 300s ./...
