package reqivo

import (
	"context"
	"errors"
	"net"
	"os"
	"sync"
	"testing"
	"time"
)

func openFDs(t *testing.T) int {
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd here")
	}
	return len(entries)
}

// A request with a cancellable context holds one descriptor, its socket:
// the cancel token behind the context has none of its own.
func TestCancellableRequestsHoldOneDescriptorEach(t *testing.T) {
	const inFlight = 1000
	// Accepted and held by the listener's goroutine: one server-side
	// descriptor per request, counted separately below.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var (
		mu       sync.Mutex
		accepted []net.Conn
	)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			accepted = append(accepted, c)
			mu.Unlock()
		}
	}()
	defer func() {
		mu.Lock()
		for _, c := range accepted {
			c.Close()
		}
		mu.Unlock()
	}()
	pool, err := NewPool(PoolConfig{MaxPerHost: inFlight, MaxTotal: inFlight})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s := newTestSession(t, WithPool(pool), WithTimeouts(Timeouts{Read: time.Minute}))
	baseline := openFDs(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	errs := make(chan error, inFlight)
	for i := 0; i < inFlight; i++ {
		go func() {
			_, err := s.Get(ctx, "http://"+ln.Addr().String()+"/never")
			errs <- err
		}()
	}
	deadline := time.Now().Add(60 * time.Second)
	for pool.Stats().InUse < inFlight {
		if time.Now().After(deadline) {
			t.Fatalf("only %d of %d requests in flight", pool.Stats().InUse, inFlight)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond)
	mu.Lock()
	server := len(accepted)
	mu.Unlock()
	held := openFDs(t) - baseline - server
	t.Logf("%d cancellable requests in flight hold %d descriptors (%d server-side not counted)", inFlight, held, server)
	if held > inFlight+32 {
		t.Errorf("%d requests hold %d descriptors", inFlight, held)
	}
	start := time.Now()
	cancel()
	for i := 0; i < inFlight; i++ {
		if err := <-errs; !errors.Is(err, context.Canceled) && !errors.Is(err, ErrCanceled) {
			t.Fatalf("request %d: %v", i, err)
		}
	}
	t.Logf("all ended %v after the cancel", time.Since(start))
}
