//go:build !linux

package reqivo

// readableNow: elsewhere the driver relies on the netpoller's edges and
// the multi's timers alone.
func readableNow(int) bool { return false }
