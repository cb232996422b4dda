package reqivo

import (
	"bytes"
	"encoding/base64"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"strings"
)

// Transport is an http.RoundTripper backed by a reqivo Session, so an
// unmodified http.Client can use reqivo:
//
//	client := &http.Client{Transport: reqivo.NewTransport()}
//
// It does not follow redirects (its session's max redirects is always 0):
// http.Client follows them and applies its CheckRedirect policy. Response
// bodies are streamed (reqivo_session_open) and the connection goes back
// to the pool once a body is read to its end. The request's context
// cancels the request and reads of its body.
//
// Limitation: the C API has no streaming request body yet, so RoundTrip
// reads a request Body fully into memory and sends it with Content-Length;
// it never sends a chunked request. A request body that does not fit in
// memory cannot be sent through this Transport.
//
// A Transport is safe for concurrent use. Close frees its session.
type Transport struct {
	s   *Session
	err error // the options' error; every RoundTrip returns it
}

var _ http.RoundTripper = (*Transport)(nil)

// NewTransport creates a Transport on its own session, configured with
// opts; WithMaxRedirects is overridden with 0. An invalid option does not
// panic: every RoundTrip returns its error (see Err).
func NewTransport(opts ...Option) *Transport {
	var cfg sessionConfig
	for _, o := range opts {
		o(&cfg)
	}
	noRedirects := 0
	cfg.maxRedirects = &noRedirects
	s, err := newSession(&cfg)
	return &Transport{s: s, err: err}
}

// Err is the error of the options given to NewTransport, or nil.
func (t *Transport) Err() error { return t.err }

// Close frees the transport's session. Response bodies still open stay
// readable. Close is idempotent; RoundTrip after Close panics.
func (t *Transport) Close() {
	if t.s != nil {
		t.s.Close()
	}
}

// RoundTrip implements http.RoundTripper.
func (t *Transport) RoundTrip(req *http.Request) (*http.Response, error) {
	if t.err != nil {
		closeRequestBody(req)
		return nil, t.err
	}
	r, err := newRequestFromHTTP(req)
	if err != nil {
		return nil, err
	}
	defer r.Close()
	sr, err := t.s.Open(req.Context(), r)
	if err != nil {
		return nil, err
	}
	return toHTTPResponse(req, sr), nil
}

func closeRequestBody(req *http.Request) {
	if req.Body != nil {
		req.Body.Close()
	}
}

// newRequestFromHTTP builds a reqivo Request from req, reading and closing
// req.Body (RoundTrip must close it, even on errors).
func newRequestFromHTTP(req *http.Request) (*Request, error) {
	body, err := readRequestBody(req)
	if err != nil {
		return nil, err
	}
	if req.URL == nil {
		return nil, errors.New("reqivo: http.Request has a nil URL")
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
	r, err := NewRequest(method, target.String())
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
	if body != nil {
		if err := r.SetBody(body); err != nil {
			return nil, err
		}
	}
	ok = true
	return r, nil
}

// readRequestBody reads the whole request body into memory: the C API
// cannot stream an upload yet (see the Transport documentation). It
// returns nil when there is no body.
func readRequestBody(req *http.Request) ([]byte, error) {
	if req.Body == nil || req.Body == http.NoBody {
		return nil, nil
	}
	defer req.Body.Close()
	var buf bytes.Buffer
	if req.ContentLength > 0 {
		buf.Grow(int(min(req.ContentLength, 64<<20)))
	}
	if _, err := buf.ReadFrom(req.Body); err != nil {
		return nil, fmt.Errorf("reqivo: reading the request body: %w", err)
	}
	if req.ContentLength > 0 && int64(buf.Len()) != req.ContentLength {
		return nil, fmt.Errorf("reqivo: http.Request.ContentLength=%d with Body length %d", req.ContentLength, buf.Len())
	}
	return buf.Bytes(), nil
}

// toHTTPResponse presents a streamed reqivo response the way net/http's
// own Transport does.
func toHTTPResponse(req *http.Request, sr *StreamResponse) *http.Response {
	h := sr.Header
	resp := &http.Response{
		Status:        sr.Status,
		StatusCode:    sr.StatusCode,
		Proto:         sr.Proto,
		ProtoMajor:    sr.ProtoMajor,
		ProtoMinor:    sr.ProtoMinor,
		Header:        h,
		Body:          sr.Body,
		ContentLength: -1,
		Request:       req,
	}
	if te := h.Values("Transfer-Encoding"); len(te) > 0 {
		// net/http moves the transfer codings out of Header.
		resp.TransferEncoding = te
		h.Del("Transfer-Encoding")
	} else if cl := h.Values("Content-Length"); len(cl) > 0 {
		if n, err := strconv.ParseInt(strings.TrimSpace(cl[0]), 10, 64); err == nil && n >= 0 {
			resp.ContentLength = n
		}
	}
	if sr.Decompressed {
		resp.Uncompressed = true
		resp.ContentLength = -1
		h.Del("Content-Encoding")
		h.Del("Content-Length")
	}
	for _, v := range h.Values("Connection") {
		if strings.EqualFold(strings.TrimSpace(v), "close") {
			resp.Close = true
		}
	}
	noBody := req.Method == http.MethodHead || sr.StatusCode/100 == 1 ||
		sr.StatusCode == http.StatusNoContent || sr.StatusCode == http.StatusNotModified
	if noBody && req.Method != http.MethodHead {
		resp.ContentLength = 0
	}
	if noBody || resp.ContentLength == 0 {
		// Nothing to read: reaching the end now returns the connection to
		// the pool without waiting for the caller's Close.
		var one [1]byte
		sr.Body.Read(one[:])
		sr.Body.Close()
		resp.Body = http.NoBody
	}
	return resp
}
