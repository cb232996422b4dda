//! `proto::parse_head` on arbitrary bytes, under default and tight limits:
//! never a panic, and a head it accepts is one the rest of the client can
//! rely on (within the limits, bounded status, no CR/LF/NUL in any field).
#![no_main]
use libfuzzer_sys::fuzz_target;
use reqivo::proto::{keep_alive, parse_head, response_body, Limits};

fn check(data: &[u8], limits: &Limits) {
    let Ok(Some((n, head))) = parse_head(data, limits) else {
        return;
    };
    assert!(n <= data.len() && n <= limits.max_header_bytes);
    assert!((100..=599).contains(&head.status));
    assert!(head.minor <= 1);
    assert!(head.header_count() <= limits.max_header_count);
    assert!(head.text_len() <= n);
    let clean = |s: &[u8]| !s.iter().any(|&b| b == b'\r' || b == b'\n' || b == 0);
    assert!(clean(head.reason()));
    for (name, value) in head.headers() {
        assert!(!name.is_empty() && clean(name) && clean(value));
        assert!(!name.contains(&b':') && !name.iter().any(u8::is_ascii_whitespace));
    }
    // The head ends at its first blank line: no shorter prefix is complete,
    // and the head alone parses to the same length.
    assert!(!matches!(parse_head(&data[..n - 1], limits), Ok(Some(_))));
    assert_eq!(
        parse_head(&data[..n], limits).map(|r| r.map(|r| r.0)),
        Ok(Some(n))
    );
    for head_request in [false, true] {
        if let Ok(mode) = response_body(head_request, &head) {
            keep_alive(&head, mode);
        }
    }
}

fuzz_target!(|data: &[u8]| {
    check(data, &Limits::default());
    check(
        data,
        &Limits {
            max_line_bytes: 40,
            max_header_bytes: 160,
            max_header_count: 4,
            max_body_bytes: 64,
        },
    );
});
