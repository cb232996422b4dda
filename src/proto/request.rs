//! Request heads: validation of what the caller gives us, and encoding.
//!
//! Everything the caller supplies is checked here before a byte is written,
//! so a CR/LF in a header can never split a request (RFC 9110 §5.5).
use super::error::{ProtoError, ProtoErrorKind};

/// RFC 9110 §5.6.2: tchar = "!" / "#" / "$" / "%" / "&" / "'" / "*" / "+" /
/// "-" / "." / "^" / "_" / "`" / "|" / "~" / DIGIT / ALPHA
/// tchar (RFC 9110 §5.6.2) as a table: every request head checks each
/// name byte, so one lookup per byte beats a chain of comparisons.
const TCHAR: [bool; 256] = {
    let mut t = [false; 256];
    let mut b = 0;
    while b < 256 {
        t[b] = (b as u8).is_ascii_alphanumeric();
        b += 1;
    }
    let symbols = b"!#$%&'*+-.^_`|~";
    let mut i = 0;
    while i < symbols.len() {
        t[symbols[i] as usize] = true;
        i += 1;
    }
    t
};

pub(super) fn is_tchar(b: u8) -> bool {
    TCHAR[b as usize]
}

fn is_token(s: &[u8]) -> bool {
    // `fold`, not `all`: no early exit, so the loop vectorises.
    !s.is_empty() && s.iter().fold(true, |ok, &b| ok & TCHAR[b as usize])
}

/// A method must be a token (RFC 9110 §9.1). CONNECT is refused: it opens a
/// tunnel, which this client does not offer as a request.
pub fn validate_method(method: &str) -> Result<(), ProtoError> {
    if !is_token(method.as_bytes()) {
        return Err(ProtoError::new(
            ProtoErrorKind::InvalidMethod,
            format!("method {:?} is not a valid token", method),
        ));
    }
    if method.eq_ignore_ascii_case("CONNECT") {
        return Err(ProtoError::new(
            ProtoErrorKind::InvalidMethod,
            "method CONNECT is not supported",
        ));
    }
    Ok(())
}

/// A header name must be a token (RFC 9110 §5.1).
pub fn validate_header_name(name: &[u8]) -> Result<(), ProtoError> {
    if is_token(name) {
        Ok(())
    } else {
        Err(ProtoError::new(
            ProtoErrorKind::InvalidHeader,
            format!(
                "header name {:?} is not a valid token",
                String::from_utf8_lossy(name)
            ),
        ))
    }
}

/// A header value may hold visible characters, spaces, tabs and obs-text,
/// never CR, LF, NUL or another control character (RFC 9110 §5.5).
pub fn validate_header_value(name: &[u8], value: &[u8]) -> Result<(), ProtoError> {
    let is_bad = |b: u8| (b < 0x20 && b != b'\t') || b == 0x7f;
    // A branch-free pass first (it vectorises); the position only on failure.
    if !value.iter().fold(false, |bad, &b| bad | is_bad(b)) {
        return Ok(());
    }
    match value.iter().position(|&b| is_bad(b)) {
        None => Ok(()),
        Some(i) => Err(ProtoError::new(
            ProtoErrorKind::InvalidHeader,
            format!(
                "value of header {:?} contains control byte 0x{:02x} at offset {} (CR, LF and NUL are never allowed)",
                String::from_utf8_lossy(name),
                value[i],
                i
            ),
        )),
    }
}

/// Writes `METHOD target HTTP/1.1`, the given header lines and the blank
/// line into `out`. Every name and value is validated again here, so no
/// caller of this function can emit a split request.
pub fn encode_request_head<'a, I>(
    out: &mut Vec<u8>,
    method: &str,
    target: &str,
    headers: I,
) -> Result<(), ProtoError>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    validate_method(method)?;
    write_head(out, method, target, headers)
}

/// `encode_request_head` for any method token, CONNECT included.
fn write_head<'a, I>(
    out: &mut Vec<u8>,
    method: &str,
    target: &str,
    headers: I,
) -> Result<(), ProtoError>
where
    I: IntoIterator<Item = (&'a str, &'a str)>,
{
    if target.is_empty() || target.bytes().any(|b| b <= 0x20 || b == 0x7f) {
        return Err(ProtoError::new(
            ProtoErrorKind::InvalidHeader,
            format!(
                "request target {:?} contains whitespace or control bytes",
                target
            ),
        ));
    }
    out.extend_from_slice(method.as_bytes());
    out.push(b' ');
    out.extend_from_slice(target.as_bytes());
    out.extend_from_slice(b" HTTP/1.1\r\n");
    for (name, value) in headers {
        validate_header_name(name.as_bytes())?;
        validate_header_value(name.as_bytes(), value.as_bytes())?;
        out.extend_from_slice(name.as_bytes());
        out.extend_from_slice(b": ");
        out.extend_from_slice(value.as_bytes());
        out.extend_from_slice(b"\r\n");
    }
    out.extend_from_slice(b"\r\n");
    Ok(())
}

/// Writes the CONNECT request that asks a proxy for a tunnel to
/// `authority` (`host:port`, RFC 9110 §9.3.6), with the proxy's
/// credentials when it has some.
pub fn encode_connect(
    out: &mut Vec<u8>,
    authority: &str,
    proxy_authorization: Option<&str>,
) -> Result<(), ProtoError> {
    let agent = concat!("reqivo/", env!("CARGO_PKG_VERSION"));
    let fields = [("Host", authority), ("User-Agent", agent)];
    let auth = proxy_authorization.map(|a| ("Proxy-Authorization", a));
    write_head(out, "CONNECT", authority, fields.into_iter().chain(auth))
}

/// The last chunk and empty trailer section that end a chunked body.
pub const LAST_CHUNK: &[u8] = b"0\r\n\r\n";

/// Appends `data` as one chunk (RFC 9112 §7.1). An empty `data` would read
/// as the last chunk, so it writes nothing.
pub fn encode_chunk(out: &mut Vec<u8>, data: &[u8]) {
    if data.is_empty() {
        return;
    }
    use std::io::Write;
    let _ = write!(out, "{:x}\r\n", data.len());
    out.extend_from_slice(data);
    out.extend_from_slice(b"\r\n");
}

#[cfg(test)]
mod tests {
    #[test]
    fn chunk_encoding_frames_data_and_skips_empty() {
        let mut out = Vec::new();
        encode_chunk(&mut out, b"hello world, 26 bytes long");
        encode_chunk(&mut out, b"");
        out.extend_from_slice(LAST_CHUNK);
        assert_eq!(out, b"1a\r\nhello world, 26 bytes long\r\n0\r\n\r\n");
    }

    use super::*;

    #[test]
    fn request_head_is_encoded_in_order() {
        let mut out = Vec::new();
        encode_request_head(
            &mut out,
            "GET",
            "/a?b=1",
            [("Host", "example.com:8080"), ("Accept", "*/*")],
        )
        .unwrap();
        assert_eq!(
            out,
            b"GET /a?b=1 HTTP/1.1\r\nHost: example.com:8080\r\nAccept: */*\r\n\r\n"
        );
    }

    #[test]
    fn request_rejects_crlf_in_header_value() {
        let mut out = Vec::new();
        let err =
            encode_request_head(&mut out, "GET", "/", [("X-A", "ok\r\nInjected: 1")]).unwrap_err();
        assert_eq!(err.kind, ProtoErrorKind::InvalidHeader);
        assert!(err.message.contains("X-A"), "{}", err.message);
    }

    #[test]
    fn request_rejects_nul_and_bare_lf() {
        assert!(validate_header_value(b"A", b"x\0y").is_err());
        assert!(validate_header_value(b"A", b"x\ny").is_err());
        assert!(validate_header_value(b"A", b"tab\tok \x80obs-text").is_ok());
    }

    #[test]
    fn request_rejects_non_token_names_and_methods() {
        assert!(validate_header_name(b"Bad Name").is_err());
        assert!(validate_header_name(b"").is_err());
        assert!(validate_header_name(b"X:Y").is_err());
        assert!(validate_header_name(b"X-Good_1").is_ok());
        assert_eq!(
            validate_method("GE T").unwrap_err().kind,
            ProtoErrorKind::InvalidMethod
        );
        assert_eq!(
            validate_method("").unwrap_err().kind,
            ProtoErrorKind::InvalidMethod
        );
        assert_eq!(
            validate_method("CONNECT").unwrap_err().kind,
            ProtoErrorKind::InvalidMethod
        );
        assert!(validate_method("PROPFIND").is_ok());
    }

    #[test]
    fn request_rejects_target_with_space() {
        let mut out = Vec::new();
        assert!(encode_request_head(&mut out, "GET", "/a b", std::iter::empty()).is_err());
        assert!(out.is_empty(), "nothing is written for an invalid target");
    }
}
