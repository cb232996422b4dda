package reqivo

// #include <stdint.h>
// #include <reqivo.h>
import "C"

import "unsafe"

// This file holds only the exported trampoline: cgo allows no C
// definitions in the preamble of a file with //export.

// reqivoGoOnData is the multi's data callback for a streamed call (by its
// number in the driver's table), run on the driver goroutine inside
// reqivo_multi_perform: first with len 0 at the final head, then once per
// piece of body. It never panics (a panic cannot unwind through C).
//
//export reqivoGoOnData
func reqivoGoOnData(id C.uintptr_t, head *C.reqivo_response, data *C.uint8_t, n C.size_t) (verdict C.int32_t) {
	defer func() {
		if recover() != nil {
			verdict = -1 // ends the transfer (REQIVO_ERR_ABORTED_BY_CALLBACK)
		}
	}()
	d := theDriver.d
	if d == nil || head == nil {
		return -1
	}
	b := d.streamedCall(uintptr(id))
	if b == nil {
		return -1
	}
	if n == 0 {
		b.gotHead(head)
		return C.REQIVO_DATA_CONTINUE
	}
	return C.int32_t(b.push(unsafe.Slice((*byte)(unsafe.Pointer(data)), int(n))))
}
