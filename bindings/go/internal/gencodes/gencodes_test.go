package gencodes

import (
	"strings"
	"testing"
)

const header = `
/**
 * Result codes.
 */
enum reqivo_code
 {
  /**
   * Success.
   */
  REQIVO_OK = 0,
  /**
   * The URL could not be parsed.
   */
  REQIVO_ERR_INVALID_URL = 1002,
  /**
   * The TLS handshake failed.
   */
  REQIVO_ERR_TLS_HANDSHAKE = 2101,
  /**
   * The connection closed inside a response.
   */
  REQIVO_ERR_UNEXPECTED_EOF = 4008,
};

/**
 * The class of a result code: the base of its range: 1000 usage,
 * 2000 network, 2100 TLS, 4000 protocol, 7000 WebSocket.
 *
 * Since: 0.1.0
 */
uint32_t reqivo_code_class(uint32_t code);
`

func TestParse(t *testing.T) {
	tab, err := Parse([]byte(header))
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, c := range tab.Codes {
		got = append(got, c.GoName+"="+c.CName+"/"+itoa(c.Class)+"/"+c.Doc)
	}
	want := []string{
		"CodeOK=REQIVO_OK/0/Success.",
		"CodeInvalidURL=REQIVO_ERR_INVALID_URL/1000/The URL could not be parsed.",
		"CodeTLSHandshake=REQIVO_ERR_TLS_HANDSHAKE/2100/The TLS handshake failed.",
		"CodeUnexpectedEOF=REQIVO_ERR_UNEXPECTED_EOF/4000/The connection closed inside a response.",
	}
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("codes:\n%s\nwant:\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	var classes []string
	for _, c := range tab.Classes {
		classes = append(classes, c.GoName+"="+itoa(c.Base)+"/"+c.Desc)
	}
	if s := strings.Join(classes, ","); s != "ClassUsage=1000/usage,ClassNetwork=2000/network,ClassTLS=2100/TLS,ClassProtocol=4000/protocol,ClassWebSocket=7000/WebSocket" {
		t.Errorf("classes %s", s)
	}
	if _, err := Generate(tab, "reqivo.h"); err != nil {
		t.Fatal(err)
	}
}

func TestParseRejects(t *testing.T) {
	for name, h := range map[string]string{
		"no classes":  strings.Replace(header, "1000 usage,\n * 2000 network, 2100 TLS, 4000 protocol, 7000 WebSocket.", "a number.", 1),
		"no codes":    header[strings.Index(header, "/**\n * The class"):],
		"duplicate":   strings.Replace(header, "= 4008", "= 2101", 1),
		"class twice": strings.Replace(header, "7000 WebSocket", "1000 WebSocket", 1),
	} {
		if _, err := Parse([]byte(h)); err == nil {
			t.Errorf("%s: parsed without error", name)
		}
	}
}

func itoa(v uint32) string {
	var b []byte
	for {
		b = append([]byte{byte('0' + v%10)}, b...)
		v /= 10
		if v == 0 {
			return string(b)
		}
	}
}
