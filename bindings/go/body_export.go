package reqivo

// #include <stdint.h>
import "C"

import "unsafe"

// This file holds only the exported trampoline: cgo allows no C
// definitions in the preamble of a file with //export.

// reqivoGoReadBody is the request body read callback, called by the
// library (through reqivo_go_read_body in body.go) on the sending thread.
// buf is the library's buffer of cap bytes, valid during the call. It
// never panics: a panic unwinding into the library's frames would be
// undefined behaviour.
//
//export reqivoGoReadBody
func reqivoGoReadBody(handle C.uintptr_t, buf *C.uint8_t, n C.size_t) C.int64_t {
	if buf == nil {
		return -1
	}
	p := unsafe.Slice((*byte)(unsafe.Pointer(buf)), int(n))
	return C.int64_t(readBodyHandle(uintptr(handle), p))
}
