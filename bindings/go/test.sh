#!/bin/sh
# Tests of the Go binding: builds libreqivo.a when needed, checks that
# codes_gen.go matches include/reqivo.h, vets the binding and the example,
# then runs the tests with -race and again with -tags reqivo_debug (a GC
# on every handle access). Every step is bounded by a timeout.
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

step "go generate check: codes_gen.go against include/reqivo.h"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
timeout 120 "$GO" run ./internal/cmd/gencodes -o "$tmp/codes_gen.go" ../../include/reqivo.h
if ! diff -u codes_gen.go "$tmp/codes_gen.go"; then
	echo "bindings/go/codes_gen.go is stale: run 'go generate' in bindings/go and commit it" >&2
	exit 1
fi
echo "codes_gen.go is up to date"

step "go vet"
timeout 300 "$GO" vet ./...
(cd ../../examples/go && timeout 300 "$GO" vet ./...)
unformatted=$(gofmt -l . ../../examples/go)
if [ -n "$unformatted" ]; then
	echo "not gofmt-ed: $unformatted" >&2
	exit 1
fi

step "go test -race"
timeout 600 "$GO" test -count=1 -race -timeout 300s ./...

step "go test -tags reqivo_debug"
timeout 600 "$GO" test -count=1 -tags reqivo_debug -timeout 300s ./...
