package reqivo

// #include <reqivo.h>
import "C"

import "runtime"

// WithResolve sends connections for a host and port to given addresses
// instead of what DNS says, like curl's --resolve: each entry is
// "host:port:addr[,addr]..." (IPv6 addresses with or without brackets).
// The URL, Host header, SNI and certificate checks keep the name; only the
// socket goes to the addresses, which race as resolved ones do (Happy
// Eyeballs). A malformed entry fails NewSession (or the Transport's first
// request) with ErrInvalidArgument.
func WithResolve(entries ...string) Option {
	return func(c *sessionConfig) { c.resolve = append(c.resolve, entries...) }
}

// WithConnectTo sends connections for a host and port to another host and
// port, like curl's --connect-to: each entry is "HOST1:PORT1:HOST2:PORT2",
// where an empty HOST1 or PORT1 matches any and an empty HOST2 or PORT2
// keeps the request's own. The first matching entry applies; WithResolve
// entries apply to HOST2.
func WithConnectTo(entries ...string) Option {
	return func(c *sessionConfig) { c.connectTo = append(c.connectTo, entries...) }
}

// WithUnixSocket sends every request over the Unix domain socket at path
// (the Docker Engine API case: "http://localhost/v1.43/containers/json"
// over "/var/run/docker.sock"), with the URL's host in Host. A path that
// starts with "\x00" names a socket in Linux's abstract namespace.
// Proxies and WithResolve do not apply; connections are pooled per path.
func WithUnixSocket(path string) Option {
	return func(c *sessionConfig) { c.unixSocket = &path }
}

// configureTargets applies WithResolve, WithConnectTo and WithUnixSocket.
// s.mu is held.
func (s *Session) configureTargets(cfg *sessionConfig) error {
	type setter func(*C.reqivo_session, *C.char, C.size_t, *C.reqivo_error) C.uint32_t
	var calls []struct {
		text string
		set  setter
	}
	add := func(text string, set setter) {
		calls = append(calls, struct {
			text string
			set  setter
		}{text, set})
	}
	for _, e := range cfg.resolve {
		add(e, func(p *C.reqivo_session, t *C.char, n C.size_t, e *C.reqivo_error) C.uint32_t {
			return C.reqivo_session_add_resolve(p, t, n, e)
		})
	}
	for _, e := range cfg.connectTo {
		add(e, func(p *C.reqivo_session, t *C.char, n C.size_t, e *C.reqivo_error) C.uint32_t {
			return C.reqivo_session_add_connect_to(p, t, n, e)
		})
	}
	if cfg.unixSocket != nil {
		add(*cfg.unixSocket, func(p *C.reqivo_session, t *C.char, n C.size_t, e *C.reqivo_error) C.uint32_t {
			return C.reqivo_session_set_unix_socket(p, t, n, e)
		})
	}
	var cerr C.reqivo_error
	for _, c := range calls {
		p, n := cstr(c.text)
		code := c.set(s.ptr(), p, n, &cerr)
		runtime.KeepAlive(s)
		if err := codeError(code, &cerr); err != nil {
			return err
		}
	}
	return nil
}
