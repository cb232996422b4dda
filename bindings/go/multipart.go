package reqivo

// #include <reqivo.h>
import "C"

import (
	"context"
	"runtime"
	"sync"
)

// Multipart is a multipart/form-data form (RFC 7578): fields copied into
// it, files read from disk only while a request using it is sent, a piece
// at a time, so a file of any size costs no memory. Set it on a Request
// with SetMultipart, or send it with Session.PostMultipart. Methods are
// safe for concurrent use. Call Close when done; a Request it was set on
// keeps its own reference.
type Multipart struct {
	mu      sync.Mutex
	_ptr    *C.reqivo_multipart
	cleanup runtime.Cleanup
}

// NewMultipart creates an empty form.
func NewMultipart() *Multipart {
	m := &Multipart{_ptr: C.reqivo_multipart_new()}
	if m._ptr == nil {
		panic("reqivo: reqivo_multipart_new returned NULL")
	}
	m.cleanup = runtime.AddCleanup(m, freeMultipart, m._ptr)
	return m
}

func freeMultipart(p *C.reqivo_multipart) { C.reqivo_multipart_free(p) }

// ptr needs m.mu held.
func (m *Multipart) ptr() *C.reqivo_multipart {
	if m._ptr == nil {
		panic("reqivo: Multipart used after Close")
	}
	return m._ptr
}

// AddField adds a field part. In the part's head, `"`, CR and LF of name
// are sent as %22, %0D and %0A (as browsers do) and a backslash as `\\`;
// value is sent as is.
func (m *Multipart) AddField(name, value string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, nlen := cstr(name)
	v, vlen := cstr(value)
	var cerr C.reqivo_error
	code := C.reqivo_multipart_add_field(m.ptr(), n, nlen, v, vlen, &cerr)
	runtime.KeepAlive(m)
	return codeError(code, &cerr)
}

// AddFile adds a file part named name: the file at path, with the last
// element of path as its filename and contentType as its type
// (application/octet-stream when empty; nothing is guessed). The file must
// be a readable regular file now (ErrInvalidArgument otherwise); its size
// is taken now and checked again by each send, which fails with an *Error
// of CodeIO if it changed.
func (m *Multipart) AddFile(name, path, contentType string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	n, nlen := cstr(name)
	p, plen := cstr(path)
	t, tlen := cstr(contentType)
	var cerr C.reqivo_error
	code := C.reqivo_multipart_add_file(m.ptr(), n, nlen, p, plen, t, tlen, &cerr)
	runtime.KeepAlive(m)
	return codeError(code, &cerr)
}

// Close frees the form. Requests it was set on keep theirs.
func (m *Multipart) Close() {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m._ptr != nil {
		m.cleanup.Stop()
		C.reqivo_multipart_free(m._ptr)
		m._ptr = nil
	}
}

// SetMultipart sets the body to form, with its Content-Type
// (multipart/form-data and a fresh boundary) and a Content-Length. The
// request keeps what form holds now; later changes to form do not reach
// it. Unlike a body reader, the form is sent again as often as needed: a
// 307 or 308 redirect resends it, reading its files anew.
func (r *Request) SetMultipart(form *Multipart) error {
	if form == nil {
		return newError(CodeInvalidArgument, "SetMultipart: nil form")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	form.mu.Lock()
	defer form.mu.Unlock()
	var cerr C.reqivo_error
	code := C.reqivo_request_set_multipart(r.ptr(), form.ptr(), &cerr)
	runtime.KeepAlive(r)
	runtime.KeepAlive(form)
	if err := codeError(code, &cerr); err != nil {
		return err
	}
	r.body = nil
	return nil
}

// PostMultipart sends a POST request to url with form as its body.
func (s *Session) PostMultipart(ctx context.Context, url string, form *Multipart) (*Response, error) {
	req, err := newRequest("POST", url)
	if err != nil {
		return nil, err
	}
	defer req.Close()
	if err := req.SetMultipart(form); err != nil {
		return nil, err
	}
	return s.Do(ctx, req)
}
