// Package reqivo is the Go binding of libreqivo, an HTTP/1.1 client
// written in Rust with a C ABI (include/reqivo.h). It links the static
// library target/release/libreqivo.a with cgo, so programs need no
// LD_LIBRARY_PATH; build the library first with `cargo build --release`.
//
// # Use
//
//	s, err := reqivo.NewSession(reqivo.WithBaseURL("http://127.0.0.1:8080/"))
//	if err != nil { ... }
//	defer s.Close()
//	resp, err := s.Get(ctx, "hello")         // whole body in resp.Body
//	sr, err := s.Open(ctx, req)              // body streamed from sr.Body
//	client := &http.Client{Transport: reqivo.NewTransport()}
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
// errors.Is(err, reqivo.ErrNetwork) for ErrTLS.
//
// # Limits of this version
//
//   - No streaming upload: the C API has no request body callback yet, so
//     Transport reads an http.Request body fully into memory and sends it
//     with Content-Length, and Request.SetBody takes a []byte.
//   - No https until the library builds TLS (REQIVO_ERR_UNSUPPORTED_SCHEME),
//     and no TLS configuration option yet.
//   - Transport has no CloseIdleConnections: the C API cannot close a
//     pool's idle connections on demand (they expire after PoolConfig.MaxIdle).
//
// Build with -tags reqivo_debug to force a garbage collection on every
// handle access, which turns a missing runtime.KeepAlive into a crash.
package reqivo
