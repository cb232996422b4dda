package reqivo

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// The event-driven path (driver.go): requests beyond the few blocking
// slots wait in Go's netpoller, not on OS threads.

// procStatus reads a number field of /proc/self/status ("Threads:").
func procStatus(t testing.TB, field string) int {
	t.Helper()
	b, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatalf("reading /proc/self/status: %v", err)
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, field); ok {
			n, err := strconv.Atoi(strings.TrimSpace(rest))
			if err != nil {
				t.Fatalf("%s %q: %v", field, rest, err)
			}
			return n
		}
	}
	t.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// holdServer answers every request after hold, or when release closes.
func holdServer(t testing.TB, hold time.Duration, release <-chan struct{}) *countingServer {
	return newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-time.After(hold):
		case <-release:
		case <-r.Context().Done():
			return
		}
		fmt.Fprintf(w, "held %s", r.URL.Path)
	}))
}

// peaks are the most threads and descriptors the process had at once.
type peaks struct{ threads, fds int }

// samplePeaks records the process's peaks until stop, from one goroutine
// (reading /proc from many would itself make the runtime start threads).
func samplePeaks(t testing.TB, stop <-chan struct{}) <-chan peaks {
	out := make(chan peaks, 1)
	go func() {
		var most peaks
		tick := time.NewTicker(10 * time.Millisecond)
		defer tick.Stop()
		for {
			most.threads = max(most.threads, procStatus(t, "Threads:"))
			if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
				most.fds = max(most.fds, len(ents))
			}
			select {
			case <-stop:
				out <- most
				return
			case <-tick.C:
			}
		}
	}()
	return out
}

// inFreshProcess runs the calling test alone in a new process and
// reports false; in that process it reports true and the test goes on.
// Thread counts are the process's, and Go never ends the threads earlier
// tests made (a blocking cgo call takes one each).
func inFreshProcess(t *testing.T) bool {
	t.Helper()
	if os.Getenv("REQIVO_FRESH_PROCESS") == t.Name() {
		return true
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*testTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, os.Args[0], "-test.run=^"+t.Name()+"$", "-test.v", "-test.count=1")
	cmd.Env = append(os.Environ(), "REQIVO_FRESH_PROCESS="+t.Name())
	out, err := cmd.CombinedOutput()
	t.Logf("in a process of its own:\n%s", out)
	if err != nil {
		t.Fatalf("%s in a process of its own: %v", t.Name(), err)
	}
	if !strings.Contains(string(out), "--- PASS: "+t.Name()) {
		t.Fatalf("%s did not run in its own process", t.Name())
	}
	return false
}

func TestEventDrivenTwoThousandGoroutinesOnFewThreads(t *testing.T) {
	if !inFreshProcess(t) {
		return
	}
	const n = 2000
	srv := holdServer(t, 200*time.Millisecond, nil)
	pool, err := NewPool(PoolConfig{MaxPerHost: n, MaxTotal: n})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s := newTestSession(t, WithPool(pool))
	ctx := testCtx(t)
	fdsBefore := openFDs(t)
	stop := make(chan struct{})
	sampled := samplePeaks(t, stop)
	var (
		wg       sync.WaitGroup
		failures atomic.Int64
		firstErr atomic.Value
	)
	start := time.Now()
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			path := fmt.Sprintf("/g%d", i)
			r, err := s.Get(ctx, srv.URL+path)
			if err == nil && (r.StatusCode != 200 || string(r.Body) != "held "+path) {
				err = fmt.Errorf("status %d, body %q", r.StatusCode, r.Body)
			}
			if err != nil {
				failures.Add(1)
				firstErr.CompareAndSwap(nil, err)
			}
		}(i)
	}
	wg.Wait()
	close(stop)
	peak := <-sampled
	took := time.Since(start)
	if f := failures.Load(); f > 0 {
		t.Fatalf("%d of %d requests failed, first: %v", f, n, firstErr.Load())
	}
	limit := runtime.GOMAXPROCS(0) + 8
	t.Logf("%d requests held 200 ms: %v, at most %d OS threads (limit %d), at most %d descriptors (%d before)",
		n, took.Round(time.Millisecond), peak.threads, limit, peak.fds, fdsBefore)
	if peak.threads > limit {
		t.Errorf("%d OS threads at the peak, want at most GOMAXPROCS + 8 = %d", peak.threads, limit)
	}
	// Each loopback connection has both ends in this process (the
	// server's too), so connections count twice.
	if fds := peak.fds; fds > fdsBefore+2*n+16 {
		t.Errorf("%d descriptors open at the peak, want at most %d (before) + 2 x %d + 16", fds, fdsBefore, n)
	}
}

func TestEventDrivenCancelOfAThousandInFlight(t *testing.T) {
	const n = 1000
	release := make(chan struct{})
	srv := holdServer(t, time.Minute, release)
	defer close(release)
	pool, err := NewPool(PoolConfig{MaxPerHost: n, MaxTotal: n})
	if err != nil {
		t.Fatal(err)
	}
	defer pool.Close()
	s := newTestSession(t, WithPool(pool))
	goroutinesBefore := runtime.NumGoroutine()
	ctx, cancel := context.WithCancel(testCtx(t))
	var (
		wg       sync.WaitGroup
		started  sync.WaitGroup
		mu       sync.Mutex
		ended    []time.Time
		wrongErr error
	)
	started.Add(n)
	for i := 0; i < n; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			started.Done()
			_, err := s.Get(ctx, srv.URL+"/held")
			mu.Lock()
			ended = append(ended, time.Now())
			var ce *ContextError
			if wrongErr == nil && (!errors.As(err, &ce) || !errors.Is(err, context.Canceled) ||
				!errors.Is(err, ErrCanceled)) {
				wrongErr = fmt.Errorf("got %v, want a *ContextError for context.Canceled", err)
			}
			mu.Unlock()
		}()
	}
	started.Wait()
	// Every request reaches the server before the cancel.
	waitOrFail(t, "1,000 requests to reach the server", func() {
		for srv.newConns.Load() < n {
			time.Sleep(5 * time.Millisecond)
		}
	})
	at := time.Now()
	cancel()
	wg.Wait()
	if wrongErr != nil {
		t.Fatal(wrongErr)
	}
	var last time.Duration
	for _, e := range ended {
		last = max(last, e.Sub(at))
	}
	t.Logf("cancel of %d in-flight requests: the last ended %v after it", n, last.Round(time.Microsecond))
	bound := cancelBound
	if instrumentedBuild {
		// The race detector slows the thousand goroutines' own return
		// several times over; the library's part is the same.
		bound *= 4
	}
	if last > bound {
		t.Errorf("the last request ended %v after the cancel, want within %v", last, bound)
	}
	// Nothing left behind: the driver's table is empty and the
	// goroutines are back to where they were (the driver's own one started
	// with the first request, at most).
	if d, _ := eventDriver(); d.inFlight() != 0 {
		t.Errorf("the driver still holds %d calls", d.inFlight())
	}
	waitOrFail(t, "the goroutines to end", func() {
		for runtime.NumGoroutine() > goroutinesBefore+1 {
			time.Sleep(5 * time.Millisecond)
		}
	})
}

func TestMaxInFlightQueuesUnderTheContext(t *testing.T) {
	release := make(chan struct{})
	srv := holdServer(t, time.Minute, release)
	s := newTestSession(t, WithMaxInFlight(2))
	ctx := testCtx(t)
	results := make(chan error, 2)
	for i := 0; i < 2; i++ {
		go func() {
			_, err := s.Get(ctx, srv.URL+"/held")
			results <- err
		}()
	}
	waitOrFail(t, "two requests to reach the server", func() {
		for srv.newConns.Load() < 2 {
			time.Sleep(5 * time.Millisecond)
		}
	})
	// A third waits for a slot, and gives up with its context.
	short, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	defer cancel()
	_, err := s.Get(short, srv.URL+"/third")
	var ce *ContextError
	if !errors.As(err, &ce) || !errors.Is(err, context.DeadlineExceeded) ||
		!strings.Contains(err.Error(), "2 requests in flight") {
		t.Fatalf("third request: %v, want a *ContextError naming the cap", err)
	}
	if got := srv.newConns.Load(); got != 2 {
		t.Errorf("the server saw %d connections, want 2 (the third was never sent)", got)
	}
	close(release)
	for i := 0; i < 2; i++ {
		if err := <-results; err != nil {
			t.Errorf("held request: %v", err)
		}
	}
	// The slots are free again.
	if _, err := s.Get(ctx, srv.URL+"/after"); err != nil {
		t.Errorf("after the cap freed: %v", err)
	}
	if _, err := NewSession(WithMaxInFlight(0)); err == nil || !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("WithMaxInFlight(0): %v, want an invalid-argument error", err)
	}
}
