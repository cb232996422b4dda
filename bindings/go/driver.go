package reqivo

// #include <stdint.h>
// #include <stdbool.h>
// #include <reqivo.h>
//
// /* user_data is the call's number in the driver's table, never a Go
//    pointer: C keeps it after the call returns. */
// static int reqivo_go_multi_add(reqivo_multi *m, reqivo_session *s, const reqivo_request *r,
//                                const reqivo_cancel *c, uintptr_t id, reqivo_error *err) {
//   return reqivo_multi_add(m, s, r, c, (void *)id, err);
// }
//
// /* The data callback: the Go trampoline (driver_export.go) by number. */
// extern int32_t reqivoGoOnData(uintptr_t id, const reqivo_response *head, const uint8_t *data,
//                               size_t len);
// static int32_t reqivo_go_on_data(void *ud, const reqivo_response *head, const uint8_t *data,
//                                  size_t len) {
//   return reqivoGoOnData((uintptr_t)ud, head, data, len);
// }
// static int reqivo_go_multi_add_streamed(reqivo_multi *m, reqivo_session *s,
//                                         const reqivo_request *r, const reqivo_cancel *c,
//                                         uintptr_t id, uint64_t *transfer, reqivo_error *err) {
//   return reqivo_multi_add_streamed(m, s, r, c, reqivo_go_on_data, (void *)id, transfer, err);
// }
//
// static int reqivo_go_multi_add_ws(reqivo_multi *m, reqivo_session *s, const char *url,
//                                   size_t url_len, const reqivo_ws_options *o,
//                                   const reqivo_cancel *c, uintptr_t id, reqivo_error *err) {
//   return reqivo_multi_add_ws(m, s, url, url_len, o, c, (void *)id, err);
// }
//
// /* One finished transfer into *id, *resp, *ws and *err; false when none. */
// static bool reqivo_go_multi_next(reqivo_multi *m, uintptr_t *id, const reqivo_response **resp,
//                                  reqivo_ws **ws, reqivo_error *err) {
//   reqivo_multi_done d = {.struct_size = sizeof d};
//   if (!reqivo_multi_next(m, &d)) return false;
//   *id = (uintptr_t)d.user_data;
//   *resp = d.response;
//   *ws = d.ws;
//   *err = d.error;
//   return true;
// }
import "C"

import (
	"context"
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The event-driven path (DESIGN §8): a request that does not take the
// fast path goes to one reqivo_multi shared by the process. Its driver is
// a goroutine that waits for the multi's descriptor in Go's own netpoller
// (an *os.File over a duplicate of it), so no OS thread blocks while
// requests are in flight; each wake-up is one non-blocking
// reqivo_multi_perform, and each finished transfer goes to the goroutine
// waiting for it. A request in flight costs its connection and a small
// table entry: no thread, no descriptor of its own.
//
// The fast path: while fewer than blockingSlots sends are blocked in C, a
// request is sent with the blocking call on the caller's thread, as
// before; the hand-off to the driver would cost a sequential caller about
// a third of its throughput (measured with the fast path off: 40 against
// 65 µs per GET from an in-process server). So a few goroutines use a
// thread each and every further one the driver: the thread count stays
// bounded however many goroutines send.

// driver runs the process's multi.
type driver struct {
	m    *C.reqivo_multi
	file *os.File
	rc   syscall.RawConn
	fd   int // the duplicate the netpoller watches

	mu     sync.Mutex
	calls  map[uintptr]*multiCall
	nextID uintptr
	cerr   C.reqivo_error // perform's, used by the driver goroutine only
}

// multiCall is one request handed to the driver; done is closed once
// resp or err is set. A streamed call (body set) has its head and body
// bytes delivered by the data callback, and no done: its end goes to the
// body. A WebSocket dial's connection is ws; a refused dial has both resp
// (the answer) and err.
type multiCall struct {
	done chan struct{}
	resp *C.reqivo_response
	ws   *C.reqivo_ws
	err  *Error
	body *multiBody
}

var theDriver struct {
	once sync.Once
	d    *driver
	err  error
}

// eventDriver returns the process's driver, starting it on first use.
func eventDriver() (*driver, error) {
	theDriver.once.Do(func() {
		theDriver.d, theDriver.err = startDriver()
	})
	return theDriver.d, theDriver.err
}

func startDriver() (*driver, error) {
	var cerr C.reqivo_error
	m := C.reqivo_multi_new(&cerr)
	if m == nil {
		return nil, errorFromC(&cerr)
	}
	// A duplicate, so that closing the *os.File never closes the multi's
	// own descriptor; non-blocking, so that os.NewFile hands it to the
	// netpoller.
	fd, err := syscall.Dup(int(C.reqivo_multi_fd(m)))
	if err != nil {
		C.reqivo_multi_free(m)
		return nil, newError(CodeIO, "duplicating the multi's descriptor: "+err.Error())
	}
	if err := syscall.SetNonblock(fd, true); err != nil {
		syscall.Close(fd)
		C.reqivo_multi_free(m)
		return nil, newError(CodeIO, "making the multi's descriptor non-blocking: "+err.Error())
	}
	file := os.NewFile(uintptr(fd), "reqivo-multi")
	rc, err := file.SyscallConn()
	if err != nil {
		file.Close()
		C.reqivo_multi_free(m)
		return nil, newError(CodeIO, "watching the multi's descriptor: "+err.Error())
	}
	d := &driver{m: m, file: file, rc: rc, fd: fd, calls: make(map[uintptr]*multiCall)}
	go d.run()
	return d, nil
}

// register files call under a new number, its user_data in the multi.
func (d *driver) register(call *multiCall) uintptr {
	d.mu.Lock()
	defer d.mu.Unlock()
	d.nextID++
	d.calls[d.nextID] = call
	return d.nextID
}

// take removes call id from the table and returns it (nil if none).
func (d *driver) take(id uintptr) *multiCall {
	d.mu.Lock()
	defer d.mu.Unlock()
	call := d.calls[id]
	delete(d.calls, id)
	return call
}

// add hands the request to the multi; the caller waits on the call's done.
func (d *driver) add(s *C.reqivo_session, r *C.reqivo_request, k *C.reqivo_cancel, cerr *C.reqivo_error) (*multiCall, error) {
	call := &multiCall{done: make(chan struct{})}
	id := d.register(call)
	// The multi copies the request, and wakes the driver.
	enterC()
	code := C.reqivo_go_multi_add(d.m, s, r, k, C.uintptr_t(id), cerr)
	leaveC()
	if code != 0 {
		d.take(id)
		return nil, errorFromC(cerr)
	}
	return call, nil
}

// addWS hands a WebSocket dial to url to the multi (which copies url and
// o); the caller waits on the call's done.
func (d *driver) addWS(s *C.reqivo_session, url string, o *C.reqivo_ws_options, k *C.reqivo_cancel, cerr *C.reqivo_error) (*multiCall, error) {
	call := &multiCall{done: make(chan struct{})}
	id := d.register(call)
	u, ulen := cstr(url)
	enterC()
	code := C.reqivo_go_multi_add_ws(d.m, s, u, ulen, o, k, C.uintptr_t(id), cerr)
	leaveC()
	runtime.KeepAlive(url)
	if code != 0 {
		d.take(id)
		return nil, errorFromC(cerr)
	}
	return call, nil
}

// addStreamed hands the request to the multi with its body delivered to
// b as it arrives; b.headReady closes at the head (or the failure). The
// caller holds the cgo gate.
func (d *driver) addStreamed(s *C.reqivo_session, r *C.reqivo_request, b *multiBody, cerr *C.reqivo_error) error {
	b.d = d
	id := d.register(&multiCall{body: b})
	var transfer C.uint64_t
	k := &b.k
	code := C.reqivo_go_multi_add_streamed(d.m, s, r, k.ptr(), C.uintptr_t(id), &transfer, cerr)
	runtime.KeepAlive(k)
	if code != 0 {
		d.take(id)
		return errorFromC(cerr)
	}
	b.started(uint64(transfer))
	return nil
}

// streamedCall is the body of streamed call id, nil when there is none.
func (d *driver) streamedCall(id uintptr) *multiBody {
	d.mu.Lock()
	defer d.mu.Unlock()
	if call := d.calls[id]; call != nil {
		return call.body
	}
	return nil
}

// resume lets a paused streamed transfer go on; any goroutine (inside
// the cgo gate: resumeGated, or a section that holds it already).
func (d *driver) resume(transfer uint64) {
	var cerr C.reqivo_error
	C.reqivo_multi_resume(d.m, C.uint64_t(transfer), &cerr)
}

// resumeGated is resume from outside any gated section; the caller must
// hold no lock a gated section takes.
func (d *driver) resumeGated(transfer uint64) {
	enterC()
	d.resume(transfer)
	leaveC()
}

// run is the driver goroutine. It never returns while the process lives:
// parked in the netpoller it costs nothing.
func (d *driver) run() {
	for {
		// Read calls perform, and again each time the descriptor turns
		// readable; it returns only when the deadline set from the
		// multi's timers passes.
		err := d.rc.Read(func(uintptr) bool {
			d.perform()
			return false
		})
		if errors.Is(err, os.ErrDeadlineExceeded) {
			d.file.SetReadDeadline(time.Time{})
			continue
		}
		// The descriptor cannot fail while the multi lives; if it does,
		// fall back to waking on the timers alone rather than spinning.
		d.perform()
		time.Sleep(time.Millisecond)
	}
}

// perform runs the multi until nothing is left to do now, hands out the
// finished transfers and sets the deadline for the next timer.
func (d *driver) perform() {
	for round := 0; round < 8; round++ {
		C.reqivo_multi_perform(d.m, &d.cerr)
		d.collect()
		// The netpoller reports edges; whatever is still ready now would
		// not make a new one.
		if !readableNow(d.fd) {
			break
		}
	}
	if ms := int64(C.reqivo_multi_timeout_ms(d.m)); ms < 0 {
		d.file.SetReadDeadline(time.Time{})
	} else {
		d.file.SetReadDeadline(time.Now().Add(time.Duration(ms) * time.Millisecond))
	}
}

// collect hands every finished transfer to its caller.
func (d *driver) collect() {
	var (
		id   C.uintptr_t
		resp *C.reqivo_response
		ws   *C.reqivo_ws
		cerr C.reqivo_error
	)
	for C.reqivo_go_multi_next(d.m, &id, &resp, &ws, &cerr) {
		call := d.take(uintptr(id))
		if call == nil { // cannot happen: every add has its entry
			C.reqivo_response_free(resp)
			C.reqivo_ws_free(ws)
			continue
		}
		if call.body != nil {
			call.body.end(resp, &cerr)
			C.reqivo_response_free(resp)
			continue
		}
		if cerr.code != 0 {
			call.err = errorFromC(&cerr)
		}
		call.resp, call.ws = resp, ws
		close(call.done)
	}
}

// inFlight is the number of requests the driver has in hand.
func (d *driver) inFlight() int {
	d.mu.Lock()
	defer d.mu.Unlock()
	return len(d.calls)
}

// blockingSlots bounds the sends blocked in C on the callers' threads
// (the fast path); the rest go to the driver. Half of GOMAXPROCS, at
// least 1: the fast path is for callers that take turns, and each slot in
// use is a thread the runtime cannot run goroutines on. Swapped by tests
// (a channel without room turns the fast path off).
var blockingSlots atomic.Pointer[chan struct{}]

func init() {
	slots := make(chan struct{}, max(1, runtime.GOMAXPROCS(0)/2))
	blockingSlots.Store(&slots)
}

// takeBlockingSlot reserves a fast-path slot when one is free; put gives
// it back.
func takeBlockingSlot() (put func(), ok bool) {
	slots := *blockingSlots.Load()
	select {
	case slots <- struct{}{}:
		return func() { <-slots }, true
	default:
		return nil, false
	}
}

// threadSlots bounds one kind of blocking call, each of which holds an OS
// thread while it runs: the rest wait for a slot under their context.
type threadSlots struct {
	ch   chan struct{}
	what string // "sends with a body reader"
}

// wait reserves a slot, waiting under ctx.
func (s *threadSlots) wait(ctx context.Context) error {
	select {
	case s.ch <- struct{}{}:
		return nil
	case <-ctx.Done():
		return &ContextError{Ctx: ctx.Err(), Err: newError(CodeCancelled, fmt.Sprintf(
			"the context was done while waiting for one of the %d %s at once to end", cap(s.ch), s.what))}
	}
}

func (s *threadSlots) put() { <-s.ch }

// readerSlots bounds the blocking sends whose body comes from an
// io.Reader (Session.Do's): the library calls the reader on the sending
// thread, and a reader may block (a pipe), which must not hold up the
// driver.
var readerSlots = &threadSlots{ch: make(chan struct{}, 64), what: "sends with a body reader"}
