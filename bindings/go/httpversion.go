package reqivo

// #include <reqivo.h>
import "C"

import (
	"context"
	"runtime"
	"strconv"
)

// HTTPVersion chooses the HTTP versions a Session or Transport speaks
// (WithHTTPVersion).
type HTTPVersion uint32

const (
	// HTTPDefault is the library's choice: HTTP/1.1 today; offering h2 by
	// ALPN over TLS becomes the default in a later release.
	HTTPDefault HTTPVersion = C.REQIVO_HTTP_VERSION_DEFAULT
	// HTTP11 speaks HTTP/1.1 only.
	HTTP11 HTTPVersion = C.REQIVO_HTTP_VERSION_1_1
	// HTTP2 speaks HTTP/2 only: over TLS the handshake offers "h2" alone
	// (a server that does not choose it fails the request with
	// ErrHTTP2Required), over cleartext HTTP/2 with prior knowledge (h2c,
	// no upgrade).
	HTTP2 HTTPVersion = C.REQIVO_HTTP_VERSION_2
)

func (v HTTPVersion) String() string {
	switch v {
	case HTTPDefault:
		return "HTTPDefault"
	case HTTP11:
		return "HTTP11"
	case HTTP2:
		return "HTTP2"
	}
	return "HTTPVersion(" + strconv.FormatUint(uint64(v), 10) + ")"
}

// WithHTTPVersion chooses the HTTP versions the session speaks (by
// default HTTPDefault). With HTTP2 every request to an origin shares one
// connection, each a stream on it, however many goroutines send at once;
// a response's Proto is then "HTTP/2.0" (ProtoMajor 2, ProtoMinor 0), in a
// Session and through a Transport alike. Stream and connection errors
// match ErrHTTP2Protocol (the RFC 9113 error code is named in the
// message). A TLS server that refuses the handshake because it does not
// speak h2 (alert no_application_protocol, as Go's does) fails it with
// ErrTLSHandshake instead.
//
// WebSocket dials are HTTP/1.1 whatever the version, but Session.Dial
// runs on the library's multi, which refuses every transfer of an HTTP2
// session so far: Dial fails with ErrHTTP2Required there. Dial from a
// session left at HTTPDefault.
//
// The event-driven path (the driver, see the package doc) speaks HTTP/1.1
// only so far, so each request of an HTTP2 session holds an OS thread
// blocked in the library while it is sent and while its streamed body is
// open; at most 256 of them are in flight in the process at once, and
// further ones wait for one to end under their context. The library's
// threads share the connection: whichever waits drives it, and the others
// sleep. An unknown value fails NewSession (or every RoundTrip of a
// Transport) with ErrInvalidArgument.
func WithHTTPVersion(v HTTPVersion) Option {
	return func(c *sessionConfig) { c.httpVersion = &v }
}

// configureHTTPVersion applies WithHTTPVersion. s.mu is held (either
// way), and s is not shared yet: s.h2 is set here only.
func (s *Session) configureHTTPVersion(cfg *sessionConfig) error {
	if cfg.httpVersion == nil {
		return nil
	}
	var cerr C.reqivo_error
	code := C.reqivo_session_set_http_version(s.ptr(), C.uint32_t(*cfg.httpVersion), &cerr)
	runtime.KeepAlive(s)
	if err := codeError(code, &cerr); err != nil {
		return err
	}
	s.h2 = *cfg.httpVersion == HTTP2
	return nil
}

// h2Slots bounds the sends (and open streamed bodies) of HTTP2 sessions,
// each of which holds an OS thread blocked in the library. They cannot
// go to the driver: the multi fails an HTTP/2 session's transfers with
// REQIVO_ERR_HTTP2_REQUIRED until it speaks HTTP/2 itself. The bound is
// above common servers' stream limits (Go's 250 a connection; nginx's and
// the RFC's recommended floor 100), so one connection's streams are not
// held back by it.
var h2Slots = &threadSlots{ch: make(chan struct{}, 256), what: "HTTP/2 sends and streamed bodies"}

// blockingSlot reserves the right to block a thread in the library for a
// send of s: for an HTTP2 session, an h2Slots slot, waiting under ctx
// (ok is then always true unless err is set); otherwise a fast-path slot
// when one is free (ok false: go to the driver).
func (s *Session) blockingSlot(ctx context.Context) (put func(), ok bool, err error) {
	if s.h2 {
		if err := h2Slots.wait(ctx); err != nil {
			return nil, false, err
		}
		return h2Slots.put, true, nil
	}
	put, ok = takeBlockingSlot()
	return put, ok, nil
}
