//go:build reqivo_tree

package reqivo

// -tags reqivo_tree: the static library built in this checkout
// (target/release/libreqivo.a) and its include/reqivo.h, for developing
// reqivo itself; used by test.sh and `make demo`. cmd/go tracks neither file
// (both lie outside the package), so the build needs their hash in
// CGO_CFLAGS, from cgo_cflags.sh, and stops without it: a rebuilt library
// or header then always gives a new cache key, never a stale binary.
//
//	CGO_CFLAGS="$(bindings/go/cgo_cflags.sh)" go build -tags reqivo_tree ...

// #cgo CFLAGS: -I${SRCDIR}/../../include
// #cgo LDFLAGS: ${SRCDIR}/../../target/release/libreqivo.a -lm -ldl -pthread
// #ifndef REQIVO_BUILD_HASH
// #error "-tags reqivo_tree: build with CGO_CFLAGS=\"$(bindings/go/cgo_cflags.sh)\", which keys Go's cache on target/release/libreqivo.a and include/reqivo.h"
// #endif
import "C"
