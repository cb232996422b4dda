package reqivo

// #include <reqivo.h>
//
// /* A read keeps no pointer after returning and never calls back into Go:
//    a caller's buffer need not be moved to the heap for it. */
// #cgo noescape reqivo_stream_read
// #cgo nocallback reqivo_stream_read
import "C"

import (
	"context"
	"errors"
	"io"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
)

// ErrStreamClosed is returned by Stream.Read after Close.
var ErrStreamClosed = errors.New("reqivo: read on closed stream")

// StreamResponse is a response whose body is read piece by piece from
// Body. Close it (or its Body) when done.
type StreamResponse struct {
	ResponseHead
	Body io.ReadCloser // a *Stream
}

// Close closes the body.
func (r *StreamResponse) Close() error { return r.Body.Close() }

// Stream is a response body streamed with reqivo_stream_read. It is an
// io.ReadCloser: Read returns io.EOF at the end, after which the C stream
// is already freed and its connection back in the pool; Close may be called
// from any goroutine, interrupts a Read blocked in another one, and is
// idempotent. A Stream closed before its end closes its connection.
type Stream struct {
	mu sync.Mutex // serialises Read and release
	c  *streamC   // nil once released
	// mb, when set, is a body streamed through the driver (multibody.go)
	// instead of a C stream; c is then nil from the start.
	mb  *multiBody
	k   *canceler // &c.k, kept after release; never nil; immutable
	ctx context.Context
	err error // sticky: io.EOF, the failure, or ErrStreamClosed
	// trailer gets the trailer fields at the end of the body; made then
	// when nil (a Transport declares its keys up front, as net/http does).
	trailer http.Header
	// trailerTo, when set, gets the same map (an http.Response's Trailer).
	trailerTo *http.Header
	closing   atomic.Bool
	cleanup   runtime.Cleanup
}

// streamC is what a Stream owns in C; the cleanup gets it, not the Stream.
// The token and the error buffer live in it, so that a stream costs one
// allocation for all three.
type streamC struct {
	st   *C.reqivo_stream
	k    canceler
	cerr C.reqivo_error // used by the open, then by every Read (Stream.mu)
	// putSlot gives back the slot (driver.go) the stream holds for its
	// life, its reads blocking a thread each.
	putSlot func()
}

func (c *streamC) free() {
	C.reqivo_stream_free(c.st)
	c.k.free()
	if c.putSlot != nil {
		c.putSlot()
	}
}

// newStream wraps c, whose stream is open and whose token is started.
func newStream(ctx context.Context, c *streamC) *Stream {
	s := &Stream{c: c, k: &c.k, ctx: ctx}
	s.cleanup = runtime.AddCleanup(s, freeStreamC, s.c)
	return s
}

func freeStreamC(c *streamC) {
	c.free()
	cleanupsRun.Add(1)
}

// ptr needs s.mu held.
func (s *Stream) ptr() *C.reqivo_stream {
	if s.c == nil {
		panic("reqivo: Stream used after release")
	}
	maybeGC()
	return s.c.st
}

// Read reads body bytes into p.
func (s *Stream) Read(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return 0, s.err
	}
	if len(p) == 0 {
		return 0, nil
	}
	if s.mb != nil {
		return s.readMulti(p)
	}
	buf, n := cbytes(p)
	got := C.reqivo_stream_read(s.ptr(), buf, n, &s.c.cerr)
	runtime.KeepAlive(s)
	switch {
	case got > 0:
		return int(got), nil
	case got == 0:
		s.err = io.EOF
		var n C.size_t
		fields := C.reqivo_stream_trailers(s.ptr(), &n)
		s.trailer = trailerFromC(fields, n, s.trailer) // copies from the stream's memory
		runtime.KeepAlive(s)
		if s.trailerTo != nil {
			*s.trailerTo = s.trailer
		}
	case s.closing.Load():
		s.err = ErrStreamClosed
	default:
		s.err = withContext(s.ctx, errorFromC(&s.c.cerr))
	}
	s.release()
	return 0, s.err
}

// readMulti is Read for a body streamed through the driver; s.mu held.
func (s *Stream) readMulti(p []byte) (int, error) {
	n, trailer, err := s.mb.read(p)
	switch {
	case err == nil:
		return n, nil
	case err == io.EOF:
		if len(trailer) > 0 && s.trailer == nil {
			s.trailer = trailer
		} else {
			for k, v := range trailer {
				s.trailer[k] = v
			}
		}
		if s.trailerTo != nil {
			*s.trailerTo = s.trailer
		}
		s.err = io.EOF
	case s.closing.Load() || err == ErrStreamClosed:
		s.err = ErrStreamClosed
	default:
		s.err = withContext(s.ctx, err.(*Error))
	}
	return 0, s.err
}

// Trailer returns the trailer fields of a chunked body once Read has
// returned io.EOF (nil before, or when the server sent none).
func (s *Stream) Trailer() http.Header {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != io.EOF {
		return nil
	}
	return s.trailer
}

// release frees the C stream early (at the end of the body or on an
// error); needs s.mu held.
func (s *Stream) release() {
	if s.c == nil {
		return
	}
	s.cleanup.Stop()
	s.c.free()
	s.c = nil
}

// Close frees the stream; unread body bytes close its connection.
func (s *Stream) Close() error {
	if !s.closing.CompareAndSwap(false, true) {
		return nil
	}
	if s.mb != nil {
		s.mb.close() // ends the transfer if it still runs; wakes a Read
	} else {
		s.k.trigger() // wakes a Read blocked in another goroutine
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.release()
	s.err = ErrStreamClosed
	return nil
}
