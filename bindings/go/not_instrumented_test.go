//go:build !race && !reqivo_debug

package reqivo

// instrumentedBuild: see instrumented_test.go.
const instrumentedBuild = false
