package reqivo

// #include <stdint.h>
import "C"

import "runtime/cgo"

// reqivoGoWSReconnect is a WebSocket's reconnect callback, called by the
// library (through reqivo_go_ws_reconnect in websocket.go) on the thread
// whose call reconnects. It never panics into C: the notifier recovers.
//
//export reqivoGoWSReconnect
func reqivoGoWSReconnect(handle C.uintptr_t, attempt, code C.uint32_t) {
	defer func() { recover() }() // a stale handle: nothing to tell
	if handle == 0 {
		return
	}
	n, ok := cgo.Handle(handle).Value().(*reconnectNotifier)
	if !ok {
		return
	}
	n.notify(uint32(attempt), uint32(code))
}
