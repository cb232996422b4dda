package reqivo

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"path/filepath"
	"sync/atomic"
	"testing"
)

// hostEcho answers "HOST PATH" for each request, as net/http's server
// received it.
func hostEcho(w http.ResponseWriter, r *http.Request) {
	fmt.Fprintf(w, "%s %s", r.Host, r.URL.Path)
}

func TestResolveOverrideKeepsTheName(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(hostEcho))
	t.Cleanup(srv.Close)
	_, port, _ := net.SplitHostPort(srv.Listener.Addr().String())
	s := newTestSession(t, WithResolve("reqivo.test:"+port+":127.0.0.1"))
	want := "reqivo.test:" + port + " /named"
	resp, err := s.Get(testCtx(t), "http://reqivo.test:"+port+"/named")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text() != want {
		t.Errorf("session: %q, want %q", resp.Text(), want)
	}
	// And through http.Client with the Transport.
	tr := NewTransport(WithResolve("reqivo.test:" + port + ":127.0.0.1"))
	t.Cleanup(func() { tr.Close() })
	c := &http.Client{Transport: tr}
	r, err := c.Get("http://reqivo.test:" + port + "/named")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	body, err := io.ReadAll(r.Body)
	if err != nil || string(body) != want {
		t.Errorf("transport: %q (%v), want %q", body, err, want)
	}
}

func TestConnectToOverride(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(hostEcho))
	t.Cleanup(srv.Close)
	s := newTestSession(t, WithConnectTo("api.invalid:80:"+srv.Listener.Addr().String()))
	resp, err := s.Get(testCtx(t), "http://api.invalid/v1")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text() != "api.invalid /v1" {
		t.Errorf("got %q", resp.Text())
	}
}

// A net/http server on a Unix socket (a path, then an abstract name): the
// URL's host arrives in Host, and keep-alive works over the socket.
func TestUnixSocket(t *testing.T) {
	dir := t.TempDir()
	for _, name := range []struct{ listen, dial string }{
		{filepath.Join(dir, "api.sock"), filepath.Join(dir, "api.sock")},
		{"@reqivo-go-test-" + filepath.Base(dir), "\x00reqivo-go-test-" + filepath.Base(dir)},
	} {
		ln, err := net.Listen("unix", name.listen)
		if err != nil {
			t.Fatal(err)
		}
		var conns atomic.Int32
		srv := &http.Server{
			Handler: http.HandlerFunc(hostEcho),
			ConnState: func(_ net.Conn, st http.ConnState) {
				if st == http.StateNew {
					conns.Add(1)
				}
			},
		}
		go srv.Serve(ln)
		t.Cleanup(func() { srv.Close() })
		s := newTestSession(t, WithUnixSocket(name.dial))
		for i := 0; i < 3; i++ {
			resp, err := s.Get(testCtx(t), "http://localhost/v1.43/containers/json")
			if err != nil {
				t.Fatalf("%q: %v", name.listen, err)
			}
			if resp.Text() != "localhost /v1.43/containers/json" || resp.Reused != (i > 0) {
				t.Errorf("%q request %d: %q reused=%v", name.listen, i, resp.Text(), resp.Reused)
			}
		}
		if n := conns.Load(); n != 1 {
			t.Errorf("%q: %d connections, want 1 (kept alive)", name.listen, n)
		}
	}
	s := newTestSession(t, WithUnixSocket(filepath.Join(dir, "missing.sock")))
	_, err := s.Get(testCtx(t), "http://localhost/")
	if !errors.Is(err, ErrConnectRefused) {
		t.Errorf("missing socket: %v, want ErrConnectRefused", err)
	}
}

func TestTargetOptionsRefuseMalformedEntries(t *testing.T) {
	for _, opt := range []Option{
		WithResolve("host:80"),
		WithResolve("host:80:not-an-ip"),
		WithConnectTo("a:1:b"),
		WithUnixSocket("/a\x00b"),
	} {
		_, err := NewSession(opt)
		if !errors.Is(err, ErrInvalidArgument) {
			t.Errorf("got %v, want ErrInvalidArgument", err)
		}
	}
	if _, err := NewSession(WithResolve("host:80:127.0.0.1,[::1]")); err != nil {
		t.Errorf("a good entry: %v", err)
	}
}
