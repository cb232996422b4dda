package reqivo

// #include <reqivo.h>
import "C"

import (
	"io"
	"net/http"
	"sync"
)

// A body streamed through the driver: the multi's data callback (on the
// driver goroutine) appends each piece to a buffer the reader drains.
// When the buffer holds bodyHighWater bytes the callback refuses the next
// piece (REQIVO_DATA_PAUSE): the multi stops reading that socket, the
// server's window fills, and nothing else in the process waits. The
// reader resumes the transfer once it has taken the buffer below
// bodyLowWater. Memory per body stays under bodyHighWater plus one piece
// (64 KiB) whatever the body's size.
const (
	bodyHighWater = 256 << 10
	bodyLowWater  = 64 << 10
)

// multiBody is the shared state of one streamed call.
type multiBody struct {
	d      *driver
	k      canceler    // ends the transfer: the caller's context, or Close
	fields bool        // the head's Fields are wanted
	upload *uploadPump // the request body's reader, if any

	mu        sync.Mutex
	headReady chan struct{} // closed at the head, or at a failure before it
	head      ResponseHead
	hadHead   bool
	poke      chan struct{} // cap 1: data, the end or Close came
	buf       []byte
	off       int
	paused    bool   // the callback refused a piece: resume when drained
	transfer  uint64 // the multi's id for resume; 0 until the add returned
	resumeDue bool   // drained before the id was known
	ended     bool
	err       *Error      // why the transfer failed, at the end
	trailer   http.Header // at the end
	closed    bool
}

func newMultiBody(fields bool) *multiBody {
	return &multiBody{
		fields:    fields,
		headReady: make(chan struct{}),
		poke:      make(chan struct{}, 1),
	}
}

func (b *multiBody) wake() {
	select {
	case b.poke <- struct{}{}:
	default:
	}
}

// started records the transfer's id once the add returned.
func (b *multiBody) started(transfer uint64) {
	b.mu.Lock()
	b.transfer = transfer
	due := b.resumeDue
	b.resumeDue = false
	b.mu.Unlock()
	if due {
		b.d.resume(transfer)
	}
	if b.upload != nil {
		b.upload.startedAs(transfer)
	}
}

// gotHead runs on the driver goroutine at the final head.
func (b *multiBody) gotHead(head *C.reqivo_response) {
	h := headFromCFields(head, b.fields)
	b.mu.Lock()
	b.head, b.hadHead = h, true
	b.mu.Unlock()
	close(b.headReady)
}

// push runs on the driver goroutine for each piece of body: it copies
// the piece, or refuses it when the buffer is full.
func (b *multiBody) push(data []byte) int {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.closed {
		return -1 // nobody will read it: end the transfer
	}
	if len(b.buf)-b.off >= bodyHighWater {
		b.paused = true
		return C.REQIVO_DATA_PAUSE
	}
	if b.off > 0 && b.off == len(b.buf) {
		b.buf, b.off = b.buf[:0], 0
	}
	b.buf = append(b.buf, data...)
	b.wake()
	return C.REQIVO_DATA_CONTINUE
}

// end runs on the driver goroutine when the transfer is over: resp (no
// body; trailers) or the failure in cerr. The token is let go here, once
// the library is done with it.
func (b *multiBody) end(resp *C.reqivo_response, cerr *C.reqivo_error) {
	var (
		trailer http.Header
		err     *Error
	)
	if resp == nil {
		err = errorFromC(cerr)
	} else {
		trailer = trailersOf(resp)
	}
	if b.upload != nil {
		b.upload.end()
	}
	// The token goes back before the end is seen: a reader that saw it
	// may send again at once and find the token spare, and a Close after
	// it finds nothing to trigger.
	b.k.free()
	b.mu.Lock()
	b.ended, b.err, b.trailer = true, err, trailer
	b.mu.Unlock()
	select {
	case <-b.headReady:
	default:
		close(b.headReady) // a failure before any head
	}
	b.wake()
}

// read is Stream.Read for a streamed call: bytes, then io.EOF (with
// the trailers), the failure, or ErrStreamClosed.
func (b *multiBody) read(p []byte) (int, http.Header, error) {
	for {
		b.mu.Lock()
		if b.closed {
			b.mu.Unlock()
			return 0, nil, ErrStreamClosed
		}
		if n := copy(p, b.buf[b.off:]); n > 0 {
			b.off += n
			resume := b.paused && len(b.buf)-b.off < bodyLowWater
			transfer := b.transfer
			if resume {
				b.paused = false
				if transfer == 0 {
					b.resumeDue, resume = true, false
				}
			}
			b.mu.Unlock()
			if resume {
				b.d.resumeGated(transfer)
			}
			return n, nil, nil
		}
		if b.ended {
			defer b.mu.Unlock()
			if b.err != nil {
				return 0, nil, b.err
			}
			return 0, b.trailer, io.EOF
		}
		b.mu.Unlock()
		<-b.poke
	}
}

// close stops delivery: a transfer still running ends (its connection
// closes), and a read blocked in another goroutine returns.
func (b *multiBody) close() {
	b.mu.Lock()
	b.closed = true
	b.buf, b.off = nil, 0
	ended := b.ended
	b.mu.Unlock()
	if !ended {
		b.k.trigger()
	}
	b.wake()
}
