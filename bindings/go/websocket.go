package reqivo

/*
#include <stdint.h>
#include <reqivo.h>

// The Go trampoline (websocket_export.go) takes the cgo.Handle as an
// integer: no Go pointer and no pointer-typed integer crosses into C.
extern void reqivoGoWSReconnect(uintptr_t handle, uint32_t attempt, uint32_t code);

static void reqivo_go_ws_reconnect(void *userdata, uint32_t attempt, uint32_t code) {
	reqivoGoWSReconnect((uintptr_t)userdata, attempt, code);
}

static uint32_t reqivo_go_ws_set_reconnect(reqivo_ws_options *o, uint32_t max_attempts,
                                           uint32_t initial_ms, uint32_t max_ms, uintptr_t handle) {
	return reqivo_ws_options_set_reconnect(o, max_attempts, initial_ms, max_ms,
	                                       handle ? reqivo_go_ws_reconnect : NULL, (void *)handle);
}
*/
import "C"

import (
	"context"
	"fmt"
	"math"
	"runtime"
	"runtime/cgo"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"
)

// MessageKind says what a WebSocket message carries.
type MessageKind int

const (
	TextMessage   MessageKind = C.REQIVO_WS_TEXT   // UTF-8 text (validated by the library)
	BinaryMessage MessageKind = C.REQIVO_WS_BINARY // bytes
	CloseMessage  MessageKind = C.REQIVO_WS_CLOSE  // the server's Close (ReadMessage only)
)

func (k MessageKind) String() string {
	switch k {
	case TextMessage:
		return "text"
	case BinaryMessage:
		return "binary"
	case CloseMessage:
		return "close"
	}
	return fmt.Sprintf("MessageKind(%d)", int(k))
}

// WSOption configures one WebSocket connection (Session.Dial).
type WSOption func(*wsConfig)

type wsConfig struct {
	protocols         []string
	headers           [][2]string
	maxFrame, maxMsg  int64
	pingSet           bool
	pingEvery, pongIn time.Duration
	deflate           *Deflate
	reconnect         *reconnectConfig
	onReconnect       func(attempt int, err error)
}

type reconnectConfig struct {
	attempts          int
	initial, maxDelay time.Duration
}

// Deflate holds the permessage-deflate (RFC 7692) parameters offered.
type Deflate struct {
	ServerNoContextTakeover bool // ask the server to compress each message on its own
	ClientNoContextTakeover bool // promise the same of us
	ServerMaxWindowBits     int  // 8-15, or 0 for no limit
}

// WithSubprotocols offers subprotocols (Sec-WebSocket-Protocol) in order
// of preference; WebSocket.Subprotocol tells the server's choice.
func WithSubprotocols(p ...string) WSOption {
	return func(c *wsConfig) { c.protocols = append(c.protocols, p...) }
}

// WithWSHeader adds a header to the handshake request, after the
// session's default headers (replacing a default of the same name).
func WithWSHeader(name, value string) WSOption {
	return func(c *wsConfig) { c.headers = append(c.headers, [2]string{name, value}) }
}

// WithMessageLimits sets the largest frame and message accepted from the
// server in bytes; 0 keeps the library's default of 16 MiB. Over either,
// the connection is closed with 1009 and ReadMessage fails with
// ErrWSMessageTooBig.
func WithMessageLimits(maxFrame, maxMessage int64) WSOption {
	return func(c *wsConfig) { c.maxFrame, c.maxMsg = maxFrame, maxMessage }
}

// WithPing sends a keep-alive ping every interval while a ReadMessage
// waits; a ping whose pong does not come back within pongTimeout fails
// the read with ErrWSPingTimeout. 0 turns either off.
func WithPing(interval, pongTimeout time.Duration) WSOption {
	return func(c *wsConfig) { c.pingSet, c.pingEvery, c.pongIn = true, interval, pongTimeout }
}

// WithDeflate offers permessage-deflate with the given parameters.
func WithDeflate(d Deflate) WSOption {
	return func(c *wsConfig) { c.deflate = &d }
}

// WithReconnect reconnects after a lost connection (never after a
// protocol violation or a close handshake): up to maxAttempts handshakes,
// the first after initialDelay, each next after twice the wait (at most
// maxDelay), with jitter. A read that loses its connection reconnects and
// goes on; a write that fails returns its error and is never resent.
func WithReconnect(maxAttempts int, initialDelay, maxDelay time.Duration) WSOption {
	return func(c *wsConfig) { c.reconnect = &reconnectConfig{maxAttempts, initialDelay, maxDelay} }
}

// WithOnReconnect has fn told of each reconnect attempt (WithReconnect):
// attempt counts from 1 within one loss, err is nil when the attempt
// worked, else an *Error with the code it failed with (no message). fn
// runs on the goroutine whose call reconnects, inside that call: it must
// not use the same WebSocket. A panic in fn is re-raised by the call.
func WithOnReconnect(fn func(attempt int, err error)) WSOption {
	return func(c *wsConfig) { c.onReconnect = fn }
}

// reconnectNotifier is what a connection's reconnect callback reaches
// through its cgo.Handle.
type reconnectNotifier struct {
	fn       func(attempt int, err error)
	mu       sync.Mutex
	panicked any // a panic from fn, re-raised by the call that returns next
}

func (n *reconnectNotifier) notify(attempt uint32, code uint32) {
	defer func() {
		if v := recover(); v != nil {
			n.mu.Lock()
			if n.panicked == nil {
				n.panicked = v
			}
			n.mu.Unlock()
		}
	}()
	var err error
	if code != 0 {
		err = newError(Code(code), "reconnect attempt failed")
	}
	n.fn(int(attempt), err)
}

// repanic re-raises a panic of the callback; a nil notifier does nothing.
func (n *reconnectNotifier) repanic() {
	if n == nil {
		return
	}
	n.mu.Lock()
	v := n.panicked
	n.panicked = nil
	n.mu.Unlock()
	if v != nil {
		panic(v)
	}
}

func durationMS(name string, d time.Duration) (C.uint32_t, error) {
	if d < 0 {
		return 0, newError(CodeInvalidArgument, fmt.Sprintf("%s is negative (%v)", name, d))
	}
	ms := (d + time.Millisecond - 1) / time.Millisecond
	if ms > math.MaxUint32 {
		return 0, newError(CodeInvalidArgument, fmt.Sprintf("%s is too long (%v)", name, d))
	}
	return C.uint32_t(ms), nil
}

// wsOptions is a reqivo_ws_options handle, alive only during Dial.
type wsOptions struct{ _ptr *C.reqivo_ws_options }

func (o *wsOptions) ptr() *C.reqivo_ws_options {
	if o._ptr == nil {
		panic("reqivo: WebSocket options used after free")
	}
	maybeGC()
	return o._ptr
}

func (o *wsOptions) free() {
	if o._ptr != nil {
		C.reqivo_ws_options_free(o._ptr)
		o._ptr = nil
	}
}

// build makes the C options; the caller frees them after connecting. h
// is the cgo.Handle of the reconnect callback's notifier (0: none).
func (c *wsConfig) build(h cgo.Handle) (*wsOptions, error) {
	p := C.reqivo_ws_options_new()
	if p == nil {
		return nil, newError(CodePanic, "reqivo_ws_options_new returned NULL")
	}
	o := &wsOptions{_ptr: p}
	if err := c.apply(o, h); err != nil {
		o.free()
		return nil, err
	}
	return o, nil
}

func (c *wsConfig) apply(o *wsOptions, h cgo.Handle) error {
	var cerr C.reqivo_error
	for _, p := range c.protocols {
		s, n := cstr(p)
		code := C.reqivo_ws_options_add_protocol(o.ptr(), s, n, &cerr)
		runtime.KeepAlive(o)
		if err := codeError(code, &cerr); err != nil {
			return err
		}
	}
	for _, h := range c.headers {
		n, nlen := cstr(h[0])
		v, vlen := cstr(h[1])
		code := C.reqivo_ws_options_add_header(o.ptr(), n, nlen, v, vlen, &cerr)
		runtime.KeepAlive(o)
		if err := codeError(code, &cerr); err != nil {
			return err
		}
	}
	if c.maxFrame != 0 || c.maxMsg != 0 {
		if c.maxFrame < 0 || c.maxMsg < 0 {
			return newError(CodeInvalidArgument, "negative WebSocket message limit")
		}
		code := C.reqivo_ws_options_set_limits(o.ptr(), C.uint64_t(c.maxFrame), C.uint64_t(c.maxMsg))
		runtime.KeepAlive(o)
		if err := codeError(code, nil); err != nil {
			return err
		}
	}
	if c.pingSet {
		every, err := durationMS("ping interval", c.pingEvery)
		if err != nil {
			return err
		}
		pong, err := durationMS("pong timeout", c.pongIn)
		if err != nil {
			return err
		}
		code := C.reqivo_ws_options_set_ping(o.ptr(), every, pong)
		runtime.KeepAlive(o)
		if err := codeError(code, nil); err != nil {
			return err
		}
	}
	if d := c.deflate; d != nil {
		if d.ServerMaxWindowBits < 0 || d.ServerMaxWindowBits > 15 {
			return newError(CodeInvalidArgument, fmt.Sprintf("server max window bits out of range: %d", d.ServerMaxWindowBits))
		}
		code := C.reqivo_ws_options_set_deflate(o.ptr(), true, C.bool(d.ServerNoContextTakeover),
			C.bool(d.ClientNoContextTakeover), C.uint32_t(d.ServerMaxWindowBits))
		runtime.KeepAlive(o)
		if err := codeError(code, nil); err != nil {
			return err
		}
	}
	if r := c.reconnect; r != nil {
		if r.attempts < 0 || int64(r.attempts) > math.MaxUint32 {
			return newError(CodeInvalidArgument, fmt.Sprintf("reconnect attempts out of range: %d", r.attempts))
		}
		initial, err := durationMS("reconnect delay", r.initial)
		if err != nil {
			return err
		}
		maxDelay, err := durationMS("reconnect max delay", r.maxDelay)
		if err != nil {
			return err
		}
		code := C.reqivo_go_ws_set_reconnect(o.ptr(), C.uint32_t(r.attempts), initial, maxDelay, C.uintptr_t(h))
		runtime.KeepAlive(o)
		if err := codeError(code, nil); err != nil {
			return err
		}
	}
	return nil
}

// HandshakeError is returned by Dial when the server answered the
// handshake with something other than 101: Response holds that answer,
// head and body. It unwraps to the *Error (ErrWSHandshake).
type HandshakeError struct {
	Response *Response
	Err      error // a *Error, or a *ContextError wrapping one
}

func (e *HandshakeError) Error() string {
	return fmt.Sprintf("%v (status %d)", e.Err, e.Response.StatusCode)
}

func (e *HandshakeError) Unwrap() error { return e.Err }

// CloseError is what ReadMessage returns with CloseMessage: the code and
// reason of the server's Close (1005 when it sent no code). It matches
// ErrWSClosed and ErrWebSocket.
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string {
	return fmt.Sprintf("reqivo: WebSocket closed by the server: %d %q", e.Code, e.Reason)
}

// Is matches ErrWSClosed and ErrWebSocket.
func (e *CloseError) Is(target error) bool {
	return target == error(CodeWsClosed) || target == error(ClassWebSocket)
}

// Dial opens a WebSocket to url (ws:// or wss://, or relative to the base
// URL): the handshake goes through the session (its headers, auth,
// cookies, TLS, timeouts) and stops within 100 ms when ctx is done. Later
// reads wait under the session's read timeout, writes under its write
// timeout. A refusal (not 101) is a *HandshakeError.
func (s *Session) Dial(ctx context.Context, url string, opts ...WSOption) (*WebSocket, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if ctx.Err() != nil {
		return nil, canceledBeforeSend(ctx)
	}
	var cfg wsConfig
	for _, o := range opts {
		o(&cfg)
	}
	c := &wsC{}
	if cfg.onReconnect != nil && cfg.reconnect != nil {
		c.notifier = &reconnectNotifier{fn: cfg.onReconnect}
		c.h = cgo.NewHandle(c.notifier)
	}
	o, err := cfg.build(c.h)
	if err != nil {
		c.free()
		return nil, err
	}
	defer o.free()
	k, err := newCanceler(ctx, false)
	if err != nil {
		c.free()
		return nil, err
	}
	defer k.free()
	var (
		cerr    C.reqivo_error
		refused *C.reqivo_response
	)
	u, ulen := cstr(url)
	s.mu.RLock()
	p := C.reqivo_ws_connect(s.ptr(), u, ulen, o.ptr(), k.ptr(), &refused, &cerr)
	runtime.KeepAlive(s)
	runtime.KeepAlive(o)
	runtime.KeepAlive(k)
	s.mu.RUnlock()
	if p == nil {
		c.free()
		c.notifier.repanic()
		e := withContext(ctx, errorFromC(&cerr))
		if refused != nil {
			resp := responseFromC(refused)
			C.reqivo_response_free(refused)
			return nil, &HandshakeError{Response: resp, Err: e}
		}
		return nil, e
	}
	c.ws = p
	w := &WebSocket{_ptr: p, c: c, inflight: map[*canceler]struct{}{}}
	w.cleanup = runtime.AddCleanup(w, freeWS, c)
	w.protocol = gostr(C.reqivo_ws_protocol(p))
	if r := C.reqivo_ws_response(p); r != nil {
		w.head = headFromC(r)
	}
	runtime.KeepAlive(w)
	return w, nil
}

// WebSocket is an open WebSocket connection. One goroutine may read
// while others write (WriteMessage, Ping, Close): writers take turns, a
// message at a time. Close it when done; a cleanup closes a forgotten one
// (without a close handshake) but is only a safety net. After Close,
// every call returns an error matching ErrWSClosed.
type WebSocket struct {
	life     sync.RWMutex // read-held by every call, write-held to free
	_ptr     *C.reqivo_ws // nil once freed
	c        *wsC         // what the connection owns in C; freed with it
	readMu   sync.Mutex   // one reader at a time
	kmu      sync.Mutex   // guards closing and inflight
	closing  bool
	inflight map[*canceler]struct{} // tokens of calls in progress, triggered by Close
	closed   atomic.Bool
	protocol string
	head     ResponseHead
	cleanup  runtime.Cleanup
}

// wsC is what a WebSocket owns: the C connection and the handle its
// reconnect callback's userdata names. The cleanup gets it, not the
// WebSocket.
type wsC struct {
	ws       *C.reqivo_ws
	h        cgo.Handle // 0: no reconnect callback
	notifier *reconnectNotifier
}

// free frees the connection first: the library calls the callback no
// more once reqivo_ws_free returned, so the handle can go.
func (c *wsC) free() {
	if c.ws != nil {
		C.reqivo_ws_free(c.ws)
		c.ws = nil
	}
	if c.h != 0 {
		c.h.Delete()
		c.h = 0
	}
}

func freeWS(c *wsC) {
	c.free()
	cleanupsRun.Add(1)
}

// ptr needs w.life held.
func (w *WebSocket) ptr() *C.reqivo_ws {
	if w._ptr == nil {
		panic("reqivo: WebSocket used after Close")
	}
	maybeGC()
	return w._ptr
}

func errWSClosedByClose() *Error {
	return newError(CodeWsClosed, "the WebSocket was closed with Close")
}

// begin starts a call: it holds w.life for reading and returns the call's
// cancel token (triggered by ctx or by Close). end undoes it.
func (w *WebSocket) begin(ctx context.Context) (context.Context, *canceler, error) {
	if ctx == nil {
		ctx = context.Background()
	}
	if ctx.Err() != nil {
		return ctx, nil, canceledBeforeSend(ctx)
	}
	k, err := newCanceler(ctx, true)
	if err != nil {
		return ctx, nil, err
	}
	w.life.RLock()
	w.kmu.Lock()
	if w.closing || w._ptr == nil {
		w.kmu.Unlock()
		w.life.RUnlock()
		k.free()
		return ctx, nil, errWSClosedByClose()
	}
	w.inflight[k] = struct{}{}
	w.kmu.Unlock()
	return ctx, k, nil
}

func (w *WebSocket) end(k *canceler) {
	w.kmu.Lock()
	delete(w.inflight, k)
	w.kmu.Unlock()
	w.life.RUnlock()
	k.free()
}

// callError turns a failed call's reqivo_error into the error to return.
func (w *WebSocket) callError(ctx context.Context, cerr *C.reqivo_error) error {
	e := errorFromC(cerr)
	if e.Code == CodeCancelled && w.closed.Load() {
		return errWSClosedByClose()
	}
	return withContext(ctx, e)
}

// Subprotocol is the subprotocol the server selected, "" when none.
func (w *WebSocket) Subprotocol() string { return w.protocol }

// Response is the head of the server's 101 answer to the handshake.
func (w *WebSocket) Response() ResponseHead { return w.head }

// ReadMessage waits for the next message; it stops within 100 ms when
// ctx is done (the connection stays usable). The server's Close comes
// once as CloseMessage, its reason as data and a *CloseError; later
// reads fail with ErrWSClosed. Reads from several goroutines take turns.
func (w *WebSocket) ReadMessage(ctx context.Context) (MessageKind, []byte, error) {
	ctx, k, err := w.begin(ctx)
	if err != nil {
		return 0, nil, err
	}
	defer w.end(k)
	w.readMu.Lock()
	defer w.readMu.Unlock()
	var cerr C.reqivo_error
	m := C.reqivo_ws_receive(w.ptr(), k.ptr(), &cerr)
	runtime.KeepAlive(w)
	runtime.KeepAlive(k)
	if m != nil {
		defer C.reqivo_ws_message_free(m) // also when the callback's panic is re-raised
	}
	w.c.notifier.repanic()
	if m == nil {
		return 0, nil, w.callError(ctx, &cerr)
	}
	kind := MessageKind(m.kind)
	data := []byte{}
	if m.length > 0 {
		data = append(data, unsafe.Slice((*byte)(unsafe.Pointer(m.data)), int(m.length))...)
	}
	if kind == CloseMessage {
		return kind, data, &CloseError{Code: int(m.close_code), Reason: string(data)}
	}
	return kind, data, nil
}

// WriteMessage sends one whole message: TextMessage (data must be UTF-8)
// or BinaryMessage. It stops within 100 ms when ctx is done; a write
// stopped part way ends the connection.
func (w *WebSocket) WriteMessage(ctx context.Context, kind MessageKind, data []byte) error {
	return w.write(ctx, kind, data, false, true)
}

// WriteFragment sends one fragment of a message; fin marks the last. Every
// fragment gives the first one's kind. One goroutine should write a
// fragmented message from its first fragment to its last.
func (w *WebSocket) WriteFragment(ctx context.Context, kind MessageKind, data []byte, fin bool) error {
	return w.write(ctx, kind, data, true, fin)
}

func (w *WebSocket) write(ctx context.Context, kind MessageKind, data []byte, fragment, fin bool) error {
	if kind != TextMessage && kind != BinaryMessage {
		return newError(CodeInvalidArgument, fmt.Sprintf("cannot write a %v message", kind))
	}
	ctx, k, err := w.begin(ctx)
	if err != nil {
		return err
	}
	defer w.end(k)
	var cerr C.reqivo_error
	buf, n := cbytes(data)
	var code C.uint32_t
	if fragment {
		code = C.reqivo_ws_send_fragment(w.ptr(), C.uint32_t(kind), buf, n, C.bool(fin), k.ptr(), &cerr)
	} else {
		code = C.reqivo_ws_send(w.ptr(), C.uint32_t(kind), buf, n, k.ptr(), &cerr)
	}
	runtime.KeepAlive(w)
	runtime.KeepAlive(k)
	runtime.KeepAlive(data)
	w.c.notifier.repanic()
	if code != 0 {
		return w.callError(ctx, &cerr)
	}
	return nil
}

// Ping sends a ping with up to 125 bytes of payload; the pong is taken in
// by ReadMessage (and checked against the pong timeout of WithPing).
func (w *WebSocket) Ping(ctx context.Context, data []byte) error {
	ctx, k, err := w.begin(ctx)
	if err != nil {
		return err
	}
	defer w.end(k)
	var cerr C.reqivo_error
	buf, n := cbytes(data)
	code := C.reqivo_ws_ping(w.ptr(), buf, n, k.ptr(), &cerr)
	runtime.KeepAlive(w)
	runtime.KeepAlive(k)
	runtime.KeepAlive(data)
	w.c.notifier.repanic()
	if code != 0 {
		return w.callError(ctx, &cerr)
	}
	return nil
}

// Close starts the close handshake with code (1000 for a normal close)
// and a reason of at most 123 bytes, then frees the connection. When no
// goroutine is reading, it waits (5 s at most) for the server's Close; a
// ReadMessage blocked in another goroutine is stopped and returns
// ErrWSClosed. Only the first call does anything; it returns the error of
// sending the Close, if any (the connection is freed either way).
func (w *WebSocket) Close(code int, reason string) error {
	w.kmu.Lock()
	if w.closing {
		w.kmu.Unlock()
		return nil
	}
	w.closing = true
	w.kmu.Unlock()
	var err error
	if code < 0 || code > math.MaxUint16 {
		err = newError(CodeInvalidArgument, fmt.Sprintf("close code out of range: %d", code))
	} else {
		w.life.RLock()
		var cerr C.reqivo_error
		r, n := cstr(reason)
		rc := C.reqivo_ws_close(w.ptr(), C.uint16_t(code), r, n, &cerr)
		runtime.KeepAlive(w)
		w.life.RUnlock()
		err = codeError(rc, &cerr)
	}
	w.closed.Store(true)
	w.kmu.Lock()
	for k := range w.inflight {
		k.trigger() // wakes a ReadMessage waiting for a Close that may never come
	}
	w.kmu.Unlock()
	w.life.Lock()
	defer w.life.Unlock()
	if w._ptr != nil {
		w.cleanup.Stop()
		w.c.free()
		w._ptr = nil
	}
	return err
}
