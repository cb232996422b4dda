// Package gencodes reads the result codes and their classes from
// include/reqivo.h and renders codes_gen.go, so the Go binding never holds a
// hand-copied number (docs/DESIGN.md §3).
//
// Codes come from the `enum reqivo_code` block (one `REQIVO_... = N,` per
// code, with the doc comment above it); classes come from the doc comment
// of reqivo_code_class, which lists them as "1000 usage, 2000 network, ...".
// A code's class is the largest class base not above it. The header has no
// machine-readable class list; TestCodesMatchLibrary checks the result
// against reqivo_code_class at run time.
package gencodes

import (
	"bufio"
	"bytes"
	"fmt"
	"go/format"
	"regexp"
	"sort"
	"strconv"
	"strings"
)

// Code is one REQIVO_OK / REQIVO_ERR_* entry of the header.
type Code struct {
	CName  string // REQIVO_ERR_TIMEOUT_READ
	GoName string // CodeTimeoutRead
	Value  uint32
	Class  uint32
	Doc    string
}

// Class is one range base listed in reqivo_code_class's documentation.
type Class struct {
	Base   uint32
	GoName string // ClassTimeout
	Desc   string // "timeout"
}

// Table is everything the header says about codes.
type Table struct {
	Codes   []Code
	Classes []Class
}

var (
	enumStart = regexp.MustCompile(`^\s*enum\s+reqivo_code\b`)
	enumEntry = regexp.MustCompile(`^\s*(REQIVO_(?:OK|ERR_[A-Z0-9_]+))\s*=\s*([0-9]+)\s*,?\s*$`)
	// "2100 TLS", "6000 stopped by the caller": a range base and its name,
	// ended by punctuation.
	classItem = regexp.MustCompile(`\b([1-9][0-9]{3}) ([A-Za-z][A-Za-z ]*?)\s*[,.;)]`)
)

// Parse extracts the code table from the text of reqivo.h.
func Parse(header []byte) (*Table, error) {
	t := &Table{}
	if err := parseClasses(header, t); err != nil {
		return nil, err
	}
	if err := parseCodes(header, t); err != nil {
		return nil, err
	}
	return t, nil
}

// docBlocks yields each /** ... */ comment's text together with the first
// non-blank line after it.
func forEachDoc(header []byte, f func(doc, next string) error) error {
	sc := bufio.NewScanner(bytes.NewReader(header))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	var (
		in, pending bool
		lines       []string
	)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		switch {
		case !in && strings.HasPrefix(line, "/**"):
			in, lines = true, lines[:0]
			line = strings.TrimPrefix(line, "/**")
			if strings.HasSuffix(line, "*/") {
				lines = append(lines, strings.TrimSpace(strings.TrimSuffix(line, "*/")))
				in, pending = false, true
			}
		case in && strings.HasSuffix(line, "*/"):
			in, pending = false, true
		case in:
			lines = append(lines, strings.TrimSpace(strings.TrimPrefix(line, "*")))
		case pending && line != "":
			pending = false
			if err := f(strings.TrimSpace(strings.Join(lines, " ")), line); err != nil {
				return err
			}
		}
	}
	return sc.Err()
}

func parseClasses(header []byte, t *Table) error {
	err := forEachDoc(header, func(doc, next string) error {
		if !strings.Contains(next, "reqivo_code_class(") {
			return nil
		}
		for _, im := range classItem.FindAllStringSubmatch(doc, -1) {
			n, err := strconv.ParseUint(im[1], 10, 32)
			if err != nil {
				return err
			}
			desc := im[2]
			if t.hasClass(uint32(n)) {
				return fmt.Errorf("class %d listed twice", n)
			}
			t.Classes = append(t.Classes, Class{
				Base:   uint32(n),
				GoName: "Class" + goWord(strings.Fields(desc)[0]),
				Desc:   desc,
			})
		}
		return nil
	})
	if err != nil {
		return err
	}
	if len(t.Classes) == 0 {
		return fmt.Errorf("no class list (\"1000 usage, 2000 network, ...\") in the doc comment of reqivo_code_class")
	}
	sort.Slice(t.Classes, func(i, j int) bool { return t.Classes[i].Base < t.Classes[j].Base })
	return nil
}

func parseCodes(header []byte, t *Table) error {
	// Docs are attached to entries by scanning the enum block line by line.
	sc := bufio.NewScanner(bytes.NewReader(header))
	var (
		inEnum, inDoc bool
		doc           []string
		seen          = map[uint32]string{}
	)
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if !inEnum {
			inEnum = enumStart.MatchString(line)
			continue
		}
		switch {
		case strings.HasPrefix(line, "};"):
			inEnum = false
		case strings.HasPrefix(line, "/**"):
			inDoc, doc = true, doc[:0]
		case inDoc && strings.HasSuffix(line, "*/"):
			inDoc = false
		case inDoc:
			doc = append(doc, strings.TrimSpace(strings.TrimPrefix(line, "*")))
		default:
			m := enumEntry.FindStringSubmatch(line)
			if m == nil {
				continue
			}
			n, err := strconv.ParseUint(m[2], 10, 32)
			if err != nil {
				return err
			}
			v := uint32(n)
			if other, dup := seen[v]; dup {
				return fmt.Errorf("%s and %s share the number %d", other, m[1], v)
			}
			seen[v] = m[1]
			t.Codes = append(t.Codes, Code{
				CName:  m[1],
				GoName: goCodeName(m[1]),
				Value:  v,
				Class:  t.classOf(v),
				Doc:    strings.Join(doc, " "),
			})
			doc = doc[:0]
		}
	}
	if err := sc.Err(); err != nil {
		return err
	}
	if len(t.Codes) == 0 || t.Codes[0].CName != "REQIVO_OK" {
		return fmt.Errorf("no enum reqivo_code starting with REQIVO_OK found")
	}
	return nil
}

func (t *Table) hasClass(base uint32) bool {
	for _, cl := range t.Classes {
		if cl.Base == base {
			return true
		}
	}
	return false
}

func (t *Table) classOf(v uint32) uint32 {
	if v == 0 {
		return 0
	}
	var c uint32
	for _, cl := range t.Classes {
		if cl.Base <= v {
			c = cl.Base
		}
	}
	return c
}

// initialisms are written in capitals in Go names (Go code review comments).
var initialisms = map[string]bool{
	"OK": true, "URL": true, "DNS": true, "IO": true, "TLS": true,
	"EOF": true, "HTTP": true, "OS": true, "ID": true, "JSON": true,
}

func goWord(w string) string {
	up := strings.ToUpper(w)
	if initialisms[up] {
		return up
	}
	if w != strings.ToLower(w) && w != up { // mixed case, e.g. WebSocket
		return strings.ToUpper(w[:1]) + w[1:]
	}
	return up[:1] + strings.ToLower(w[1:])
}

func goCodeName(c string) string {
	rest := strings.TrimPrefix(strings.TrimPrefix(c, "REQIVO_"), "ERR_")
	var b strings.Builder
	b.WriteString("Code")
	for _, w := range strings.Split(rest, "_") {
		b.WriteString(goWord(w))
	}
	return b.String()
}

// Generate renders codes_gen.go for package reqivo.
func Generate(t *Table, source string) ([]byte, error) {
	var b bytes.Buffer
	fmt.Fprintf(&b, "// Code generated by internal/cmd/gencodes from %s. DO NOT EDIT.\n\n", source)
	b.WriteString("package reqivo\n\n")
	b.WriteString("// Result codes, one per REQIVO_OK / REQIVO_ERR_* of the header.\n")
	b.WriteString("const (\n")
	for _, c := range t.Codes {
		fmt.Fprintf(&b, "\t// %s is %s: %s\n", c.GoName, c.CName, c.Doc)
		fmt.Fprintf(&b, "\t%s Code = %d\n", c.GoName, c.Value)
	}
	b.WriteString(")\n\n")
	b.WriteString("// Classes: the base of each code range (see reqivo_code_class).\n")
	b.WriteString("const (\n")
	for _, cl := range t.Classes {
		fmt.Fprintf(&b, "\t// %s is the class of %s errors.\n", cl.GoName, cl.Desc)
		fmt.Fprintf(&b, "\t%s Class = %d\n", cl.GoName, cl.Base)
	}
	b.WriteString(")\n\n")
	b.WriteString("// codeTable lists every code in header order.\n")
	b.WriteString("var codeTable = [...]codeInfo{\n")
	classNames := map[uint32]string{}
	for _, cl := range t.Classes {
		classNames[cl.Base] = cl.GoName
	}
	for _, c := range t.Codes {
		cls := "0"
		if n, ok := classNames[c.Class]; ok {
			cls = n
		}
		fmt.Fprintf(&b, "\t{%s, %q, %s},\n", c.GoName, c.CName, cls)
	}
	b.WriteString("}\n\n")
	b.WriteString("// classTable lists every class in ascending order.\n")
	b.WriteString("var classTable = [...]classInfo{\n")
	for _, cl := range t.Classes {
		fmt.Fprintf(&b, "\t{%s, %q},\n", cl.GoName, cl.Desc)
	}
	b.WriteString("}\n")
	return format.Source(b.Bytes())
}
