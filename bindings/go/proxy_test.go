package reqivo

import (
	"encoding/base64"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"
)

// testProxy is an HTTP proxy on 127.0.0.1 built on net/http's server,
// which accepts absolute-form targets (r.RequestURI keeps them) and
// CONNECT. It records what it sees; a forwarded request is answered by the
// proxy itself (200, body "proxied <RequestURI>", plus a Set-Cookie for
// host a.shop.test); CONNECT to refuse.test answers 407, CONNECT to any
// other host tunnels to 127.0.0.1 on the requested port.
type testProxy struct {
	*httptest.Server
	mu     sync.Mutex
	seen   []proxySeen
	closed bool           // under mu: no tunnel starts after the cleanup
	conns  sync.WaitGroup // tunnels; Add under mu, so it happens before Wait
}

type proxySeen struct {
	method, requestURI, proxyAuth, cookie string
}

func newTestProxy(t testing.TB) *testProxy {
	t.Helper()
	p := &testProxy{}
	p.Server = httptest.NewServer(http.HandlerFunc(p.serve))
	t.Cleanup(func() {
		p.Close()
		p.mu.Lock()
		p.closed = true
		p.mu.Unlock()
		waitOrFail(t, "proxy tunnels", p.conns.Wait)
	})
	return p
}

// url is the proxy's URL, with userinfo when given.
func (p *testProxy) url(userinfo string) string {
	if userinfo != "" {
		return "http://" + userinfo + "@" + p.Listener.Addr().String()
	}
	return p.URL
}

func (p *testProxy) requests() []proxySeen {
	p.mu.Lock()
	defer p.mu.Unlock()
	return append([]proxySeen(nil), p.seen...)
}

func (p *testProxy) serve(w http.ResponseWriter, r *http.Request) {
	p.mu.Lock()
	p.seen = append(p.seen, proxySeen{r.Method, r.RequestURI, r.Header.Get("Proxy-Authorization"), r.Header.Get("Cookie")})
	p.mu.Unlock()
	if r.Method != http.MethodConnect {
		if r.URL.Hostname() == "a.shop.test" {
			w.Header().Set("Set-Cookie", "k=v; Domain=shop.test; Path=/")
		}
		io.WriteString(w, "proxied "+r.RequestURI)
		return
	}
	host, port, _ := net.SplitHostPort(r.Host)
	if host == "refuse.test" {
		w.Header().Set("Proxy-Authenticate", `Basic realm="t"`)
		w.WriteHeader(http.StatusProxyAuthRequired)
		return
	}
	origin, err := net.DialTimeout("tcp", net.JoinHostPort("127.0.0.1", port), testTimeout)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadGateway)
		return
	}
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		origin.Close()
		return
	}
	p.conns.Add(1)
	p.mu.Unlock()
	client, buf, err := http.NewResponseController(w).Hijack()
	if err != nil {
		origin.Close()
		p.conns.Done()
		return
	}
	deadline := time.Now().Add(connDeadline)
	client.SetDeadline(deadline)
	origin.SetDeadline(deadline)
	io.WriteString(client, "HTTP/1.1 200 Connection established\r\n\r\n")
	go func() {
		defer p.conns.Done()
		defer client.Close()
		defer origin.Close()
		done := make(chan struct{})
		go func() {
			io.Copy(client, origin)
			client.Close() // the origin closed: so does the tunnel
			close(done)
		}()
		io.Copy(origin, buf) // what the client sends, buffered bytes first
		origin.Close()
		<-done
	}()
}

// unsetenv removes v from the environment for the rest of the test
// (t.Setenv can only set; an empty REQUEST_METHOD still counts as set).
func unsetenv(t *testing.T, v string) {
	t.Setenv(v, "") // restores the old value at the end of the test
	os.Unsetenv(v)
}

func basic(userinfo string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(userinfo))
}

func TestProxyForwardsHTTPWithAbsoluteForm(t *testing.T) {
	p := newTestProxy(t)
	s := newTestSession(t, WithProxy(p.url("user:p%40ss")))
	resp, err := s.Get(testCtx(t), "http://origin.test/path?q=1")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Text() != "proxied http://origin.test/path?q=1" {
		t.Errorf("body %q", resp.Text())
	}
	seen := p.requests()
	if len(seen) != 1 || seen[0].requestURI != "http://origin.test/path?q=1" || seen[0].proxyAuth != basic("user:p@ss") {
		t.Errorf("the proxy saw %+v", seen)
	}
}

func TestProxyTunnelsHTTPS(t *testing.T) {
	pki := newTestPKI(t)
	origin := newTLSServer(t, pki, http.HandlerFunc(tlsEcho), nil)
	p := newTestProxy(t)
	s := newTestSession(t, WithProxy(p.url("u:pw")), WithTLS(TLSConfig{RootCAsPEM: [][]byte{pki.caPEM}}))
	for i := 0; i < 2; i++ {
		resp, err := s.Get(testCtx(t), origin.URL+"/through")
		if err != nil {
			t.Fatal(err)
		}
		if resp.Text() != "GET /through " || !resp.TLS || resp.Reused != (i == 1) {
			t.Errorf("request %d: %q tls=%v reused=%v", i, resp.Text(), resp.TLS, resp.Reused)
		}
	}
	seen := p.requests()
	host := strings.TrimPrefix(origin.URL, "https://")
	if len(seen) != 1 || seen[0].method != "CONNECT" || seen[0].requestURI != host || seen[0].proxyAuth != basic("u:pw") {
		t.Errorf("the proxy saw %+v, want one CONNECT %s (the tunnel kept alive)", seen, host)
	}
}

func TestProxyRefusedTunnelIsErrProxy(t *testing.T) {
	p := newTestProxy(t)
	s := newTestSession(t, WithProxy(p.URL))
	_, err := s.Get(testCtx(t), "https://refuse.test/")
	var e *Error
	if !errors.Is(err, ErrProxy) || !errors.Is(err, ErrNetwork) || !errors.As(err, &e) ||
		!strings.Contains(e.Message, "407") {
		t.Fatalf("refused CONNECT: %v", err)
	}
}

func TestProxyNoProxyBypass(t *testing.T) {
	p := newTestProxy(t)
	origin := newCountingServer(t, http.HandlerFunc(echoHandler))
	for _, list := range []string{"127.0.0.1", "other.example, 127.0.0.0/8", "*"} {
		s := newTestSession(t, WithProxy(p.URL), WithNoProxy(list))
		resp, err := s.Get(testCtx(t), origin.URL+"/direct")
		if err != nil {
			t.Fatal(err)
		}
		if resp.StatusCode != 200 || strings.HasPrefix(resp.Text(), "proxied") {
			t.Errorf("no proxy %q: %d %q", list, resp.StatusCode, resp.Text())
		}
	}
	if n := len(p.requests()); n != 0 {
		t.Errorf("the proxy saw %d requests for bypassed hosts", n)
	}
	// A list that does not match: through the proxy.
	s := newTestSession(t, WithProxy(p.URL), WithNoProxy("other.example"))
	resp, err := s.Get(testCtx(t), origin.URL+"/via")
	if err != nil || resp.Text() != "proxied "+origin.URL+"/via" {
		t.Errorf("not bypassed: %v %q", err, resp.Text())
	}
}

func TestProxyEnvironmentOnlyOnOptIn(t *testing.T) {
	p := newTestProxy(t)
	origin := newCountingServer(t, http.HandlerFunc(echoHandler))
	t.Setenv("HTTP_PROXY", p.url("env:pw"))
	for _, v := range []string{"http_proxy", "NO_PROXY", "no_proxy", "REQUEST_METHOD"} {
		unsetenv(t, v)
	}
	// Neither a Session nor a Transport reads the environment by default.
	s := newTestSession(t)
	if resp, err := s.Get(testCtx(t), origin.URL+"/a"); err != nil || strings.HasPrefix(resp.Text(), "proxied") {
		t.Fatalf("default session: %v", err)
	}
	client, _ := newTestClient(t)
	resp, err := client.Get(origin.URL + "/b")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if n := len(p.requests()); n != 0 {
		t.Fatalf("the proxy saw %d requests without WithEnvironmentProxy", n)
	}

	s = newTestSession(t, WithEnvironmentProxy())
	r, err := s.Get(testCtx(t), "http://origin.test/env")
	if err != nil || r.Text() != "proxied http://origin.test/env" {
		t.Fatalf("WithEnvironmentProxy: %v", err)
	}
	if seen := p.requests(); seen[0].proxyAuth != basic("env:pw") {
		t.Errorf("seen %+v", seen)
	}
	envClient, _ := newTestClient(t, WithEnvironmentProxy())
	resp, err = envClient.Get("http://origin.test/tr")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "proxied http://origin.test/tr" {
		t.Errorf("Transport with WithEnvironmentProxy: %q", body)
	}
	// WithNoProxy wins over NO_PROXY, WithProxy over HTTP_PROXY.
	s = newTestSession(t, WithEnvironmentProxy(), WithNoProxy("127.0.0.1"))
	if r, err := s.Get(testCtx(t), origin.URL+"/c"); err != nil || strings.HasPrefix(r.Text(), "proxied") {
		t.Errorf("WithNoProxy over the environment: %v", err)
	}
	s = newTestSession(t, WithEnvironmentProxy(), WithProxy(""))
	if r, err := s.Get(testCtx(t), origin.URL+"/d"); err != nil || strings.HasPrefix(r.Text(), "proxied") {
		t.Errorf("WithProxy(\"\") over the environment: %v", err)
	}

	t.Setenv("HTTP_PROXY", "ftp://bad")
	if _, err := NewSession(WithEnvironmentProxy()); !errors.Is(err, ErrInvalidConfig) ||
		!strings.Contains(err.Error(), "HTTP_PROXY") {
		t.Errorf("unusable HTTP_PROXY: %v", err)
	}
}

func TestProxyTransport(t *testing.T) {
	pki := newTestPKI(t)
	origin := newTLSServer(t, pki, http.HandlerFunc(tlsEcho), nil)
	p := newTestProxy(t)
	client, _ := newTestClient(t, WithProxy(p.url("t:pw")), WithTLS(TLSConfig{RootCAsPEM: [][]byte{pki.caPEM}}))

	resp, err := client.Get("http://origin.test/plain")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "proxied http://origin.test/plain" {
		t.Errorf("http through the transport: %q", body)
	}

	resp, err = client.Get(origin.URL + "/tls")
	if err != nil {
		t.Fatal(err)
	}
	body, _ = io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "GET /tls " || resp.TLS == nil {
		t.Errorf("https through the transport: %q %+v", body, resp.TLS)
	}
	seen := p.requests()
	if len(seen) != 2 || seen[1].method != "CONNECT" || seen[1].proxyAuth != basic("t:pw") {
		t.Errorf("the proxy saw %+v", seen)
	}

	if _, err := client.Get("https://refuse.test/"); !errors.Is(err, ErrProxy) {
		t.Errorf("refused CONNECT through http.Client: %v", err)
	}
	if tr := NewTransport(WithProxy("socks4://127.0.0.1:1")); !errors.Is(tr.Err(), CodeUnsupportedScheme) {
		t.Errorf("a SOCKS4 proxy: %v", tr.Err())
	} else {
		tr.Close()
	}
}

func TestProxyUnusableURLs(t *testing.T) {
	for _, u := range []string{"https://127.0.0.1:1", "socks4://127.0.0.1:1", "socks5h://", "http://"} {
		if _, err := NewSession(WithProxy(u)); !errors.Is(err, ErrUsage) {
			t.Errorf("WithProxy(%q): %v", u, err)
		}
	}
}

func TestPublicSuffixList(t *testing.T) {
	p := newTestProxy(t)
	cookieOf := func(s *Session) string {
		ctx := testCtx(t)
		if _, err := s.Get(ctx, "http://a.shop.test/set"); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Get(ctx, "http://a.shop.test/next"); err != nil {
			t.Fatal(err)
		}
		seen := p.requests()
		return seen[len(seen)-1].cookie
	}
	if c := cookieOf(newTestSession(t, WithProxy(p.URL))); c != "k=v" {
		t.Errorf("default list: cookie %q, want k=v (shop.test is no public suffix)", c)
	}
	if c := cookieOf(newTestSession(t, WithProxy(p.URL), WithPublicSuffixList("// ===BEGIN ICANN DOMAINS===\ntest\nshop.test\n// ===END ICANN DOMAINS===\n"))); c != "" {
		t.Errorf("shop.test listed as a suffix: cookie %q sent", c)
	}
	if _, err := NewSession(WithPublicSuffixList("\xff\xfe")); !errors.Is(err, ErrUsage) {
		t.Errorf("non-UTF-8 list: %v", err)
	}
}
