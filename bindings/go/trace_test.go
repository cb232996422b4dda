package reqivo

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
)

// traceLog records the httptrace hooks called for one request, with what
// they were given. Every hook reads every field it gets, so a nil where a
// value belongs panics the test.
type traceLog struct {
	mu       sync.Mutex
	events   []string
	getConn  string
	connects []string // ConnectStart's addr
	conn     httptrace.GotConnInfo
	remote   string
	connErr  error
	dnsHost  string
	tlsState *tls.ConnectionState
	tlsErr   error
}

func (l *traceLog) add(ev string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.events = append(l.events, ev)
}

// seq is the hooks called, without those reqivo's Transport never calls
// (WroteHeaderField, PutIdleConn; see Transport).
func (l *traceLog) seq() []string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return slices.DeleteFunc(slices.Clone(l.events), func(e string) bool {
		return e == "WroteHeaderField" || e == "PutIdleConn"
	})
}

func (l *traceLog) trace() *httptrace.ClientTrace {
	return &httptrace.ClientTrace{
		GetConn: func(hostPort string) { l.add("GetConn"); l.mu.Lock(); l.getConn = hostPort; l.mu.Unlock() },
		GotConn: func(info httptrace.GotConnInfo) {
			// What the tracing library that panicked did.
			remote := info.Conn.RemoteAddr().Network() + " " + info.Conn.RemoteAddr().String()
			_ = info.Conn.LocalAddr().Network() + info.Conn.LocalAddr().String()
			l.add("GotConn")
			l.mu.Lock()
			l.conn, l.remote = info, remote
			l.mu.Unlock()
		},
		PutIdleConn:          func(error) { l.add("PutIdleConn") },
		GotFirstResponseByte: func() { l.add("GotFirstResponseByte") },
		Got100Continue:       func() { l.add("Got100Continue") },
		Got1xxResponse:       func(int, textproto.MIMEHeader) error { l.add("Got1xxResponse"); return nil },
		DNSStart: func(i httptrace.DNSStartInfo) {
			l.add("DNSStart")
			l.mu.Lock()
			l.dnsHost = i.Host
			l.mu.Unlock()
		},
		DNSDone: func(i httptrace.DNSDoneInfo) { _ = len(i.Addrs); l.add("DNSDone") },
		ConnectStart: func(network, addr string) {
			l.add("ConnectStart")
			l.mu.Lock()
			l.connects = append(l.connects, network+" "+addr)
			l.mu.Unlock()
		},
		ConnectDone: func(network, addr string, err error) {
			l.add("ConnectDone")
			l.mu.Lock()
			l.connErr = err
			l.mu.Unlock()
		},
		TLSHandshakeStart: func() { l.add("TLSHandshakeStart") },
		TLSHandshakeDone: func(st tls.ConnectionState, err error) {
			_ = len(st.PeerCertificates)
			l.add("TLSHandshakeDone")
			l.mu.Lock()
			l.tlsState, l.tlsErr = &st, err
			l.mu.Unlock()
		},
		WroteHeaderField: func(string, []string) { l.add("WroteHeaderField") },
		WroteHeaders:     func() { l.add("WroteHeaders") },
		Wait100Continue:  func() { l.add("Wait100Continue") },
		WroteRequest:     func(i httptrace.WroteRequestInfo) { l.add("WroteRequest") },
	}
}

// tracedGet does a GET through client with a traceLog in its context and
// reads the body to its end (the connection goes back to the pool).
func tracedGet(t *testing.T, client *http.Client, u string) (*traceLog, error) {
	t.Helper()
	l := &traceLog{}
	req, _ := http.NewRequestWithContext(httptrace.WithClientTrace(testCtx(t), l.trace()), "GET", u, nil)
	resp, err := client.Do(req)
	if err != nil {
		return l, err
	}
	defer resp.Body.Close()
	if _, err := io.ReadAll(resp.Body); err != nil {
		t.Fatalf("body of %s: %v", u, err)
	}
	return l, nil
}

var (
	freshSeq = []string{"GetConn", "ConnectStart", "ConnectDone", "GotConn",
		"WroteHeaders", "WroteRequest", "GotFirstResponseByte"}
	freshTLSSeq = []string{"GetConn", "ConnectStart", "ConnectDone", "TLSHandshakeStart", "TLSHandshakeDone",
		"GotConn", "WroteHeaders", "WroteRequest", "GotFirstResponseByte"}
	reusedSeq = []string{"GetConn", "GotConn", "WroteHeaders", "WroteRequest", "GotFirstResponseByte"}
)

// TestTransportTraceHooks sends two requests on one connection through
// reqivo's Transport and through net/http's, on the same server, plain and
// over TLS: both call the same hooks in the same order with the same
// addresses.
func TestTransportTraceHooks(t *testing.T) {
	p := newTestPKI(t)
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(p.caPEM)
	plain := newCountingServer(t, http.HandlerFunc(echoHandler))
	secure := newTLSServer(t, p, http.HandlerFunc(tlsEcho), nil)
	for _, tc := range []struct {
		name string
		srv  *httptest.Server
		tls  bool
	}{{"http", plain.Server, false}, {"https", secure.Server, true}} {
		t.Run(tc.name, func(t *testing.T) {
			rq, _ := newTestClient(t, WithTLS(TLSConfig{RootCAsPEM: [][]byte{p.caPEM}}))
			stdTr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: roots}}
			t.Cleanup(stdTr.CloseIdleConnections)
			std := &http.Client{Transport: stdTr}
			want := freshSeq
			if tc.tls {
				want = freshTLSSeq
			}
			var logs [2][2]*traceLog // [reqivo, net/http][first, second]
			for i, client := range []*http.Client{rq, std} {
				for j := range 2 {
					l, err := tracedGet(t, client, tc.srv.URL+"/t")
					if err != nil {
						t.Fatal(err)
					}
					logs[i][j] = l
				}
			}
			for j, w := range [][]string{want, reusedSeq} {
				got, ref := logs[0][j].seq(), logs[1][j].seq()
				t.Logf("request %d reqivo:   %s", j+1, strings.Join(got, " "))
				t.Logf("request %d net/http: %s", j+1, strings.Join(ref, " "))
				if !slices.Equal(got, w) || !slices.Equal(ref, w) {
					t.Errorf("request %d: reqivo %v, net/http %v; want %v", j+1, got, ref, w)
				}
			}
			addr := tc.srv.Listener.Addr().String()
			for j := range 2 {
				rl, sl := logs[0][j], logs[1][j]
				if rl.getConn != addr || sl.getConn != addr {
					t.Errorf("GetConn: reqivo %q, net/http %q, want %q", rl.getConn, sl.getConn, addr)
				}
				if rl.remote != "tcp "+addr || rl.remote != sl.remote {
					t.Errorf("RemoteAddr: reqivo %q, net/http %q", rl.remote, sl.remote)
				}
				if ra, ok := rl.conn.Conn.RemoteAddr().(*net.TCPAddr); !ok || ra.String() != addr {
					t.Errorf("RemoteAddr %#v is not the *net.TCPAddr %s", rl.conn.Conn.RemoteAddr(), addr)
				}
				if la := rl.conn.Conn.LocalAddr(); la == nil || la.String() != "0.0.0.0:0" {
					t.Errorf("LocalAddr %v", la)
				}
				reused := j == 1
				for i, l := range []*traceLog{rl, sl} {
					if l.conn.Reused != reused || l.conn.WasIdle != reused {
						t.Errorf("request %d, transport %d: GotConnInfo %+v", j+1, i, l.conn)
					}
				}
				if _, err := rl.conn.Conn.Read(make([]byte, 1)); !errors.Is(err, errTraceConn) {
					t.Errorf("Read on the traced conn: %v", err)
				}
				if _, err := rl.conn.Conn.Write([]byte("x")); !errors.Is(err, errTraceConn) {
					t.Errorf("Write on the traced conn: %v", err)
				}
				if err := rl.conn.Conn.Close(); !errors.Is(err, errTraceConn) {
					t.Errorf("Close on the traced conn: %v", err)
				}
				cs, isTLS := rl.conn.Conn.(interface{ ConnectionState() tls.ConnectionState })
				if isTLS != tc.tls || (isTLS && cs.ConnectionState().Version != tls.VersionTLS13) {
					t.Errorf("ConnectionState on the traced conn: %v", isTLS)
				}
			}
			rl, sl := logs[0][0], logs[1][0]
			if !slices.Equal(rl.connects, []string{"tcp " + addr}) || !slices.Equal(rl.connects, sl.connects) ||
				rl.connErr != nil {
				t.Errorf("ConnectStart: reqivo %v, net/http %v; ConnectDone err %v", rl.connects, sl.connects, rl.connErr)
			}
			if tc.tls {
				st, ref := rl.tlsState, sl.tlsState
				for i, st := range []*tls.ConnectionState{st, ref} {
					t.Logf("TLSHandshakeDone from %s: version %s, server name %q, ALPN %q, cipher suite %#x, %d certificates",
						[]string{"reqivo", "net/http"}[i], tls.VersionName(st.Version), st.ServerName,
						st.NegotiatedProtocol, st.CipherSuite, len(st.PeerCertificates))
				}
				if rl.tlsErr != nil || st.Version != ref.Version || !st.HandshakeComplete || st.DidResume != ref.DidResume {
					t.Errorf("TLSHandshakeDone: reqivo %+v %v, net/http version %x resumed %v",
						st, rl.tlsErr, ref.Version, ref.DidResume)
				}
			}
		})
	}
}

// TestTransportTraceFailures: a send that fails connecting or in the TLS
// handshake reports that phase with its error, as net/http's Transport
// does, and nothing after it.
func TestTransportTraceFailures(t *testing.T) {
	p := newTestPKI(t)
	srv := newTLSServer(t, p, http.HandlerFunc(tlsEcho), nil)
	rq, _ := newTestClient(t) // trusts no test CA
	stdTr := &http.Transport{TLSClientConfig: &tls.Config{RootCAs: x509.NewCertPool()}}
	t.Cleanup(stdTr.CloseIdleConnections)
	std := &http.Client{Transport: stdTr}
	for _, tc := range []struct {
		url  string
		want []string
	}{
		// Nothing listens on port 1.
		{"http://127.0.0.1:1/", []string{"GetConn", "ConnectStart", "ConnectDone"}},
		{srv.URL + "/", []string{"GetConn", "ConnectStart", "ConnectDone", "TLSHandshakeStart", "TLSHandshakeDone"}},
	} {
		rl, rerr := tracedGet(t, rq, tc.url)
		sl, serr := tracedGet(t, std, tc.url)
		t.Logf("%s reqivo:   %s (%v)", tc.url, strings.Join(rl.seq(), " "), rerr)
		t.Logf("%s net/http: %s (%v)", tc.url, strings.Join(sl.seq(), " "), serr)
		if rerr == nil || serr == nil || !slices.Equal(rl.seq(), tc.want) || !slices.Equal(sl.seq(), tc.want) {
			t.Errorf("%s: reqivo %v, net/http %v; want %v", tc.url, rl.seq(), sl.seq(), tc.want)
		}
		if len(tc.want) == 3 && !errors.Is(rl.connErr, ErrConnectRefused) {
			t.Errorf("ConnectDone's error: %v", rl.connErr)
		}
		if len(tc.want) == 5 && (!errors.Is(rl.tlsErr, ErrTLS) || sl.tlsErr == nil || rl.connErr != nil) {
			t.Errorf("TLSHandshakeDone's error: reqivo %v, net/http %v", rl.tlsErr, sl.tlsErr)
		}
	}
}

// TestTransportTraceProxy: through a proxy every request goes to, the
// connection is the proxy's, as net/http reports it.
func TestTransportTraceProxy(t *testing.T) {
	proxy := newTestProxy(t)
	rq, _ := newTestClient(t, WithProxy(proxy.URL))
	pu, _ := url.Parse(proxy.URL)
	stdTr := &http.Transport{Proxy: http.ProxyURL(pu)}
	t.Cleanup(stdTr.CloseIdleConnections)
	std := &http.Client{Transport: stdTr}
	addr := proxy.Listener.Addr().String()
	for i, client := range []*http.Client{rq, std} {
		l, err := tracedGet(t, client, "http://origin.test:8080/p")
		if err != nil {
			t.Fatal(err)
		}
		if l.getConn != addr || l.remote != "tcp "+addr || !slices.Equal(l.seq(), freshSeq) {
			t.Errorf("transport %d: GetConn %q, RemoteAddr %q, hooks %v; want %s", i, l.getConn, l.remote, l.seq(), addr)
		}
	}
	// With a NO_PROXY list the library decides per request: the request's
	// own host is reported.
	_, tr := newTestClient(t, WithProxy(proxy.URL), WithNoProxy("example.test"))
	if h, port := tr.route.dialAddr(&http.Request{URL: &url.URL{Scheme: "http", Host: "origin.test"}}); h != "origin.test" || port != "80" {
		t.Errorf("with WithNoProxy: %s %s", h, port)
	}
}

// TestTraceFromHead covers what a local server cannot show (no name is
// resolved in these tests): a fresh TLS connection to a name reports DNS,
// then connects to the name, with a net.Addr of the name as RemoteAddr
// and the name as ServerName; hooks left nil are skipped.
func TestTraceFromHead(t *testing.T) {
	l := &traceLog{}
	req, _ := http.NewRequest("GET", "https://www.example.test/x", nil)
	head := &ResponseHead{TLS: true, TLSVersion: tls.VersionTLS12,
		Timings: Timings{DNS: time.Millisecond, Connect: 2 * time.Millisecond, TLS: 3 * time.Millisecond}}
	trace := l.trace()
	traceRoute{}.traceGetConn(trace, req)
	traceRoute{}.traceSent(trace, req, head, nil)
	want := append([]string{"GetConn", "DNSStart", "DNSDone"}, freshTLSSeq[1:]...)
	if got := l.seq(); !slices.Equal(got, want) {
		t.Errorf("hooks %v, want %v", got, want)
	}
	if l.getConn != "www.example.test:443" || l.dnsHost != "www.example.test" ||
		!slices.Equal(l.connects, []string{"tcp www.example.test:443"}) || l.remote != "tcp www.example.test:443" {
		t.Errorf("GetConn %q, DNS %q, connects %v, remote %q", l.getConn, l.dnsHost, l.connects, l.remote)
	}
	if st := l.tlsState; st.ServerName != "www.example.test" || st.Version != tls.VersionTLS12 || !st.HandshakeComplete {
		t.Errorf("TLS state %+v", st)
	}
	if la := l.conn.Conn.LocalAddr(); la.String() != ":0" {
		t.Errorf("LocalAddr %v", la)
	}
	// IPv6 literal: a *net.TCPAddr, the local address [::]:0.
	req6, _ := http.NewRequest("GET", "http://[::1]:8080/", nil)
	l = &traceLog{}
	traceRoute{}.traceSent(l.trace(), req6, &ResponseHead{Reused: true}, nil)
	if ra, ok := l.conn.Conn.RemoteAddr().(*net.TCPAddr); !ok || ra.String() != "[::1]:8080" ||
		l.conn.Conn.LocalAddr().String() != "[::]:0" || !l.conn.Reused || !slices.Equal(l.seq(), reusedSeq[1:]) {
		t.Errorf("IPv6 reused: %#v %v %v", l.conn.Conn.RemoteAddr(), l.conn, l.seq())
	}
	// A trace with only some hooks, and an empty one.
	var got httptrace.GotConnInfo
	partial := &httptrace.ClientTrace{GotConn: func(i httptrace.GotConnInfo) { got = i }}
	traceRoute{}.traceGetConn(partial, req)
	traceRoute{}.traceSent(partial, req, head, nil)
	traceRoute{}.traceSent(&httptrace.ClientTrace{}, req, head, nil)
	traceRoute{}.traceSent(&httptrace.ClientTrace{}, req, head, newError(CodeTLSHandshake, "x"))
	if got.Conn == nil || got.Conn.RemoteAddr() == nil || got.Conn.LocalAddr() == nil {
		t.Errorf("partial trace: %+v", got)
	}
}
