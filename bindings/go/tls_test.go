package reqivo

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/pem"
	"errors"
	"io"
	"log"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// testPKI is a CA and certificates it signed, made fresh for each test.
//
// httptest.NewTLSServer's own certificate cannot be trusted by the library
// as it is: it is a CA certificate (basicConstraints cA=true) that also
// serves as the leaf, which rustls/webpki refuses as an end entity
// (CaUsedAsEndEntity; TestTLSHTTPTestDefaultCertificate shows it). So
// these tests give the httptest server a leaf signed by a test CA, and
// trust that CA.
type testPKI struct {
	caPEM    []byte
	ca       *x509.Certificate
	caKey    *ecdsa.PrivateKey
	serverTC tls.Certificate
}

func newTestPKI(t testing.TB) *testPKI {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "reqivo test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		IsCA:                  true,
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ca, _ := x509.ParseCertificate(der)
	p := &testPKI{caPEM: certPEM(der), ca: ca, caKey: key}
	p.serverTC, _, _ = p.leaf(t, "127.0.0.1", x509.ExtKeyUsageServerAuth)
	return p
}

func certPEM(der []byte) []byte {
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der})
}

// leaf issues a certificate for host (an IP or a name) with usage; it
// returns it as a tls.Certificate and as PEM (certificate, PKCS#8 key).
func (p *testPKI) leaf(t testing.TB, host string, usage x509.ExtKeyUsage) (tls.Certificate, []byte, []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(time.Now().UnixNano()),
		Subject:               pkix.Name{CommonName: host},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		BasicConstraintsValid: true,
		KeyUsage:              x509.KeyUsageDigitalSignature,
		ExtKeyUsage:           []x509.ExtKeyUsage{usage},
	}
	if ip := net.ParseIP(host); ip != nil {
		tmpl.IPAddresses = []net.IP{ip}
	} else {
		tmpl.DNSNames = []string{host}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, p.ca, &key.PublicKey, p.caKey)
	if err != nil {
		t.Fatal(err)
	}
	pkcs8, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	keyPEM := pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pkcs8})
	tc, err := tls.X509KeyPair(certPEM(der), keyPEM)
	if err != nil {
		t.Fatal(err)
	}
	return tc, certPEM(der), keyPEM
}

// tlsServer is an httptest TLS server on 127.0.0.1 with the PKI's leaf,
// counting its connections and handshakes.
type tlsServer struct {
	*httptest.Server
	newConns   atomic.Int64
	handshakes atomic.Int64
	resumed    atomic.Int64
}

func newTLSServer(t testing.TB, p *testPKI, h http.Handler, cfg *tls.Config) *tlsServer {
	t.Helper()
	ts := &tlsServer{Server: httptest.NewUnstartedServer(h)}
	if cfg == nil {
		cfg = &tls.Config{}
	}
	cfg.Certificates = []tls.Certificate{p.serverTC}
	cfg.VerifyConnection = func(cs tls.ConnectionState) error {
		ts.handshakes.Add(1)
		if cs.DidResume {
			ts.resumed.Add(1)
		}
		return nil
	}
	ts.TLS = cfg
	ts.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			ts.newConns.Add(1)
		}
	}
	ts.Config.ErrorLog = log.New(io.Discard, "", 0) // refused handshakes are expected
	ts.StartTLS()
	t.Cleanup(ts.Close)
	return ts
}

func tlsEcho(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	w.Header().Set("X-TLS-Version", tls.VersionName(r.TLS.Version))
	if len(r.TLS.PeerCertificates) > 0 {
		w.Header().Set("X-Client-CN", r.TLS.PeerCertificates[0].Subject.CommonName)
	}
	w.Write([]byte(r.Method + " " + r.URL.Path + " " + string(body)))
}

func TestTLSSessionTrustKeepAliveResumption(t *testing.T) {
	p := newTestPKI(t)
	srv := newTLSServer(t, p, http.HandlerFunc(tlsEcho), nil)
	s := newTestSession(t, WithTLS(TLSConfig{RootCAsPEM: [][]byte{p.caPEM}}))
	ctx := testCtx(t)
	for i := 0; i < 5; i++ {
		resp, err := s.Post(ctx, srv.URL+"/hello", "text/plain", []byte("secret"))
		if err != nil {
			t.Fatal(err)
		}
		if resp.Text() != "POST /hello secret" || !resp.TLS || resp.TLSVersion != tls.VersionTLS13 ||
			resp.TLSResumed || resp.Reused != (i > 0) {
			t.Errorf("request %d: %q tls=%v version=%#x resumed=%v reused=%v", i, resp.Text(), resp.TLS,
				resp.TLSVersion, resp.TLSResumed, resp.Reused)
		}
		if i == 0 && (resp.Timings.TLS <= resp.Timings.Connect || resp.Timings.TLS > resp.Timings.Sent) {
			t.Errorf("timings %+v", resp.Timings)
		}
		if i > 0 && resp.Timings.TLS != 0 {
			t.Errorf("request %d on a reused connection: TLS timing %v", i, resp.Timings.TLS)
		}
	}
	if n := srv.newConns.Load(); n != 1 {
		t.Errorf("%d connections for 5 requests, want 1 (keep-alive over TLS)", n)
	}
	// Closing the idle connection forces a new one, which resumes the
	// session the first handshake left in the config's cache.
	s.CloseIdleConnections()
	if st := s.PoolStats(); st.Idle != 0 || st.Closed != 1 || st.Opened != 1 || st.Reused != 4 {
		t.Errorf("stats after CloseIdleConnections: %+v", st)
	}
	resp, err := s.Get(ctx, srv.URL+"/again")
	if err != nil {
		t.Fatal(err)
	}
	if resp.Reused || !resp.TLSResumed || srv.newConns.Load() != 2 || srv.resumed.Load() != 1 {
		t.Errorf("after CloseIdleConnections: reused=%v resumed=%v, server: %d connections, %d resumed",
			resp.Reused, resp.TLSResumed, srv.newConns.Load(), srv.resumed.Load())
	}
}

func TestTLSUntrustedAndOptions(t *testing.T) {
	p := newTestPKI(t)
	srv := newTLSServer(t, p, http.HandlerFunc(tlsEcho), nil)
	ctx := testCtx(t)
	// The default config (system roots) does not know the test CA.
	s := newTestSession(t)
	_, err := s.Get(ctx, srv.URL+"/")
	var e *Error
	if !errors.Is(err, ErrTLS) || !errors.Is(err, ErrTLSCertUntrusted) || !errors.Is(err, ErrNetwork) ||
		!errors.As(err, &e) {
		t.Errorf("untrusted: %v", err)
	}
	// Another CA is no better, and UseSystemRoots=false trusts only it.
	other := newTestPKI(t)
	no := false
	s = newTestSession(t, WithTLS(TLSConfig{RootCAsPEM: [][]byte{other.caPEM}, UseSystemRoots: &no}))
	if _, err := s.Get(ctx, srv.URL+"/"); !errors.Is(err, ErrTLSCertUntrusted) {
		t.Errorf("other CA: %v", err)
	}
	// Right CA, wrong name: "localhost" is not in the certificate.
	s = newTestSession(t, WithTLS(TLSConfig{RootCAsPEM: [][]byte{p.caPEM}}))
	if _, err := s.Get(ctx, strings.Replace(srv.URL, "127.0.0.1", "localhost", 1)+"/"); !errors.Is(err, ErrTLSHostname) {
		t.Errorf("wrong name: %v", err)
	}
	// InsecureSkipVerify accepts it; a pin still has to match.
	spki := sha256.Sum256(srv.Certificate().RawSubjectPublicKeyInfo)
	pin := base64.StdEncoding.EncodeToString(spki[:])
	s = newTestSession(t, WithTLS(TLSConfig{InsecureSkipVerify: true, PinnedSHA256: []string{"sha256//" + pin}}))
	if resp, err := s.Get(ctx, srv.URL+"/pinned"); err != nil || resp.Text() != "GET /pinned " {
		t.Errorf("insecure + right pin: %v", err)
	}
	wrong := sha256.Sum256([]byte("not the key"))
	s = newTestSession(t, WithTLS(TLSConfig{RootCAsPEM: [][]byte{p.caPEM},
		PinnedSHA256: []string{base64.StdEncoding.EncodeToString(wrong[:])}}))
	if _, err := s.Get(ctx, srv.URL+"/"); !errors.Is(err, ErrTLSPinMismatch) {
		t.Errorf("wrong pin: %v", err)
	}
	// Invalid configs fail NewSession.
	for name, cfg := range map[string]TLSConfig{
		"bad PEM":         {RootCAsPEM: [][]byte{[]byte("not PEM")}},
		"empty PEM":       {RootCAsPEM: [][]byte{nil}},
		"no roots":        {UseSystemRoots: &no},
		"bad pin":         {PinnedSHA256: []string{"short"}},
		"cert, no key":    {ClientCertPEM: p.caPEM},
		"bad min version": {MinVersion: tls.VersionTLS11},
	} {
		if _, err := NewSession(WithTLS(cfg)); !errors.Is(err, ErrInvalidConfig) {
			t.Errorf("%s: %v", name, err)
		}
		if tr := NewTransport(WithTLS(cfg)); !errors.Is(tr.Err(), ErrInvalidConfig) {
			t.Errorf("transport, %s: %v", name, tr.Err())
		}
	}
}

// httptest.NewTLSServer's built-in certificate is a CA used as a leaf:
// trusting it does not help (webpki refuses a CA as end entity), but
// InsecureSkipVerify or a pin of its key reaches the server.
func TestTLSHTTPTestDefaultCertificate(t *testing.T) {
	srv := httptest.NewUnstartedServer(http.HandlerFunc(tlsEcho))
	srv.Config.ErrorLog = log.New(io.Discard, "", 0)
	srv.StartTLS() // as httptest.NewTLSServer, with a quiet log
	t.Cleanup(srv.Close)
	ctx := testCtx(t)
	s := newTestSession(t, WithTLS(TLSConfig{RootCAsPEM: [][]byte{certPEM(srv.Certificate().Raw)}}))
	_, err := s.Get(ctx, srv.URL+"/")
	if !errors.Is(err, ErrTLSCertUntrusted) || !strings.Contains(err.Error(), "CaUsedAsEndEntity") {
		t.Errorf("httptest certificate trusted as a root: %v", err)
	}
	spki := sha256.Sum256(srv.Certificate().RawSubjectPublicKeyInfo)
	s = newTestSession(t, WithTLS(TLSConfig{InsecureSkipVerify: true,
		PinnedSHA256: []string{base64.StdEncoding.EncodeToString(spki[:])}}))
	if resp, err := s.Get(ctx, srv.URL+"/x"); err != nil || !resp.TLS || resp.Text() != "GET /x " {
		t.Errorf("pinned httptest server: %v", err)
	}
}

func TestTLSMinVersionAndClientCert(t *testing.T) {
	p := newTestPKI(t)
	ctx := testCtx(t)
	old := newTLSServer(t, p, http.HandlerFunc(tlsEcho), &tls.Config{MaxVersion: tls.VersionTLS12})
	s := newTestSession(t, WithTLS(TLSConfig{RootCAsPEM: [][]byte{p.caPEM}}))
	resp, err := s.Get(ctx, old.URL+"/")
	if err != nil || resp.TLSVersion != tls.VersionTLS12 || resp.Header.Get("X-TLS-Version") != "TLS 1.2" {
		t.Errorf("TLS 1.2 server: %v %+v", err, resp)
	}
	s = newTestSession(t, WithTLS(TLSConfig{RootCAsPEM: [][]byte{p.caPEM}, MinVersion: tls.VersionTLS13}))
	if _, err := s.Get(ctx, old.URL+"/"); !errors.Is(err, ErrTLSHandshake) {
		t.Errorf("min TLS 1.3 against a TLS 1.2 server: %v", err)
	}

	// Mutual TLS: the server requires a certificate from the test CA.
	clientCAs := x509.NewCertPool()
	clientCAs.AddCert(p.ca)
	mtls := newTLSServer(t, p, http.HandlerFunc(tlsEcho),
		&tls.Config{ClientAuth: tls.RequireAndVerifyClientCert, ClientCAs: clientCAs})
	_, certPEM, keyPEM := p.leaf(t, "client-one", x509.ExtKeyUsageClientAuth)
	s = newTestSession(t, WithTLS(TLSConfig{RootCAsPEM: [][]byte{p.caPEM}, ClientCertPEM: certPEM, ClientKeyPEM: keyPEM}))
	resp, err = s.Get(ctx, mtls.URL+"/m")
	if err != nil || resp.Header.Get("X-Client-CN") != "client-one" {
		t.Errorf("mTLS: %v", err)
	}
	s = newTestSession(t, WithTLS(TLSConfig{RootCAsPEM: [][]byte{p.caPEM}}))
	if _, err := s.Get(ctx, mtls.URL+"/m"); err == nil || !errors.Is(err, ErrNetwork) {
		t.Errorf("mTLS without a client certificate: %v", err)
	}
}

func TestTLSTransport(t *testing.T) {
	p := newTestPKI(t)
	srv := newTLSServer(t, p, http.HandlerFunc(tlsEcho), nil)
	client, tr := newTestClient(t, WithTLS(TLSConfig{RootCAsPEM: [][]byte{p.caPEM}}))
	for i := 0; i < 3; i++ {
		req, _ := http.NewRequestWithContext(testCtx(t), "PUT", srv.URL+"/t", &patternReader{n: 5})
		if i == 2 {
			// The raw session (own Accept-Encoding) shares pool and config.
			req.Header.Set("Accept-Encoding", "identity")
		}
		resp, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(body) != "PUT /t "+string(bigBody(5)) || resp.TLS == nil || resp.TLS.Version != tls.VersionTLS13 ||
			!resp.TLS.HandshakeComplete || resp.TLS.DidResume {
			t.Errorf("request %d: %q %+v", i, body, resp.TLS)
		}
	}
	if n := srv.newConns.Load(); n != 1 {
		t.Errorf("%d connections, want 1", n)
	}
	// http.Client.CloseIdleConnections reaches the transport's pool.
	client.CloseIdleConnections()
	if st := tr.PoolStats(); st.Idle != 0 || st.Closed != 1 {
		t.Errorf("stats: %+v", st)
	}
	resp, err := client.Get(srv.URL + "/after")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.TLS == nil || !resp.TLS.DidResume || srv.newConns.Load() != 2 {
		t.Errorf("after CloseIdleConnections: %+v, %d connections", resp.TLS, srv.newConns.Load())
	}
	// An untrusted server through http.Client: a *url.Error wrapping ErrTLS.
	plain, _ := newTestClient(t)
	if _, err := plain.Get(srv.URL + "/"); !errors.Is(err, ErrTLS) {
		t.Errorf("untrusted through http.Client: %v", err)
	}
	tr.Close()
	tr.CloseIdleConnections() // a no-op after Close
}
