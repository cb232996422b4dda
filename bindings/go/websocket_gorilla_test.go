package reqivo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/gorilla/websocket"
)

// A WebSocket peer nobody here wrote: gorilla/websocket with
// permessage-deflate on (messages of some sizes once reached it as
// incomplete deflate streams, which it refused with "unexpected EOF").

// gorillaEcho is a gorilla/websocket echo server on 127.0.0.1 with
// compression on both ways. It counts the bytes its connections read and
// write, and reports how each connection ended on errs: nil for the
// client's normal close, else gorilla's error.
type gorillaEcho struct {
	*httptest.Server
	errs          chan error
	offers        chan string // each handshake's Sec-WebSocket-Extensions offer
	read, written atomic.Int64
}

type countingListener struct {
	net.Listener
	g *gorillaEcho
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return countingConn{c, l.g}, nil
}

type countingConn struct {
	net.Conn
	g *gorillaEcho
}

func (c countingConn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	c.g.read.Add(int64(n))
	return n, err
}

func (c countingConn) Write(p []byte) (int, error) {
	n, err := c.Conn.Write(p)
	c.g.written.Add(int64(n))
	return n, err
}

func newGorillaEcho(t *testing.T) *gorillaEcho {
	t.Helper()
	g := &gorillaEcho{errs: make(chan error, 16), offers: make(chan string, 16)}
	up := websocket.Upgrader{EnableCompression: true}
	g.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		g.offers <- r.Header.Get("Sec-WebSocket-Extensions")
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			g.errs <- fmt.Errorf("upgrade: %w", err)
			return
		}
		defer conn.Close()
		conn.EnableWriteCompression(true)
		for {
			conn.SetReadDeadline(time.Now().Add(connDeadline))
			kind, data, err := conn.ReadMessage()
			if err != nil {
				if websocket.IsCloseError(err, websocket.CloseNormalClosure) {
					err = nil
				}
				g.errs <- err
				return
			}
			conn.SetWriteDeadline(time.Now().Add(connDeadline))
			if err := conn.WriteMessage(kind, data); err != nil {
				g.errs <- fmt.Errorf("echo of %d bytes: %w", len(data), err)
				return
			}
		}
	}))
	g.Listener = countingListener{g.Listener, g}
	g.Start()
	t.Cleanup(g.Close)
	return g
}

func (g *gorillaEcho) wsURL() string { return "ws" + strings.TrimPrefix(g.URL, "http") + "/echo" }

// serverError is how a connection ended, if it did within wait.
func (g *gorillaEcho) serverError(wait time.Duration) string {
	select {
	case err := <-g.errs:
		return fmt.Sprintf("gorilla: %v", err)
	case <-time.After(wait):
		return "gorilla reported nothing"
	}
}

// sweepContent holds the messages' content, made once: sizes are slices
// of it at varying offsets.
type sweepContent struct {
	random     []byte // random bytes
	compText   []byte // compressible UTF-8 text: words, numbers, some multi-byte runes
	randText   []byte // hardly compressible UTF-8 text: random runes of 1-4 bytes
	compBinary []byte // compressible binary: a ramp with a random byte every 64
	rng        *rand.Rand
}

func newSweepContent(seed uint64, maxMessage int) *sweepContent {
	rng := rand.New(rand.NewPCG(seed, 18))
	size := maxMessage + 4096 // room for offsets
	c := &sweepContent{rng: rng}
	c.random = make([]byte, size)
	for i := range c.random {
		c.random[i] = byte(rng.Uint32())
	}
	words := []string{"the", "quick", "brown", "fox", "jumps", "over", "lazy", "dog", "héllo", "wörld",
		"permessage-deflate", "✓", "сжатие", "圧縮", "😀", "frame", "message", "\n", "{\"id\":", "},"}
	var b bytes.Buffer
	for b.Len() < size {
		b.WriteString(words[rng.IntN(len(words))])
		if rng.IntN(8) == 0 {
			b.WriteString(strconv.Itoa(rng.IntN(100000)))
		}
		b.WriteByte(' ')
	}
	c.compText = b.Bytes()
	runes := []rune("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789 éüßжщ✓€→😀🎉")
	b = bytes.Buffer{}
	for b.Len() < size {
		b.WriteRune(runes[rng.IntN(len(runes))])
	}
	c.randText = b.Bytes()
	c.compBinary = make([]byte, size)
	for i := range c.compBinary {
		c.compBinary[i] = byte(i)
		if i%64 == 63 {
			c.compBinary[i] = byte(rng.Uint32())
		}
	}
	return c
}

// slice returns n bytes of src from a random offset, copied; for text the
// slice starts on a rune and a rune cut at its end is replaced with 'x'.
func (c *sweepContent) slice(src []byte, n int, text bool) []byte {
	off := c.rng.IntN(len(src) - n - 4)
	if text {
		for !utf8.RuneStart(src[off]) {
			off++
		}
	}
	out := append([]byte(nil), src[off:off+n]...)
	if text {
		for i := len(out) - 1; i >= 0 && i >= len(out)-4; i-- {
			if utf8.RuneStart(out[i]) {
				if r, size := utf8.DecodeRune(out[i:]); r == utf8.RuneError && size <= 1 {
					for j := i; j < len(out); j++ {
						out[j] = 'x'
					}
				}
				break
			}
		}
	}
	return out
}

// How much of the sweep a run does.
const (
	sweepFull   = iota // every 7th size to 2 KiB; 58,826-60,820 and 116,652-118,646 every 97; ±64 of 4 KiB multiples every 1 or 4; 4 random sizes and 4 MiB
	sweepMedium        // the same with ±64 every 16, one random size
	sweepLight         // for -race and reqivo_debug builds (5-10 times slower): coarser still
)

// gorillaSweepSizes are the message sizes of the sweep: every 7th size up
// to 2 KiB, the two ranges where every size once failed, sizes
// around multiples of 4 KiB, and random sizes up to 4 MiB.
func gorillaSweepSizes(rng *rand.Rand, level int) []int {
	var sizes []int
	for n := 0; n <= 2048; n += 7 {
		sizes = append(sizes, n)
	}
	rangeStep := 97
	if level == sweepLight {
		rangeStep = 2 * 97
	}
	for _, r := range [][2]int{{58826, 60820}, {116652, 118646}} {
		for n := r[0]; n <= r[1]; n += rangeStep {
			sizes = append(sizes, n)
		}
	}
	multiples := []int{1, 2, 3, 4, 8, 15, 16, 32, 64}
	if level == sweepLight {
		multiples = []int{1, 2, 3, 16}
	}
	for _, k := range multiples {
		step := 1
		switch {
		case level == sweepLight:
			step = 32
		case level == sweepMedium:
			step = 16
		case k > 4:
			step = 4
		}
		for d := -64; d <= 64; d += step {
			sizes = append(sizes, k*4096+d)
		}
	}
	switch level {
	case sweepFull:
		for i := 0; i < 4; i++ {
			sizes = append(sizes, 1+rng.IntN(4<<20))
		}
		sizes = append(sizes, 4<<20)
	case sweepMedium:
		sizes = append(sizes, 1+rng.IntN(4<<20), 4<<20)
	case sweepLight:
		sizes = append(sizes, 1+rng.IntN(1<<20))
	}
	return sizes
}

// TestWebSocketGorillaDeflate echoes text and binary messages of many
// sizes, random and compressible, through a gorilla/websocket server with
// permessage-deflate, under both context-takeover offers (gorilla answers
// both with no context takeover either way): each echo must be byte for
// byte what was sent, and gorilla must end the connection without error.
// REQIVO_TEST_SEED sets the seed of the random sizes and content.
func TestWebSocketGorillaDeflate(t *testing.T) {
	seed := uint64(time.Now().UnixNano())
	if s := os.Getenv("REQIVO_TEST_SEED"); s != "" {
		var err error
		if seed, err = strconv.ParseUint(s, 10, 64); err != nil {
			t.Fatalf("REQIVO_TEST_SEED: %v", err)
		}
	}
	t.Logf("seed %d (REQIVO_TEST_SEED=%d repeats this run)", seed, seed)
	maxMessage := 4 << 20
	if instrumentedBuild || testing.Short() {
		maxMessage = 1 << 20
	}
	content := newSweepContent(seed, maxMessage)
	const negotiated = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"
	variants := []struct {
		name  string
		offer Deflate
		level int // the second takes the same data path as the first: fewer sizes
	}{
		{"context takeover offered", Deflate{}, sweepFull},
		{"no context takeover offered", Deflate{ServerNoContextTakeover: true, ClientNoContextTakeover: true}, sweepMedium},
	}
	for _, v := range variants {
		t.Run(v.name, func(t *testing.T) {
			start := time.Now()
			g := newGorillaEcho(t)
			ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
			defer cancel()
			ws, err := newTestSession(t).Dial(ctx, g.wsURL(), WithDeflate(v.offer))
			if err != nil {
				t.Fatalf("Dial: %v (%s)", err, g.serverError(time.Second))
			}
			defer ws.Close(1000, "")
			offer := <-g.offers
			if !strings.HasPrefix(offer, "permessage-deflate") ||
				strings.Contains(offer, "server_no_context_takeover") != v.offer.ServerNoContextTakeover ||
				strings.Contains(offer, "client_no_context_takeover") != v.offer.ClientNoContextTakeover {
				t.Errorf("offer %q for %+v", offer, v.offer)
			}
			if got := ws.Response().Header.Get("Sec-WebSocket-Extensions"); got != negotiated {
				t.Fatalf("negotiated %q, want %q", got, negotiated)
			}

			echo := func(kind MessageKind, data []byte, what string) {
				t.Helper()
				if err := ws.WriteMessage(ctx, kind, data); err != nil {
					t.Fatalf("write %s: %v (%s; seed %d)", what, err, g.serverError(time.Second), seed)
				}
				k, got, err := ws.ReadMessage(ctx)
				if err != nil {
					t.Fatalf("echo of %s: %v (%s; seed %d)", what, err, g.serverError(time.Second), seed)
				}
				if k != kind || !bytes.Equal(got, data) {
					at := 0
					for at < len(got) && at < len(data) && got[at] == data[at] {
						at++
					}
					t.Fatalf("echo of %s: got %v of %d bytes, differing at byte %d (seed %d)",
						what, k, len(got), at, seed)
				}
			}

			// Compression is on: 1 MiB of compressible text crosses the
			// wire in fewer than half as many bytes, each way.
			read, written := g.read.Load(), g.written.Load()
			text := content.slice(content.compText, 1<<20, true)
			echo(TextMessage, text, "1 MiB of compressible text")
			if in, out := g.read.Load()-read, g.written.Load()-written; in > 1<<19 || out > 1<<19 {
				t.Errorf("1 MiB of compressible text took %d bytes to gorilla and %d back: not compressed?", in, out)
			}

			level := v.level
			if instrumentedBuild || testing.Short() {
				level = sweepLight
			}
			sizes := gorillaSweepSizes(content.rng, level)
			var total int64
			for i, n := range sizes {
				// Text and binary at each size; random and compressible
				// content alternate between them.
				textSrc, binSrc, textWhat, binWhat := content.compText, content.random, "compressible text", "random binary"
				if i%2 == 1 {
					textSrc, binSrc, textWhat, binWhat = content.randText, content.compBinary, "random text", "compressible binary"
				}
				echo(TextMessage, content.slice(textSrc, n, true), fmt.Sprintf("%d bytes of %s", n, textWhat))
				echo(BinaryMessage, content.slice(binSrc, n, false), fmt.Sprintf("%d bytes of %s", n, binWhat))
				total += 2 * int64(n)
			}
			if err := ws.Close(1000, ""); err != nil {
				t.Errorf("Close: %v", err)
			}
			select {
			case err := <-g.errs:
				if err != nil {
					t.Errorf("gorilla: %v", err)
				}
			case <-time.After(testTimeout):
				t.Error("gorilla did not see the connection end")
			}
			t.Logf("%d messages, %d bytes each way, in %v", 2*len(sizes), total, time.Since(start).Round(time.Millisecond))
		})
	}
}

// A thousand WebSockets waiting in ReadMessage at once hold no thread
// each: the waits are in Go's netpoller (websocket_wait.go), so the
// process stays within GOMAXPROCS + 8 threads while every one of them
// waits, then gets the message gorilla/websocket sends it. (A blocking
// receive took a thread per connection, and ten thousand would have
// ended the process.)
func TestWebSocketThousandReadersOnFewThreads(t *testing.T) {
	if !inFreshProcess(t) {
		return
	}
	n := 1000
	if instrumentedBuild {
		n = 100 // a GC at every handle access makes a dial slow; -race, a goroutine heavy
	}
	release := make(chan struct{})
	var releaseOnce sync.Once
	releaseAll := func() { releaseOnce.Do(func() { close(release) }) }
	defer releaseAll() // a failed dial leaves the handlers to end
	var up websocket.Upgrader
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		<-release
		conn.WriteMessage(websocket.TextMessage, []byte("hello "+r.URL.Query().Get("i")))
		conn.SetReadDeadline(time.Now().Add(connDeadline))
		conn.ReadMessage() // until the client's Close
	}))
	t.Cleanup(srv.Close)
	ctx := testCtx(t)
	s := newTestSession(t, WithPool(holdPool(t, n)))
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/?i="
	// One dial at a time: a dial is still a blocking call, and this test
	// counts the threads of the waiting readers, not of the dials.
	conns := make([]*WebSocket, n)
	for i := range conns {
		ws, err := s.Dial(ctx, url+strconv.Itoa(i))
		if err != nil {
			t.Fatalf("dial %d: %v", i, err)
		}
		conns[i] = ws
		defer ws.Close(1000, "")
	}
	stop := make(chan struct{})
	sampled := samplePeaks(t, stop)
	var (
		wg      sync.WaitGroup
		waiting atomic.Int64
		bad     atomic.Value
	)
	for i, ws := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			waiting.Add(1)
			kind, data, err := ws.ReadMessage(ctx)
			if want := fmt.Sprintf("hello %d", i); err != nil || kind != TextMessage || string(data) != want {
				bad.CompareAndSwap(nil, fmt.Sprintf("connection %d: %v %q %v", i, kind, data, err))
			}
		}()
	}
	for waiting.Load() < int64(n) {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(300 * time.Millisecond) // all in their wait
	releaseAll()
	wg.Wait()
	close(stop)
	peak := <-sampled
	if b := bad.Load(); b != nil {
		t.Fatal(b)
	}
	limit := runtime.GOMAXPROCS(0) + 8
	t.Logf("%d WebSockets waiting in ReadMessage: at most %d OS threads (limit %d)", n, peak.threads, limit)
	if peak.threads > limit && !instrumentedBuild {
		t.Errorf("%d OS threads at the peak, want at most GOMAXPROCS + 8 = %d", peak.threads, limit)
	}
}

// A thousand dials at once run on the driver (reqivo_multi_add_ws): no
// dial holds an OS thread, so the process stays within GOMAXPROCS + 8
// threads however many goroutines dial; each connection then echoes a
// message through gorilla/websocket's server.
func TestWebSocketThousandDialsAtOnceOnFewThreads(t *testing.T) {
	if !inFreshProcess(t) {
		return
	}
	n := 1000
	if instrumentedBuild {
		n = 100 // as above
	}
	var up websocket.Upgrader
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, err := up.Upgrade(w, r, nil)
		if err != nil {
			return
		}
		defer conn.Close()
		conn.SetReadDeadline(time.Now().Add(connDeadline))
		for { // echo until the client's Close
			kind, data, err := conn.ReadMessage()
			if err != nil || conn.WriteMessage(kind, data) != nil {
				return
			}
		}
	}))
	t.Cleanup(srv.Close)
	ctx := testCtx(t)
	s := newTestSession(t, WithPool(holdPool(t, n)))
	url := "ws" + strings.TrimPrefix(srv.URL, "http") + "/"
	stop := make(chan struct{})
	sampled := samplePeaks(t, stop)
	conns := make([]*WebSocket, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			conns[i], errs[i] = s.Dial(ctx, url)
		}()
	}
	wg.Wait()
	close(stop)
	peak := <-sampled
	for i, ws := range conns {
		if errs[i] != nil {
			t.Errorf("dial %d: %v", i, errs[i])
			continue
		}
		defer ws.Close(1000, "")
		if i%50 == 0 {
			echo(t, ws, TextMessage, []byte(fmt.Sprintf("dial %d", i)))
		}
	}
	limit := runtime.GOMAXPROCS(0) + 8
	t.Logf("%d dials at once: at most %d OS threads (limit %d)", n, peak.threads, limit)
	if peak.threads > limit && !instrumentedBuild {
		t.Errorf("%d OS threads at the peak, want at most GOMAXPROCS + 8 = %d", peak.threads, limit)
	}
}

// Dials to a server that never answers the handshake end with their
// contexts: a cancel and a deadline each end every dial in flight at
// once (the multi's cancel token), the others staying in flight.
func TestWebSocketDialsInFlightEndWithTheirContexts(t *testing.T) {
	rs, got := stalledServer(t)
	s := newTestSession(t, WithPool(holdPool(t, 64)))
	url := "ws" + strings.TrimPrefix(rs.URL, "http") + "/"
	const n = 40
	ctx, cancel := context.WithCancel(testCtx(t))
	deadline, cancelDeadline := context.WithTimeout(testCtx(t), 300*time.Millisecond)
	defer cancelDeadline()
	errs := make(chan error, n)
	start := time.Now()
	for i := 0; i < n; i++ {
		c := ctx
		if i%2 == 1 {
			c = deadline
		}
		go func() {
			_, err := s.Dial(c, url)
			errs <- err
		}()
	}
	for i := 0; i < n; i++ {
		recvOrFail(t, got, "the server's read of a handshake")
	}
	cancel()
	var canceled, expired int
	for i := 0; i < n; i++ {
		select {
		case err := <-errs:
			switch {
			case errors.Is(err, context.Canceled):
				canceled++
			case errors.Is(err, context.DeadlineExceeded):
				expired++
			default:
				t.Errorf("a stalled dial ended with %v", err)
			}
		case <-time.After(5 * time.Second):
			t.Fatalf("%d of %d dials still in flight after their contexts ended", n-i, n)
		}
	}
	if canceled != n/2 || expired != n/2 {
		t.Errorf("%d cancelled and %d past their deadline, want %d each", canceled, expired, n/2)
	}
	t.Logf("%d stalled dials ended with their contexts in %v", n, time.Since(start).Round(time.Millisecond))
}
