//! `BodyDecoder` in chunked mode on arbitrary bytes cut into arbitrary reads
//! (input layout in `reqivo_fuzz::Input`): the result never depends on how
//! the bytes were cut, and the body is never longer than the input.
#![no_main]
use libfuzzer_sys::fuzz_target;
use reqivo::proto::{BodyDecoder, BodyMode, Limits};
use reqivo_fuzz::Input;

/// The body (or error kind), the bytes consumed, and whether the body
/// ended before EOF.
type Decoded = (Result<Vec<u8>, String>, usize, bool);

fn decode(pieces: &[&[u8]], limits: &Limits) -> Decoded {
    let mut d = BodyDecoder::new(BodyMode::Chunked, limits).expect("chunked needs no check");
    let mut body = Vec::new();
    let mut consumed = 0;
    for piece in pieces {
        let mut rest: &[u8] = piece;
        while !rest.is_empty() && !d.is_done() {
            match d.decode(rest) {
                Ok(step) => {
                    assert!(step.data.end <= step.consumed && step.consumed <= rest.len());
                    assert!(step.consumed > 0 || d.is_done(), "no progress");
                    body.extend_from_slice(&rest[step.data]);
                    consumed += step.consumed;
                    rest = &rest[step.consumed..];
                }
                Err(e) => return (Err(format!("{:?}", e.kind)), consumed, false),
            }
        }
    }
    let ended = d.is_done();
    if !ended {
        if let Err(e) = d.feed_eof() {
            return (Err(format!("{:?}", e.kind)), consumed, false);
        }
    }
    assert_eq!(d.produced(), body.len() as u64);
    (Ok(body), consumed, ended)
}

fuzz_target!(|input: &[u8]| {
    let Some(input) = Input::parse(input) else {
        return;
    };
    let limits = input.limits();
    let whole = decode(&[input.data], &limits);
    let split = decode(&input.pieces(), &limits);
    match (&whole.0, &split.0) {
        (Ok(_), Ok(_)) => assert_eq!(whole, split, "whole and split reads disagree"),
        (a, b) => assert_eq!(a, b, "whole and split reads disagree"),
    }
    if let Ok(body) = &whole.0 {
        assert!(body.len() <= whole.1 && whole.1 <= input.data.len());
        assert!(body.len() as u64 <= limits.max_body_bytes);
    }
});
