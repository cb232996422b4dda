//go:build !reqivo_pkgconfig

package reqivo

// The static library built in this checkout: Go programs need no
// LD_LIBRARY_PATH and no installed copy.

// #cgo CFLAGS: -I${SRCDIR}/../../include
// #cgo LDFLAGS: ${SRCDIR}/../../target/release/libreqivo.a -lm -ldl -pthread
import "C"
