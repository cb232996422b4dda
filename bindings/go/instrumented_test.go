//go:build race || reqivo_debug

package reqivo

// instrumentedBuild is true under -race and -tags reqivo_debug (a GC on
// every handle access), which make data-heavy tests several times slower:
// they run a lighter version of themselves.
const instrumentedBuild = true
