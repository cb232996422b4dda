//! TLS configuration: the builder behind `reqivo_tls_config_builder_*`, the
//! immutable, shared `TlsConfig` it makes, trust (system store with the
//! Mozilla set as fallback, extra PEM roots), client certificates, SPKI
//! pins, and the map from rustls errors to this layer's error kinds.
//!
//! Rule for this file: configuration and verification only. Driving a
//! handshake over a socket lives in `conn.rs`, beside the other waits.
use std::fmt;
use std::hash::{Hash, Hasher};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use base64::Engine;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{CryptoProvider, WebPkiSupportedAlgorithms};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::sign::CertifiedKey;
use rustls::{
    AlertDescription, CertificateError, ClientConfig, DigitallySignedStruct, OtherError,
    PeerIncompatible, RootCertStore, SignatureScheme,
};

use super::error::{NetError, NetErrorKind};

/// The lowest protocol version a configuration accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum TlsVersion {
    /// TLS 1.2 and 1.3 (1.3 preferred). The default.
    #[default]
    Tls12,
    /// TLS 1.3 only.
    Tls13,
}

impl TlsVersion {
    /// From the wire number (0x0303 = TLS 1.2, 0x0304 = TLS 1.3).
    pub fn from_wire(v: u32) -> Option<TlsVersion> {
        match v {
            0x0303 => Some(TlsVersion::Tls12),
            0x0304 => Some(TlsVersion::Tls13),
            _ => None,
        }
    }

    fn describe(self) -> &'static str {
        match self {
            TlsVersion::Tls12 => "TLS 1.2 and 1.3",
            TlsVersion::Tls13 => "TLS 1.3 only",
        }
    }
}

/// What the handshake of one connection settled on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TlsInfo {
    /// The handshake resumed an earlier session (no certificate exchange).
    pub resumed: bool,
    /// The protocol version's wire number (0x0303, 0x0304).
    pub version: u16,
}

fn invalid(message: String) -> NetError {
    NetError::new(NetErrorKind::InvalidConfig, message)
}

fn provider() -> Arc<CryptoProvider> {
    static PROVIDER: OnceLock<Arc<CryptoProvider>> = OnceLock::new();
    PROVIDER
        .get_or_init(|| Arc::new(rustls::crypto::ring::default_provider()))
        .clone()
}

/// The system's trust store, read once per process (reading it is slow);
/// the Mozilla set from webpki-roots when the system store is empty or
/// unreadable.
fn system_roots() -> &'static RootCertStore {
    static ROOTS: OnceLock<RootCertStore> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let mut store = RootCertStore::empty();
        let native = rustls_native_certs::load_native_certs();
        store.add_parsable_certificates(native.certs);
        if store.is_empty() {
            store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        store
    })
}

/// Collects the settings of a `TlsConfig`. Each setter validates its input
/// at once, so a bad item is reported by the call that gave it.
#[derive(Debug)]
pub struct TlsConfigBuilder {
    roots: Vec<CertificateDer<'static>>,
    system_roots: bool,
    client_auth: Option<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>)>,
    min_version: TlsVersion,
    pins: Vec<[u8; 32]>,
    verify: bool,
}

impl Default for TlsConfigBuilder {
    fn default() -> Self {
        TlsConfigBuilder {
            roots: Vec::new(),
            system_roots: true,
            client_auth: None,
            min_version: TlsVersion::Tls12,
            pins: Vec::new(),
            verify: true,
        }
    }
}

/// Every CERTIFICATE block of `pem`; `what` names the item in errors.
fn certs_from_pem(pem: &[u8], what: &str) -> Result<Vec<CertificateDer<'static>>, NetError> {
    let certs = CertificateDer::pem_slice_iter(pem)
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| invalid(format!("{}: invalid PEM: {}", what, e)))?;
    if certs.is_empty() {
        return Err(invalid(format!(
            "{}: no \"BEGIN CERTIFICATE\" block found",
            what
        )));
    }
    Ok(certs)
}

impl TlsConfigBuilder {
    pub fn new() -> Self {
        Self::default()
    }

    /// Trusts every certificate in `pem` (one or more CERTIFICATE blocks) as
    /// a root. Returns how many were added.
    pub fn add_root_pem(&mut self, pem: &[u8]) -> Result<usize, NetError> {
        let what = format!("root certificate PEM #{}", self.roots.len() + 1);
        let certs = certs_from_pem(pem, &what)?;
        // Checked here so a broken certificate is named now, not at build.
        let mut probe = RootCertStore::empty();
        for (i, c) in certs.iter().enumerate() {
            probe.add(c.clone()).map_err(|e| {
                invalid(format!(
                    "{}: certificate {} is not a usable root: {}",
                    what,
                    i + 1,
                    e
                ))
            })?;
        }
        let n = certs.len();
        self.roots.extend(certs);
        Ok(n)
    }

    /// Whether the system store (or its webpki-roots fallback) is trusted
    /// besides the added roots. Default true.
    pub fn use_system_roots(&mut self, on: bool) {
        self.system_roots = on;
    }

    /// The client certificate chain (leaf first) and its private key
    /// (PKCS#8, PKCS#1 or SEC1 PEM) presented when a server asks (mTLS).
    pub fn set_client_auth_pem(
        &mut self,
        chain_pem: &[u8],
        key_pem: &[u8],
    ) -> Result<(), NetError> {
        let chain = certs_from_pem(chain_pem, "client certificate chain")?;
        let key = PrivateKeyDer::from_pem_slice(key_pem).map_err(|e| {
            invalid(format!(
                "client private key: no usable PKCS#8, PKCS#1 or SEC1 PEM key: {}",
                e
            ))
        })?;
        CertifiedKey::from_der(chain.clone(), key.clone_key(), &provider()).map_err(|e| {
            invalid(format!(
                "client private key: unsupported or not the key of the certificate: {}",
                e
            ))
        })?;
        self.client_auth = Some((chain, key));
        Ok(())
    }

    pub fn set_min_version(&mut self, v: TlsVersion) {
        self.min_version = v;
    }

    /// Adds a pin: the base64 SHA-256 of a server's SubjectPublicKeyInfo,
    /// optionally prefixed "sha256//" (curl's form). With pins set, the
    /// server's leaf key must match one of them.
    pub fn add_spki_pin_sha256(&mut self, pin: &str) -> Result<(), NetError> {
        let what = format!("SPKI pin #{} {:?}", self.pins.len() + 1, pin);
        let text = pin.trim();
        let text = text.strip_prefix("sha256//").unwrap_or(text);
        let raw = base64::engine::general_purpose::STANDARD
            .decode(text)
            .map_err(|e| invalid(format!("{}: not base64: {}", what, e)))?;
        let hash: [u8; 32] = raw.try_into().map_err(|r: Vec<u8>| {
            invalid(format!(
                "{}: {} bytes, a SHA-256 digest has 32",
                what,
                r.len()
            ))
        })?;
        self.pins.push(hash);
        Ok(())
    }

    /// Accepts any server certificate (pins, if any, are still checked).
    /// For tests against self-signed servers only.
    pub fn dangerous_disable_verification(&mut self) {
        self.verify = false;
    }

    pub fn build(self) -> Result<TlsConfig, NetError> {
        let provider = provider();
        let inner = if self.verify {
            let mut roots = if self.system_roots {
                system_roots().clone()
            } else {
                RootCertStore::empty()
            };
            roots.add_parsable_certificates(self.roots);
            if roots.is_empty() {
                return Err(invalid(
                    "no trusted roots: system roots are off and no root PEM was added".into(),
                ));
            }
            let v = WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                .build()
                .map_err(|e| invalid(format!("trusted roots: {}", e)))?;
            Some(v)
        } else {
            None
        };
        let verifier = Arc::new(Verifier {
            inner,
            pins: self.pins,
            algorithms: provider.signature_verification_algorithms,
        });
        let versions: &[&'static rustls::SupportedProtocolVersion] = match self.min_version {
            TlsVersion::Tls12 => &[&rustls::version::TLS13, &rustls::version::TLS12],
            TlsVersion::Tls13 => &[&rustls::version::TLS13],
        };
        let builder = ClientConfig::builder_with_provider(provider)
            .with_protocol_versions(versions)
            .map_err(|e| invalid(format!("protocol versions: {}", e)))?
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let mut config = match self.client_auth {
            Some((chain, key)) => builder
                .with_client_auth_cert(chain, key)
                .map_err(|e| invalid(format!("client certificate: {}", e)))?,
            None => builder.with_no_client_auth(),
        };
        // HTTP/1.1 is all this client speaks (RFC 7301).
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        // The default in-memory session cache stays: new connections to a
        // host made under this config resume earlier sessions.
        Ok(TlsConfig {
            id: next_id(),
            client: Arc::new(config),
            min_version: self.min_version,
        })
    }
}

fn next_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(1);
    NEXT.fetch_add(1, Ordering::Relaxed)
}

/// An immutable TLS configuration, shared by reference count. Its identity
/// (not its contents) keys pooled connections: a connection made under one
/// config is never handed to a request made under another.
pub struct TlsConfig {
    id: u64,
    client: Arc<ClientConfig>,
    min_version: TlsVersion,
}

impl TlsConfig {
    /// The process-wide default (system roots, TLS 1.2+, no client
    /// certificate), built on first use and shared by every session that
    /// sets none, so they also share one session-resumption cache.
    pub fn shared_default() -> Arc<TlsConfig> {
        static DEFAULT: OnceLock<Arc<TlsConfig>> = OnceLock::new();
        DEFAULT
            .get_or_init(|| {
                Arc::new(
                    TlsConfigBuilder::default()
                        .build()
                        .expect("the default TLS config always has roots"),
                )
            })
            .clone()
    }

    pub(crate) fn client_config(&self) -> Arc<ClientConfig> {
        self.client.clone()
    }

    pub(crate) fn min_version(&self) -> TlsVersion {
        self.min_version
    }

    pub fn id(&self) -> u64 {
        self.id
    }
}

impl fmt::Debug for TlsConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TlsConfig")
            .field("id", &self.id)
            .field("min_version", &self.min_version)
            .finish_non_exhaustive()
    }
}

impl PartialEq for TlsConfig {
    fn eq(&self, other: &Self) -> bool {
        self.id == other.id
    }
}

impl Eq for TlsConfig {}

impl Hash for TlsConfig {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.id.hash(state);
    }
}

/// The leaf key matched none of the pins; carried inside rustls's error so
/// the handshake error can be told apart from other certificate failures.
#[derive(Debug)]
struct PinMismatch(String);

impl fmt::Display for PinMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PinMismatch {}

/// WebPKI verification (unless disabled), then the SPKI pins (if any).
#[derive(Debug)]
struct Verifier {
    inner: Option<Arc<WebPkiServerVerifier>>,
    pins: Vec<[u8; 32]>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Verifier {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(v) = &self.inner {
            v.verify_server_cert(end_entity, intermediates, server_name, ocsp_response, now)?;
        }
        if !self.pins.is_empty() {
            let spki = ParsedCertificate::try_from(end_entity)?.subject_public_key_info();
            let got = ring::digest::digest(&ring::digest::SHA256, spki.as_ref());
            if !self.pins.iter().any(|p| p[..] == *got.as_ref()) {
                let b64 = base64::engine::general_purpose::STANDARD.encode(got.as_ref());
                return Err(rustls::Error::InvalidCertificate(CertificateError::Other(
                    OtherError(Arc::new(PinMismatch(format!(
                        "server key sha256//{} matches none of the {} pinned keys",
                        b64,
                        self.pins.len()
                    )))),
                )));
            }
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

/// The server name to verify and send as SNI (none is sent for an IP):
/// `host` as in a URL, IPv6 literals in brackets.
pub(crate) fn server_name(host: &str) -> Result<ServerName<'static>, NetError> {
    let bare = host
        .strip_prefix('[')
        .and_then(|h| h.strip_suffix(']'))
        .unwrap_or(host);
    ServerName::try_from(bare.to_string()).map_err(|e| {
        NetError::new(
            NetErrorKind::TlsHandshake,
            format!("{:?} is not a valid TLS server name: {}", host, e),
        )
    })
}

/// What the message of a connection's TLS error needs to know of it.
#[derive(Debug, Clone, Copy)]
pub(crate) struct TlsHints {
    /// The oldest version this client allows.
    pub min: TlsVersion,
    /// ALPN offered `h2` alone: the session requires HTTP/2.
    pub h2_only: bool,
}

/// Maps a rustls error seen talking to `peer` to this layer's error, with a
/// message naming the cause.
pub(crate) fn map_error(e: &rustls::Error, peer: &str, hints: TlsHints) -> NetError {
    use NetErrorKind::*;
    let min = hints.min;
    if hints.h2_only
        && matches!(
            e,
            rustls::Error::AlertReceived(AlertDescription::NoApplicationProtocol)
        )
    {
        // Not a TLS failure: the server said it does not speak HTTP/2.
        return NetError::new(
            Http2Required,
            format!(
                "{} refused HTTP/2: it answered the ALPN offer of h2 with alert \
                 no_application_protocol, and the session requires HTTP/2",
                peer
            ),
        );
    }
    let (kind, cause) = match e {
        rustls::Error::InvalidCertificate(c) => cert_error(c),
        rustls::Error::AlertReceived(a) => {
            let hint = match a {
                AlertDescription::ProtocolVersion => format!(
                    "; the server refused the protocol version (this client allows {})",
                    min.describe()
                ),
                AlertDescription::CertificateRequired => {
                    "; the server requires a client certificate".to_string()
                }
                AlertDescription::BadCertificate
                | AlertDescription::UnknownCA
                | AlertDescription::UnsupportedCertificate
                | AlertDescription::CertificateUnknown
                | AlertDescription::CertificateRevoked
                | AlertDescription::CertificateExpired => {
                    "; the server rejected the client certificate".to_string()
                }
                AlertDescription::NoApplicationProtocol => {
                    "; the server speaks none of the protocols offered by ALPN (as the \
                     session's HTTP version says)"
                        .to_string()
                }
                AlertDescription::HandshakeFailure => {
                    "; no common protocol parameters, or a required client certificate is missing"
                        .to_string()
                }
                _ => String::new(),
            };
            (
                TlsHandshake,
                format!("server sent alert {}{}", alert_name(a), hint),
            )
        }
        rustls::Error::PeerIncompatible(
            p @ (PeerIncompatible::ServerDoesNotSupportTls12Or13
            | PeerIncompatible::ServerTlsVersionIsDisabledByOurConfig
            | PeerIncompatible::SupportedVersionsExtensionRequired
            | PeerIncompatible::Tls12NotOffered
            | PeerIncompatible::Tls12NotOfferedOrEnabled
            | PeerIncompatible::Tls13RequiredForQuic),
        ) => (
            TlsHandshake,
            format!(
                "protocol version refused: {:?} (this client allows {})",
                p,
                min.describe()
            ),
        ),
        other => (TlsHandshake, format!("handshake failed: {}", other)),
    };
    NetError::new(kind, format!("TLS with {}: {}", peer, cause))
}

fn cert_error(c: &CertificateError) -> (NetErrorKind, String) {
    use NetErrorKind::*;
    match c {
        CertificateError::UnknownIssuer => (
            TlsCertUntrusted,
            "server certificate is not trusted: unknown issuer (no trusted root signed it)".into(),
        ),
        CertificateError::ExpiredContext { time, not_after } => (
            TlsCertUntrusted,
            format!(
                "server certificate expired: valid until {}, now {}",
                utc(not_after),
                utc(time)
            ),
        ),
        CertificateError::Expired => (TlsCertUntrusted, "server certificate expired".into()),
        CertificateError::NotValidYetContext { time, not_before } => (
            TlsCertUntrusted,
            format!(
                "server certificate not valid yet: valid from {}, now {}",
                utc(not_before),
                utc(time)
            ),
        ),
        CertificateError::NotValidYet => {
            (TlsCertUntrusted, "server certificate not valid yet".into())
        }
        CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. } => (
            TlsHostname,
            format!(
                "hostname mismatch: server certificate is not valid for the host ({})",
                rustls::Error::InvalidCertificate(c.clone())
            ),
        ),
        CertificateError::Revoked => (
            TlsCertUntrusted,
            "server certificate has been revoked".into(),
        ),
        CertificateError::Other(OtherError(inner)) if inner.is::<PinMismatch>() => {
            (TlsPinMismatch, format!("pin mismatch: {}", inner))
        }
        other => (
            TlsCertUntrusted,
            format!(
                "server certificate rejected: {}",
                rustls::Error::InvalidCertificate(other.clone())
            ),
        ),
    }
}

fn alert_name(a: &AlertDescription) -> String {
    // "CertificateRequired" -> "certificate_required", "UnknownCA" ->
    // "unknown_ca", as RFC 8446 §6 names them.
    let mut out = String::new();
    let mut prev_lower = false;
    for ch in format!("{:?}", a).chars() {
        if ch.is_ascii_uppercase() && prev_lower {
            out.push('_');
        }
        prev_lower = ch.is_ascii_lowercase();
        out.push(ch.to_ascii_lowercase());
    }
    out
}

/// "2001-01-01 00:00:00 UTC" (civil-from-days, H. Hinnant's algorithm).
fn utc(t: &UnixTime) -> String {
    let secs = t.as_secs();
    let (days, rem) = ((secs / 86_400) as i64, secs % 86_400);
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z.rem_euclid(146_097);
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02}:{:02} UTC",
        year,
        month,
        day,
        rem / 3600,
        rem / 60 % 60,
        rem % 60
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tls_pin_rejects_bad_base64_and_wrong_length() {
        let mut b = TlsConfigBuilder::new();
        let e = b.add_spki_pin_sha256("not*base64").unwrap_err();
        assert_eq!(e.kind, NetErrorKind::InvalidConfig);
        assert!(e.message.contains("SPKI pin #1"), "{}", e.message);
        let e = b.add_spki_pin_sha256("AAAA").unwrap_err();
        assert!(e.message.contains("3 bytes"), "{}", e.message);
        let ok = base64::engine::general_purpose::STANDARD.encode([7u8; 32]);
        b.add_spki_pin_sha256(&format!("sha256//{}", ok)).unwrap();
        b.add_spki_pin_sha256(&ok).unwrap();
        assert_eq!(b.pins.len(), 2);
    }

    #[test]
    fn tls_root_pem_without_certificate_is_named() {
        let mut b = TlsConfigBuilder::new();
        let e = b.add_root_pem(b"hello").unwrap_err();
        assert_eq!(e.kind, NetErrorKind::InvalidConfig);
        assert!(
            e.message.contains("root certificate PEM #1"),
            "{}",
            e.message
        );
        let bad = b"-----BEGIN CERTIFICATE-----\n!!!!\n-----END CERTIFICATE-----\n";
        let e = b.add_root_pem(bad).unwrap_err();
        assert!(e.message.contains("invalid PEM"), "{}", e.message);
    }

    #[test]
    fn tls_build_without_any_root_is_invalid() {
        let mut b = TlsConfigBuilder::new();
        b.use_system_roots(false);
        let e = b.build().unwrap_err();
        assert_eq!(e.kind, NetErrorKind::InvalidConfig);
        let mut b = TlsConfigBuilder::new();
        b.use_system_roots(false);
        b.dangerous_disable_verification();
        assert!(b.build().is_ok());
    }

    #[test]
    fn tls_default_config_is_built_once() {
        let a = TlsConfig::shared_default();
        let b = TlsConfig::shared_default();
        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(*a, *b);
        let c = TlsConfigBuilder::new().build().unwrap();
        assert_ne!(*a, c);
    }

    #[test]
    fn tls_alert_names_follow_the_rfc() {
        assert_eq!(
            alert_name(&AlertDescription::CertificateRequired),
            "certificate_required"
        );
        assert_eq!(
            alert_name(&AlertDescription::ProtocolVersion),
            "protocol_version"
        );
        assert_eq!(alert_name(&AlertDescription::UnknownCA), "unknown_ca");
    }

    #[test]
    fn tls_times_print_as_utc_dates() {
        assert_eq!(
            utc(&UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                978_307_200
            ))),
            "2001-01-01 00:00:00 UTC"
        );
        assert_eq!(
            utc(&UnixTime::since_unix_epoch(std::time::Duration::from_secs(
                1_709_210_096
            ))),
            "2024-02-29 12:34:56 UTC"
        );
    }
}
