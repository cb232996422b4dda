package reqivo

// #include <reqivo.h>
import "C"

import (
	"context"
	"sync"
)

// canceler ties a reqivo_cancel to a context: a context.AfterFunc triggers
// the token when ctx is done, and the library then stops the send, open or
// stream read within 50 ms. The mutex makes a trigger racing with free
// harmless (a trigger after free does nothing).
type canceler struct {
	mu   sync.Mutex
	c    *C.reqivo_cancel
	stop func() bool
}

// newCanceler returns a token triggered when ctx is done. It returns nil
// (no token, no file descriptor) when ctx can never be done, unless
// always is set: a stream always gets one so Close can interrupt a Read
// blocked in another goroutine.
func newCanceler(ctx context.Context, always bool) (*canceler, error) {
	if ctx.Done() == nil && !always {
		return nil, nil
	}
	c := C.reqivo_cancel_new()
	if c == nil {
		return nil, newError(CodeIO, "reqivo_cancel_new failed: no file descriptor to spare")
	}
	k := &canceler{c: c}
	if ctx.Done() != nil {
		k.stop = context.AfterFunc(ctx, k.trigger)
	}
	return k, nil
}

// ptr is the token to pass to C, NULL for a nil canceler. Only the
// goroutine that will later call free may call it.
func (k *canceler) ptr() *C.reqivo_cancel {
	if k == nil {
		return nil
	}
	return k.c
}

// trigger cancels the work using the token; safe from any goroutine, any
// number of times, before or after free.
func (k *canceler) trigger() {
	if k == nil {
		return
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.c != nil {
		C.reqivo_cancel_trigger(k.c)
	}
}

// free unregisters the context callback and releases the token. A send or
// stream still using it holds its own reference (the token is
// reference-counted), so free never pulls it from under the library.
func (k *canceler) free() {
	if k == nil {
		return
	}
	if k.stop != nil {
		k.stop()
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.c != nil {
		C.reqivo_cancel_free(k.c)
		k.c = nil
	}
}
