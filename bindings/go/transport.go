package reqivo

// #include <reqivo.h>
import "C"

import (
	"context"
	"encoding/base64"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"sort"
	"strconv"
	"strings"
	"sync"
)

// Transport is an http.RoundTripper backed by reqivo sessions, so an
// unmodified http.Client can use reqivo:
//
//	client := &http.Client{Transport: reqivo.NewTransport()}
//
// It does not follow redirects (its sessions' max redirects is always 0):
// http.Client follows them and applies its CheckRedirect policy, and
// replays a request body for a 307 or 308 through http.Request.GetBody as
// it does with net/http's Transport. Nor does it keep cookies (the
// library's jar is off): set http.Client.Jar for that.
//
// Request bodies are streamed from http.Request.Body while the request is
// sent (Request.SetBodyReader): with Content-Length when ContentLength > 0,
// chunked otherwise. A Read error aborts the request and RoundTrip returns
// a *BodyError wrapping it; a body longer or shorter than ContentLength is
// an error too. The body is closed once sent or on failure, and when the
// request's context is done (which also unblocks a Read blocked on, for
// example, an io.Pipe).
//
// Response bodies are streamed (reqivo_session_open); the connection goes
// back to the pool once a body is read to its end. The request's context
// cancels the request and reads of its body. With decompression on (the
// default, WithDecompression), a request without its own Accept-Encoding
// gets gzip, deflate, br or zstd bodies decoded, with
// http.Response.Uncompressed set and Content-Encoding and Content-Length
// removed, as net/http does; a request with its own Accept-Encoding gets
// the body as sent (a second session, decompression off, on the same pool
// and TLS config serves it).
//
// Without WithPool, a Transport's pool is sized as net/http's Transport:
// no limit on connections per host or in all (so many concurrent
// requests to one host open as many connections instead of waiting for
// one under the pool timeout), and at most TransportMaxIdlePerHost (64)
// of them kept idle per host afterwards; the rest are closed as they are
// released. A Session's own pool keeps the library's defaults instead
// (10 per host, 100 in all).
//
// https uses the TLS configuration of WithTLS; http.Response.TLS is set
// with the version, whether the session was resumed and, over HTTP/2,
// NegotiatedProtocol "h2" (no certificates).
//
// As with net/http, a TLS server that chooses h2 gets HTTP/2, each
// request a stream on one connection per origin: http.Response.Proto is
// "HTTP/2.0" (ProtoMajor 2, ProtoMinor 0) and Status the code with its
// http.StatusText, as net/http's own HTTP/2 transport gives it (HTTP/2
// has no reason phrase). WithHTTPVersion(HTTP11) keeps HTTP/1.1;
// WithHTTPVersion(HTTP2) requires HTTP/2.
//
// Proxies are set with the same options as a Session's: WithProxy,
// WithNoProxy and WithEnvironmentProxy (there is no Proxy func field as
// in http.Transport: the library decides per request from the list).
// Unlike http.DefaultTransport, a Transport does not call
// http.ProxyFromEnvironment: HTTP_PROXY, HTTPS_PROXY and NO_PROXY are
// read only with WithEnvironmentProxy, once, by NewTransport.
//
//	tr := reqivo.NewTransport(reqivo.WithProxy("http://user:pass@proxy:3128"),
//		reqivo.WithNoProxy("localhost,10.0.0.0/8"))
//
// A CONNECT the proxy refuses fails the request with an error that
// matches ErrProxy (inside http.Client's *url.Error).
//
// # Credentials
//
// Credentials configured on a Transport (WithBasicAuth, WithBearerToken,
// WithDigestAuth, and WithHeader of Authorization, Cookie or
// Proxy-Authorization) and userinfo in a request's URL go only to the
// origin (scheme, host, port) of the request the caller made: to any
// origin the caller addresses, and on
// the redirects http.Client follows from there only to hops at that same
// origin. A redirect to another origin (another host, scheme or port, the
// same host on another port included) gets none of them, and a later hop
// back to the caller's origin gets them again, as with a Session following
// redirects itself. The Transport recognises a redirect hop by
// http.Request.Response ("the redirect response which caused this request
// to be created"), set by http.Client, and finds the caller's request at
// the start of that chain (Response.Request, hop by hop); a hop whose chain
// cannot be followed back (a Response without its Request) gets no
// credentials. (Code that follows redirects without setting
// Request.Response makes every hop look like a request of the caller's.)
// Origins are compared as written, case-insensitively and with default
// ports filled in, so two spellings of one host count as two origins: the
// credentials are then withheld, never sent further.
//
// Headers of the http.Request itself are sent as they are, on every hop:
// which of the caller's headers follow a redirect is http.Client's
// decision (it drops Authorization and Cookie on a redirect to another
// domain, keeps them for the same host on another port or a subdomain,
// and a CheckRedirect func may set them), as with net/http's Transport.
// A request header of one of the credential names replaces the
// Transport's.
//
// # Tracing
//
// The hooks of a net/http/httptrace.ClientTrace in the request's context
// are called in net/http's order, but they report rather than follow the
// send: the library sends a request and reads its response head in one
// blocking call that calls no Go code on the way. GetConn is called
// before that call; the rest once the response head is in, in this order:
// DNSStart and DNSDone (when the library resolved a name), ConnectStart
// and ConnectDone, TLSHandshakeStart and TLSHandshakeDone (those on a new
// connection only), GotConn, WroteHeaders, WroteRequest,
// GotFirstResponseByte. A request on a reused connection reports GotConn
// with Reused and WasIdle set, and no DNS, connect or handshake. A send
// that fails resolving, connecting or in the TLS handshake reports that
// phase, with the error in DNSDone, ConnectDone or TLSHandshakeDone; one
// that fails later reports nothing after GetConn (the library's error does
// not say whether its connection was new or reused).
//
// What the library does not report is left zero. GotConnInfo.Conn is a
// net.Conn that only reports addresses (Read, Write, Close and the
// deadlines return an error; over TLS it has ConnectionState, as
// *tls.Conn does): RemoteAddr is the host and port dialled, a
// *net.TCPAddr when the host is an IP literal and a net.Addr of the name
// and port otherwise; LocalAddr is a *net.TCPAddr with the unspecified
// address of the remote's family and port 0 (0.0.0.0:0, [::]:0, or :0
// for a name). GotConnInfo.IdleTime is 0; DNSDone has no Addrs;
// ConnectStart and ConnectDone get the name and port, not the address
// the name resolved to; TLSHandshakeDone's tls.ConnectionState has
// Version, HandshakeComplete, DidResume, ServerName and (over HTTP/2)
// NegotiatedProtocol only (no cipher suite or certificates). The host dialled is the
// request's, or the proxy's when WithProxy is given without WithNoProxy
// or WithEnvironmentProxy; with those, whether the library went through
// the proxy is not known, and the request's host is reported.
// WroteHeaderField, Wait100Continue, Got100Continue, Got1xxResponse and
// PutIdleConn are not called.
//
// A Transport is safe for concurrent use. Close frees its sessions.
type Transport struct {
	s     *Session     // the session of every request but...
	raw   *Session     // ...those with their own Accept-Encoding; nil without decoding
	creds []credential // sent by RoundTrip, origin permitting; never set on the sessions
	route traceRoute   // where connections go, for httptrace hooks
	err   error        // the options' error; every RoundTrip returns it

	// With WithDigestAuth (which s and raw answer): the sessions without
	// it, for hops of a redirect chain away from the caller's origin.
	away, awayRaw *Session
}

// credential is a default header that carries credentials; the library's
// list of them (src/client/session.rs, CREDENTIAL_HEADERS) is the same.
type credential struct{ name, value string } // name canonical

// isCredentialHeader tells whether a header name carries credentials.
func isCredentialHeader(name string) bool {
	return strings.EqualFold(name, "Authorization") || strings.EqualFold(name, "Cookie") ||
		strings.EqualFold(name, "Proxy-Authorization")
}

var (
	_ http.RoundTripper                   = (*Transport)(nil)
	_ interface{ CloseIdleConnections() } = (*Transport)(nil)
)

// NewTransport creates a Transport on its own pool (or WithPool's),
// configured with opts; WithMaxRedirects is overridden with 0 and
// WithCookies with false. An invalid option does not panic: every
// RoundTrip returns its error (see Err).
//
// Its own pool follows net/http's Transport rather than a Session's
// (NewSession: 10 connections per host, 100 in all, then requests wait
// for a slot under the pool timeout): no limit on connections per host
// or in all, and at most TransportMaxIdlePerHost (64) kept idle per host
// once they are released. Limit connections with WithPool and a Pool of
// the PoolConfig you choose.
func NewTransport(opts ...Option) *Transport {
	var cfg sessionConfig
	for _, o := range opts {
		o(&cfg)
	}
	noRedirects, noCookies := 0, false
	cfg.maxRedirects = &noRedirects
	cfg.cookies = &noCookies
	cfg.limits = transportLimits(cfg.limits)
	creds := takeCredentials(&cfg)
	t := &Transport{route: routeOf(&cfg)}
	if cfg.pool == nil {
		pool, err := NewPool(transportPoolConfig())
		if err != nil {
			t.err = err
			return t
		}
		defer pool.Close() // the sessions hold their own references
		cfg.pool = pool
	}
	t.s, t.raw, t.err = newTransportSessions(&cfg)
	if t.err == nil && cfg.digestAuth != nil {
		away := cfg
		away.digestAuth = nil
		t.away, t.awayRaw, t.err = newTransportSessions(&away)
	}
	if t.err == nil {
		t.creds, t.err = creds.build(t.s.pool)
	}
	return t
}

// DefaultMaxResponseHeaderBytes is a Transport's limit on a response head
// when no option sets one: net/http's Transport default
// (MaxResponseHeaderBytes 0 means 10 MiB there too).
const DefaultMaxResponseHeaderBytes = 10 << 20

// transportLimits gives the limits a Transport uses: net/http's, where
// the whole head (status line and fields) counts against one byte limit,
// with no separate line or field-count limit. Fields a caller set with
// WithLimits or WithMaxResponseHeaderBytes are kept.
func transportLimits(set *Limits) *Limits {
	l := Limits{}
	if set != nil {
		l = *set
	}
	if l.MaxHeaderBytes == 0 {
		l.MaxHeaderBytes = DefaultMaxResponseHeaderBytes
	}
	if l.MaxLineBytes == 0 {
		l.MaxLineBytes = l.MaxHeaderBytes
	}
	if l.MaxHeaderCount == 0 {
		l.MaxHeaderCount = math.MaxUint32
	}
	return &l
}

// WithMaxResponseHeaderBytes limits the bytes of a response head (status
// line and header fields), like net/http's Transport.MaxResponseHeaderBytes;
// a Transport's default is DefaultMaxResponseHeaderBytes, a Session's the
// library's (see Limits). As in net/http, n <= 0 takes the default; n of
// 4 GiB or more means no limit. A later WithLimits replaces it.
func WithMaxResponseHeaderBytes(n int64) Option {
	return func(c *sessionConfig) {
		l := Limits{}
		if c.limits != nil {
			l = *c.limits
		}
		switch {
		case n <= 0:
			l.MaxHeaderBytes = 0
		case n >= math.MaxUint32:
			l.MaxHeaderBytes = math.MaxUint32
		default:
			l.MaxHeaderBytes = uint32(n)
		}
		c.limits = &l
	}
}

// transportCredentials are the credential options of a Transport, taken
// out of its sessionConfig: a session would send them with every request,
// and every request of a Transport is a new send to the library, redirect
// hops included.
type transportCredentials struct {
	basicAuth   *[2]string
	bearerToken *string
	headers     [][2]string // WithHeader's of credential names, in order
}

// takeCredentials moves the credential options out of cfg.
func takeCredentials(cfg *sessionConfig) transportCredentials {
	c := transportCredentials{basicAuth: cfg.basicAuth, bearerToken: cfg.bearerToken}
	cfg.basicAuth, cfg.bearerToken = nil, nil
	var rest [][2]string
	for _, h := range cfg.headers {
		if isCredentialHeader(h[0]) {
			c.headers = append(c.headers, h)
		} else {
			rest = append(rest, h)
		}
	}
	cfg.headers = rest
	return c
}

// build validates the credentials with the library's own setters (on a
// session that is dropped at once, on the transport's pool) and returns
// the headers a Session configured with them would send, in the same
// precedence: WithBasicAuth or WithBearerToken, then WithHeader's, a
// later one replacing an earlier one of the same name.
func (c transportCredentials) build(pool *Pool) ([]credential, error) {
	if c.basicAuth == nil && c.bearerToken == nil && len(c.headers) == 0 {
		return nil, nil
	}
	check, err := newSessionTLS(&sessionConfig{basicAuth: c.basicAuth, bearerToken: c.bearerToken,
		headers: c.headers, pool: pool}, nil)
	if err != nil {
		return nil, err
	}
	check.Close()
	var out []credential
	set := func(name, value string) {
		name = http.CanonicalHeaderKey(name)
		for i := range out {
			if out[i].name == name {
				out[i].value = value
				return
			}
		}
		out = append(out, credential{name, value})
	}
	switch {
	case c.basicAuth != nil:
		set("Authorization", basicAuth(c.basicAuth[0], c.basicAuth[1]))
	case c.bearerToken != nil && *c.bearerToken != "": // empty: none
		set("Authorization", "Bearer "+*c.bearerToken)
	}
	for _, h := range c.headers {
		set(h[0], h[1])
	}
	return out, nil
}

// basicAuth is the Authorization value of RFC 7617 Basic credentials.
func basicAuth(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

// newTransportSessions makes the decoding session and, unless decoding is
// off, a raw one sharing its pool and its TLS config (connections are only
// shared under one config).
func newTransportSessions(cfg *sessionConfig) (*Session, *Session, error) {
	var tls *C.reqivo_tls_config
	if cfg.tls != nil {
		var err error
		if tls, err = cfg.tls.build(); err != nil {
			return nil, nil, err
		}
		defer C.reqivo_tls_config_free(tls) // the sessions keep their own references
	}
	s, err := newSessionTLS(cfg, tls)
	if err != nil {
		return nil, nil, err
	}
	if cfg.decompress != nil && !*cfg.decompress {
		return s, nil, nil
	}
	rawCfg := *cfg
	off := false
	rawCfg.decompress = &off
	rawCfg.pool = s.pool
	raw, err := newSessionTLS(&rawCfg, tls)
	if err != nil {
		s.Close()
		return nil, nil, err
	}
	return s, raw, nil
}

// Err is the error of the options given to NewTransport, or nil.
func (t *Transport) Err() error { return t.err }

// Close frees the transport's sessions. Response bodies still open stay
// readable. Close is idempotent; RoundTrip after Close panics.
func (t *Transport) Close() {
	if t.s != nil {
		t.s.Close()
	}
	for _, s := range []*Session{t.raw, t.away, t.awayRaw} {
		if s != nil {
			s.Close()
		}
	}
}

// CloseIdleConnections closes the idle connections of the transport's
// pool (every session's on a pool shared through WithPool); connections in
// use are left alone. http.Client.CloseIdleConnections calls it. It does
// nothing after Close.
func (t *Transport) CloseIdleConnections() {
	if t.s != nil {
		t.s.closeIdle()
	}
}

// PoolStats returns the statistics of the transport's pool.
func (t *Transport) PoolStats() PoolStats {
	if t.s == nil {
		return PoolStats{}
	}
	return t.s.PoolStats()
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	hasBody := req.Body != nil && req.Body != http.NoBody
	closeBody := func() {}
	if hasBody {
		closeBody = bodyCloser(req)
	}
	if t.err != nil {
		closeBody()
		return nil, t.err
	}
	r, err := newRequestFromHTTP(req, t.creds)
	if err != nil {
		closeBody()
		return nil, err
	}
	defer r.Close()
	ctx := req.Context()
	if hasBody && req.GetBody != nil && req.ContentLength > 0 && req.ContentLength <= inMemoryBodyMax {
		// An in-memory body (http.NewRequest sets GetBody for bytes and
		// strings): taken whole, the request needs no reader on the
		// sending thread and can go to the driver. (A larger one streams
		// from its reader rather than be copied.)
		b, err := io.ReadAll(req.Body)
		closeBody()
		if err == nil {
			err = r.SetBody(b)
		}
		if err != nil {
			return nil, err
		}
		hasBody = false
	}
	if hasBody {
		size := req.ContentLength
		if size <= 0 {
			size = -1 // 0 with a Body means unknown, as in net/http
		}
		if err := r.SetBodyReader(req.Body, size); err != nil {
			closeBody()
			return nil, err
		}
		if ctx.Done() != nil {
			// Close the body when ctx is done: a Read blocked in it returns,
			// and the send stops (net/http does the same).
			stop := context.AfterFunc(ctx, closeBody)
			defer stop()
		}
	}
	s, raw := t.s, t.raw
	if t.away != nil && !atCallerOrigin(req) {
		s, raw = t.away, t.awayRaw
	}
	// Header keys are canonical: index the map rather than canonicalise
	// a constant on every request (here and in toHTTPResponse).
	if raw != nil && len(req.Header["Accept-Encoding"]) > 0 {
		s = raw
	}
	trace := httptrace.ContextClientTrace(ctx)
	if trace != nil {
		t.route.traceGetConn(trace, req)
	}
	head, body, err := s.openStream(ctx, r, false)
	closeBody()
	if trace != nil {
		t.route.traceSent(trace, req, &head, err)
	}
	if err != nil {
		return nil, err
	}
	return toHTTPResponse(req, &head, body), nil
}

// inMemoryBodyMax is the largest request body with GetBody the Transport
// copies whole (and so sends without a thread of its own).
const inMemoryBodyMax = 16 << 20

// bodyCloser closes req.Body once, from whichever goroutine comes first
// (RoundTrip must close it, even on errors; http.NoBody needs no Close).
func bodyCloser(req *http.Request) func() {
	var once sync.Once
	return func() { once.Do(func() { req.Body.Close() }) }
}

// callerRequest is the request the caller made that req is a redirect hop
// of (req itself when it is none), or nil when the chain is broken. Each
// hop made by http.Client has Response set, whose Request is the hop
// before it.
func callerRequest(req *http.Request) *http.Request {
	for req.Response != nil {
		if req = req.Response.Request; req == nil || req.URL == nil {
			return nil
		}
	}
	return req
}

// atCallerOrigin tells whether req may carry the caller's credentials: it
// is the caller's own request, or a redirect hop at the same origin.
func atCallerOrigin(req *http.Request) bool {
	if req.Response == nil {
		return true
	}
	first := callerRequest(req)
	return first != nil && sameOrigin(first.URL, req.URL)
}

// sameOrigin tells whether two URLs have one origin (RFC 6454): scheme
// and host alike but for case, and the same port once a default port is
// filled in. Different spellings of one host are different origins.
func sameOrigin(a, b *url.URL) bool {
	return strings.EqualFold(a.Scheme, b.Scheme) && strings.EqualFold(a.Hostname(), b.Hostname()) &&
		effectivePort(a) == effectivePort(b)
}

// effectivePort is u's port as a number, the scheme's default when it has
// none, -1 when it is neither (such a URL matches no other origin).
func effectivePort(u *url.URL) int {
	p := u.Port()
	if p == "" {
		switch strings.ToLower(u.Scheme) {
		case "http", "ws":
			return 80
		case "https", "wss":
			return 443
		}
		return -1
	}
	n, err := strconv.Atoi(p)
	if err != nil || n < 0 || n > 65535 {
		return -1
	}
	return n
}

// hasHeader tells whether h has a field named name (in any case: a
// Header filled by hand may have keys that are not canonical).
func hasHeader(h http.Header, name string) bool {
	if len(h[name]) > 0 {
		return true
	}
	for k, v := range h {
		if len(v) > 0 && strings.EqualFold(k, name) {
			return true
		}
	}
	return false
}

// newRequestFromHTTP builds a reqivo Request from req's method, URL and
// headers, adding creds (the Transport's credentials) and Basic
// credentials from the URL's userinfo when req is at the origin of the
// caller's request (see Transport); RoundTrip attaches the body.
func newRequestFromHTTP(req *http.Request, creds []credential) (*Request, error) {
	// A request is built with a dozen short C calls: gated as one.
	enterC()
	defer leaveC()
	if req.URL == nil {
		return nil, errors.New("reqivo: http.Request has a nil URL")
	}
	if req.ContentLength > 0 && req.Body == nil {
		return nil, fmt.Errorf("reqivo: http.Request.ContentLength=%d with nil Body", req.ContentLength)
	}
	method := req.Method
	if method == "" {
		method = http.MethodGet
	}
	// Credentials are rare: the origin check runs only when there are some.
	atOrigin := (len(creds) > 0 || req.URL.User != nil) && atCallerOrigin(req)
	target := req.URL
	if target.User != nil && !atOrigin {
		// A hop away from the caller's origin gets no credentials.
		u := *target
		u.User = nil
		target = &u
	}
	// The library turns userinfo into Basic credentials, as net/http does,
	// and keeps it out of the request target.
	r, err := newRequest(method, target.String()) // RoundTrip closes it
	if err != nil {
		return nil, err
	}
	ok := false
	defer func() {
		if !ok {
			r.Close()
		}
	}()
	if req.Host != "" && req.Host != req.URL.Host {
		if err := r.AddHeader("Host", req.Host); err != nil {
			return nil, err
		}
	}
	if markedIdempotent(req.Header) {
		if err := r.SetIdempotent(true); err != nil {
			return nil, err
		}
	}
	// Precedence as in the library: the request's own header, then the
	// URL's userinfo, then the Transport's. The Transport's go as request
	// headers, which the library ranks above userinfo, so they give way
	// to it here.
	if atOrigin {
		for _, c := range creds {
			if hasHeader(req.Header, c.name) || (c.name == "Authorization" && req.URL.User != nil) {
				continue
			}
			if err := r.AddHeader(c.name, c.value); err != nil {
				return nil, err
			}
		}
	}
	names := make([]string, 0, len(req.Header))
	for name := range req.Header {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		// The library frames the body itself (and says which fields that
		// takes); Host comes from req.Host.
		if strings.EqualFold(name, "Host") || isFramingHeader(name) {
			continue
		}
		for _, v := range req.Header[name] {
			if err := r.AddHeader(name, v); err != nil {
				return nil, err
			}
		}
	}
	if req.Close && req.Header.Get("Connection") == "" {
		if err := r.AddHeader("Connection", "close"); err != nil {
			return nil, err
		}
	}
	ok = true
	return r, nil
}

// toHTTPResponse presents a streamed reqivo response the way net/http's
// own Transport does.
func toHTTPResponse(req *http.Request, head *ResponseHead, body *Stream) *http.Response {
	h := head.Header
	status := head.Status
	if head.ProtoMajor == 2 && head.Reason == "" {
		// HTTP/2 has no reason phrase; net/http's own HTTP/2 transport
		// gives the code's text.
		status = strconv.Itoa(head.StatusCode) + " " + http.StatusText(head.StatusCode)
	}
	resp := &http.Response{
		Status:        status,
		StatusCode:    head.StatusCode,
		Proto:         head.Proto,
		ProtoMajor:    head.ProtoMajor,
		ProtoMinor:    head.ProtoMinor,
		Header:        h,
		Body:          body,
		ContentLength: -1,
		Request:       req,
	}
	te := h["Transfer-Encoding"]
	if len(te) > 0 {
		// net/http moves the transfer codings out of Header.
		resp.TransferEncoding = te
		h.Del("Transfer-Encoding")
	} else if cl := h["Content-Length"]; len(cl) > 0 {
		if n, err := strconv.ParseInt(strings.TrimSpace(cl[0]), 10, 64); err == nil && n >= 0 {
			resp.ContentLength = n
		}
	}
	// Trailers follow a chunked body, or any HTTP/2 body.
	if len(te) > 0 || head.ProtoMajor == 2 {
		// As net/http: the keys the Trailer field announces, with nil
		// values until the body's end fills them (the same map).
		if announced := h["Trailer"]; len(announced) > 0 && body != nil {
			resp.Trailer = make(http.Header)
			for _, v := range announced {
				for _, k := range strings.Split(v, ",") {
					if k = strings.TrimSpace(k); k != "" {
						resp.Trailer[textproto.CanonicalMIMEHeaderKey(k)] = nil
					}
				}
			}
			h.Del("Trailer")
			body.trailer = resp.Trailer
		}
		if body != nil {
			// Unannounced trailers too, as net/http merges them in.
			body.trailerTo = &resp.Trailer
		}
	}
	if head.TLS {
		resp.TLS = tlsState(req, head)
	}
	if head.Decompressed {
		resp.Uncompressed = true
		resp.ContentLength = -1
		h.Del("Content-Encoding")
		h.Del("Content-Length")
	}
	for _, v := range h["Connection"] {
		if strings.EqualFold(strings.TrimSpace(v), "close") {
			resp.Close = true
		}
	}
	noBody := req.Method == http.MethodHead || head.StatusCode/100 == 1 ||
		head.StatusCode == http.StatusNoContent || head.StatusCode == http.StatusNotModified
	if noBody && req.Method != http.MethodHead {
		resp.ContentLength = 0
	}
	if noBody || resp.ContentLength == 0 {
		// Nothing to read: reaching the end now returns the connection to
		// the pool without waiting for the caller's Close.
		var one [1]byte
		body.Read(one[:])
		body.Close()
		resp.Body = http.NoBody
	}
	return resp
}

// markedIdempotent reports net/http's convention for a request that may be
// resent whatever its method: an Idempotency-Key or X-Idempotency-Key
// field (present, even nil). WithRetry resends such a request.
func markedIdempotent(h http.Header) bool {
	_, a := h["Idempotency-Key"]
	_, b := h["X-Idempotency-Key"]
	return a || b
}
