//go:build reqivo_debug

package reqivo

import "runtime"

// maybeGC forces a collection on every handle access under the
// reqivo_debug tag, so a missing runtime.KeepAlive shows up as a crash in
// tests (the handle's cleanup frees the C object mid-call).
func maybeGC() { runtime.GC() }

// debugBuild: tests that start thousands of goroutines use fewer here,
// where every handle access costs a whole collection.
const debugBuild = true
