//! JSON Pointer (RFC 6901) lookups on a response body, without copying:
//! the result is a view of the value's JSON text inside the body.
use std::borrow::Cow;
use std::collections::BTreeMap;

use serde_json::value::RawValue;

use super::error::{ClientError, ClientErrorKind};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsonKind {
    Null,
    Bool,
    Integer,
    Float,
    String,
    Array,
    Object,
}

/// A value found in a JSON text.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct JsonValue<'a> {
    pub kind: JsonKind,
    /// The value's JSON text, exactly as in the document.
    pub raw: &'a str,
    pub boolean: bool,
    /// For integers that fit in 64 bits.
    pub integer: i64,
    /// For numbers (integers too).
    pub number: f64,
}

fn err(kind: ClientErrorKind, message: String) -> ClientError {
    ClientError::new(kind, message)
}

/// Splits a JSON Pointer into unescaped reference tokens (RFC 6901 §3-4).
fn tokens(pointer: &str) -> Result<Vec<String>, ClientError> {
    if pointer.is_empty() {
        return Ok(Vec::new());
    }
    let Some(rest) = pointer.strip_prefix('/') else {
        return Err(err(
            ClientErrorKind::InvalidJsonPointer,
            format!("JSON pointer {:?} must be empty or start with '/'", pointer),
        ));
    };
    rest.split('/')
        .map(|t| {
            // "~1" before "~0", so "~01" is "~1" and not "/".
            let mut out = String::with_capacity(t.len());
            let mut chars = t.chars();
            while let Some(c) = chars.next() {
                match (c, c == '~') {
                    (_, false) => out.push(c),
                    (_, true) => match chars.next() {
                        Some('0') => out.push('~'),
                        Some('1') => out.push('/'),
                        _ => {
                            return Err(err(
                                ClientErrorKind::InvalidJsonPointer,
                                format!(
                                    "JSON pointer {:?} has a '~' not followed by 0 or 1",
                                    pointer
                                ),
                            ))
                        }
                    },
                }
            }
            Ok(out)
        })
        .collect()
}

/// Finds the value `pointer` refers to in the JSON text `body`.
pub fn lookup<'a>(body: &'a [u8], pointer: &str) -> Result<JsonValue<'a>, ClientError> {
    let text = std::str::from_utf8(body).map_err(|e| {
        err(
            ClientErrorKind::InvalidJson,
            format!("response body is not UTF-8: {}", e),
        )
    })?;
    let mut value: &'a RawValue = serde_json::from_str(text).map_err(|e| {
        err(
            ClientErrorKind::InvalidJson,
            format!(
                "response body is not JSON: line {} column {}: {}",
                e.line(),
                e.column(),
                e
            ),
        )
    })?;
    let mut walked = String::new();
    for token in tokens(pointer)? {
        let raw = value.get();
        let not_found = |what: &str| {
            err(
                ClientErrorKind::JsonNotFound,
                format!("JSON pointer {:?}: {} at {:?}", pointer, what, walked),
            )
        };
        value = match raw.as_bytes().first() {
            Some(b'{') => {
                // Syntax was checked when the body parsed, but not escapes:
                // a member name with a lone surrogate ("\udfff") is valid
                // JSON text and no Rust string (RFC 8259 §8.2), so it fails here.
                let map: BTreeMap<Cow<'a, str>, &'a RawValue> =
                    serde_json::from_str(raw).map_err(|e| {
                        err(
                            ClientErrorKind::InvalidJson,
                            format!(
                                "JSON object at {:?} has a member name that is not Unicode: {}",
                                walked, e
                            ),
                        )
                    })?;
                *map.get(token.as_str())
                    .ok_or_else(|| not_found(&format!("no member {:?}", token)))?
            }
            Some(b'[') => {
                let items: Vec<&'a RawValue> = serde_json::from_str(raw).map_err(|e| {
                    err(
                        ClientErrorKind::InvalidJson,
                        format!("JSON array at {:?} does not parse: {}", walked, e),
                    )
                })?;
                // RFC 6901 §4: an index is 0 or digits without a leading zero.
                let index = (token == "0"
                    || (!token.starts_with('0')
                        && !token.is_empty()
                        && token.bytes().all(|b| b.is_ascii_digit())))
                .then(|| token.parse::<usize>().ok())
                .flatten()
                .ok_or_else(|| not_found(&format!("{:?} is not an array index", token)))?;
                *items.get(index).ok_or_else(|| {
                    not_found(&format!(
                        "index {} past the end ({} items)",
                        index,
                        items.len()
                    ))
                })?
            }
            _ => {
                return Err(not_found(&format!(
                    "member {:?} of a value that is no object or array",
                    token
                )))
            }
        };
        walked.push('/');
        walked.push_str(&token.replace('~', "~0").replace('/', "~1"));
    }
    Ok(classify(value.get()))
}

fn classify(raw: &str) -> JsonValue<'_> {
    let mut v = JsonValue {
        kind: JsonKind::Null,
        raw,
        boolean: false,
        integer: 0,
        number: 0.0,
    };
    match raw.as_bytes().first() {
        Some(b'"') => v.kind = JsonKind::String,
        Some(b'[') => v.kind = JsonKind::Array,
        Some(b'{') => v.kind = JsonKind::Object,
        Some(b't') => (v.kind, v.boolean) = (JsonKind::Bool, true),
        Some(b'f') => v.kind = JsonKind::Bool,
        Some(b'n') => v.kind = JsonKind::Null,
        _ => match raw.parse::<i64>() {
            Ok(i) => (v.kind, v.integer, v.number) = (JsonKind::Integer, i, i as f64),
            Err(_) => {
                (v.kind, v.number) = (JsonKind::Float, raw.parse::<f64>().unwrap_or(f64::NAN))
            }
        },
    }
    v
}

/// The text of a JSON string value, escapes decoded.
pub fn decode_string(raw: &str) -> Result<String, ClientError> {
    serde_json::from_str::<String>(raw).map_err(|e| {
        err(
            ClientErrorKind::InvalidArgument,
            format!("value is not a JSON string: {}", e),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = r#"{"a": {"b/c": [10, -2.5e3, "x\"y\u00e9"], "m~n": true, "": null}, "big": 18446744073709551615}"#;

    #[test]
    fn json_pointer_walks_objects_and_arrays_with_escapes() {
        let v = lookup(DOC.as_bytes(), "/a/b~1c/0").unwrap();
        assert_eq!((v.kind, v.integer, v.raw), (JsonKind::Integer, 10, "10"));
        let v = lookup(DOC.as_bytes(), "/a/b~1c/1").unwrap();
        assert_eq!((v.kind, v.number), (JsonKind::Float, -2500.0));
        let v = lookup(DOC.as_bytes(), "/a/b~1c/2").unwrap();
        assert_eq!(v.kind, JsonKind::String);
        assert_eq!(decode_string(v.raw).unwrap(), "x\"yé");
        assert!(lookup(DOC.as_bytes(), "/a/m~0n").unwrap().boolean);
        assert_eq!(lookup(DOC.as_bytes(), "/a/").unwrap().kind, JsonKind::Null);
        assert_eq!(lookup(DOC.as_bytes(), "").unwrap().kind, JsonKind::Object);
        assert_eq!(
            lookup(DOC.as_bytes(), "/big").unwrap().kind,
            JsonKind::Float,
            "past i64"
        );
        let whole = lookup(DOC.as_bytes(), "/a/b~1c").unwrap();
        assert_eq!(
            (whole.kind, whole.raw),
            (JsonKind::Array, r#"[10, -2.5e3, "x\"y\u00e9"]"#)
        );
    }

    #[test]
    fn json_pointer_through_lone_surrogate_name_is_invalid_json() {
        // Valid JSON text, but the member name is no Unicode string.
        let doc = br#"{"a\udfffb": 1, "c": {"\ud800": 2}}"#;
        let kind = |p: &str| match lookup(doc, p).unwrap_err() {
            ClientError::Client { kind, .. } => kind,
            e => panic!("{e:?}"),
        };
        assert_eq!(kind("/c"), ClientErrorKind::InvalidJson);
        assert_eq!(kind("/x/y"), ClientErrorKind::InvalidJson);
        assert_eq!(lookup(doc, "").unwrap().kind, JsonKind::Object);
        // A lone surrogate in a value is found; decoding it is what fails.
        let v = lookup(br#"["\ud800"]"#, "/0").unwrap();
        assert_eq!(v.kind, JsonKind::String);
        assert!(decode_string(v.raw).is_err());
    }

    #[test]
    fn json_pointer_errors_name_the_problem() {
        let kind = |p: &str| match lookup(DOC.as_bytes(), p).unwrap_err() {
            ClientError::Client { kind, .. } => kind,
            e => panic!("{e:?}"),
        };
        assert_eq!(kind("a"), ClientErrorKind::InvalidJsonPointer);
        assert_eq!(kind("/a/~2"), ClientErrorKind::InvalidJsonPointer);
        assert_eq!(kind("/missing"), ClientErrorKind::JsonNotFound);
        assert_eq!(kind("/a/b~1c/3"), ClientErrorKind::JsonNotFound);
        assert_eq!(kind("/a/b~1c/01"), ClientErrorKind::JsonNotFound);
        assert_eq!(kind("/a/b~1c/-"), ClientErrorKind::JsonNotFound);
        assert_eq!(kind("/big/x"), ClientErrorKind::JsonNotFound);
        assert!(matches!(
            lookup(b"{nope", "").unwrap_err(),
            ClientError::Client {
                kind: ClientErrorKind::InvalidJson,
                ..
            }
        ));
    }
}
