package reqivo

// #include <reqivo.h>
import "C"

import (
	"runtime"
	"sync"
)

// Request is a request that can be sent many times, by one send at a time
// (sends of the same Request are serialised). Methods are safe for
// concurrent use. Call Close when done; the cleanup that frees a forgotten
// Request is only a safety net.
type Request struct {
	mu      sync.Mutex // held by every method, and by a send for its duration
	_ptr    *C.reqivo_request
	cleanup runtime.Cleanup
	method  string
	url     string
}

// NewRequest creates a request. url is absolute (http://...) or relative to
// the session's base URL, joined when the request is sent.
func NewRequest(method, url string) (*Request, error) {
	m, mlen := cstr(method)
	u, ulen := cstr(url)
	var cerr C.reqivo_error
	p := C.reqivo_request_new(m, mlen, u, ulen, &cerr)
	if p == nil {
		return nil, errorFromC(&cerr)
	}
	r := &Request{_ptr: p, method: method, url: url}
	r.cleanup = runtime.AddCleanup(r, freeRequest, p)
	return r, nil
}

func freeRequest(p *C.reqivo_request) {
	C.reqivo_request_free(p)
	cleanupsRun.Add(1)
}

// ptr needs r.mu held.
func (r *Request) ptr() *C.reqivo_request {
	if r._ptr == nil {
		panic("reqivo: Request used after Close")
	}
	maybeGC()
	return r._ptr
}

// Method returns the method given to NewRequest.
func (r *Request) Method() string { return r.method }

// URL returns the URL given to NewRequest.
func (r *Request) URL() string { return r.url }

// AddHeader adds a header field; repeated names are all sent, and a
// request header replaces a session default of the same name. Names must
// be tokens and values free of control bytes (ErrInvalidHeader);
// Content-Length and Transfer-Encoding are refused: the library sets them.
func (r *Request) AddHeader(name, value string) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	n, nlen := cstr(name)
	v, vlen := cstr(value)
	var cerr C.reqivo_error
	code := C.reqivo_request_add_header(r.ptr(), n, nlen, v, vlen, &cerr)
	runtime.KeepAlive(r)
	return codeError(code, &cerr)
}

// SetBody sets the body to a copy of b, sent with Content-Length.
func (r *Request) SetBody(b []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, dlen := cbytes(b)
	var cerr C.reqivo_error
	code := C.reqivo_request_set_body(r.ptr(), d, dlen, &cerr)
	runtime.KeepAlive(r)
	return codeError(code, &cerr)
}

// SetTimeouts overrides the session's timeouts for this request (zero
// fields mean no limit).
func (r *Request) SetTimeouts(t Timeouts) error {
	ct, err := t.toC()
	if err != nil {
		return err
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	code := C.reqivo_request_set_timeout(r.ptr(), ct)
	runtime.KeepAlive(r)
	return codeError(code, nil)
}

// Close frees the request; it waits for a send of it in flight. Close is
// idempotent; using the Request afterwards panics.
func (r *Request) Close() {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r._ptr == nil {
		return
	}
	r.cleanup.Stop()
	C.reqivo_request_free(r._ptr)
	r._ptr = nil
}
