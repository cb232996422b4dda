//! The cookie jar: Set-Cookie fields (the input's lines after the first)
//! stored from a response to a URL (the first line, or a fixed one), then
//! the Cookie header for that URL and for a few related ones. The header
//! must always be sendable, and a saved jar must load again.
#![no_main]
use libfuzzer_sys::fuzz_target;
use reqivo::client::Jar;
use reqivo::fuzzing::{jar_header, jar_store};
use reqivo::proto::{parse_head, validate_header_value, Limits};
use url::Url;

fuzz_target!(|data: &[u8]| {
    let mut lines = data.split(|&b| b == b'\n');
    let first = lines.next().unwrap_or_default();
    let url = std::str::from_utf8(first)
        .ok()
        .and_then(|s| Url::parse(s.trim()).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
        .unwrap_or_else(|| Url::parse("https://www.example.test/a/b").unwrap());
    // The fields travel in a real response head, so they are exactly what
    // the parser would hand the jar.
    let mut raw = b"HTTP/1.1 200 OK\r\n".to_vec();
    for line in lines {
        raw.extend_from_slice(b"Set-Cookie: ");
        raw.extend_from_slice(line.strip_suffix(b"\r").unwrap_or(line));
        raw.extend_from_slice(b"\r\n");
    }
    raw.extend_from_slice(b"\r\n");
    let Ok(Some((_, head))) = parse_head(&raw, &Limits::default()) else {
        return;
    };
    let jar = Jar::default();
    jar_store(&jar, &head, &url);
    let mut targets = vec![url.clone()];
    for rel in ["/", "sub/x", "//other.test/", "http://www.example.test/a/"] {
        if let Ok(u) = url.join(rel) {
            targets.push(u);
        }
    }
    for target in &targets {
        if let Some(value) = jar_header(&jar, target) {
            assert!(
                validate_header_value(b"Cookie", value.as_bytes()).is_ok(),
                "unsendable Cookie {value:?}"
            );
        }
    }
    let saved = jar.save().expect("a jar saves");
    let again = Jar::default();
    again.load(&saved).expect("a saved jar loads");
});
