package reqivo

// #include <reqivo.h>
import "C"

import (
	"context"
	"fmt"
	"runtime"
	"sync"
)

// Session holds a base URL, default headers, timeouts, limits and a
// redirect policy over a connection pool. It is safe for concurrent use by
// any number of goroutines. Call Close when done; the cleanup that frees a
// forgotten Session is only a safety net.
type Session struct {
	// Readers are sends in flight; the writer is Close, which the C API
	// forbids while a send is in flight on the session.
	mu      sync.RWMutex
	_ptr    *C.reqivo_session
	cleanup runtime.Cleanup
	pool    *Pool // the session's own reference to its pool
	// inFlight holds a token per request in flight (WithMaxInFlight).
	inFlight chan struct{}
}

// NewSession creates a session with its own pool, or on WithPool's pool.
// Its own pool has the library's defaults, as curl's: 10 connections per
// host and 100 in all (a request beyond them waits for a slot under the
// pool timeout), all of them kept idle for reuse. A Transport's own pool
// is sized as net/http's instead (NewTransport).
func NewSession(opts ...Option) (*Session, error) {
	var cfg sessionConfig
	for _, o := range opts {
		o(&cfg)
	}
	return newSession(&cfg)
}

func newSession(cfg *sessionConfig) (*Session, error) {
	var tls *C.reqivo_tls_config
	if cfg.tls != nil {
		var err error
		if tls, err = cfg.tls.build(); err != nil {
			return nil, err
		}
		defer C.reqivo_tls_config_free(tls) // the session keeps its own reference
	}
	return newSessionTLS(cfg, tls)
}

// newSessionTLS creates a session using tls (when not nil) instead of
// cfg.tls, so sessions can share one built config: connections are only
// shared between sessions with the same config.
func newSessionTLS(cfg *sessionConfig, tls *C.reqivo_tls_config) (*Session, error) {
	var (
		cerr C.reqivo_error
		p    *C.reqivo_session
	)
	if cfg.pool != nil {
		cfg.pool.mu.RLock()
		p = C.reqivo_session_new(cfg.pool.ptr(), &cerr)
		runtime.KeepAlive(cfg.pool)
		cfg.pool.mu.RUnlock()
	} else {
		p = C.reqivo_session_new(nil, &cerr)
	}
	if p == nil {
		return nil, errorFromC(&cerr)
	}
	// p belongs to no Go handle yet (no cleanup can free it): no KeepAlive.
	pool := C.reqivo_session_pool(p)
	if pool == nil {
		C.reqivo_session_free(p)
		return nil, newError(CodePanic, "reqivo_session_pool returned NULL for a live session")
	}
	limit := DefaultMaxInFlight
	if cfg.maxInFlight != nil {
		if limit = *cfg.maxInFlight; limit < 1 {
			C.reqivo_pool_free(pool)
			C.reqivo_session_free(p)
			return nil, newError(CodeInvalidArgument, fmt.Sprintf("max in flight must be at least 1, not %d", limit))
		}
	}
	// A channel of empty structs: no memory per slot, however large.
	s := &Session{_ptr: p, pool: newPoolHandle(pool), inFlight: make(chan struct{}, limit)}
	s.cleanup = runtime.AddCleanup(s, freeSession, p)
	if err := s.configure(cfg, tls); err != nil {
		s.Close()
		return nil, err
	}
	return s, nil
}

func freeSession(p *C.reqivo_session) {
	C.reqivo_session_free(p)
	cleanupsRun.Add(1)
}

// ptr needs s.mu held (either way).
func (s *Session) ptr() *C.reqivo_session {
	if s._ptr == nil {
		panic("reqivo: Session used after Close")
	}
	maybeGC()
	return s._ptr
}

func (s *Session) configure(cfg *sessionConfig, tls *C.reqivo_tls_config) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	var cerr C.reqivo_error
	if tls != nil {
		code := C.reqivo_session_set_tls(s.ptr(), tls)
		runtime.KeepAlive(s)
		if err := codeError(code, nil); err != nil {
			return err
		}
	}
	if cfg.basicAuth != nil {
		u, ulen := cstr(cfg.basicAuth[0])
		pw, plen := cstr(cfg.basicAuth[1])
		code := C.reqivo_session_set_basic_auth(s.ptr(), u, ulen, pw, plen, &cerr)
		runtime.KeepAlive(s)
		if err := codeError(code, &cerr); err != nil {
			return err
		}
	}
	if cfg.bearerToken != nil {
		t, tlen := cstr(*cfg.bearerToken)
		code := C.reqivo_session_set_bearer_token(s.ptr(), t, tlen, &cerr)
		runtime.KeepAlive(s)
		if err := codeError(code, &cerr); err != nil {
			return err
		}
	}
	if cfg.digestAuth != nil {
		u, ulen := cstr(cfg.digestAuth[0])
		pw, plen := cstr(cfg.digestAuth[1])
		code := C.reqivo_session_set_digest_auth(s.ptr(), u, ulen, pw, plen, &cerr)
		runtime.KeepAlive(s)
		if err := codeError(code, &cerr); err != nil {
			return err
		}
	}
	if l := cfg.cookieLimits; l != nil {
		code := C.reqivo_session_set_cookie_limits(s.ptr(), C.uint32_t(l.CookieBytes), C.uint32_t(l.PerSite), C.uint32_t(l.Total))
		runtime.KeepAlive(s)
		if err := codeError(code, nil); err != nil {
			return err
		}
	}
	if cfg.cookies != nil {
		code := C.reqivo_session_set_cookies(s.ptr(), C.bool(*cfg.cookies))
		runtime.KeepAlive(s)
		if err := codeError(code, nil); err != nil {
			return err
		}
	}
	if cfg.decompress != nil {
		code := C.reqivo_session_set_decompress(s.ptr(), C.bool(*cfg.decompress))
		runtime.KeepAlive(s)
		if err := codeError(code, nil); err != nil {
			return err
		}
	}
	if cfg.baseURL != nil {
		u, ulen := cstr(*cfg.baseURL)
		code := C.reqivo_session_set_base_url(s.ptr(), u, ulen, &cerr)
		runtime.KeepAlive(s)
		if err := codeError(code, &cerr); err != nil {
			return err
		}
	}
	for _, h := range cfg.headers {
		n, nlen := cstr(h[0])
		v, vlen := cstr(h[1])
		code := C.reqivo_session_set_header(s.ptr(), n, nlen, v, vlen, &cerr)
		runtime.KeepAlive(s)
		if err := codeError(code, &cerr); err != nil {
			return err
		}
	}
	if cfg.timeouts != nil {
		t, err := cfg.timeouts.toC()
		if err != nil {
			return err
		}
		code := C.reqivo_session_set_timeout(s.ptr(), t)
		runtime.KeepAlive(s)
		if err := codeError(code, nil); err != nil {
			return err
		}
	}
	if cfg.limits != nil {
		code := C.reqivo_session_set_limits(s.ptr(), cfg.limits.toC())
		runtime.KeepAlive(s)
		if err := codeError(code, nil); err != nil {
			return err
		}
	}
	if err := s.configureProxy(cfg); err != nil {
		return err
	}
	if err := s.configureTargets(cfg); err != nil {
		return err
	}
	if err := s.configureRetry(cfg); err != nil {
		return err
	}
	if err := s.configureHTTPVersion(cfg); err != nil {
		return err
	}
	if cfg.maxRedirects != nil {
		n := *cfg.maxRedirects
		if n < 0 || int64(n) > int64(^uint32(0)) {
			return newError(CodeInvalidArgument, fmt.Sprintf("max redirects out of range: %d", n))
		}
		code := C.reqivo_session_set_max_redirects(s.ptr(), C.uint32_t(n))
		runtime.KeepAlive(s)
		if err := codeError(code, nil); err != nil {
			return err
		}
	}
	return nil
}

// configureProxy applies the proxy options: the environment first, so
// that WithProxy and WithNoProxy replace what it set. s.mu is held.
func (s *Session) configureProxy(cfg *sessionConfig) error {
	var cerr C.reqivo_error
	if cfg.envProxy {
		code := C.reqivo_session_use_env_proxy(s.ptr(), &cerr)
		runtime.KeepAlive(s)
		if err := codeError(code, &cerr); err != nil {
			return err
		}
	}
	texts := []struct {
		v   *string
		set func(*C.reqivo_session, *C.char, C.size_t, *C.reqivo_error) C.uint32_t
	}{
		{cfg.proxy, func(p *C.reqivo_session, t *C.char, n C.size_t, e *C.reqivo_error) C.uint32_t {
			return C.reqivo_session_set_proxy(p, t, n, e)
		}},
		{cfg.noProxy, func(p *C.reqivo_session, t *C.char, n C.size_t, e *C.reqivo_error) C.uint32_t {
			return C.reqivo_session_set_no_proxy(p, t, n, e)
		}},
		{cfg.suffixList, func(p *C.reqivo_session, t *C.char, n C.size_t, e *C.reqivo_error) C.uint32_t {
			return C.reqivo_session_set_public_suffix_list(p, t, n, e)
		}},
	}
	for _, t := range texts {
		if t.v == nil {
			continue
		}
		p, n := cstr(*t.v)
		code := t.set(s.ptr(), p, n, &cerr)
		runtime.KeepAlive(s)
		if err := codeError(code, &cerr); err != nil {
			return err
		}
	}
	return nil
}

// Close frees the session, after waiting for its sends in flight. Streams
// opened from it stay valid. Close is idempotent; using the Session
// afterwards panics.
func (s *Session) Close() {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s._ptr == nil {
		return
	}
	s.cleanup.Stop()
	C.reqivo_session_free(s._ptr)
	s._ptr = nil
	s.pool.Close()
}

// PoolStats returns the statistics of the session's pool: its own, or the
// one given with WithPool (shared with the other sessions on it).
func (s *Session) PoolStats() PoolStats {
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.ptr() // panics after Close
	return s.pool.Stats()
}

// closeIdle is CloseIdleConnections doing nothing after Close.
func (s *Session) closeIdle() {
	s.mu.RLock()
	defer s.mu.RUnlock()
	if s._ptr != nil {
		s.pool.CloseIdle()
	}
}

// CloseIdleConnections closes the idle connections of the session's pool
// (all of them when the pool is shared through WithPool); connections in
// use are left alone and return to the pool when their response is done.
func (s *Session) CloseIdleConnections() {
	s.mu.RLock()
	defer s.mu.RUnlock()
	s.ptr() // panics after Close
	s.pool.CloseIdle()
}

// canceledBeforeSend is the error for a context that was done before the
// request started.
func canceledBeforeSend(ctx context.Context) error {
	return &ContextError{Ctx: ctx.Err(), Err: newError(CodeCancelled, "the context was done before the request was sent")}
}

// Do sends req and reads the whole response into memory. It follows
// redirects, retries once on a stale pooled connection (idempotent methods
// only) and as WithRetry says (nothing by default), and honours the
// session's timeouts and limits. When ctx is done
// the request stops within 100 ms and Do returns a *ContextError wrapping
// ctx.Err() and the *Error (REQIVO_ERR_CANCELLED): errors.Is matches both.
// Other failures are *Error values.
func (s *Session) Do(ctx context.Context, req *Request) (*Response, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if ctx.Err() != nil {
		return nil, canceledBeforeSend(ctx)
	}
	release, err := s.enter(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	k, err := newCanceler(ctx, false)
	if err != nil {
		return nil, err
	}
	defer k.free()
	s.mu.RLock()
	defer s.mu.RUnlock()
	req.mu.Lock()
	defer req.mu.Unlock()
	switch {
	case req.body != nil:
		// A body reader runs on the sending thread.
		if err := readerSlots.wait(ctx); err != nil {
			return nil, err
		}
		defer readerSlots.put()
	default:
		put, ok := takeBlockingSlot()
		if !ok {
			return s.doEventDriven(ctx, req, k)
		}
		defer put()
	}
	body, err := req.attachBody(ctx)
	if err != nil {
		return nil, err
	}
	// req.cerr (req.mu held) rather than a local: the send may call back
	// into Go (a body reader), so the buffer must not be on the stack, and
	// reusing the request's saves a 264-byte allocation per send.
	r := C.reqivo_session_send(s.ptr(), req.ptr(), k.ptr(), &req.cerr)
	runtime.KeepAlive(s)
	runtime.KeepAlive(req)
	runtime.KeepAlive(k)
	if r == nil {
		return nil, req.detach(body, ctx, errorFromC(&req.cerr))
	}
	resp := responseFromC(r)
	C.reqivo_response_free(r)
	req.detach(body, ctx, nil)
	return resp, nil
}

// doEventDriven is Do through the process's driver: no thread waits.
// s.mu and req.mu are held.
func (s *Session) doEventDriven(ctx context.Context, req *Request, k *canceler) (*Response, error) {
	d, err := eventDriver()
	if err != nil {
		return nil, err
	}
	call, err := d.add(s.ptr(), req.ptr(), k.ptr(), &req.cerr)
	runtime.KeepAlive(s)
	runtime.KeepAlive(req)
	if err != nil {
		return nil, err
	}
	<-call.done // the token ends the transfer when ctx is done
	runtime.KeepAlive(k)
	if call.resp == nil {
		return nil, withContext(ctx, call.err)
	}
	resp := responseFromC(call.resp)
	C.reqivo_response_free(call.resp)
	return resp, nil
}

// enter takes one of the session's in-flight slots, waiting under ctx
// when all are taken; release gives it back.
func (s *Session) enter(ctx context.Context) (release func(), err error) {
	select {
	case s.inFlight <- struct{}{}:
	default:
		select {
		case s.inFlight <- struct{}{}:
		case <-ctx.Done():
			return nil, &ContextError{Ctx: ctx.Err(), Err: newError(CodeCancelled,
				fmt.Sprintf("the context was done while the request waited for one of the session's %d requests in flight to end", cap(s.inFlight)))}
		}
	}
	return s.leave, nil
}

func (s *Session) leave() { <-s.inFlight }

// Open sends req and returns once the final response head is read; the
// body is streamed through the returned Body, which the caller must
// Close. The connection goes back to the pool when the body has been read
// to its end. ctx cancels the send and every later Read.
func (s *Session) Open(ctx context.Context, req *Request) (*StreamResponse, error) {
	head, body, err := s.openStream(ctx, req, true)
	if err != nil {
		return nil, err
	}
	return &StreamResponse{ResponseHead: head, Body: body}, nil
}

// openStream is Open without the StreamResponse, and with the head's
// Fields only when fields is set.
func (s *Session) openStream(ctx context.Context, req *Request, fields bool) (ResponseHead, *Stream, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if ctx.Err() != nil {
		return ResponseHead{}, nil, canceledBeforeSend(ctx)
	}
	// A blocking stream holds its slot until it is released: each of its
	// reads blocks a thread.
	putSlot, ok := takeBlockingSlot()
	if !ok {
		return s.openEventDriven(ctx, req, fields)
	}
	c := &streamC{putSlot: putSlot}
	if err := c.k.start(ctx); err != nil {
		putSlot()
		return ResponseHead{}, nil, err
	}
	opened := false
	defer func() {
		if !opened { // an error, or a panic from the body reader re-raised
			c.k.free()
			putSlot()
		}
	}()
	if err := s.open(ctx, req, c); err != nil {
		return ResponseHead{}, nil, err
	}
	opened = true
	head := headFromCFields(C.reqivo_stream_response(c.st), fields)
	return head, newStream(ctx, c), nil
}

// openEventDriven is openStream through the driver. A body reader is read
// by a filler goroutine (upload.go), so no thread waits for it either.
func (s *Session) openEventDriven(ctx context.Context, req *Request, fields bool) (ResponseHead, *Stream, error) {
	d, err := eventDriver()
	if err != nil {
		return ResponseHead{}, nil, err
	}
	b := newMultiBody(fields)
	if err := b.k.start(ctx); err != nil {
		return ResponseHead{}, nil, err
	}
	if err := s.addStreamed(ctx, d, req, b); err != nil {
		b.k.free()
		return ResponseHead{}, nil, err
	}
	<-b.headReady // or the failure; the token ends the wait when ctx is done
	b.mu.Lock()
	head, failed, hadHead := b.head, b.err, b.hadHead
	b.mu.Unlock()
	if !hadHead {
		if failed == nil { // cannot happen: a response has its head first
			failed = newError(CodeIO, "the transfer ended without a response head")
		}
		if b.upload == nil {
			return ResponseHead{}, nil, withContext(ctx, failed)
		}
		// The multi writes the whole body before it reads a head, so a
		// reader's failure always ends the transfer here.
		err, pulled := b.upload.failure(ctx, failed)
		if !pulled { // never read: the request may be sent again
			req.mu.Lock()
			req.bodyUsed = false
			req.mu.Unlock()
		}
		return ResponseHead{}, nil, err
	}
	st := &Stream{mb: b, k: &b.k, ctx: ctx}
	st.cleanup = runtime.AddCleanup(st, (*multiBody).close, b)
	return head, st, nil
}

// addStreamed hands req to the driver with its body going to b (and its
// body reader, if any, read through b.upload).
func (s *Session) addStreamed(ctx context.Context, d *driver, req *Request, b *multiBody) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	req.mu.Lock()
	defer req.mu.Unlock()
	enterC()
	defer leaveC()
	up, err := req.attachUpload(ctx, d)
	if err != nil {
		return err
	}
	b.upload = up
	err = d.addStreamed(s.ptr(), req.ptr(), b, &req.cerr)
	runtime.KeepAlive(s)
	runtime.KeepAlive(req)
	if err != nil && up != nil {
		up.end()
		req.bodyUsed = false
	}
	return err
}

// open sends req and sets c.st; the body, if streamed, is fully written
// when it returns.
func (s *Session) open(ctx context.Context, req *Request, c *streamC) error {
	s.mu.RLock()
	defer s.mu.RUnlock()
	req.mu.Lock()
	defer req.mu.Unlock()
	body, err := req.attachBody(ctx)
	if err != nil {
		return err
	}
	// c.cerr is heap memory: the send may call back into Go (a body
	// reader), and a pointer into the goroutine's stack could then move.
	k := &c.k
	st := C.reqivo_session_open(s.ptr(), req.ptr(), k.ptr(), &c.cerr)
	runtime.KeepAlive(s)
	runtime.KeepAlive(req)
	runtime.KeepAlive(k)
	if st == nil {
		return req.detach(body, ctx, errorFromC(&c.cerr))
	}
	req.detach(body, ctx, nil)
	c.st = st
	return nil
}

func (s *Session) simple(ctx context.Context, method, url, contentType string, body []byte) (*Response, error) {
	req, err := newRequest(method, url)
	if err != nil {
		return nil, err
	}
	defer req.Close()
	if contentType != "" {
		if err := req.AddHeader("Content-Type", contentType); err != nil {
			return nil, err
		}
	}
	if body != nil {
		if err := req.SetBody(body); err != nil {
			return nil, err
		}
	}
	return s.Do(ctx, req)
}

// Get sends a GET request.
func (s *Session) Get(ctx context.Context, url string) (*Response, error) {
	return s.simple(ctx, "GET", url, "", nil)
}

// Head sends a HEAD request.
func (s *Session) Head(ctx context.Context, url string) (*Response, error) {
	return s.simple(ctx, "HEAD", url, "", nil)
}

// Delete sends a DELETE request.
func (s *Session) Delete(ctx context.Context, url string) (*Response, error) {
	return s.simple(ctx, "DELETE", url, "", nil)
}

// Post sends a POST request with body (Content-Type contentType, omitted
// when empty).
func (s *Session) Post(ctx context.Context, url, contentType string, body []byte) (*Response, error) {
	return s.simple(ctx, "POST", url, contentType, body)
}

// Put sends a PUT request with body.
func (s *Session) Put(ctx context.Context, url, contentType string, body []byte) (*Response, error) {
	return s.simple(ctx, "PUT", url, contentType, body)
}

// Patch sends a PATCH request with body.
func (s *Session) Patch(ctx context.Context, url, contentType string, body []byte) (*Response, error) {
	return s.simple(ctx, "PATCH", url, contentType, body)
}
