package reqivo

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/http"
	"os/exec"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"
)

// wsServer starts tests/ws_support/server.py (the `websockets` package on
// 127.0.0.1) for one test and returns its ws:// base; the test is skipped
// when python3 or the package is missing. Closing its stdin stops it.
func wsServer(t *testing.T, args ...string) string {
	t.Helper()
	if err := exec.Command("python3", "-c", "import websockets.asyncio.server").Run(); err != nil {
		t.Skip("python3 with the websockets package is not available")
	}
	cmd := exec.Command("python3", append([]string{"../../tests/ws_support/server.py"}, args...)...)
	return "ws://127.0.0.1:" + serverProcess(t, cmd)
}

func dialTest(t *testing.T, s *Session, url string, opts ...WSOption) *WebSocket {
	t.Helper()
	ws, err := s.Dial(testCtx(t), url, opts...)
	if err != nil {
		t.Fatalf("Dial %s: %v", url, err)
	}
	t.Cleanup(func() { ws.Close(1000, "") })
	return ws
}

func echo(t *testing.T, ws *WebSocket, kind MessageKind, data []byte) {
	t.Helper()
	ctx := testCtx(t)
	if err := ws.WriteMessage(ctx, kind, data); err != nil {
		t.Fatalf("WriteMessage(%v, %d bytes): %v", kind, len(data), err)
	}
	k, got, err := ws.ReadMessage(ctx)
	if err != nil {
		t.Fatalf("ReadMessage: %v", err)
	}
	if k != kind || !bytes.Equal(got, data) {
		t.Fatalf("echo of %v %d bytes: got %v %d bytes", kind, len(data), k, len(got))
	}
}

func TestWebSocketEcho(t *testing.T) {
	for _, deflate := range []bool{false, true} {
		t.Run(fmt.Sprintf("deflate=%v", deflate), func(t *testing.T) {
			var args []string
			var opts []WSOption
			if deflate {
				args = append(args, "--deflate")
				opts = append(opts, WithDeflate(Deflate{}))
			}
			base := wsServer(t, args...)
			ws := dialTest(t, newTestSession(t), base+"/echo", opts...)
			echo(t, ws, TextMessage, []byte("héllo"))
			echo(t, ws, TextMessage, []byte{})
			echo(t, ws, BinaryMessage, []byte{0, 1, 2, 0xff})
			big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB
			echo(t, ws, BinaryMessage, big)
			echo(t, ws, TextMessage, big)
		})
	}
}

func TestWebSocketFragments(t *testing.T) {
	ws := dialTest(t, newTestSession(t), wsServer(t)+"/echo")
	ctx := testCtx(t)
	for i, part := range []string{"frag", "men", "ted"} {
		if err := ws.WriteFragment(ctx, TextMessage, []byte(part), i == 2); err != nil {
			t.Fatal(err)
		}
	}
	if k, got, err := ws.ReadMessage(ctx); err != nil || k != TextMessage || string(got) != "fragmented" {
		t.Fatalf("got %v %q %v", k, got, err)
	}
}

func TestWebSocketSubprotocolAndHeaders(t *testing.T) {
	base := wsServer(t)
	s := newTestSession(t, WithHeader("X-Session", "s"))
	ws := dialTest(t, s, base+"/headers", WithSubprotocols("other", "superchat", "chat"), WithWSHeader("X-Extra", "e"))
	if got := ws.Subprotocol(); got != "superchat" {
		t.Fatalf("Subprotocol() = %q, want superchat", got)
	}
	if ws.Response().StatusCode != 101 {
		t.Fatalf("Response().StatusCode = %d", ws.Response().StatusCode)
	}
	_, data, err := ws.ReadMessage(testCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{`"x-session": "s"`, `"x-extra": "e"`} {
		if !strings.Contains(string(data), want) {
			t.Errorf("handshake headers %s lack %s", data, want)
		}
	}
	plain := dialTest(t, s, base+"/echo")
	if plain.Subprotocol() != "" {
		t.Fatalf("Subprotocol() without an offer = %q", plain.Subprotocol())
	}
}

func TestWebSocketPing(t *testing.T) {
	ws := dialTest(t, newTestSession(t), wsServer(t)+"/echo", WithPing(0, 5*time.Second))
	ctx := testCtx(t)
	if err := ws.Ping(ctx, []byte("are you there")); err != nil {
		t.Fatal(err)
	}
	// The pong is taken in by the next read, before the echo.
	echo(t, ws, TextMessage, []byte("after ping"))
	if err := ws.Ping(ctx, bytes.Repeat([]byte("x"), 126)); !errors.Is(err, ErrInvalidArgument) {
		t.Fatalf("ping of 126 bytes: %v, want ErrInvalidArgument", err)
	}
}

func TestWebSocketCloseCodes(t *testing.T) {
	base := wsServer(t)
	s := newTestSession(t)
	// The server closes: ReadMessage returns CloseMessage with its code.
	ws := dialTest(t, s, base+"/close?code=4001&reason=bye")
	ctx := testCtx(t)
	if err := ws.WriteMessage(ctx, TextMessage, []byte("go")); err != nil {
		t.Fatal(err)
	}
	kind, data, err := ws.ReadMessage(ctx)
	var ce *CloseError
	if kind != CloseMessage || string(data) != "bye" || !errors.As(err, &ce) || ce.Code != 4001 || ce.Reason != "bye" {
		t.Fatalf("got %v %q %v, want the server's Close 4001 bye", kind, data, err)
	}
	if !errors.Is(err, ErrWSClosed) || !errors.Is(err, ErrWebSocket) {
		t.Fatalf("%v does not match ErrWSClosed and ErrWebSocket", err)
	}
	if _, _, err := ws.ReadMessage(ctx); !errors.Is(err, ErrWSClosed) {
		t.Fatalf("read after the Close: %v, want ErrWSClosed", err)
	}
	// We close: the server records our code and reason.
	ws2, err := s.Dial(ctx, base+"/echo")
	if err != nil {
		t.Fatal(err)
	}
	if err := ws2.Close(4002, "done here"); err != nil {
		t.Fatalf("Close: %v", err)
	}
	if err := ws2.Close(1000, ""); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if err := ws2.WriteMessage(ctx, TextMessage, []byte("x")); !errors.Is(err, ErrWSClosed) {
		t.Fatalf("write after Close: %v, want ErrWSClosed", err)
	}
	last := dialTest(t, s, base+"/last-close")
	if _, data, err := last.ReadMessage(ctx); err != nil || string(data) != "4002 done here" {
		t.Fatalf("server recorded %q %v, want \"4002 done here\"", data, err)
	}
	if err := ws2.Close(999, ""); err != nil { // closed already: nothing to check
		t.Fatal(err)
	}
}

// One goroutine writes while another reads, and two writers share the
// connection: every message comes back whole.
func TestWebSocketConcurrentReadWrite(t *testing.T) {
	ws := dialTest(t, newTestSession(t), wsServer(t)+"/echo")
	ctx := testCtx(t)
	const perWriter = 100
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for w := 0; w < 2; w++ {
		wg.Add(1)
		go func(w int) {
			defer wg.Done()
			for i := 0; i < perWriter; i++ {
				msg := bytes.Repeat([]byte{byte('a' + w)}, 1+i*997%20000)
				if err := ws.WriteMessage(ctx, BinaryMessage, msg); err != nil {
					errs <- err
					return
				}
			}
		}(w)
	}
	got := map[byte]int{}
	for i := 0; i < 2*perWriter; i++ {
		_, data, err := ws.ReadMessage(ctx)
		if err != nil {
			t.Fatalf("read %d: %v", i, err)
		}
		if len(data) == 0 || !bytes.Equal(data, bytes.Repeat(data[:1], len(data))) {
			t.Fatalf("message %d mixes writers", i)
		}
		got[data[0]]++
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got['a'] != perWriter || got['b'] != perWriter {
		t.Fatalf("messages per writer: %v", got)
	}
}

func TestWebSocketReadCancel(t *testing.T) {
	ws := dialTest(t, newTestSession(t), wsServer(t)+"/echo")
	ctx, cancel := context.WithCancel(testCtx(t))
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	_, _, err := ws.ReadMessage(ctx)
	if !errors.Is(err, context.Canceled) || !errors.Is(err, ErrCanceled) {
		t.Fatalf("ReadMessage after cancel: %v", err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Fatalf("cancel took %v", d)
	}
	// The connection is still usable.
	echo(t, ws, TextMessage, []byte("still here"))
}

func TestWebSocketCloseWakesReader(t *testing.T) {
	ws, err := newTestSession(t).Dial(testCtx(t), wsServer(t)+"/echo")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, _, err := ws.ReadMessage(context.Background())
		done <- err
	}()
	time.Sleep(100 * time.Millisecond)
	if err := ws.Close(1000, "bye"); err != nil {
		t.Fatalf("Close: %v", err)
	}
	select {
	case err := <-done:
		if err != nil && !errors.Is(err, ErrWSClosed) {
			t.Fatalf("reader got %v, want ErrWSClosed or the Close", err)
		}
	case <-time.After(testTimeout):
		t.Fatal("the reader was not woken by Close")
	}
}

func TestWebSocketRefused(t *testing.T) {
	s := newTestSession(t)
	_, err := s.Dial(testCtx(t), wsServer(t)+"/reject")
	var he *HandshakeError
	if !errors.As(err, &he) || he.Response.StatusCode != 403 || string(he.Response.Body) != "not here\n" {
		t.Fatalf("Dial /reject: %v, want a HandshakeError with the 403", err)
	}
	if !errors.Is(err, ErrWSHandshake) || !errors.Is(err, ErrWebSocket) {
		t.Fatalf("%v does not match ErrWSHandshake and ErrWebSocket", err)
	}
	// A plain HTTP server answering 403, with its head.
	srv := newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("X-Why", "no websockets here")
		w.WriteHeader(http.StatusForbidden)
	}))
	_, err = s.Dial(testCtx(t), "ws"+strings.TrimPrefix(srv.URL, "http")+"/")
	if !errors.As(err, &he) || he.Response.StatusCode != 403 || he.Response.Header.Get("X-Why") != "no websockets here" {
		t.Fatalf("Dial to an HTTP server: %v, want a HandshakeError with the 403 and its head", err)
	}
	var e *Error
	if !errors.As(err, &e) || e.Code != CodeWsHandshake {
		t.Fatalf("%v is not an *Error with CodeWsHandshake", err)
	}
}

func TestWebSocketDialCanceled(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := newTestSession(t).Dial(ctx, "ws://127.0.0.1:1/"); !errors.Is(err, context.Canceled) {
		t.Fatalf("Dial with a done context: %v", err)
	}
}

// A connection dropped mid-frame is replaced (WithReconnect) and the
// callback hears of the attempt; the read goes on and gets the new
// connection's first message.
func TestWebSocketReconnectCallback(t *testing.T) {
	var (
		mu       sync.Mutex
		attempts []string
	)
	ws := dialTest(t, newTestSession(t), wsServer(t)+"/drop-once?id=go-reconnect",
		WithReconnect(3, 10*time.Millisecond, 100*time.Millisecond),
		WithOnReconnect(func(attempt int, err error) {
			mu.Lock()
			defer mu.Unlock()
			attempts = append(attempts, fmt.Sprint(attempt, " ", err))
		}))
	kind, data, err := ws.ReadMessage(testCtx(t))
	if err != nil || kind != TextMessage || string(data) != "again" {
		t.Fatalf("read across the reconnect: %v %q %v", kind, data, err)
	}
	mu.Lock()
	defer mu.Unlock()
	if len(attempts) != 1 || attempts[0] != "1 <nil>" {
		t.Fatalf("reconnect callback calls: %q, want one successful attempt", attempts)
	}
	echo(t, ws, TextMessage, []byte("on the new connection"))
}

// A panic in the reconnect callback is raised by the call that reconnected.
func TestWebSocketReconnectCallbackPanic(t *testing.T) {
	ws := dialTest(t, newTestSession(t), wsServer(t)+"/drop-once?id=go-panic",
		WithReconnect(3, 10*time.Millisecond, 100*time.Millisecond),
		WithOnReconnect(func(int, error) { panic("from the callback") }))
	mustPanic(t, "ReadMessage", "from the callback", func() { ws.ReadMessage(testCtx(t)) })
	echo(t, ws, TextMessage, []byte("still usable"))
}

// A WebSocket the program forgets to Close is freed by its cleanup.
func TestWebSocketCleanupFreesForgotten(t *testing.T) {
	base := wsServer(t)
	s := newTestSession(t)
	before := cleanupsRun.Load()
	func() {
		ws, err := s.Dial(testCtx(t), base+"/echo", WithReconnect(1, time.Millisecond, time.Millisecond),
			WithOnReconnect(func(int, error) {}))
		if err != nil {
			t.Fatal(err)
		}
		echo(t, ws, TextMessage, []byte("forgotten"))
	}()
	deadline := time.Now().Add(testTimeout)
	for cleanupsRun.Load() == before && time.Now().Before(deadline) {
		runtime.GC()
		time.Sleep(10 * time.Millisecond)
	}
	if cleanupsRun.Load() == before {
		t.Fatal("the forgotten WebSocket was not freed by its cleanup")
	}
}

// Failures from the server's side come back as WebSocket errors.
func TestWebSocketServerFailures(t *testing.T) {
	base := wsServer(t)
	s := newTestSession(t)
	ctx := testCtx(t)
	bad := dialTest(t, s, base+"/bad-utf8")
	if _, _, err := bad.ReadMessage(ctx); !errors.Is(err, ErrWSInvalidUTF8) || !errors.Is(err, ErrWebSocket) {
		t.Fatalf("text that is not UTF-8: %v, want ErrWSInvalidUTF8", err)
	}
	small := dialTest(t, s, base+"/echo", WithMessageLimits(1024, 4096))
	echo(t, small, BinaryMessage, make([]byte, 1024))
	if err := small.WriteMessage(ctx, BinaryMessage, make([]byte, 2048)); err != nil {
		t.Fatal(err)
	}
	if _, _, err := small.ReadMessage(ctx); !errors.Is(err, ErrWSMessageTooBig) {
		t.Fatalf("an echo over the frame limit: %v, want ErrWSMessageTooBig", err)
	}
	if _, _, err := small.ReadMessage(ctx); !errors.Is(err, ErrWSClosed) {
		t.Fatalf("a read after the failure: %v, want ErrWSClosed", err)
	}
}
