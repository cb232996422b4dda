//! HTTP/2 connections: the socket as h2's I/O, and the connection every
//! stream to an origin shares, driven by whichever thread needs progress
//! (docs/DESIGN.md §10).
mod conn;
mod frames;
mod io;

pub(crate) use conn::protocol_error;
pub use conn::H2Conn;

use super::conn::Conn;
use super::error::{NetError, NetErrorKind};

/// Which HTTP versions a session speaks (`reqivo_session_set_http_version`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum HttpVersion {
    /// HTTP/2 where TLS negotiates it (`h2` offered first by ALPN, then
    /// `http/1.1`), HTTP/1.1 otherwise and on cleartext.
    #[default]
    Default,
    /// HTTP/1.1 only.
    Http11,
    /// HTTP/2 only: `h2` by ALPN over TLS (a server that chooses otherwise
    /// is an error), prior knowledge over cleartext.
    Http2,
}

impl HttpVersion {
    /// The protocols a TLS handshake offers, by preference.
    pub fn alpn(self) -> &'static [&'static [u8]] {
        match self {
            HttpVersion::Default => &[b"h2", b"http/1.1"],
            HttpVersion::Http11 => &[b"http/1.1"],
            HttpVersion::Http2 => &[b"h2"],
        }
    }

    /// The setting as pool keys hold it, for a connection with TLS or
    /// without: settings whose connections are alike share them. On
    /// cleartext the default speaks HTTP/1.1 only, so its connections are
    /// HTTP/1.1-only ones.
    pub fn keyed(self, tls: bool) -> HttpVersion {
        match self {
            HttpVersion::Default if !tls => HttpVersion::Http11,
            v => v,
        }
    }

    /// Whether connections under this setting may speak HTTP/2 (with TLS,
    /// as keyed).
    pub fn may_use_h2(self) -> bool {
        self != HttpVersion::Http11
    }

    /// Whether a connection must speak HTTP/2 (prior knowledge on
    /// cleartext, an error when TLS chose otherwise).
    pub fn requires_h2(self) -> bool {
        self == HttpVersion::Http2
    }
}

/// Whether a connection just set up speaks HTTP/2: as its TLS handshake
/// chose, or by prior knowledge on cleartext when the setting requires
/// it. A setting that requires HTTP/2 fails when TLS chose otherwise.
pub fn speaks_h2(conn: &Conn, version: HttpVersion) -> Result<bool, NetError> {
    let h2 = match conn.tls_info() {
        Some(_) => conn.negotiated_h2(),
        None => version.requires_h2(),
    };
    if !h2 && version.requires_h2() {
        return Err(NetError::new(
            NetErrorKind::Http2Required,
            format!(
                "{} did not choose HTTP/2 in TLS negotiation, and the session requires it",
                conn.peer()
            ),
        ));
    }
    Ok(h2)
}
