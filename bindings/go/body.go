package reqivo

/*
#include <stdint.h>
#include <reqivo.h>

// The Go trampoline (body_export.go). It takes the handle as an integer,
// so no Go pointer and no pointer-typed integer ever crosses into C.
extern int64_t reqivoGoReadBody(uintptr_t handle, uint8_t *buf, size_t cap);

static int64_t reqivo_go_read_body(void *userdata, uint8_t *buf, size_t cap) {
	return reqivoGoReadBody((uintptr_t)userdata, buf, cap);
}

// Points the request's body at the Go reader behind a cgo.Handle.
static uint32_t reqivo_go_set_body_reader(reqivo_request *r, uintptr_t handle, int64_t size,
                                          reqivo_error *err) {
	return reqivo_request_set_body_callback(r, reqivo_go_read_body, (void *)handle, size, err);
}
*/
import "C"

import (
	"context"
	"fmt"
	"io"
	"runtime"
	"runtime/cgo"
)

// How a streamed request body reaches a blocking send (a transfer of the
// driver reads it through an uploadPump instead: upload.go):
//
//   - Before each send of a Request with a body reader, a cgo.Handle to a
//     fresh bodySource is registered as the read callback's userdata
//     (reqivo_request_set_body_callback). C holds only that integer, never
//     a Go pointer.
//   - The library calls reqivo_go_read_body on the sending thread, which
//     is the goroutine inside the cgo call: reqivoGoReadBody looks the
//     handle up and reads the io.Reader straight into the library's buffer.
//   - After the send (reqivo_session_send or reqivo_session_open returns,
//     by which time the body has been written) the handle is deleted. The
//     C request still names the dead handle; every later send registers a
//     new one first, and the trampoline answers an unknown handle with -1.

// maxEmptyReads bounds Reads returning (0, nil) in a row, as bufio does.
const maxEmptyReads = 100

// bodySource is one send's view of a request body reader. It is used only
// by the goroutine that sends, so it needs no locking.
type bodySource struct {
	r        io.Reader
	size     int64 // Content-Length, or -1 for chunked
	ctx      context.Context
	sent     int64
	pulled   bool  // the library asked for bytes: the reader is consumed
	eof      bool  // the reader said io.EOF
	err      error // why the callback aborted the send
	ctxDone  bool  // it aborted because ctx was done
	panicked any   // a panic from Read, re-raised after the C call
}

// read fills p (C memory, valid during the call) and returns the count,
// 0 at the end, or -1 to abort the send.
func (b *bodySource) read(p []byte) (n int64) {
	defer func() {
		if v := recover(); v != nil {
			b.panicked, b.err, n = v, fmt.Errorf("panic in Read: %v", v), -1
		}
	}()
	if b.ctx.Err() != nil {
		b.ctxDone, b.err = true, b.ctx.Err()
		return -1
	}
	b.pulled = true
	if b.eof || len(p) == 0 {
		return 0
	}
	for empty := 0; ; empty++ {
		got, err := b.r.Read(p)
		if got < 0 || got > len(p) {
			b.err = fmt.Errorf("Read returned %d for a %d-byte buffer", got, len(p))
			return -1
		}
		switch {
		case err == io.EOF:
			b.eof = true
		case err != nil:
			b.err = err
			return -1
		}
		if got > 0 {
			b.sent += int64(got)
			if b.size >= 0 && b.sent == b.size && !b.eof && !b.atEOF() {
				return -1
			}
			return int64(got)
		}
		if b.eof {
			return 0
		}
		if empty >= maxEmptyReads {
			b.err = io.ErrNoProgress
			return -1
		}
		if b.ctx.Err() != nil {
			b.ctxDone, b.err = true, b.ctx.Err()
			return -1
		}
	}
}

// atEOF checks, once the declared length has been read, that the reader
// has nothing more (net/http refuses a body longer than its
// ContentLength, and so does this package). It sets b.err when it does.
func (b *bodySource) atEOF() bool {
	var one [1]byte
	for empty := 0; ; empty++ {
		got, err := b.r.Read(one[:])
		if got > 0 {
			b.err = fmt.Errorf("the body is longer than its declared length of %d bytes", b.size)
			return false
		}
		if err == io.EOF {
			b.eof = true
			return true
		}
		if err != nil {
			b.err = err
			return false
		}
		if empty >= maxEmptyReads {
			b.err = io.ErrNoProgress
			return false
		}
	}
}

// BodyError is returned when reading a request body failed: Err is the
// io.Reader's error (or why the body was refused, such as a body longer
// than its declared length) and Lib the library's report of the aborted
// send (REQIVO_ERR_ABORTED_BY_CALLBACK). errors.Is and errors.As see both.
type BodyError struct {
	Err error
	Lib *Error
}

func (e *BodyError) Error() string { return "reqivo: reading the request body: " + e.Err.Error() }

// Unwrap returns both errors.
func (e *BodyError) Unwrap() []error { return []error{e.Err, e.Lib} }

// bodyCall is a body reader registered for one send.
type bodyCall struct {
	src *bodySource
	h   cgo.Handle
}

// attachBody registers r's body reader for the send about to start; nil
// when r has no body reader. Needs r.mu held until detach.
func (r *Request) attachBody(ctx context.Context) (*bodyCall, error) {
	src, err := r.newBodySource(ctx)
	if src == nil {
		return nil, err
	}
	h := cgo.NewHandle(src)
	if err := r.setBodyCallback(h, r.bodySize); err != nil {
		h.Delete()
		return nil, err
	}
	return &bodyCall{src: src, h: h}, nil
}

// newBodySource is the view of r's body reader for one send: nil (and no
// error) when r has none, an error when an earlier send read it. Needs
// r.mu held.
func (r *Request) newBodySource(ctx context.Context) (*bodySource, error) {
	if r.body == nil {
		return nil, nil
	}
	if r.bodyUsed {
		return nil, newError(CodeInvalidArgument,
			"the request's body reader was read by an earlier send; call SetBodyReader again")
	}
	return &bodySource{r: r.body, size: r.bodySize, ctx: ctx}, nil
}

// setBodyCallback makes the trampoline, with handle h, r's body source
// (h 0 is no handle: the trampoline aborts a send before attachBody).
// Needs r.mu held.
func (r *Request) setBodyCallback(h cgo.Handle, size int64) error {
	var cerr C.reqivo_error
	code := C.reqivo_go_set_body_reader(r.ptr(), C.uintptr_t(h), C.int64_t(size), &cerr)
	runtime.KeepAlive(r)
	return codeError(code, &cerr)
}

// detach ends the registration after the send returned, and turns a
// failure the body caused into the error to return. libErr is nil after a
// successful send. It re-raises a panic from the reader's Read.
func (r *Request) detach(b *bodyCall, ctx context.Context, libErr *Error) error {
	if b == nil {
		if libErr == nil {
			return nil
		}
		return withContext(ctx, libErr)
	}
	b.h.Delete()
	if b.src.pulled {
		r.bodyUsed = true
	}
	return explainBodyFailure(b.src, ctx, libErr)
}

// explainBodyFailure turns a send's failure (nil: none) into the error to
// return, given what happened to its body reader; it re-raises a panic
// from the reader's Read on the caller's goroutine.
func explainBodyFailure(src *bodySource, ctx context.Context, libErr *Error) error {
	if src.panicked != nil {
		panic(src.panicked)
	}
	if libErr == nil {
		return nil
	}
	aborted := libErr.Code == CodeAbortedByCallback && src.err != nil
	if aborted && (src.ctxDone || ctx.Err() != nil) {
		libErr = newError(CodeCancelled, "the context was done while the request body was read: "+libErr.Message)
	}
	if err := ctx.Err(); err != nil {
		return &ContextError{Ctx: err, Err: libErr}
	}
	if aborted {
		return &BodyError{Err: src.err, Lib: libErr}
	}
	return libErr
}

// readBodyHandle is the trampoline's work: find the source and read.
func readBodyHandle(handle uintptr, p []byte) (n int64) {
	defer func() {
		if recover() != nil { // a handle deleted or never made: abort
			n = -1
		}
	}()
	switch src := cgo.Handle(handle).Value().(type) {
	case *bodySource: // a blocking send: read on its thread
		return src.read(p)
	case *uploadPump: // a transfer of the driver: never wait
		return src.readNow(p)
	}
	return -1
}
