//! HTTP/2 connections: the socket as h2's I/O, and the connection every
//! stream to an origin shares, driven by whichever thread needs progress
//! (docs/DESIGN.md §10).
mod conn;
mod frames;
mod io;

pub(crate) use conn::protocol_error;
pub use conn::H2Conn;

/// Which HTTP versions a session speaks (`reqivo_session_set_http_version`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash)]
pub enum HttpVersion {
    /// HTTP/1.1 for now; offering `h2` by ALPN becomes the default once
    /// HTTP/2 works through the multi as well.
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
            HttpVersion::Default | HttpVersion::Http11 => &[b"http/1.1"],
            HttpVersion::Http2 => &[b"h2"],
        }
    }

    /// The setting as pool keys hold it: settings whose connections are
    /// alike share them (the default speaks HTTP/1.1 for now, so its
    /// connections are HTTP/1.1-only ones, shared with the multi's).
    pub fn keyed(self) -> HttpVersion {
        match self {
            HttpVersion::Default => HttpVersion::Http11,
            v => v,
        }
    }

    /// Whether connections under this setting may speak HTTP/2.
    pub fn may_use_h2(self) -> bool {
        self == HttpVersion::Http2
    }

    /// Whether a connection must speak HTTP/2 (prior knowledge on
    /// cleartext, an error when TLS chose otherwise).
    pub fn requires_h2(self) -> bool {
        self == HttpVersion::Http2
    }
}
