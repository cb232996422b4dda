package reqivo

// #include <reqivo.h>
import "C"

import (
	"crypto/tls"
	"fmt"
	"slices"
)

// TLSConfig configures https (the library uses rustls). The zero value is
// the library's default: the system's trusted roots (the Mozilla set when
// the system has none), TLS 1.2 minimum with 1.3 preferred, no client
// certificate, no pins, full verification. Give it to WithTLS.
type TLSConfig struct {
	// RootCAsPEM are trusted besides the system's roots (or alone when
	// UseSystemRoots is false); each item holds one or more PEM
	// "CERTIFICATE" blocks, such as a test server's certificate.
	RootCAsPEM [][]byte
	// UseSystemRoots says whether the system's roots are trusted; nil
	// means true. With false and no RootCAsPEM nothing is trusted, which
	// is an error.
	UseSystemRoots *bool
	// ClientCertPEM (the chain, leaf first) and ClientKeyPEM (its RSA,
	// ECDSA or Ed25519 key as PKCS#8, PKCS#1 or SEC1 PEM) are presented
	// when a server asks for a client certificate (mutual TLS). Give both
	// or neither.
	ClientCertPEM []byte
	ClientKeyPEM  []byte
	// MinVersion is the lowest version accepted: tls.VersionTLS12 (the
	// default, also for 0) or tls.VersionTLS13.
	MinVersion uint16
	// PinnedSHA256 pins server keys: each is the base64 SHA-256 of a
	// SubjectPublicKeyInfo, optionally prefixed "sha256//" as curl writes
	// it. With pins, the server's leaf key must match one of them
	// (ErrTLSPinMismatch otherwise).
	PinnedSHA256 []string
	// InsecureSkipVerify accepts any server certificate for any name (pins
	// are still checked). Only for tests: it allows interception.
	InsecureSkipVerify bool
}

// clone copies the slices, so a caller changing its TLSConfig afterwards
// cannot change the session's.
func (c TLSConfig) clone() *TLSConfig {
	out := c
	out.RootCAsPEM = make([][]byte, len(c.RootCAsPEM))
	for i, pem := range c.RootCAsPEM {
		out.RootCAsPEM[i] = slices.Clone(pem)
	}
	if c.UseSystemRoots != nil {
		v := *c.UseSystemRoots
		out.UseSystemRoots = &v
	}
	out.ClientCertPEM = slices.Clone(c.ClientCertPEM)
	out.ClientKeyPEM = slices.Clone(c.ClientKeyPEM)
	out.PinnedSHA256 = slices.Clone(c.PinnedSHA256)
	return &out
}

// build makes the library's immutable config; the caller frees it with
// reqivo_tls_config_free (a session given it keeps its own reference).
// The builder and config are local C objects no Go handle owns, so these
// calls need no runtime.KeepAlive.
func (c *TLSConfig) build() (*C.reqivo_tls_config, error) {
	if (len(c.ClientCertPEM) == 0) != (len(c.ClientKeyPEM) == 0) {
		return nil, newError(CodeInvalidConfig, "TLSConfig: ClientCertPEM and ClientKeyPEM go together")
	}
	switch c.MinVersion {
	case 0, tls.VersionTLS12, tls.VersionTLS13:
	default:
		return nil, newError(CodeInvalidConfig, fmt.Sprintf(
			"TLSConfig.MinVersion %#04x: want tls.VersionTLS12 or tls.VersionTLS13", c.MinVersion))
	}
	b := C.reqivo_tls_config_builder_new()
	if b == nil {
		return nil, newError(CodeInvalidConfig, "reqivo_tls_config_builder_new failed: out of memory")
	}
	built := false
	defer func() {
		if !built {
			C.reqivo_tls_config_builder_free(b)
		}
	}()
	var cerr C.reqivo_error
	for i, pem := range c.RootCAsPEM {
		d, dlen := cbytes(pem)
		if d == nil {
			return nil, newError(CodeInvalidConfig, fmt.Sprintf("TLSConfig.RootCAsPEM[%d] is empty", i))
		}
		if err := codeError(C.reqivo_tls_config_builder_add_root_pem(b, d, dlen, &cerr), &cerr); err != nil {
			return nil, err
		}
	}
	if c.UseSystemRoots != nil {
		if err := codeError(C.reqivo_tls_config_builder_use_system_roots(b, C.bool(*c.UseSystemRoots)), nil); err != nil {
			return nil, err
		}
	}
	if len(c.ClientCertPEM) > 0 {
		cp, clen := cbytes(c.ClientCertPEM)
		kp, klen := cbytes(c.ClientKeyPEM)
		if err := codeError(C.reqivo_tls_config_builder_set_client_auth_pem(b, cp, clen, kp, klen, &cerr), &cerr); err != nil {
			return nil, err
		}
	}
	if c.MinVersion != 0 {
		if err := codeError(C.reqivo_tls_config_builder_set_min_version(b, C.uint32_t(c.MinVersion), &cerr), &cerr); err != nil {
			return nil, err
		}
	}
	for _, pin := range c.PinnedSHA256 {
		p, plen := cstr(pin)
		if err := codeError(C.reqivo_tls_config_builder_add_spki_pin_sha256(b, p, plen, &cerr), &cerr); err != nil {
			return nil, err
		}
	}
	if c.InsecureSkipVerify {
		if err := codeError(C.reqivo_tls_config_builder_dangerous_disable_verification(b), nil); err != nil {
			return nil, err
		}
	}
	built = true // _build consumes the builder, on failure too
	cfg := C.reqivo_tls_config_builder_build(b, &cerr)
	if cfg == nil {
		return nil, errorFromC(&cerr)
	}
	return cfg, nil
}
