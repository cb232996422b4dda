package reqivo

// #include <reqivo.h>
import "C"

import (
	"context"
	"runtime/cgo"
	"sync"
)

// A request body read from an io.Reader for a transfer of the driver
// (DESIGN §8). The library asks for bytes on the driver goroutine, which
// must never wait for a reader (a pipe, another connection): so a filler
// goroutine reads the io.Reader into one buffer, and the read callback
// only copies what the buffer holds. When it holds nothing the callback
// answers REQIVO_READ_PAUSE: the transfer writes nothing until the filler
// has read more and resumed it. The filler starts at the library's first
// request for bytes (a transfer that fails to connect leaves the reader
// untouched) and reads the next piece only once the last one was taken,
// so memory per upload is one buffer of uploadPiece bytes.

// uploadPiece is the most the filler reads at once.
const uploadPiece = 32 << 10

// uploadPump is one transfer's body reader on the driver.
type uploadPump struct {
	src *bodySource // used by the filler goroutine only
	h   cgo.Handle  // the read callback's userdata

	mu       sync.Mutex
	buf      []byte // the piece read, not yet taken from off on
	off      int
	started  bool          // the filler runs
	drained  chan struct{} // cap 1: the piece was taken (or the transfer ended)
	eof      bool          // the reader ended: the callback returns 0
	failed   bool          // the read failed: the callback aborts the send
	waiting  bool          // the callback paused: resume when a piece comes
	over     bool          // the transfer ended: the filler stops
	transfer uint64        // the multi's id; 0 until the add returned
	due      bool          // a resume came before the id was known
	d        *driver
	// The failure, copied from src by the filler for the caller's
	// goroutine to explain (detach's fields of a blocking send).
	err      error
	ctxDone  bool
	panicked any
}

// attachUpload registers r's body reader as the read callback of a
// transfer about to be added to d; nil when r has no body reader. Needs
// r.mu held. The reader counts as used from here: the transfer owns it.
func (r *Request) attachUpload(ctx context.Context, d *driver) (*uploadPump, error) {
	src, err := r.newBodySource(ctx)
	if src == nil {
		return nil, err
	}
	p := &uploadPump{src: src, drained: make(chan struct{}, 1), d: d}
	p.h = cgo.NewHandle(p)
	if err := r.setBodyCallback(p.h, r.bodySize); err != nil {
		p.h.Delete()
		return nil, err
	}
	r.bodyUsed = true
	return p, nil
}

// readNow is the read callback on the driver goroutine: a copy of what
// the buffer holds, 0 at the end, -1 to abort, or REQIVO_READ_PAUSE.
func (p *uploadPump) readNow(dst []byte) int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	switch {
	case p.failed || p.over:
		return -1
	case p.off < len(p.buf):
		n := copy(dst, p.buf[p.off:])
		p.off += n
		if p.off == len(p.buf) {
			p.buf, p.off = p.buf[:0], 0
			p.poke()
		}
		return int64(n)
	case p.eof:
		return 0
	}
	if !p.started {
		p.started = true
		go p.fill()
	}
	p.waiting = true
	return C.REQIVO_READ_PAUSE
}

func (p *uploadPump) poke() {
	select {
	case p.drained <- struct{}{}:
	default:
	}
}

// fill is the filler goroutine: it reads a piece whenever the buffer is
// empty, until the reader ends or fails or the transfer is over.
func (p *uploadPump) fill() {
	piece := make([]byte, uploadPiece)
	for {
		// No more than the declared length asks for, as the library's own
		// requests would: a reader longer than that is caught on its
		// last piece.
		want := piece
		if left := p.src.size - p.src.sent; p.src.size >= 0 && left < int64(len(want)) {
			want = want[:left]
		}
		n := p.src.read(want) // ctx, length and no-progress checks included
		p.mu.Lock()
		if p.over {
			p.mu.Unlock()
			return
		}
		switch {
		case n < 0:
			p.failed = true
			p.err, p.ctxDone, p.panicked = p.src.err, p.src.ctxDone, p.src.panicked
		case n == 0:
			p.eof = true
		default:
			p.buf = append(p.buf[:0], piece[:n]...)
			p.off = 0
		}
		done := p.failed || p.eof
		resume := p.wakeLocked()
		p.mu.Unlock()
		if resume != 0 {
			p.d.resumeGated(resume)
		}
		if done {
			return
		}
		<-p.drained
	}
}

// wakeLocked returns the transfer to resume if its callback paused (0
// when none, or when the add has not returned yet: startedAs resumes it
// then). Needs p.mu.
func (p *uploadPump) wakeLocked() uint64 {
	if !p.waiting {
		return 0
	}
	p.waiting = false
	if p.transfer == 0 {
		p.due = true
	}
	return p.transfer
}

// startedAs records the transfer's id once the add returned (inside the
// add's gated section).
func (p *uploadPump) startedAs(transfer uint64) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.transfer = transfer
	if p.due {
		p.due = false
		p.d.resume(transfer)
	}
}

// end runs when the transfer is over: the callback is not called again,
// so its handle goes, and a filler still reading stops after that read.
func (p *uploadPump) end() {
	p.mu.Lock()
	p.over = true
	p.mu.Unlock()
	p.poke()
	p.h.Delete()
}

// failure turns the transfer's failure into the error to return, as
// detach does for a blocking send; it re-raises a panic from Read.
// pulled reports whether the reader was read at all.
func (p *uploadPump) failure(ctx context.Context, libErr *Error) (err error, pulled bool) {
	p.mu.Lock()
	pulled = p.started
	src := bodySource{err: p.err, ctxDone: p.ctxDone, panicked: p.panicked, pulled: pulled}
	p.mu.Unlock()
	return explainBodyFailure(&src, ctx, libErr), pulled
}
