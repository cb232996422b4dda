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
	"fmt"
	"math"
	"runtime"
	"runtime/cgo"
	"sync"
	"time"
)

// The options of Session.Dial, turned into a reqivo_ws_options that lives
// only during the handshake, and the reconnect callback's Go side.

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
