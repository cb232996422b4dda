//go:build reqivo_static && !reqivo_tree

package reqivo

// -tags reqivo_static: the installed libreqivo.a, through pkg-config's
// reqivo-static, so programs find nothing at run time. Go's build cache
// sees neither pkg-config's answer nor the archive (go help cache): the
// first build after installing or reinstalling the library must be
// `go build -a -tags reqivo_static`, or the program keeps the archive (or
// the prefix) of an earlier build.

// #cgo pkg-config: reqivo-static
import "C"
