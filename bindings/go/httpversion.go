package reqivo

// #include <reqivo.h>
import "C"

import (
	"runtime"
	"strconv"
)

// HTTPVersion chooses the HTTP versions a Session or Transport speaks
// (WithHTTPVersion).
type HTTPVersion uint32

const (
	// HTTPDefault is the library's choice: over TLS the handshake offers
	// "h2", then "http/1.1" (HTTP/2 when the server chooses it, as
	// net/http does), HTTP/1.1 over cleartext.
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
// default HTTPDefault, which speaks HTTP/2 with TLS servers that choose
// it). Over HTTP/2 every request to an origin shares one
// connection, each a stream on it, however many goroutines send at once,
// on the fast path and through the driver alike (the library's threads
// and its multi share the connection: whichever needs progress drives it,
// with no OS thread of its own); a response's Proto is then "HTTP/2.0"
// (ProtoMajor 2, ProtoMinor 0), in a Session and through a Transport
// alike. Stream and connection errors match ErrHTTP2Protocol (the RFC
// 9113 error code is named in the message). With HTTP2, a TLS server
// that does not choose h2, or refuses the handshake because it does not
// speak it (alert no_application_protocol, as Go's does), fails with
// ErrHTTP2Required. WebSocket dials are HTTP/1.1 whatever the version. An unknown
// value fails NewSession (or every RoundTrip of a Transport) with
// ErrInvalidArgument.
func WithHTTPVersion(v HTTPVersion) Option {
	return func(c *sessionConfig) { c.httpVersion = &v }
}

// configureHTTPVersion applies WithHTTPVersion. s.mu is held (either
// way), and s is not shared yet.
func (s *Session) configureHTTPVersion(cfg *sessionConfig) error {
	if cfg.httpVersion == nil {
		return nil
	}
	var cerr C.reqivo_error
	code := C.reqivo_session_set_http_version(s.ptr(), C.uint32_t(*cfg.httpVersion), &cerr)
	runtime.KeepAlive(s)
	return codeError(code, &cerr)
}
