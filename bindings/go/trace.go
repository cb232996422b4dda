package reqivo

import (
	"crypto/tls"
	"errors"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/url"
	"strconv"
	"strings"
	"time"
)

// This file reports a Transport's requests to net/http/httptrace hooks.
//
// The library sends a request and reads its response head in one blocking
// call, which tells afterwards what happened (ResponseHead: Reused, TLS,
// TLSVersion, TLSResumed, Timings) but calls no Go code on the way. So
// GetConn is called before the send, as net/http does, and every other
// hook once the call has returned, in net/http's order, from what the
// response head says: a phase is reported when the library reports that
// it happened (DNS when Timings.DNS is set, a connect and TLS handshake
// on a connection that was not reused). Which values the binding cannot
// know is written on Transport.

// errTraceConn is what the methods of the net.Conn given to
// httptrace.GotConn return, but for the addresses.
var errTraceConn = errors.New("reqivo: the connection belongs to the library: " +
	"the net.Conn given to httptrace hooks only reports its addresses")

// traceRoute is where a Transport's connections go, as far as its options
// tell: straight to the request's host, or always to one proxy. Options
// that leave the choice to the library per request (WithNoProxy,
// WithEnvironmentProxy) make it unknown, and the request's host is
// reported.
type traceRoute struct {
	proxy string // host:port of the proxy every request goes through, or ""
}

// routeOf reads cfg's proxy options; a proxy URL the library refuses
// makes NewTransport fail anyway.
func routeOf(cfg *sessionConfig) traceRoute {
	if cfg.envProxy || cfg.proxy == nil || strings.TrimSpace(*cfg.proxy) == "" {
		return traceRoute{}
	}
	if cfg.noProxy != nil && strings.Trim(*cfg.noProxy, ", \t") != "" {
		return traceRoute{}
	}
	text := strings.TrimSpace(*cfg.proxy)
	if !strings.Contains(text, "://") {
		text = "http://" + text // as the library reads it
	}
	u, err := url.Parse(text)
	if err != nil || u.Hostname() == "" {
		return traceRoute{}
	}
	port := u.Port()
	if port == "" {
		port = "80"
	}
	return traceRoute{proxy: net.JoinHostPort(u.Hostname(), port)}
}

// dialAddr is the host and port req's connection is made to: the proxy's,
// or the URL's with the scheme's default port filled in (as net/http's
// GetConn reports it).
func (r traceRoute) dialAddr(req *http.Request) (host, port string) {
	if r.proxy != "" {
		host, port, _ = net.SplitHostPort(r.proxy)
		return host, port
	}
	host, port = req.URL.Hostname(), req.URL.Port()
	if port == "" {
		if p := effectivePort(req.URL); p > 0 {
			port = strconv.Itoa(p)
		}
	}
	return host, port
}

// traceGetConn calls trace.GetConn, before the send.
func (r traceRoute) traceGetConn(trace *httptrace.ClientTrace, req *http.Request) {
	if trace.GetConn != nil {
		trace.GetConn(net.JoinHostPort(r.dialAddr(req)))
	}
}

// traceSent calls the hooks of a send that has returned: with the head
// of its response, or with the error that ended it.
func (r traceRoute) traceSent(trace *httptrace.ClientTrace, req *http.Request, head *ResponseHead, err error) {
	host, port := r.dialAddr(req)
	addr := net.JoinHostPort(host, port)
	literal := isIPLiteral(host)
	if err != nil {
		traceFailure(trace, host, addr, literal, err)
		return
	}
	var state *tls.ConnectionState
	if head.TLS {
		state = tlsState(req, head)
	}
	if !head.Reused {
		if head.Timings.DNS > 0 {
			traceDNS(trace, host, nil)
		}
		traceConnect(trace, addr, nil)
		if state != nil {
			traceTLS(trace, *state, nil)
		}
	}
	if trace.GotConn != nil {
		trace.GotConn(httptrace.GotConnInfo{
			Conn:    newTraceConn(host, port, state),
			Reused:  head.Reused,
			WasIdle: head.Reused, // the library reuses idle connections only
		})
	}
	if trace.WroteHeaders != nil {
		trace.WroteHeaders()
	}
	if trace.WroteRequest != nil {
		trace.WroteRequest(httptrace.WroteRequestInfo{})
	}
	if trace.GotFirstResponseByte != nil {
		trace.GotFirstResponseByte()
	}
}

// traceFailure reports the phase a failed send stopped in, when its code
// names one (name resolution, connect, TLS handshake), with the error;
// after a connection is made the library's error does not say whether it
// was new or reused, and no more hooks are called.
func traceFailure(trace *httptrace.ClientTrace, host, addr string, literal bool, err error) {
	var e *Error
	if !errors.As(err, &e) {
		return
	}
	switch {
	case e.Code == CodeDNS:
		if !literal {
			traceDNS(trace, host, err)
		}
	case e.Code == CodeConnectRefused || e.Code == CodeTimeoutConnect:
		if !literal {
			traceDNS(trace, host, nil)
		}
		traceConnect(trace, addr, err)
	case e.Class == ClassTLS:
		if !literal {
			traceDNS(trace, host, nil)
		}
		traceConnect(trace, addr, nil)
		traceTLS(trace, tls.ConnectionState{}, err)
	}
}

func traceDNS(trace *httptrace.ClientTrace, host string, err error) {
	if trace.DNSStart != nil {
		trace.DNSStart(httptrace.DNSStartInfo{Host: host})
	}
	if trace.DNSDone != nil {
		trace.DNSDone(httptrace.DNSDoneInfo{Err: err})
	}
}

func traceConnect(trace *httptrace.ClientTrace, addr string, err error) {
	if trace.ConnectStart != nil {
		trace.ConnectStart("tcp", addr)
	}
	if trace.ConnectDone != nil {
		trace.ConnectDone("tcp", addr, err)
	}
}

func traceTLS(trace *httptrace.ClientTrace, state tls.ConnectionState, err error) {
	if trace.TLSHandshakeStart != nil {
		trace.TLSHandshakeStart()
	}
	if trace.TLSHandshakeDone != nil {
		trace.TLSHandshakeDone(state, err)
	}
}

// tlsState is what the binding knows of a TLS connection, for
// http.Response.TLS and the trace's TLSHandshakeDone. HTTP/2 over TLS is
// only ever negotiated by ALPN, so its protocol is known; HTTP/1.1 may
// have gone without ALPN, and is left unsaid.
func tlsState(req *http.Request, head *ResponseHead) *tls.ConnectionState {
	st := &tls.ConnectionState{
		Version:           head.TLSVersion,
		HandshakeComplete: true,
		DidResume:         head.TLSResumed,
	}
	if head.ProtoMajor == 2 {
		st.NegotiatedProtocol = "h2"
	}
	if host := req.URL.Hostname(); !isIPLiteral(host) {
		st.ServerName = host // the SNI the library sent
	}
	return st
}

func isIPLiteral(host string) bool {
	h, _, _ := strings.Cut(host, "%") // a zone
	return net.ParseIP(h) != nil
}

// traceConn is the net.Conn given to httptrace.GotConn: the connection is
// the library's, so it reports addresses and refuses I/O.
type traceConn struct {
	local, remote net.Addr
}

// traceTLSConn is a traceConn over TLS; like *tls.Conn it has
// ConnectionState.
type traceTLSConn struct {
	traceConn
	state tls.ConnectionState
}

// newTraceConn makes the connection of a request dialled to host:port.
// The remote address is a *net.TCPAddr for an IP literal, and the name
// and port otherwise (the library does not say which of its addresses it
// connected to); the local address is the unspecified address of the
// remote's family with port 0 (the library does not report it).
func newTraceConn(host, port string, state *tls.ConnectionState) net.Conn {
	c := traceConn{local: &net.TCPAddr{}, remote: unresolvedAddr(net.JoinHostPort(host, port))}
	h, zone, _ := strings.Cut(host, "%")
	if ip := net.ParseIP(h); ip != nil {
		n, _ := strconv.Atoi(port)
		c.remote = &net.TCPAddr{IP: ip, Port: n, Zone: zone}
		if ip.To4() != nil {
			c.local = &net.TCPAddr{IP: net.IPv4zero}
		} else {
			c.local = &net.TCPAddr{IP: net.IPv6unspecified}
		}
	}
	if state != nil {
		return &traceTLSConn{traceConn: c, state: *state}
	}
	return &c
}

func (c *traceConn) Read([]byte) (int, error)         { return 0, errTraceConn }
func (c *traceConn) Write([]byte) (int, error)        { return 0, errTraceConn }
func (c *traceConn) Close() error                     { return errTraceConn }
func (c *traceConn) LocalAddr() net.Addr              { return c.local }
func (c *traceConn) RemoteAddr() net.Addr             { return c.remote }
func (c *traceConn) SetDeadline(time.Time) error      { return errTraceConn }
func (c *traceConn) SetReadDeadline(time.Time) error  { return errTraceConn }
func (c *traceConn) SetWriteDeadline(time.Time) error { return errTraceConn }

// ConnectionState is what the binding knows of the TLS connection.
func (c *traceTLSConn) ConnectionState() tls.ConnectionState { return c.state }

// unresolvedAddr is a "host:port" whose host is a name: the library
// resolved it but does not say to which address it connected.
type unresolvedAddr string

func (a unresolvedAddr) Network() string { return "tcp" }
func (a unresolvedAddr) String() string  { return string(a) }
