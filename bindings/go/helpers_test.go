package reqivo

import (
	"bufio"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/textproto"
	"os/exec"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// Every wait in these tests is bounded: servers set connection deadlines,
// contexts carry timeouts, and goroutines are awaited with a timeout.
const (
	connDeadline = 20 * time.Second // longest life of a test server connection
	testTimeout  = 15 * time.Second // longest wait for one step of a test
)

func testCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), testTimeout)
	t.Cleanup(cancel)
	return ctx
}

// newSession creates a session closed at the end of the test.
func newTestSession(t testing.TB, opts ...Option) *Session {
	t.Helper()
	s, err := NewSession(opts...)
	if err != nil {
		t.Fatalf("NewSession: %v", err)
	}
	t.Cleanup(s.Close)
	return s
}

// countingServer is an httptest server on 127.0.0.1 that counts the TCP
// connections it accepts (net/http's ConnState hook).
type countingServer struct {
	*httptest.Server
	newConns atomic.Int64
}

func newCountingServer(t testing.TB, h http.Handler) *countingServer {
	t.Helper()
	cs := &countingServer{}
	cs.Server = httptest.NewUnstartedServer(h)
	cs.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			cs.newConns.Add(1)
		}
	}
	cs.Start()
	t.Cleanup(cs.Close)
	return cs
}

// rawServer accepts connections on 127.0.0.1 and hands each to handle,
// for tests that need exact bytes on the wire. Connections get a deadline
// and are closed when the test ends, which also unblocks stalled handlers.
type rawServer struct {
	ln    net.Listener
	URL   string
	mu    sync.Mutex
	conns []net.Conn
	wg    sync.WaitGroup
}

func newRawServer(t testing.TB, handle func(c net.Conn, r *bufio.Reader)) *rawServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rs := &rawServer{ln: ln, URL: "http://" + ln.Addr().String()}
	rs.wg.Add(1)
	go func() {
		defer rs.wg.Done()
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			c.SetDeadline(time.Now().Add(connDeadline))
			rs.mu.Lock()
			rs.conns = append(rs.conns, c)
			rs.mu.Unlock()
			rs.wg.Add(1)
			go func() {
				defer rs.wg.Done()
				defer c.Close()
				handle(c, bufio.NewReader(c))
			}()
		}
	}()
	t.Cleanup(func() {
		ln.Close()
		rs.mu.Lock()
		for _, c := range rs.conns {
			c.Close()
		}
		rs.mu.Unlock()
		waitOrFail(t, "raw server goroutines", func() { rs.wg.Wait() })
	})
	return rs
}

// readHead reads one request head; it returns the request line and fields.
func readHead(r *bufio.Reader) (string, textproto.MIMEHeader, error) {
	tp := textproto.NewReader(r)
	line, err := tp.ReadLine()
	if err != nil {
		return "", nil, err
	}
	h, err := tp.ReadMIMEHeader()
	return line, h, err
}

// waitOrFail runs f and fails the test if it takes longer than testTimeout.
func waitOrFail(t testing.TB, what string, f func()) {
	t.Helper()
	done := make(chan struct{})
	go func() { f(); close(done) }()
	select {
	case <-done:
	case <-time.After(testTimeout):
		t.Errorf("timed out waiting for %s", what)
	}
}

// stalledServer reads each request head, signals it on got, and then
// sends nothing until the test ends.
func stalledServer(t testing.TB) (*rawServer, chan struct{}) {
	got := make(chan struct{}, 16)
	stop := make(chan struct{})
	rs := newRawServer(t, func(c net.Conn, r *bufio.Reader) {
		if _, _, err := readHead(r); err != nil {
			return
		}
		got <- struct{}{}
		<-stop
	})
	t.Cleanup(func() { close(stop) }) // runs before the server's cleanup
	return rs, got
}

func recvOrFail(t testing.TB, ch <-chan struct{}, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(testTimeout):
		t.Fatalf("timed out waiting for %s", what)
	}
}

// serverProcess starts cmd as a server for one test and returns the first
// line it prints (its port or URL), waiting at most testTimeout; closing
// its stdin at the end of the test stops it (killed if it does not go).
func serverProcess(t *testing.T, cmd *exec.Cmd) string {
	t.Helper()
	stdin, err := cmd.StdinPipe()
	if err != nil {
		t.Fatal(err)
	}
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		stdin.Close()
		done := make(chan struct{})
		go func() { cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-done
		}
	})
	first := make(chan string, 1)
	go func() {
		line, _ := bufio.NewReader(stdout).ReadString('\n')
		first <- strings.TrimSpace(line)
		io.Copy(io.Discard, stdout)
	}()
	select {
	case line := <-first:
		if line == "" {
			t.Fatalf("%s printed nothing", cmd.Path)
		}
		return line
	case <-time.After(testTimeout):
		t.Fatalf("%s printed nothing in time", cmd.Path)
	}
	return ""
}
