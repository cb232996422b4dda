//go:build reqivo_pkgconfig

package reqivo

// An installed libreqivo (make install), found through pkg-config:
// build with -tags reqivo_pkgconfig and PKG_CONFIG_PATH set if needed.

// #cgo pkg-config: reqivo
import "C"
