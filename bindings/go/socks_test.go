package reqivo

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"
)

// socksServer is a SOCKS5 proxy (RFC 1928, no authentication) written
// here from the RFC: it records each CONNECT as "ATYP ADDRESS PORT" and
// relays to 127.0.0.1 at the requested port whatever was asked for, or
// answers every CONNECT with reply code refuse when that is not 0.
type socksServer struct {
	ln     net.Listener
	refuse byte
	mu     sync.Mutex
	seen   []string
	wg     sync.WaitGroup
}

func newSocksServer(t *testing.T, refuse byte) *socksServer {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &socksServer{ln: ln, refuse: refuse}
	s.wg.Add(1)
	go s.accept()
	t.Cleanup(func() {
		ln.Close()
		waitOrFail(t, "socks server", s.wg.Wait)
	})
	return s
}

func (s *socksServer) addr() string { return s.ln.Addr().String() }

func (s *socksServer) requests() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.seen...)
}

func (s *socksServer) accept() {
	defer s.wg.Done()
	for {
		c, err := s.ln.Accept()
		if err != nil {
			return
		}
		s.wg.Add(1)
		go func() {
			defer s.wg.Done()
			defer c.Close()
			c.SetDeadline(time.Now().Add(testTimeout))
			s.serve(c)
		}()
	}
}

func (s *socksServer) serve(c net.Conn) {
	head := make([]byte, 2)
	if _, err := io.ReadFull(c, head); err != nil || head[0] != 5 {
		return
	}
	if _, err := io.ReadFull(c, make([]byte, head[1])); err != nil {
		return
	}
	c.Write([]byte{5, 0})
	req := make([]byte, 4)
	if _, err := io.ReadFull(c, req); err != nil {
		return
	}
	var addr string
	switch req[3] {
	case 1, 4:
		b := make([]byte, map[byte]int{1: 4, 4: 16}[req[3]])
		io.ReadFull(c, b)
		addr = net.IP(b).String()
	case 3:
		n := make([]byte, 1)
		io.ReadFull(c, n)
		b := make([]byte, n[0])
		io.ReadFull(c, b)
		addr = string(b)
	default:
		return
	}
	pb := make([]byte, 2)
	if _, err := io.ReadFull(c, pb); err != nil {
		return
	}
	port := binary.BigEndian.Uint16(pb)
	s.mu.Lock()
	s.seen = append(s.seen, fmt.Sprintf("%d %s %d", req[3], addr, port))
	s.mu.Unlock()
	reply := func(code byte) { c.Write([]byte{5, code, 0, 1, 127, 0, 0, 1, 0, 0}) }
	if s.refuse != 0 {
		reply(s.refuse)
		return
	}
	up, err := net.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(int(port))))
	if err != nil {
		reply(5)
		return
	}
	defer up.Close()
	reply(0)
	done := make(chan struct{})
	go func() { io.Copy(up, c); up.(*net.TCPConn).CloseWrite(); close(done) }()
	io.Copy(c, up)
	c.Close()
	<-done
}

// echoOrigin answers with the request line and Host it received.
func echoOrigin(t *testing.T) *httptest.Server {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fmt.Fprintf(w, "%s %s host=%s", r.Method, r.RequestURI, r.Host)
	}))
	t.Cleanup(srv.Close)
	return srv
}

func TestSocksNamesAndAddresses(t *testing.T) {
	origin := echoOrigin(t)
	_, port, _ := net.SplitHostPort(strings.TrimPrefix(origin.URL, "http://"))
	p := newSocksServer(t, 0)

	// socks5h: a name only the proxy knows goes as ATYP 3; the target is
	// origin-form, and the tunnel is kept.
	s := newTestSession(t, WithProxy("socks5h://"+p.addr()))
	for i := 0; i < 2; i++ {
		resp, err := s.Get(testCtx(t), "http://origin.test:"+port+"/p?q=1")
		if err != nil {
			t.Fatal(err)
		}
		if want := "GET /p?q=1 host=origin.test:" + port; resp.Text() != want || resp.Reused != (i == 1) {
			t.Errorf("request %d: %q reused=%v, want %q", i, resp.Text(), resp.Reused, want)
		}
	}
	// socks5: the client resolves localhost and sends the address.
	s = newTestSession(t, WithProxy("socks5://"+p.addr()))
	if _, err := s.Get(testCtx(t), "http://localhost:"+port+"/"); err != nil {
		t.Fatal(err)
	}
	if _, err := s.Get(testCtx(t), "http://origin.test:"+port+"/"); !errors.Is(err, ErrDNS) {
		t.Errorf("socks5 with a name the client cannot resolve: %v", err)
	}
	want := []string{"3 origin.test " + port, "1 127.0.0.1 " + port}
	if got := p.requests(); strings.Join(got, ",") != strings.Join(want, ",") {
		t.Errorf("the proxy saw %q, want %q", got, want)
	}
}

func TestSocksRefusalIsErrProxy(t *testing.T) {
	p := newSocksServer(t, 5)
	s := newTestSession(t, WithProxy("socks5h://"+p.addr()))
	_, err := s.Get(testCtx(t), "http://origin.test/")
	if !errors.Is(err, ErrProxy) || !strings.Contains(err.Error(), "connection refused by destination (5)") {
		t.Errorf("refused: %v", err)
	}
	// NO_PROXY bypasses it.
	origin := echoOrigin(t)
	s = newTestSession(t, WithProxy("socks5h://"+p.addr()), WithNoProxy("127.0.0.1"))
	if resp, err := s.Get(testCtx(t), origin.URL+"/direct"); err != nil || resp.Text() != "GET /direct host="+strings.TrimPrefix(origin.URL, "http://") {
		t.Errorf("no_proxy: %v", err)
	}
}

// microsocks is the main peer: Debian's package, which CI installs.
func startMicrosocks(t *testing.T, args ...string) string {
	t.Helper()
	bin, err := exec.LookPath("microsocks")
	if err != nil {
		t.Skip("microsocks is not installed (make deps-system installs it)")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ln.Close()
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(bin, append([]string{"-i", "127.0.0.1", "-p", port}, args...)...)
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	for deadline := time.Now().Add(5 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if c, err := net.Dial("tcp", addr); err == nil {
			c.Close()
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("microsocks did not listen on %s", addr)
		}
	}
}

func TestSocksMicrosocksHTTPAndHTTPS(t *testing.T) {
	addr := startMicrosocks(t, "-u", "us@er", "-P", "p:w")
	pki := newTestPKI(t)
	tlsOrigin := newTLSServer(t, pki, http.HandlerFunc(tlsEcho), nil)
	origin := echoOrigin(t)
	tlsCfg := WithTLS(TLSConfig{RootCAsPEM: [][]byte{pki.caPEM}})
	for _, scheme := range []string{"socks5", "socks5h"} {
		s := newTestSession(t, WithProxy(scheme+"://us%40er:p%3Aw@"+addr), tlsCfg)
		for i := 0; i < 2; i++ {
			resp, err := s.Get(testCtx(t), origin.URL+"/plain")
			if err != nil {
				t.Fatalf("%s: %v", scheme, err)
			}
			if !strings.HasPrefix(resp.Text(), "GET /plain ") || resp.Reused != (i == 1) {
				t.Errorf("%s http %d: %q reused=%v", scheme, i, resp.Text(), resp.Reused)
			}
			resp, err = s.Get(testCtx(t), tlsOrigin.URL+"/through")
			if err != nil {
				t.Fatalf("%s: %v", scheme, err)
			}
			if resp.Text() != "GET /through " || !resp.TLS || resp.Reused != (i == 1) {
				t.Errorf("%s https %d: %q tls=%v reused=%v", scheme, i, resp.Text(), resp.TLS, resp.Reused)
			}
		}
		if st := s.PoolStats(); st.Opened != 2 {
			t.Errorf("%s: %d connections opened, want 2 (one tunnel per origin)", scheme, st.Opened)
		}
	}
	// Through net/http's client.
	tr := NewTransport(WithProxy("socks5h://us%40er:p%3Aw@"+addr), tlsCfg)
	defer tr.Close()
	resp, err := (&http.Client{Transport: tr}).Get(tlsOrigin.URL + "/client")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "GET /client " {
		t.Errorf("through the transport: %q", body)
	}
	// Wrong credentials.
	s := newTestSession(t, WithProxy("socks5h://us%40er:nope@"+addr))
	if _, err := s.Get(testCtx(t), origin.URL+"/"); !errors.Is(err, ErrProxy) || !strings.Contains(err.Error(), "rejected") {
		t.Errorf("wrong password: %v", err)
	}
}
