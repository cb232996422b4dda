package reqivo

// #include <reqivo.h>
import "C"

import (
	"context"
	"sync"
	"sync/atomic"
)

// canceler ties a reqivo_cancel to a context: a context.AfterFunc triggers
// the token when ctx is done, and the library then stops the send, open or
// stream read within 50 ms. The mutex makes a trigger racing with free
// harmless (a trigger after free does nothing).
type canceler struct {
	mu    sync.Mutex
	c     *C.reqivo_cancel
	stop  func() bool
	fired bool // the token was triggered: it stays so, and is never reused
}

// spareTokens keeps untriggered tokens for reuse. A token holds no file
// descriptor for HTTP requests (a cancel shuts the request's socket down),
// but making and freeing one is still two allocations; a stream needs one
// per request, so reuse saves them. A token goes back only after
// the library let go of it (the send returned, the stream was freed).
var spareTokens struct {
	sync.Mutex
	list []*C.reqivo_cancel
}

// tokensMade and tokensFreed count the tokens made and freed; tests read
// them to check that tokens are reused and that triggered ones are not.
var tokensMade, tokensFreed atomic.Int64

// maxSpareTokens bounds the tokens kept for reuse (a token used by a
// WebSocket wait may hold an eventfd).
const maxSpareTokens = 32

func takeToken() *C.reqivo_cancel {
	spareTokens.Lock()
	if n := len(spareTokens.list); n > 0 {
		c := spareTokens.list[n-1]
		spareTokens.list = spareTokens.list[:n-1]
		spareTokens.Unlock()
		return c
	}
	spareTokens.Unlock()
	enterC() // it makes a descriptor: a system call
	c := C.reqivo_cancel_new()
	leaveC()
	if c != nil {
		tokensMade.Add(1)
	}
	return c
}

func freeToken(c *C.reqivo_cancel) {
	enterC()
	C.reqivo_cancel_free(c)
	leaveC()
	tokensFreed.Add(1)
}

func putToken(c *C.reqivo_cancel) {
	spareTokens.Lock()
	if len(spareTokens.list) < maxSpareTokens {
		spareTokens.list = append(spareTokens.list, c)
		spareTokens.Unlock()
		return
	}
	spareTokens.Unlock()
	freeToken(c)
}

// newCanceler returns a token triggered when ctx is done. It returns nil
// (no token, no file descriptor) when ctx can never be done, unless
// always is set: a stream always gets one so Close can interrupt a Read
// blocked in another goroutine.
func newCanceler(ctx context.Context, always bool) (*canceler, error) {
	if ctx.Done() == nil && !always {
		return nil, nil
	}
	k := new(canceler)
	if err := k.start(ctx); err != nil {
		return nil, err
	}
	return k, nil
}

// start gives a zero canceler a token, triggered when ctx is done. A
// canceler can live inside a larger object (a stream's) this way, without
// an allocation of its own.
func (k *canceler) start(ctx context.Context) error {
	c := takeToken()
	if c == nil {
		return newError(CodeIO, "reqivo_cancel_new failed: no file descriptor to spare")
	}
	k.c = c
	if ctx.Done() != nil {
		k.stop = context.AfterFunc(ctx, k.trigger)
	}
	return nil
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
		enterC() // a thousand cancelled at once must not take a thread each
		C.reqivo_cancel_trigger(k.c)
		leaveC()
		k.fired = true
	}
}

// free unregisters the context callback and releases the token: an
// untriggered one is kept for reuse, so it must be called only once the
// library is done with the token (the send returned, the stream was freed).
// A trigger racing with free finds k.c nil and does nothing.
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
		if k.fired {
			freeToken(k.c)
		} else {
			putToken(k.c)
		}
		k.c = nil
	}
}
