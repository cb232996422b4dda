package reqivo

import (
	"fmt"
	"strconv"
	"strings"
)

// Go's build cache keys this package on its own files and the CGO_*
// variables, not on the installed reqivo.h or libreqivo (go help cache), so
// a cached compile can be linked with, or load, another version of the
// library than the header it was compiled against. The header's rule
// (include/reqivo.h: the major version changes only with an ABI break, the
// minor one only adds) says which pairs work; any other stops the program
// here, when it starts, rather than letting it misread the library's
// structs or miss a function.
func init() {
	if err := checkLibraryVersion(Version()); err != nil {
		panic(err)
	}
}

// checkLibraryVersion accepts a library of the header's major version and a
// minor version at least the header's.
func checkLibraryVersion(lib string) error {
	hMajor, hMinor, hPatch := headerVersion()
	major, minor, ok := parseVersion(lib)
	if ok && major == hMajor && minor >= hMinor {
		return nil
	}
	return fmt.Errorf("reqivo: this package was compiled against reqivo.h %d.%d.%d but runs with libreqivo %s, "+
		"which does not provide that ABI; rebuild the program with `go build -a` (Go's build cache does not see "+
		"C headers or libraries), against the library it will run with", hMajor, hMinor, hPatch, lib)
}

// parseVersion reads MAJOR.MINOR of "MAJOR.MINOR.PATCH[-pre][+build]".
func parseVersion(v string) (major, minor int, ok bool) {
	parts := strings.SplitN(v, ".", 3)
	if len(parts) != 3 {
		return 0, 0, false
	}
	major, err1 := strconv.Atoi(parts[0])
	minor, err2 := strconv.Atoi(parts[1])
	return major, minor, err1 == nil && err2 == nil && major >= 0 && minor >= 0
}
