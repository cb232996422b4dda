package reqivo

// #include <reqivo.h>
import "C"

import (
	"bytes"
	"compress/flate"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"strings"
	"syscall"
	"unsafe"
)

//go:generate python3 ../../tools/gen_bindings.py go

// Code is a reqivo result code (REQIVO_OK, REQIVO_ERR_*). The constants are
// generated from include/reqivo.h into codes_gen.go. A Code is also an
// error, usable as an errors.Is target: errors.Is(err, reqivo.CodeDNS).
type Code uint32

// Class is the base of a code range (DESIGN §4): 1000 usage, 2000 network,
// 2100 TLS (inside network), 3000 timeout, and so on. A Class is an error
// usable as an errors.Is target that matches every code of its range.
type Class uint32

type codeInfo struct {
	code  Code
	name  string
	class Class
}

type classInfo struct {
	class Class
	desc  string
}

var codeIndex = func() map[Code]*codeInfo {
	m := make(map[Code]*codeInfo, len(codeTable))
	for i := range codeTable {
		m[codeTable[i].code] = &codeTable[i]
	}
	return m
}()

// Name is the C name of the code, e.g. "REQIVO_ERR_TIMEOUT_READ". A code
// this package does not know is named by the library.
func (c Code) Name() string {
	if info, ok := codeIndex[c]; ok {
		return info.name
	}
	return libCodeName(c)
}

// Class is the class of the code (0 for CodeOK).
func (c Code) Class() Class {
	if info, ok := codeIndex[c]; ok {
		return info.class
	}
	return libCodeClass(c)
}

// Error makes a Code usable as a sentinel error.
func (c Code) Error() string { return "reqivo: " + c.Name() }

// Is lets a Code sentinel match its class: errors.Is(ErrReadTimeout, ErrTimeout).
func (c Code) Is(target error) bool {
	switch t := target.(type) {
	case Code:
		return c == t
	case Class:
		return c.Class().within(t)
	}
	return false
}

// Parent is the enclosing class (ClassNetwork for ClassTLS), or 0.
func (c Class) Parent() Class {
	if p := c / 1000 * 1000; p != c {
		return p
	}
	return 0
}

func (c Class) within(t Class) bool {
	return c != 0 && (c == t || c.Parent() == t)
}

// String describes the class, e.g. "timeout".
func (c Class) String() string {
	for _, ci := range classTable {
		if ci.class == c {
			return ci.desc
		}
	}
	return fmt.Sprintf("class %d", uint32(c))
}

// Error makes a Class usable as a sentinel error.
func (c Class) Error() string { return "reqivo: " + c.String() + " error" }

// Is lets a subclass sentinel match its parent: errors.Is(ErrTLS, ErrNetwork).
func (c Class) Is(target error) bool {
	t, ok := target.(Class)
	return ok && c.within(t)
}

// Sentinels for errors.Is. Classes match every code in their range (ErrTLS
// is inside ErrNetwork); codes match exactly. Every generated Code constant
// is a sentinel too.
const (
	ErrUsage     = ClassUsage     // a bad argument, URL, method, header or config
	ErrNetwork   = ClassNetwork   // DNS, connect, I/O, TLS
	ErrTLS       = ClassTLS       // TLS handshake and certificate checks
	ErrTimeout   = ClassTimeout   // any timeout
	ErrProtocol  = ClassProtocol  // the server broke HTTP/1.1 or HTTP/2
	ErrRedirect  = ClassRedirect  // redirect policy
	ErrStopped   = ClassStopped   // stopped by the caller (cancel, callback)
	ErrWebSocket = ClassWebSocket // a WebSocket handshake, close or frame failure
	ErrInternal  = ClassInternal  // a bug inside the library

	ErrInvalidArgument   = CodeInvalidArgument
	ErrInvalidURL        = CodeInvalidURL
	ErrInvalidHeader     = CodeInvalidHeader
	ErrDNS               = CodeDNS
	ErrConnectRefused    = CodeConnectRefused
	ErrConnectionClosed  = CodeConnectionClosed
	ErrProxy             = CodeProxy // the proxy refused the tunnel (CONNECT's status, e.g. 407; a SOCKS5 reply or rejected credentials)
	ErrConnectTimeout    = CodeTimeoutConnect
	ErrReadTimeout       = CodeTimeoutRead
	ErrWriteTimeout      = CodeTimeoutWrite
	ErrTotalTimeout      = CodeTimeoutTotal
	ErrPoolTimeout       = CodeTimeoutPool
	ErrBodyTooLarge      = CodeBodyTooLarge
	ErrUnexpectedEOF     = CodeUnexpectedEOF
	ErrTooManyRedirects  = CodeTooManyRedirects
	ErrRedirectLoop      = CodeRedirectLoop
	ErrCanceled          = CodeCancelled
	ErrTLSHandshake      = CodeTLSHandshake     // the handshake failed (no common version or cipher, ...)
	ErrTLSCertUntrusted  = CodeTLSCertUntrusted // the server's certificate chains to no trusted root
	ErrTLSHostname       = CodeTLSHostname      // the certificate is not for the host
	ErrTLSPinMismatch    = CodeTLSPinMismatch   // the server's key matches no TLSConfig.PinnedSHA256
	ErrInvalidConfig     = CodeInvalidConfig
	ErrInvalidJSON       = CodeInvalidJSON
	ErrDecompression     = CodeDecompression // a body that does not decode; its *Error wraps compress/gzip's or compress/flate's error for the fault (Error.Unwrap)
	ErrAbortedByCallback = CodeAbortedByCallback
	ErrWSHandshake       = CodeWsHandshake     // the server refused the upgrade (see HandshakeError) or answered it wrongly
	ErrWSClosed          = CodeWsClosed        // the WebSocket is closed (close handshake done, Close called, or failed earlier)
	ErrWSProtocol        = CodeWsProtocol      // the server broke RFC 6455 (closed with 1002)
	ErrWSInvalidUTF8     = CodeWsInvalidUtf8   // text from the server is not UTF-8 (closed with 1007)
	ErrWSMessageTooBig   = CodeWsMessageTooBig // over WithMessageLimits (closed with 1009)
	ErrWSPingTimeout     = CodeWsPingTimeout   // no pong within WithPing's timeout
	ErrHTTP2Protocol     = CodeHttp2Protocol   // an HTTP/2 stream or connection error: the peer broke RFC 9113, or reset the stream or the connection (its error code is named in the message)
	ErrHTTP2Required     = CodeHttp2Required   // WithHTTPVersion(HTTP2), and the TLS server chose another protocol
)

// Error is a failure reported by the library (or, for a few argument
// checks, by this package before calling it).
type Error struct {
	Code    Code
	Class   Class
	Name    string        // the code's C name, e.g. "REQIVO_ERR_TIMEOUT_READ"
	Message string        // the library's message: what went wrong and where
	OSError syscall.Errno // errno behind the failure, or 0
}

func (e *Error) Error() string {
	s := "reqivo: " + e.Name + ": " + e.Message
	if e.OSError != 0 {
		s += fmt.Sprintf(" (errno %d: %v)", int(e.OSError), e.OSError)
	}
	return s
}

// Is matches Code and Class sentinels, and another *Error with the same code.
func (e *Error) Is(target error) bool {
	switch t := target.(type) {
	case Code:
		return e.Code == t
	case Class:
		return e.Class.within(t)
	case *Error:
		return t != nil && e.Code == t.Code
	}
	return false
}

// Unwrap exposes the errno, so errors.Is(err, syscall.ECONNRESET) works,
// and for a decompression error (CodeDecompression) the standard
// library's error for the same fault, so that code written for
// compress/gzip and compress/flate recognises it (see decompressionCause).
func (e *Error) Unwrap() error {
	if e.OSError != 0 {
		return e.OSError
	}
	if e.Code == CodeDecompression {
		return decompressionCause(e.Message)
	}
	return nil
}

// decompressionCause is the standard library's error for the fault a
// decompression message of the library describes, or nil. The library's
// messages are "invalid <codings> body: <decoder error>" (codings such as
// "gzip" or "gzip, deflate", lower case; src/client/decode.rs), the
// decoder's error being flate2's:
//
//	invalid gzip header                    gzip.ErrHeader
//	gzip header field too long             gzip.ErrHeader
//	corrupt gzip stream does not have      gzip.ErrChecksum (CRC-32 or size)
//	  a matching checksum
//	corrupt deflate stream                 flate.CorruptInputError(-1)
//	incomplete deflate stream              io.ErrUnexpectedEOF
//	unexpected end of file                 io.ErrUnexpectedEOF
//
// flate2 reports a bad zlib header or Adler-32 of a "deflate" body as a
// corrupt deflate stream (compress/zlib's ErrHeader and ErrChecksum cannot
// be told apart from it), and no offset: the CorruptInputError is -1.
// A br or zstd body cut short is "unexpected end of file" too
// (io.ErrUnexpectedEOF). Other decompression errors (a chain of more than
// five codings, corrupt br or zstd data) wrap nothing.
func decompressionCause(msg string) error {
	rest, ok := strings.CutPrefix(msg, "invalid ")
	if !ok {
		return nil
	}
	if _, cause, ok := strings.Cut(rest, " body: "); ok {
		switch cause {
		case "invalid gzip header", "gzip header field too long":
			return gzip.ErrHeader
		case "corrupt gzip stream does not have a matching checksum":
			return gzip.ErrChecksum
		case "corrupt deflate stream":
			return flate.CorruptInputError(-1)
		case "incomplete deflate stream", "unexpected end of file":
			return io.ErrUnexpectedEOF
		}
	}
	return nil
}

// Timeout reports a timeout class error, as net.Error does (url.Error and
// http.Client consult it).
func (e *Error) Timeout() bool { return e.Class == ClassTimeout }

func newError(code Code, msg string) *Error {
	return &Error{Code: code, Class: code.Class(), Name: code.Name(), Message: msg}
}

// errorFromC copies a filled reqivo_error into Go memory.
func errorFromC(cerr *C.reqivo_error) *Error {
	// Read in Go rather than with C.GoString: a cgo call would make every
	// caller's reqivo_error escape to the heap.
	msg := unsafe.Slice((*byte)(unsafe.Pointer(&cerr.message[0])), len(cerr.message))
	if i := bytes.IndexByte(msg, 0); i >= 0 {
		msg = msg[:i]
	}
	e := newError(Code(cerr.code), string(msg))
	e.OSError = syscall.Errno(cerr.os_error)
	if e.Code == CodeOK { // a failure without a code would be a library bug
		e.Code, e.Class, e.Name = CodePanic, ClassInternal, CodePanic.Name()
		e.Message = "library reported failure without an error code: " + e.Message
	}
	return e
}

// codeError turns a returned code into an error (nil for REQIVO_OK).
func codeError(code C.uint32_t, cerr *C.reqivo_error) error {
	if code == 0 {
		return nil
	}
	if cerr == nil || cerr.code == 0 {
		return newError(Code(code), "")
	}
	return errorFromC(cerr)
}

// ContextError is returned when the request's context ended the request:
// it wraps both the context's error (context.Canceled or
// context.DeadlineExceeded) and the library's *Error, so errors.Is matches
// either.
type ContextError struct {
	Ctx error  // ctx.Err()
	Err *Error // usually REQIVO_ERR_CANCELLED
}

func (e *ContextError) Error() string { return e.Ctx.Error() + ": " + e.Err.Error() }

// Unwrap returns both errors for errors.Is and errors.As.
func (e *ContextError) Unwrap() []error { return []error{e.Ctx, e.Err} }

// Timeout is true when the context's deadline passed.
func (e *ContextError) Timeout() bool { return errors.Is(e.Ctx, context.DeadlineExceeded) }

// withContext returns err as a *ContextError when ctx is done, so the caller
// sees why the request stopped.
func withContext(ctx context.Context, err *Error) error {
	if cerr := ctx.Err(); cerr != nil {
		return &ContextError{Ctx: cerr, Err: err}
	}
	return err
}

// libCodeName asks the library for a code's name.
func libCodeName(c Code) string {
	return C.GoString(C.reqivo_code_name(C.uint32_t(c)))
}

// libCodeClass asks the library for a code's class.
func libCodeClass(c Code) Class {
	return Class(C.reqivo_code_class(C.uint32_t(c)))
}
