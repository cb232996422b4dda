//! TLS configuration: a builder that collects trust, client identity,
//! version and pins, and the immutable, reference-counted config it makes.
use std::ffi::c_char;
use std::sync::Arc;

use super::boundary::{bytes_in, str_in};
use super::code::reqivo_code;
use super::error::{null_argument, reqivo_error, Fail};
use super::handle::{
    free_arc, free_box, take_box, to_arc_ptr, to_boxed_ptr, Castable, OwnedArc, OwnedBox,
};
use crate::client::{ClientError, TlsConfig, TlsConfigBuilder, TlsVersion};

/// Collects TLS settings; `reqivo_tls_config_builder_build` turns it into a
/// `reqivo_tls_config`. Used by one thread at a time.
pub struct reqivo_tls_config_builder {
    _private: [u8; 0],
}

impl Castable for reqivo_tls_config_builder {
    type Ownership = OwnedBox;
    type RustType = TlsConfigBuilder;
}

/// An immutable TLS configuration: trusted roots, client certificate,
/// minimum version, pins, and a cache of sessions to resume. Thread-safe and
/// reference-counted: a session keeps it alive after `reqivo_tls_config_free`.
pub struct reqivo_tls_config {
    _private: [u8; 0],
}

impl Castable for reqivo_tls_config {
    type Ownership = OwnedArc;
    type RustType = TlsConfig;
}

/// TLS 1.2, as `reqivo_tls_config_builder_set_min_version` takes it (the wire number).
pub const REQIVO_TLS_VERSION_1_2: u32 = 0x0303;
/// TLS 1.3, as `reqivo_tls_config_builder_set_min_version` takes it (the wire number).
pub const REQIVO_TLS_VERSION_1_3: u32 = 0x0304;

const OK: u32 = reqivo_code::REQIVO_OK as u32;

/// Creates a TLS config builder with the defaults: the system's trusted
/// roots (the Mozilla set when the system has none), TLS 1.2 minimum with
/// 1.3 preferred, no client certificate, no pins, full verification.
///
/// Ownership: the caller owns the builder; `reqivo_tls_config_builder_build`
/// consumes it, `reqivo_tls_config_builder_free` discards it.
/// NULL: no pointer arguments.
/// Thread safety: a builder is used by one thread at a time.
/// Returns: the builder (NULL only if memory ran out).
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_tls_config_builder_new() -> *mut reqivo_tls_config_builder {
    ffi_boundary!({ to_boxed_ptr::<reqivo_tls_config_builder>(TlsConfigBuilder::new()) })
}

/// Discards a builder that will not be built.
///
/// Ownership: the builder ends; do not use `b` afterwards.
/// NULL: ignored.
/// Thread safety: no other call may be using `b`.
/// Returns: nothing.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_tls_config_builder_free(b: *mut reqivo_tls_config_builder) {
    // SAFETY: NULL or the caller's builder.
    ffi_boundary!({ unsafe { free_box(b) } })
}

/// Trusts the certificates in `pem` (one or more "BEGIN CERTIFICATE"
/// blocks) as roots, besides the system's unless
/// `reqivo_tls_config_builder_use_system_roots(b, false)`.
///
/// Ownership: `pem` is copied.
/// NULL: `b` or `pem` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: a builder is used by one thread at a time.
/// Returns: 0, or `REQIVO_ERR_INVALID_CONFIG` naming the PEM item (no
/// certificate, bad encoding, unusable root); nothing is added then.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_tls_config_builder_add_root_pem(
    b: *mut reqivo_tls_config_builder,
    pem: *const u8,
    len: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let b = borrow!(mut b, err);
        require!(pem, err);
        // SAFETY: `pem` holds `len` bytes.
        let pem = try_or_fail!(unsafe { bytes_in(pem, len, "pem") }, err);
        try_or_fail!(b.add_root_pem(pem).map_err(ClientError::from), err);
        OK
    })
}

/// Whether the system's trusted roots (or the Mozilla set when the system
/// has none) are trusted besides the added ones. Default true; false trusts
/// only roots added with `reqivo_tls_config_builder_add_root_pem`.
///
/// Ownership: nothing is allocated.
/// NULL: `b` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: a builder is used by one thread at a time.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_tls_config_builder_use_system_roots(
    b: *mut reqivo_tls_config_builder,
    on: bool,
) -> u32 {
    ffi_boundary!({
        borrow!(mut b).use_system_roots(on);
        OK
    })
}

/// Sets the client certificate presented when a server asks for one
/// (mutual TLS): `cert_pem` holds the chain, leaf first; `key_pem` its
/// private key (RSA, ECDSA or Ed25519, as PKCS#8, PKCS#1 or SEC1 PEM).
/// Replaces an earlier client certificate.
///
/// Ownership: both PEMs are copied.
/// NULL: `b`, `cert_pem` or `key_pem` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: a builder is used by one thread at a time.
/// Returns: 0, or `REQIVO_ERR_INVALID_CONFIG` naming the item (no
/// certificate, no usable key, key not matching the certificate).
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_tls_config_builder_set_client_auth_pem(
    b: *mut reqivo_tls_config_builder,
    cert_pem: *const u8,
    cert_len: usize,
    key_pem: *const u8,
    key_len: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let b = borrow!(mut b, err);
        require!(cert_pem, err);
        require!(key_pem, err);
        // SAFETY: each PEM holds its length in bytes.
        let (cert, key) = unsafe {
            (
                try_or_fail!(bytes_in(cert_pem, cert_len, "cert_pem"), err),
                try_or_fail!(bytes_in(key_pem, key_len, "key_pem"), err),
            )
        };
        try_or_fail!(
            b.set_client_auth_pem(cert, key).map_err(ClientError::from),
            err
        );
        OK
    })
}

/// Sets the lowest TLS version accepted: `REQIVO_TLS_VERSION_1_2` (the
/// default) or `REQIVO_TLS_VERSION_1_3`. TLS 1.3 is always preferred.
///
/// Ownership: nothing is allocated.
/// NULL: `b` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: a builder is used by one thread at a time.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT` for another value.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_tls_config_builder_set_min_version(
    b: *mut reqivo_tls_config_builder,
    version: u32,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let b = borrow!(mut b, err);
        let v = try_or_fail!(
            TlsVersion::from_wire(version).ok_or_else(|| Fail::new(
                reqivo_code::REQIVO_ERR_INVALID_ARGUMENT,
                format!(
                    "TLS version {:#06x} is not supported: use REQIVO_TLS_VERSION_1_2 or _1_3",
                    version
                ),
            )),
            err
        );
        b.set_min_version(v);
        OK
    })
}

/// Pins a server key: `pin` is the base64 SHA-256 of a SubjectPublicKeyInfo
/// (DER), optionally prefixed "sha256//" as curl writes it. With pins set,
/// the server's leaf key must match one of them (checked after the usual
/// verification, or alone with verification disabled); otherwise the
/// handshake fails with `REQIVO_ERR_TLS_PIN_MISMATCH`. Get a pin with
/// `openssl x509 -pubkey -noout | openssl pkey -pubin -outform der |
/// openssl dgst -sha256 -binary | base64`.
///
/// Ownership: `pin` is copied.
/// NULL: `b` or `pin` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: a builder is used by one thread at a time.
/// Returns: 0, or `REQIVO_ERR_INVALID_CONFIG` naming the pin (not base64,
/// not 32 bytes).
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_tls_config_builder_add_spki_pin_sha256(
    b: *mut reqivo_tls_config_builder,
    pin: *const c_char,
    len: usize,
    err: *mut reqivo_error,
) -> u32 {
    ffi_boundary!(err, {
        let b = borrow!(mut b, err);
        require!(pin, err);
        // SAFETY: `pin` holds `len` bytes.
        let pin = try_or_fail!(unsafe { str_in(pin, len, "pin") }, err);
        try_or_fail!(b.add_spki_pin_sha256(pin).map_err(ClientError::from), err);
        OK
    })
}

/// Accepts any server certificate, trusted or not, for any name (pins, if
/// set, are still checked). Only for tests against self-signed servers: it
/// makes the connection open to interception.
///
/// Ownership: nothing is allocated.
/// NULL: `b` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: a builder is used by one thread at a time.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_tls_config_builder_dangerous_disable_verification(
    b: *mut reqivo_tls_config_builder,
) -> u32 {
    ffi_boundary!({
        borrow!(mut b).dangerous_disable_verification();
        OK
    })
}

/// Makes the immutable config from the builder's settings. Always consumes
/// the builder, on failure too.
///
/// Ownership: takes ownership of `b` (do not use or free it afterwards);
/// the caller owns the config and releases it with `reqivo_tls_config_free`.
/// NULL: `b` NULL is `REQIVO_ERR_INVALID_ARGUMENT`; `err` may be NULL.
/// Thread safety: a builder is used by one thread at a time; the config may
/// be used from any number of threads.
/// Returns: the config, or NULL with `err` filled: `REQIVO_ERR_INVALID_CONFIG`
/// when no root is trusted (system roots off and none added).
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_tls_config_builder_build(
    b: *mut reqivo_tls_config_builder,
    err: *mut reqivo_error,
) -> *const reqivo_tls_config {
    ffi_boundary!(err, {
        // SAFETY: NULL or the caller's builder, given up by this call.
        let Some(builder) = (unsafe { take_box(b) }) else {
            return null_argument(err, "b");
        };
        let config = try_or_fail!(builder.build().map_err(ClientError::from), err);
        to_arc_ptr::<reqivo_tls_config>(Arc::new(config))
    })
}

/// Releases the caller's reference to a config. Sessions using it keep
/// their own.
///
/// Ownership: the caller's reference ends; do not use `c` afterwards.
/// NULL: ignored.
/// Thread safety: do not free a config another thread is passing to a call.
/// Returns: nothing.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_tls_config_free(c: *const reqivo_tls_config) {
    // SAFETY: NULL or the caller's reference from reqivo_tls_config_builder_build.
    ffi_boundary!({ unsafe { free_arc(c) } })
}
