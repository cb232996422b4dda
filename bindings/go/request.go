package reqivo

// #include <reqivo.h>
//
// /* These keep no pointer after returning and never call back into Go, so
//    the reqivo_error buffers passed to them can stay on the stack. */
// #cgo noescape reqivo_request_new
// #cgo nocallback reqivo_request_new
// #cgo noescape reqivo_request_add_header
// #cgo nocallback reqivo_request_add_header
import "C"

import (
	"io"
	"runtime"
	"sync"
	"unsafe"
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
	// A body reader (SetBodyReader), registered anew for each send.
	body     io.Reader
	bodySize int64
	bodyUsed bool // an earlier send read from body
	// The error buffer of Session.Do's send (held under mu). Heap memory
	// because the send may call back into Go, where the stack can move.
	cerr C.reqivo_error
}

// NewRequest creates a request. url is absolute (http://...) or relative to
// the session's base URL, joined when the request is sent.
func NewRequest(method, url string) (*Request, error) {
	r, err := newRequest(method, url)
	if err != nil {
		return nil, err
	}
	r.cleanup = runtime.AddCleanup(r, freeRequest, r._ptr)
	return r, nil
}

// newRequest is NewRequest without the cleanup, for a Request its maker
// closes on every path (a deferred Close): the session's Get and the
// like, and the Transport, save registering and stopping one per request.
func newRequest(method, url string) (*Request, error) {
	m, mlen := cstr(method)
	u, ulen := cstr(url)
	var cerr C.reqivo_error
	p := C.reqivo_request_new(m, mlen, u, ulen, &cerr)
	if p == nil {
		return nil, errorFromC(&cerr)
	}
	return &Request{_ptr: p, method: method, url: url}, nil
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

// SetBody sets the body to a copy of b, sent with Content-Length. It
// replaces an earlier body, a body reader included.
func (r *Request) SetBody(b []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	d, dlen := cbytes(b)
	var cerr C.reqivo_error
	code := C.reqivo_request_set_body(r.ptr(), d, dlen, &cerr)
	runtime.KeepAlive(r)
	if err := codeError(code, &cerr); err != nil {
		return err
	}
	r.body = nil
	return nil
}

// SetBodyReader makes the body stream from body while the request is
// sent, without holding it in memory: with Content-Length size, or chunked
// when size is -1. It replaces an earlier body.
//
// body is read on the goroutine calling Do or Open, only during that call,
// straight into the library's buffer. A Read error aborts the send, which
// then returns a *BodyError wrapping it. With a size, the reader must hold
// exactly size bytes: fewer fail the send (ErrInvalidArgument, from the
// library), more fail it with a *BodyError (it is read once past size to
// check, as net/http does); size 0 sends an empty body without reading.
// A context that is done stops the send before the next Read; a Read that
// blocks delays that until it returns (close an io.Pipe to unblock it).
//
// The body is read once: the library never follows a 307 or 308 redirect
// that would send it again (the 3xx is returned, with
// ResponseHead.RedirectNotFollowed set), nor retries the request on a
// stale pooled connection once it read from body. Sending the Request
// again needs a new SetBodyReader; otherwise it fails with
// ErrInvalidArgument. Close does not close body.
func (r *Request) SetBodyReader(body io.Reader, size int64) error {
	if body == nil {
		return newError(CodeInvalidArgument, "SetBodyReader: nil reader (use SetBody(nil) for no body)")
	}
	if size < -1 {
		return newError(CodeInvalidArgument, "SetBodyReader: size must be -1 (chunked) or at least 0")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	// Replace the body now; the handle comes before each send.
	if err := r.setBodyCallback(0, size); err != nil {
		return err
	}
	r.body, r.bodySize, r.bodyUsed = body, size, false
	return nil
}

// SetJSON sets the body to the JSON text json, sent as is with
// Content-Type: application/json, unless a JSON type was added before
// (application/vnd.api+json is kept, text/plain replaced).
// The library checks that it is one JSON value: otherwise the error is
// ErrInvalidJSON (CodeInvalidJSON) with the line and column, and the
// request is unchanged. Use encoding/json to produce the text.
func (r *Request) SetJSON(json []byte) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	j, jlen := cbytes(json)
	if j == nil {
		j = (*C.uint8_t)(unsafe.Pointer(&zeroByte))
	}
	var cerr C.reqivo_error
	code := C.reqivo_request_set_json(r.ptr(), (*C.char)(unsafe.Pointer(j)), jlen, &cerr)
	runtime.KeepAlive(r)
	if err := codeError(code, &cerr); err != nil {
		return err
	}
	r.body = nil
	return nil
}

// SetTimeouts overrides the session's timeouts for this request: the
// fields set replace the session's, zero fields keep them, NoTimeout lifts
// a limit.
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

// isFramingHeader asks the library whether name is a header it writes
// itself from the body (Content-Length, Transfer-Encoding), which
// AddHeader refuses.
func isFramingHeader(name string) bool {
	n, nlen := cstr(name)
	return bool(C.reqivo_request_header_is_framing(n, nlen))
}
