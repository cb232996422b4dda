//! Location handling as the redirect code does it: the current URL (the
//! first line of the input, or a fixed one when it does not parse) joined
//! with the Location value (the rest). A URL it accepts must be one the next
//! hop can send: http(s), a host, no fragment, a valid request-target and
//! Host header.
#![no_main]
use libfuzzer_sys::fuzz_target;
use reqivo::fuzzing::{request_target, resolve_location};
use reqivo::proto::encode_request_head;
use url::Url;

fuzz_target!(|data: &[u8]| {
    let (first, location) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (&b""[..], data),
    };
    let current = std::str::from_utf8(first)
        .ok()
        .and_then(|s| Url::parse(s).ok())
        .filter(|u| matches!(u.scheme(), "http" | "https") && u.has_host())
        .unwrap_or_else(|| Url::parse("http://example.test:8080/a/b?q=1#f").unwrap());
    let Ok(next) = resolve_location(&current, location) else {
        return;
    };
    assert!(matches!(next.scheme(), "http" | "https"), "{next}");
    assert!(next.host_str().is_some_and(|h| !h.is_empty()), "{next}");
    assert_eq!(next.fragment(), None);
    // Same as session::hop_headers builds it.
    let host = match next.port() {
        Some(p) => format!("{}:{}", next.host_str().unwrap_or_default(), p),
        None => next.host_str().unwrap_or_default().to_string(),
    };
    let mut out = Vec::new();
    encode_request_head(
        &mut out,
        "GET",
        &request_target(&next),
        [("Host", host.as_str())],
    )
    .unwrap_or_else(|e| panic!("next hop to {next} cannot be sent: {e}"));
    // Following the same Location again from where it led is stable.
    let again = Url::parse(next.as_str()).expect("a resolved URL reparses");
    assert_eq!(again, next);
});
