//go:build !reqivo_tree && !reqivo_static

package reqivo

// The default: the installed libreqivo (make install), found through
// pkg-config (PKG_CONFIG_PATH for a prefix it does not search) and linked
// as a shared library, as cgo wrappers of system libraries are. Programs
// load libreqivo.so.0 when they start, so a reinstalled library is the one
// they run, whether or not Go rebuilt them; a cached compile of this
// package keeps the header it was compiled against, which a library of the
// same major version (soname) serves, and version.go stops a program whose
// library is older than that header or of another major version.
// -tags reqivo_static links reqivo-static instead, -tags reqivo_tree this
// checkout's build (link_static.go, link_tree.go).

// #cgo pkg-config: reqivo
import "C"
