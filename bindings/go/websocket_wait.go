package reqivo

import (
	"os"
	"syscall"
	"time"
)

// How ReadMessage waits without holding an OS thread (DESIGN §8): the
// library's reqivo_ws_try_receive does what can be done now and says how
// long to wait at most; the wait is Go's own netpoller on a duplicate of
// the connection's descriptor. A WebSocket that waits for a message costs
// a goroutine and that descriptor, not a thread, so ten thousand idle
// connections need no more threads than one.

// wsWaiter watches one connection's descriptor.
type wsWaiter struct {
	file *os.File
	rc   syscall.RawConn
	ino  uint64 // the socket's inode: a reconnect brings another
}

// aLongTimeAgo is a deadline in the past: it ends a wait at once.
var aLongTimeAgo = time.Unix(1, 0)

// newWSWaiter duplicates fd (the library keeps its own) for the netpoller.
func newWSWaiter(fd int) (*wsWaiter, error) {
	var st syscall.Stat_t
	if err := syscall.Fstat(fd, &st); err != nil {
		return nil, err
	}
	dup, err := syscall.Dup(fd)
	if err != nil {
		return nil, err
	}
	syscall.CloseOnExec(dup)
	if err := syscall.SetNonblock(dup, true); err != nil {
		syscall.Close(dup)
		return nil, err
	}
	file := os.NewFile(uintptr(dup), "reqivo-websocket")
	rc, err := file.SyscallConn()
	if err != nil {
		file.Close()
		return nil, err
	}
	return &wsWaiter{file: file, rc: rc, ino: st.Ino}, nil
}

// watches reports whether the waiter is for the socket fd now names (the
// number alone could be reused by a reconnect's new socket).
func (ww *wsWaiter) watches(fd int) bool {
	var st syscall.Stat_t
	return syscall.Fstat(fd, &st) == nil && st.Ino == ww.ino
}

// wait returns once the socket turns readable, wait passes (negative: no
// timer), poke is called or stop reports true; which one does not matter
// to the caller, who asks the library again. stop is looked at after the
// deadline is set, so a poke that follows whatever makes it true is
// never lost.
func (ww *wsWaiter) wait(wait time.Duration, stop func() bool) {
	if wait >= 0 {
		ww.file.SetReadDeadline(time.Now().Add(wait))
	} else {
		ww.file.SetReadDeadline(time.Time{})
	}
	if stop() {
		return
	}
	first := true
	ww.rc.Read(func(fd uintptr) bool {
		// Read first forgets any readiness the netpoller holds, so bytes
		// that came after the library last looked would go unnoticed if
		// this only waited: ask the kernel once, then wait for the next
		// edge.
		if first {
			first = false
			return readableNow(int(fd))
		}
		return true
	})
}

// poke ends a wait in progress at once.
func (ww *wsWaiter) poke() { ww.file.SetReadDeadline(aLongTimeAgo) }

func (ww *wsWaiter) close() { ww.file.Close() }
