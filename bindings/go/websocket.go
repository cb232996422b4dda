package reqivo

// #include <reqivo.h>
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
// cookies, TLS, timeouts) and stops within 100 ms when ctx is done. It
// runs on the process's event-driven driver (reqivo_multi_add_ws): no OS
// thread waits for it, however many goroutines dial. Later reads wait
// under the session's read timeout, writes under its write timeout. A
// refusal (not 101) is a *HandshakeError.
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
	d, err := eventDriver()
	if err != nil {
		c.free()
		return nil, err
	}
	var cerr C.reqivo_error
	// The multi copies the URL and options, and keeps the session's pool
	// and jar for the dial.
	s.mu.RLock()
	call, err := d.addWS(s.ptr(), url, o.ptr(), k.ptr(), &cerr)
	runtime.KeepAlive(s)
	runtime.KeepAlive(o)
	s.mu.RUnlock()
	if err != nil {
		c.free()
		return nil, err
	}
	<-call.done // the token ends the dial when ctx is done
	runtime.KeepAlive(k)
	p := call.ws
	if p == nil {
		c.free()
		e := withContext(ctx, call.err)
		if call.resp != nil {
			resp := responseFromC(call.resp)
			C.reqivo_response_free(call.resp)
			return nil, &HandshakeError{Response: resp, Err: e}
		}
		return nil, e
	}
	// The 101 is read from the connection (reqivo_ws_response) below.
	C.reqivo_response_free(call.resp)
	c.ws = p
	w := &WebSocket{_ptr: p, c: c, inflight: map[*canceler]struct{}{}, redials: cfg.reconnect != nil}
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
	kmu      sync.Mutex   // guards closing, inflight and waiter
	closing  bool
	inflight map[*canceler]struct{} // tokens of calls in progress, triggered by Close
	waiter   *wsWaiter              // ReadMessage's wait on the descriptor; nil before the first
	redials  bool                   // WithReconnect: a receive may dial and call back into Go
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
	m, err := w.receive(ctx, k)
	if m != nil {
		defer C.reqivo_ws_message_free(m) // also when the callback's panic is re-raised
	}
	w.c.notifier.repanic()
	if err != nil {
		return 0, nil, err
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

// receive asks the library for the next message without waiting in C,
// and waits in the netpoller between asks (websocket_wait.go). Needs
// w.readMu.
func (w *WebSocket) receive(ctx context.Context, k *canceler) (*C.reqivo_ws_message, error) {
	stop := func() bool { return ctx.Err() != nil || w.closed.Load() }
	for {
		var (
			cerr C.reqivo_error
			wait C.int64_t
		)
		// Gated, unless a reconnect could make the call dial and run the
		// caller's callback, which might itself wait for the gate.
		gated := !w.redials
		if gated {
			enterC()
		}
		m := C.reqivo_ws_try_receive(w.ptr(), k.ptr(), &wait, &cerr)
		fd := int(C.reqivo_ws_fd(w.ptr()))
		runtime.KeepAlive(w)
		runtime.KeepAlive(k)
		var (
			ww  *wsWaiter
			err error
		)
		if m == nil && cerr.code == 0 {
			ww, err = w.waiterFor(fd)
		}
		if gated {
			leaveC()
		}
		if m != nil {
			return m, nil
		}
		if cerr.code != 0 {
			return nil, w.callError(ctx, &cerr)
		}
		if err != nil {
			return nil, newError(CodeIO, "watching the WebSocket's descriptor: "+err.Error())
		}
		if w.closed.Load() {
			return nil, errWSClosedByClose()
		}
		if ctx.Err() != nil {
			return nil, withContext(ctx, newError(CodeCancelled,
				"cancelled by the caller while waiting for a WebSocket message"))
		}
		d := time.Duration(-1)
		if wait >= 0 {
			d = time.Duration(wait) * time.Millisecond
		}
		stopWake := context.AfterFunc(ctx, ww.poke)
		ww.wait(d, stop)
		stopWake()
	}
}

// waiterFor returns the waiter for the connection's descriptor fd,
// replacing one left from before a reconnect. Needs w.readMu.
func (w *WebSocket) waiterFor(fd int) (*wsWaiter, error) {
	w.kmu.Lock()
	defer w.kmu.Unlock()
	if w.waiter != nil && w.waiter.watches(fd) {
		return w.waiter, nil
	}
	if w.waiter != nil {
		w.waiter.close()
		w.waiter = nil
	}
	ww, err := newWSWaiter(fd)
	if err != nil {
		return nil, err
	}
	w.waiter = ww
	return ww, nil
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
	tokens := make([]*canceler, 0, len(w.inflight))
	for k := range w.inflight {
		tokens = append(tokens, k)
	}
	if w.waiter != nil {
		w.waiter.poke() // wakes a ReadMessage waiting in the netpoller
	}
	w.kmu.Unlock()
	// Triggered with kmu let go: a trigger takes the cgo gate, and a
	// reader holding the gate may be waiting for kmu.
	for _, k := range tokens {
		k.trigger() // wakes a ReadMessage waiting for a Close that may never come
	}
	w.life.Lock()
	defer w.life.Unlock()
	if w._ptr != nil {
		w.cleanup.Stop()
		w.c.free()
		w._ptr = nil
	}
	w.kmu.Lock()
	if w.waiter != nil {
		// The duplicate would keep the socket open: close it with the rest.
		w.waiter.close()
		w.waiter = nil
	}
	w.kmu.Unlock()
	return err
}
