package reqivo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"hash/crc32"
	"io"
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
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for i := 0; ; i++ {
			most.threads = max(most.threads, procStatus(t, "Threads:"))
			// Listing thousands of descriptors takes long enough that the
			// runtime starts a thread to run goroutines meanwhile: seldom.
			if i%8 == 0 {
				if ents, err := os.ReadDir("/proc/self/fd"); err == nil {
					most.fds = max(most.fds, len(ents))
				}
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

// fanOut runs one(i) for every i below n, each on its own goroutine, all
// at once, and returns the process's peaks meanwhile; a failure fails the
// test. The threads allowed are GOMAXPROCS + 8, the descriptors the n
// connections + 16 more than before.
func fanOut(t *testing.T, n int, one func(i int) error) {
	t.Helper()
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
			if err := one(i); err != nil {
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
	// Counted in the plain build only: -race and reqivo_debug (a GC at
	// every handle access) add runtime threads of their own (13 seen
	// under reqivo_debug); test.sh runs the plain build too.
	if peak.threads > limit && !instrumentedBuild {
		t.Errorf("%d OS threads at the peak, want at most GOMAXPROCS + 8 = %d", peak.threads, limit)
	}
	if fds := peak.fds; fds > fdsBefore+n+16 {
		t.Errorf("%d descriptors open at the peak, want at most %d (before) + %d connections + 16", fds, fdsBefore, n)
	}
}

// holdPool is a pool with room for n connections to one host.
func holdPool(t *testing.T, n int) *Pool {
	pool, err := NewPool(PoolConfig{MaxPerHost: n, MaxTotal: n})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

func TestEventDrivenTwoThousandGoroutinesOnFewThreads(t *testing.T) {
	if !inFreshProcess(t) {
		return
	}
	n := 2000
	if debugBuild {
		n = 200 // a whole collection at every handle access
	}
	url := holdServerProcess(t, 200*time.Millisecond)
	s := newTestSession(t, WithPool(holdPool(t, n)))
	ctx := testCtx(t)
	fanOut(t, n, func(i int) error {
		path := fmt.Sprintf("/g%d", i)
		r, err := s.Get(ctx, url+path)
		if err == nil && (r.StatusCode != 200 || string(r.Body) != "held "+path) {
			err = fmt.Errorf("status %d, body %q", r.StatusCode, r.Body)
		}
		return err
	})
}

func TestEventDrivenCancelOfAThousandInFlight(t *testing.T) {
	const n = 1000
	release := make(chan struct{})
	srv := holdServer(t, time.Minute, release)
	defer close(release)
	s := newTestSession(t, WithPool(holdPool(t, n)))
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
	deadline := time.Now().Add(testTimeout)
	for runtime.NumGoroutine() > goroutinesBefore+1 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	if n := runtime.NumGoroutine(); n > goroutinesBefore+1 {
		buf := make([]byte, 1<<20)
		buf = buf[:runtime.Stack(buf, true)]
		t.Fatalf("%d goroutines, %d before:\n%s", n, goroutinesBefore, buf[:min(len(buf), 6000)])
	}
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

func TestEventDrivenTransportTwoThousandGoroutinesOnFewThreads(t *testing.T) {
	if !inFreshProcess(t) {
		return
	}
	n := 2000
	if debugBuild {
		n = 200 // a whole collection at every handle access
	}
	url := holdServerProcess(t, 200*time.Millisecond)
	tr := NewTransport(WithPool(holdPool(t, n)))
	defer tr.Close()
	client := &http.Client{Transport: tr}
	ctx := testCtx(t)
	fanOut(t, n, func(i int) error {
		path := fmt.Sprintf("/t%d", i)
		req, _ := http.NewRequestWithContext(ctx, "GET", url+path, nil)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		if err == nil && (resp.StatusCode != 200 || string(b) != "held "+path) {
			err = fmt.Errorf("status %d, body %q", resp.StatusCode, b)
		}
		return err
	})
}

// Request bodies from io.Readers with nothing ready at times (pipes fed
// piece by piece) go through the driver too: 500 uploads at once on at
// most GOMAXPROCS + 8 threads, every body intact at the server. (Before
// the driver read bodies, each took a thread of its own.)
func TestEventDrivenTransportUploadsFromReadersOnFewThreads(t *testing.T) {
	if !inFreshProcess(t) {
		return
	}
	n := 500
	if debugBuild {
		n = 100 // a whole collection at every handle access
	}
	url := holdServerProcess(t, 200*time.Millisecond)
	tr := NewTransport(WithPool(holdPool(t, n)))
	defer tr.Close()
	client := &http.Client{Transport: tr}
	ctx := testCtx(t)
	fanOut(t, n, func(i int) error {
		pr, pw := io.Pipe()
		sum := crc32.NewIEEE()
		size := 0
		go func() {
			// Three pieces with pauses between: the library finds the
			// pipe empty and the transfer waits without a thread.
			for k := 0; k < 3; k++ {
				piece := bytes.Repeat([]byte{byte('a' + (i+k)%26)}, 10_000+i)
				sum.Write(piece)
				size += len(piece)
				if _, err := pw.Write(piece); err != nil {
					return
				}
				time.Sleep(20 * time.Millisecond)
			}
			pw.Close()
		}()
		path := fmt.Sprintf("/u%d", i)
		req, _ := http.NewRequestWithContext(ctx, "POST", url+path, pr)
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		defer resp.Body.Close()
		b, err := io.ReadAll(resp.Body)
		want := fmt.Sprintf("held %s %d %08x", path, size, sum.Sum32())
		if err == nil && (resp.StatusCode != 200 || string(b) != want) {
			err = fmt.Errorf("status %d, body %q, want %q", resp.StatusCode, b, want)
		}
		return err
	})
}

// A body read slowly through the driver stops its socket being read (the
// buffer stays under the high-water mark), and other requests on the
// driver go on meanwhile; the whole body arrives intact.
func TestEventDrivenSlowReaderBackpressure(t *testing.T) {
	withoutFastPath(t)
	const size = 8 << 20
	body := bigBody(size)
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/small" {
			io.WriteString(w, "small")
			return
		}
		w.Header().Set("Content-Length", strconv.Itoa(size))
		w.Write(body)
	}))
	s := newTestSession(t)
	ctx := testCtx(t)
	req, _ := NewRequest("GET", srv.URL+"/big")
	defer req.Close()
	sr, err := s.Open(ctx, req)
	if err != nil {
		t.Fatal(err)
	}
	defer sr.Close()
	st := sr.Body.(*Stream)
	if st.mb == nil {
		t.Fatal("the stream did not go through the driver")
	}
	first := make([]byte, 1024)
	if _, err := io.ReadFull(sr.Body, first); err != nil {
		t.Fatal(err)
	}
	// The reader stalls: the driver fills the buffer to its mark, then
	// pauses the transfer.
	waitOrFail(t, "the transfer to pause", func() {
		for {
			st.mb.mu.Lock()
			paused := st.mb.paused
			st.mb.mu.Unlock()
			if paused {
				return
			}
			time.Sleep(time.Millisecond)
		}
	})
	// Another request is served while this one waits for its reader.
	if r, err := s.Get(ctx, srv.URL+"/small"); err != nil || string(r.Body) != "small" {
		t.Fatalf("a request beside the paused one: %v", err)
	}
	st.mb.mu.Lock()
	held := len(st.mb.buf) - st.mb.off
	st.mb.mu.Unlock()
	if held > bodyHighWater+64<<10 {
		t.Errorf("%d bytes buffered for a stalled reader, want at most %d", held, bodyHighWater+64<<10)
	}
	rest, err := io.ReadAll(sr.Body)
	if err != nil {
		t.Fatal(err)
	}
	got := append(first, rest...)
	if len(got) != size || !bytes.Equal(got, body) {
		t.Fatalf("got %d bytes (intact: %v), want the %d sent", len(got), bytes.Equal(got, body), size)
	}
}

// A Transport response streamed through the driver: the head comes back
// before the body, trailers fill resp.Trailer at the end, and closing the
// body early ends the transfer.
func TestEventDrivenTransportStreams(t *testing.T) {
	withoutFastPath(t)
	gate := make(chan struct{})
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == "POST" {
			b, _ := io.ReadAll(r.Body)
			fmt.Fprintf(w, "got %s", b)
			return
		}
		w.Header().Set("Trailer", "X-Sum")
		w.WriteHeader(200)
		io.WriteString(w, "head first, ")
		w.(http.Flusher).Flush()
		<-gate
		io.WriteString(w, "then the rest")
		w.Header().Set("X-Sum", "42")
	}))
	client := &http.Client{Transport: NewTransport()}
	ctx := testCtx(t)
	req, _ := http.NewRequestWithContext(ctx, "GET", srv.URL+"/", nil)
	resp, err := client.Do(req) // returns before the server sends the rest
	if err != nil {
		close(gate)
		t.Fatal(err)
	}
	close(gate)
	if st, ok := resp.Body.(*Stream); !ok || st.mb == nil {
		t.Errorf("the response body is a %T, not one streamed through the driver", resp.Body)
	}
	b, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(b) != "head first, then the rest" {
		t.Fatalf("body %q, %v", b, err)
	}
	if got := resp.Trailer.Get("X-Sum"); got != "42" {
		t.Errorf("trailer X-Sum %q, want 42", got)
	}
	// A POST with an in-memory body goes through the driver too (a body
	// reader would take a thread of its own).
	post, _ := http.NewRequestWithContext(ctx, "POST", srv.URL+"/", strings.NewReader("payload"))
	resp, err = client.Do(post)
	if err != nil {
		t.Fatal(err)
	}
	if st, ok := resp.Body.(*Stream); !ok || st.mb == nil {
		t.Errorf("the POST's response body is a %T, not one streamed through the driver", resp.Body)
	}
	b, err = io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil || string(b) != "got payload" {
		t.Fatalf("POST answer %q, %v", b, err)
	}
}
