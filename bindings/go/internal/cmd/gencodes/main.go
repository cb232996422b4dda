// Command gencodes writes codes_gen.go from include/reqivo.h:
//
//	go run ./internal/cmd/gencodes -o codes_gen.go ../../include/reqivo.h
//
// It is run by `go generate` in bindings/go; test.sh regenerates into a
// temporary file and fails when the checked-in codes_gen.go differs.
package main

import (
	"flag"
	"fmt"
	"os"
	"path/filepath"

	"github.com/reqivo/reqivo/bindings/go/internal/gencodes"
)

func main() {
	out := flag.String("o", "codes_gen.go", "output file")
	flag.Parse()
	if flag.NArg() != 1 {
		fmt.Fprintln(os.Stderr, "usage: gencodes [-o codes_gen.go] path/to/reqivo.h")
		os.Exit(2)
	}
	header, err := os.ReadFile(flag.Arg(0))
	if err != nil {
		fail(err)
	}
	t, err := gencodes.Parse(header)
	if err != nil {
		fail(fmt.Errorf("%s: %w", flag.Arg(0), err))
	}
	src, err := gencodes.Generate(t, "include/"+filepath.Base(flag.Arg(0)))
	if err != nil {
		fail(err)
	}
	if err := os.WriteFile(*out, src, 0o644); err != nil {
		fail(err)
	}
}

func fail(err error) {
	fmt.Fprintln(os.Stderr, "gencodes:", err)
	os.Exit(1)
}
