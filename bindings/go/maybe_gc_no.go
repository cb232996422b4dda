//go:build !reqivo_debug

package reqivo

// maybeGC is a no-op outside the reqivo_debug build tag.
func maybeGC() {}

// debugBuild is false outside the reqivo_debug build tag.
const debugBuild = false
