package reqivo

import (
	"fmt"
	"strings"
	"testing"
)

// The start-up check (version.go) against the header this package was
// compiled with: the same major version and a minor one at least the
// header's pass; anything else is refused with a message saying to rebuild.
func TestCheckLibraryVersion(t *testing.T) {
	major, minor, patch := headerVersion()
	v := func(ma, mi, pa int) string { return fmt.Sprintf("%d.%d.%d", ma, mi, pa) }
	ok := []string{
		Version(),
		v(major, minor, patch),
		v(major, minor, patch+1),
		v(major, minor+1, 0),
		v(major, minor, patch) + "-rc.1",
	}
	if patch > 0 {
		ok = append(ok, v(major, minor, patch-1)) // a patch changes no ABI
	}
	for _, lib := range ok {
		if err := checkLibraryVersion(lib); err != nil {
			t.Errorf("library %s refused: %v", lib, err)
		}
	}
	bad := []string{v(major+1, 0, 0), "", "1", "x.y.z", "0.-1.0"}
	if major > 0 {
		bad = append(bad, v(major-1, 99, 0))
	}
	if minor > 0 {
		bad = append(bad, v(major, minor-1, 99))
	}
	for _, lib := range bad {
		err := checkLibraryVersion(lib)
		if err == nil || !strings.Contains(err.Error(), "go build -a") {
			t.Errorf("library %q: err %v, want a refusal saying to rebuild", lib, err)
		}
	}
}
