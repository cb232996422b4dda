package reqivo

import (
	"context"
	"crypto/sha256"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// formPart is what Go's mime/multipart (a parser not ours) read of a part.
type formPart struct {
	Name, File, Type string
	Size             int
	Sum              [32]byte
	Text             string
}

// multipartEcho parses a multipart/form-data request with net/http's
// MultipartReader and answers the parts as JSON; /redirect answers 307 to
// /echo first.
func multipartEcho(t *testing.T) *countingServer {
	return newCountingServer(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/redirect" {
			http.Redirect(w, r, "/echo", http.StatusTemporaryRedirect)
			return
		}
		if r.ContentLength < 0 || len(r.TransferEncoding) > 0 {
			http.Error(w, "no Content-Length", http.StatusBadRequest)
			return
		}
		mr, err := r.MultipartReader()
		if err != nil {
			http.Error(w, err.Error(), http.StatusBadRequest)
			return
		}
		var parts []formPart
		for {
			p, err := mr.NextRawPart()
			if err == io.EOF {
				break
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			data, err := io.ReadAll(p)
			if err != nil {
				http.Error(w, err.Error(), http.StatusBadRequest)
				return
			}
			fp := formPart{Name: p.FormName(), File: p.FileName(), Type: p.Header.Get("Content-Type"),
				Size: len(data), Sum: sha256.Sum256(data)}
			if len(data) < 100 {
				fp.Text = string(data)
			}
			parts = append(parts, fp)
		}
		json.NewEncoder(w).Encode(parts)
	}))
}

func decodeParts(t *testing.T, resp *Response, err error) []formPart {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
	if resp.StatusCode != 200 {
		t.Fatalf("status %d: %s", resp.StatusCode, resp.Body)
	}
	var parts []formPart
	if err := json.Unmarshal(resp.Body, &parts); err != nil {
		t.Fatal(err)
	}
	return parts
}

func TestMultipartFieldsAndFile(t *testing.T) {
	srv := multipartEcho(t)
	dir := t.TempDir()
	content := []byte(strings.Repeat("0123456789abcdef", 20000)) // 320,000 bytes
	path := filepath.Join(dir, "ré port.csv")
	if err := os.WriteFile(path, content, 0o600); err != nil {
		t.Fatal(err)
	}
	form := NewMultipart()
	if err := form.AddField("a b", "hello"); err != nil {
		t.Fatal(err)
	}
	if err := form.AddField("q\"x\r\ny", "v\r\n--"); err != nil {
		t.Fatal(err)
	}
	if err := form.AddFile("upload", path, "text/csv"); err != nil {
		t.Fatal(err)
	}
	if err := form.AddFile("raw", path, ""); err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	check := func(parts []formPart) {
		t.Helper()
		if len(parts) != 4 {
			t.Fatalf("%d parts: %+v", len(parts), parts)
		}
		want := []formPart{
			{Name: "a b", Text: "hello", Size: 5},
			// Go's parser keeps the percent-encoding browsers use.
			{Name: "q%22x%0D%0Ay", Text: "v\r\n--", Size: 5},
			{Name: "upload", File: "ré port.csv", Type: "text/csv", Size: len(content)},
			{Name: "raw", File: "ré port.csv", Type: "application/octet-stream", Size: len(content)},
		}
		for i, w := range want {
			p := parts[i]
			if p.Name != w.Name || p.File != w.File || p.Type != w.Type || p.Size != w.Size || p.Text != w.Text {
				t.Errorf("part %d: got %+v, want %+v", i, p, w)
			}
			if w.File != "" && p.Sum != sha256.Sum256(content) {
				t.Errorf("part %d: the file's bytes differ", i)
			}
		}
	}
	// PostMultipart, then a Request sent twice and through a 307 (the
	// form's files are read again each time); the form closed first.
	resp, err := s.PostMultipart(context.Background(), "/echo", form)
	check(decodeParts(t, resp, err))
	req, err := NewRequest("POST", "/redirect")
	if err != nil {
		t.Fatal(err)
	}
	defer req.Close()
	if err := req.SetMultipart(form); err != nil {
		t.Fatal(err)
	}
	form.Close()
	for i := 0; i < 2; i++ {
		resp, err := s.Do(context.Background(), req)
		check(decodeParts(t, resp, err))
		if resp.RedirectCount != 1 {
			t.Errorf("redirects: %d", resp.RedirectCount)
		}
	}
}

func TestMultipartErrors(t *testing.T) {
	srv := multipartEcho(t)
	dir := t.TempDir()
	form := NewMultipart()
	defer form.Close()
	missing := filepath.Join(dir, "missing")
	err := form.AddFile("f", missing, "")
	if !errors.Is(err, ErrInvalidArgument) || !strings.Contains(err.Error(), missing) {
		t.Errorf("missing file: %v", err)
	}
	if err := form.AddFile("f", dir, ""); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("a directory: %v", err)
	}
	if err := form.AddFile("f", missing, "a\r\nb"); !errors.Is(err, ErrInvalidHeader) {
		t.Errorf("bad type: %v", err)
	}
	path := filepath.Join(dir, "grows")
	if err := os.WriteFile(path, []byte("12345"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := form.AddFile("f", path, ""); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte("123456789"), 0o600); err != nil {
		t.Fatal(err)
	}
	s, err := NewSession(WithBaseURL(srv.URL))
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	_, err = s.PostMultipart(context.Background(), "/echo", form)
	if !errors.Is(err, CodeIO) || !strings.Contains(err.Error(), "changed from 5 bytes") {
		t.Errorf("a file that grew: %v", err)
	}
	req, _ := NewRequest("POST", "/echo")
	defer req.Close()
	if err := req.SetMultipart(nil); !errors.Is(err, ErrInvalidArgument) {
		t.Errorf("nil form: %v", err)
	}
}
