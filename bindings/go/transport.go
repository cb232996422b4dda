package reqivo

// #include <reqivo.h>
import "C"

import (
	"context"
	"crypto/tls"
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/http"
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
// gets gzip or deflate bodies decoded, with http.Response.Uncompressed
// set and Content-Encoding and Content-Length removed, as net/http does; a
// request with its own Accept-Encoding gets the body as sent (a second
// session, decompression off, on the same pool and TLS config serves it).
//
// https uses the TLS configuration of WithTLS; http.Response.TLS is set
// with the version and whether the session was resumed (no certificates).
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
// A Transport is safe for concurrent use. Close frees its sessions.
type Transport struct {
	s   *Session // the session of every request but...
	raw *Session // ...those with their own Accept-Encoding; nil without decoding
	err error    // the options' error; every RoundTrip returns it
}

var (
	_ http.RoundTripper                   = (*Transport)(nil)
	_ interface{ CloseIdleConnections() } = (*Transport)(nil)
)

// NewTransport creates a Transport on its own pool (or WithPool's),
// configured with opts; WithMaxRedirects is overridden with 0 and
// WithCookies with false. An invalid option does not panic: every
// RoundTrip returns its error (see Err).
func NewTransport(opts ...Option) *Transport {
	var cfg sessionConfig
	for _, o := range opts {
		o(&cfg)
	}
	noRedirects, noCookies := 0, false
	cfg.maxRedirects = &noRedirects
	cfg.cookies = &noCookies
	t := &Transport{}
	t.s, t.raw, t.err = newTransportSessions(&cfg)
	return t
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
	if t.raw != nil {
		t.raw.Close()
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
	r, err := newRequestFromHTTP(req)
	if err != nil {
		closeBody()
		return nil, err
	}
	defer r.Close()
	ctx := req.Context()
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
	s := t.s
	// Header keys are canonical: index the map rather than canonicalise
	// a constant on every request (here and in toHTTPResponse).
	if t.raw != nil && len(req.Header["Accept-Encoding"]) > 0 {
		s = t.raw
	}
	head, body, err := s.openStream(ctx, r, false)
	closeBody()
	if err != nil {
		return nil, err
	}
	return toHTTPResponse(req, &head, body), nil
}

// bodyCloser closes req.Body once, from whichever goroutine comes first
// (RoundTrip must close it, even on errors; http.NoBody needs no Close).
func bodyCloser(req *http.Request) func() {
	var once sync.Once
	return func() { once.Do(func() { req.Body.Close() }) }
}

// newRequestFromHTTP builds a reqivo Request from req's method, URL and
// headers; RoundTrip attaches the body.
func newRequestFromHTTP(req *http.Request) (*Request, error) {
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
	target := req.URL
	if target.User != nil {
		// As net/http does: userinfo becomes Basic credentials, never part
		// of the request target.
		u := *target
		u.User = nil
		target = &u
	}
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
	names := make([]string, 0, len(req.Header))
	for name := range req.Header {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		switch strings.ToLower(name) {
		case "content-length", "transfer-encoding", "host":
			// The library frames the body itself; Host comes from req.Host.
			continue
		}
		for _, v := range req.Header[name] {
			if err := r.AddHeader(name, v); err != nil {
				return nil, err
			}
		}
	}
	if u := req.URL.User; u != nil && req.Header.Get("Authorization") == "" {
		pass, _ := u.Password()
		auth := base64.StdEncoding.EncodeToString([]byte(u.Username() + ":" + pass))
		if err := r.AddHeader("Authorization", "Basic "+auth); err != nil {
			return nil, err
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
	resp := &http.Response{
		Status:        head.Status,
		StatusCode:    head.StatusCode,
		Proto:         head.Proto,
		ProtoMajor:    head.ProtoMajor,
		ProtoMinor:    head.ProtoMinor,
		Header:        h,
		Body:          body,
		ContentLength: -1,
		Request:       req,
	}
	if te := h["Transfer-Encoding"]; len(te) > 0 {
		// net/http moves the transfer codings out of Header.
		resp.TransferEncoding = te
		h.Del("Transfer-Encoding")
	} else if cl := h["Content-Length"]; len(cl) > 0 {
		if n, err := strconv.ParseInt(strings.TrimSpace(cl[0]), 10, 64); err == nil && n >= 0 {
			resp.ContentLength = n
		}
	}
	if head.TLS {
		resp.TLS = &tls.ConnectionState{
			Version:           head.TLSVersion,
			HandshakeComplete: true,
			DidResume:         head.TLSResumed,
		}
		if host := req.URL.Hostname(); net.ParseIP(host) == nil {
			resp.TLS.ServerName = host // the SNI the library sent
		}
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
