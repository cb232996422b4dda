package reqivo

// /* Link flags: link_pkgconfig.go (the default: the installed libreqivo,
//    shared, through pkg-config), link_static.go (-tags reqivo_static: the
//    installed libreqivo.a) or link_tree.go (-tags reqivo_tree: this
//    checkout's build, keyed by cgo_cflags.sh). */
// #include <reqivo.h>
import "C"

import (
	"runtime"
	"sync/atomic"
	"unsafe"
)

// Rules for every handle in this package:
//
//   - A handle is a struct holding one private C pointer, reached only
//     through its ptr() method. ptr() panics when the handle is closed and,
//     under the build tag reqivo_debug, forces a garbage collection first, so
//     a handle collected too early crashes in tests instead of corrupting
//     memory in production.
//   - Every C call that takes a pointer obtained from ptr() is followed by
//     runtime.KeepAlive(handle): without it the handle may become unreachable
//     during the call, its cleanup may run, and C would use freed memory.
//     keepalive_test.go checks this rule on the source text.
//   - Close is idempotent, stops the cleanup (the finalizer, registered
//     with runtime.AddCleanup) and frees the C object. The cleanup is only a
//     safety net for a forgotten Close; it receives the C pointer, never the
//     Go handle, so it cannot resurrect it.
//   - Go memory passed to C (strings, []byte, reqivo_error) holds no Go
//     pointers and is only used for the duration of the call; the library
//     copies what it keeps.
//   - The one callback (a request body read, body.go) gets a cgo.Handle
//     as an integer, never a Go pointer; the handle is deleted when the
//     send returns, and the exported trampoline never panics into C.

// zeroByte gives C a valid non-NULL pointer for empty strings: the library
// rejects NULL for required string arguments even when the length is 0.
var zeroByte byte

// cstr passes s to C without copying, as the (ptr, len) pair of DESIGN §3.
// The pointer is valid only during the C call that receives it.
func cstr(s string) (*C.char, C.size_t) {
	if len(s) == 0 {
		return (*C.char)(unsafe.Pointer(&zeroByte)), 0
	}
	return (*C.char)(unsafe.Pointer(unsafe.StringData(s))), C.size_t(len(s))
}

// cbytes passes b to C without copying (NULL when empty).
func cbytes(b []byte) (*C.uint8_t, C.size_t) {
	if len(b) == 0 {
		return nil, 0
	}
	return (*C.uint8_t)(unsafe.Pointer(unsafe.SliceData(b))), C.size_t(len(b))
}

// gostr copies a library-owned reqivo_str into Go memory.
func gostr(s C.reqivo_str) string {
	if s.ptr == nil || s.len == 0 {
		return ""
	}
	return string(unsafe.Slice((*byte)(unsafe.Pointer(s.ptr)), int(s.len)))
}

// cbytesView is a library-owned reqivo_str as a []byte, valid only while
// the library keeps the bytes; copy what must outlive that.
func cbytesView(s C.reqivo_str) []byte {
	if s.ptr == nil || s.len == 0 {
		return nil
	}
	return unsafe.Slice((*byte)(unsafe.Pointer(s.ptr)), int(s.len))
}

// Version returns the library's version, "MAJOR.MINOR.PATCH".
func Version() string {
	return C.GoString(C.reqivo_version())
}

// headerVersion is the version of include/reqivo.h this package was compiled
// against; Version() must match it (checked by TestVersionMatchesHeader).
func headerVersion() (major, minor, patch int) {
	return int(C.REQIVO_VERSION_MAJOR), int(C.REQIVO_VERSION_MINOR), int(C.REQIVO_VERSION_PATCH)
}

// cleanupsRun counts C objects freed by a cleanup rather than by Close;
// tests read it to check the safety net works.
var cleanupsRun atomic.Int64

// cgoGate bounds the goroutines inside the short C calls and system
// calls of a request's set-up at once, to GOMAXPROCS. Each such call
// counts as a system call to the runtime, and a thousand goroutines
// making them together would each keep a thread when the runtime hands
// their processors on; gated, the rest wait parked, holding none.
// Gated sections never nest and never wait for anything but the gate.
var cgoGate = make(chan struct{}, runtime.GOMAXPROCS(0))

func enterC() { cgoGate <- struct{}{} }
func leaveC() { <-cgoGate }
