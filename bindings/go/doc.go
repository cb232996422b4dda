// Package reqivo is the Go binding of libreqivo, an HTTP/1.1 client
// written in Rust with a C ABI (include/reqivo.h). With cgo it links the
// installed library (make install), found through pkg-config: shared by
// default, static with -tags reqivo_static (then build with -a after
// installing or reinstalling the library: Go's build cache does not see C
// libraries). -tags reqivo_tree links the checkout's own
// target/release/libreqivo.a instead, for developing reqivo, with
// CGO_CFLAGS="$(bindings/go/cgo_cflags.sh)". The module is not published:
// a program requires it and replaces it with a checkout's bindings/go (see
// bindings/go/README.md).
//
// # Use
//
//	s, err := reqivo.NewSession(reqivo.WithBaseURL("http://127.0.0.1:8080/"))
//	if err != nil { ... }
//	defer s.Close()
//	resp, err := s.Get(ctx, "hello")         // whole body in resp.Body
//	sr, err := s.Open(ctx, req)              // body streamed from sr.Body
//	req.SetBodyReader(f, size)               // upload streamed from an io.Reader
//	client := &http.Client{Transport: reqivo.NewTransport()}
//
// Options configure a Session or a Transport: WithBaseURL, WithHeader,
// WithTimeouts, WithLimits, WithMaxRedirects, WithPool, WithTLS (a
// TLSConfig: trusted roots, client certificate, minimum version, pins),
// WithBasicAuth, WithBearerToken (credentials: sent only to the origin of
// the request the caller made, by a Transport too; see Transport),
// WithDecompression (gzip, deflate, br and zstd decoding, on by default),
// WithCookies (a jar per Session, on by default; always off in a
// Transport, where http.Client.Jar does it) and
// WithPublicSuffixList, and the proxy options WithProxy, WithNoProxy and
// WithEnvironmentProxy (the environment is read only on that opt-in,
// never by default, not even by a Transport).
//
// HTTP/2 is negotiated by default over TLS, as net/http does (h2 offered
// first by ALPN): every request to such an origin is a stream on one
// shared connection, and a response's Proto reads "HTTP/2.0", through a
// Transport too. Cleartext speaks HTTP/1.1 unless WithHTTPVersion(HTTP2)
// asks for prior knowledge; WithHTTPVersion(HTTP11) restricts a session
// to HTTP/1.1.
//
// Pool, Session, Request and the streamed body (Stream) wrap C handles:
// call Close when done. Close is idempotent; a cleanup frees a forgotten
// handle but is only a safety net; using a Pool, Session or Request after
// Close panics (a Stream follows io.ReadCloser and returns ErrStreamClosed).
// A Response returned by Do is plain Go memory and needs no Close.
//
// Pools and Sessions are safe for concurrent use by many goroutines. A
// Request may be shared too; its sends are serialised.
//
// # Cancellation
//
// Do and Open stop within 100 ms when their context is done (a
// reqivo_cancel triggered by context.AfterFunc); the error is a
// *ContextError wrapping ctx.Err() and the *Error, so both
// errors.Is(err, context.Canceled) and errors.Is(err, reqivo.ErrCanceled)
// hold. The library's own timeouts (WithTimeouts) are independent of
// context deadlines.
//
// # Errors
//
// Failures are *Error values carrying the library's code, class, C name
// and message. The Code and Class constants are generated from
// include/reqivo.h (go generate; codes_gen.go) and are themselves errors,
// usable with errors.Is: a Class matches every code in its range, so
// errors.Is(err, reqivo.ErrTimeout) holds for ErrReadTimeout and
// errors.Is(err, reqivo.ErrNetwork) for ErrTLS. An *Error wraps the errno
// behind it, and a decompression error (ErrDecompression) the standard
// library's error for the same fault: gzip.ErrHeader, gzip.ErrChecksum, a
// flate.CorruptInputError or io.ErrUnexpectedEOF (a truncated body, br and
// zstd ones too).
//
// # Request bodies
//
// Request.SetMultipart (or Session.PostMultipart) sends a Multipart form:
// fields from memory, files streamed from disk with a Content-Length and
// read again for a 307/308 redirect.
//
// Request.SetBody copies a []byte; Request.SetBodyReader streams an
// io.Reader while the request is sent, with Content-Length or chunked,
// never holding it in memory. The library calls back into Go for each
// piece (an exported trampoline, given a cgo.Handle rather than a Go
// pointer); the reader runs on the goroutine calling Do, Open or
// RoundTrip. A Read error aborts the send with a *BodyError. A streamed
// body is sent once: a 307/308 redirect is returned, not followed
// (ResponseHead.RedirectNotFollowed), while http.Client replays bodies
// through http.Request.GetBody as usual. Transport streams
// http.Request.Body the same way.
//
// # Connections and TLS
//
// Session.PoolStats and Session.CloseIdleConnections reach the session's
// pool (its own, or the one shared through WithPool);
// Transport.CloseIdleConnections is what http.Client.CloseIdleConnections
// calls. https uses rustls inside the library; ResponseHead.TLS,
// TLSVersion and TLSResumed describe the connection. Note that
// httptest.NewTLSServer's built-in certificate is a CA certificate used
// as its own leaf, which the library's verifier (webpki) refuses even when
// trusted: give test servers a leaf signed by a test CA (see tls_test.go),
// or use InsecureSkipVerify with PinnedSHA256 set to its key.
//
// # WebSocket
//
// Session.Dial opens a ws:// or wss:// connection through the session
// (headers, auth, cookies, TLS, timeouts; options WithSubprotocols,
// WithWSHeader, WithMessageLimits, WithPing, WithDeflate, WithReconnect,
// WithOnReconnect), on the event-driven driver: no thread waits for it.
// A *WebSocket has ReadMessage, WriteMessage, WriteFragment, Ping,
// Close(code, reason), Subprotocol and Response. One goroutine may read
// while others write; each call stops when its context is done, and
// Close wakes a blocked ReadMessage. A refused handshake is a
// *HandshakeError holding the server's answer; the server's Close comes
// from ReadMessage as CloseMessage with a *CloseError; every WebSocket
// failure matches ErrWebSocket.
//
// # Limits of this version
//
//   - Progress callbacks (reqivo_request_set_progress) and JSON pointer
//     lookups (reqivo_response_json) are not exposed: wrap the io.Reader
//     and use encoding/json.
//   - A request whose streamed body was already read is not retried when
//     its reused connection turns out closed by the server (net/http
//     retries such idempotent requests through GetBody; the library
//     retries only requests whose body it has not read).
//   - http.Response.TLS carries the version and resumption only, no
//     certificates.
//   - A Transport calls net/http/httptrace hooks in net/http's order but
//     once the library's send has returned (GetConn before it), with what
//     the library reports: the connection's local address, the addresses a
//     name resolved to, idle times and certificates are not among it (see
//     Transport).
//
// Build with -tags reqivo_debug to force a garbage collection on every
// handle access, which turns a missing runtime.KeepAlive into a crash.
package reqivo
