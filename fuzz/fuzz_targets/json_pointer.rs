//! RFC 6901 pointer lookup: the pointer is the input's first line, the JSON
//! text the rest. A value found is a piece of the document, of the kind its
//! text says.
#![no_main]
use libfuzzer_sys::fuzz_target;
use reqivo::client::json::{decode_string, lookup, JsonKind};

fuzz_target!(|data: &[u8]| {
    let (pointer, body) = match data.iter().position(|&b| b == b'\n') {
        Some(i) => (&data[..i], &data[i + 1..]),
        None => (data, &b""[..]),
    };
    let Ok(pointer) = std::str::from_utf8(pointer) else {
        return;
    };
    let Ok(v) = lookup(body, pointer) else {
        return;
    };
    let start = v.raw.as_ptr() as usize - body.as_ptr() as usize;
    assert!(
        start + v.raw.len() <= body.len(),
        "value outside the document"
    );
    assert!(!v.raw.is_empty());
    match v.kind {
        JsonKind::String => {
            // Only an escape can make a string no Rust string (a lone
            // surrogate, RFC 8259 §8.2); decoding it is then an error.
            if decode_string(v.raw).is_err() {
                assert!(v.raw.contains("\\u"), "{:?}", v.raw);
            }
        }
        JsonKind::Integer => assert_eq!(v.raw.parse::<i64>().ok(), Some(v.integer)),
        JsonKind::Array => assert!(v.raw.starts_with('[') && v.raw.ends_with(']')),
        JsonKind::Object => assert!(v.raw.starts_with('{') && v.raw.ends_with('}')),
        JsonKind::Bool => assert_eq!(v.raw, if v.boolean { "true" } else { "false" }),
        JsonKind::Null => assert_eq!(v.raw, "null"),
        JsonKind::Float => {}
    }
    // The whole document is what the empty pointer finds.
    if pointer.is_empty() {
        assert_eq!(
            v.raw,
            std::str::from_utf8(body)
                .unwrap()
                .trim_matches([' ', '\t', '\r', '\n'])
        );
    }
});
