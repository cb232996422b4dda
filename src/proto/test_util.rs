//! Test helper: every body case is decoded three ways (h11's `t_body_reader`):
//! the whole input at once, one byte at a time, and with trailing junk after
//! it, proving the decoder stops exactly at the end of the message.
use super::{BodyDecoder, BodyMode, Limits, ProtoErrorKind};

#[derive(Debug, Clone, Copy)]
pub enum Outcome<'a> {
    /// The body ends inside the input, with these bytes.
    Body(&'a [u8]),
    /// The body ends only at EOF (close-delimited), with these bytes.
    BodyAtEof(&'a [u8]),
    /// Decoding fails with this kind, during input or at EOF.
    Error(ProtoErrorKind),
}

/// Feeds `input` split into `pieces`; then EOF if the body has not ended.
fn run(
    mode: BodyMode,
    limits: &Limits,
    pieces: &[&[u8]],
) -> (Result<Vec<u8>, ProtoErrorKind>, usize, bool) {
    let mut d = match BodyDecoder::new(mode, limits) {
        Ok(d) => d,
        Err(e) => return (Err(e.kind), 0, false),
    };
    let mut body = Vec::new();
    let mut consumed_total = 0;
    for piece in pieces {
        let mut rest: &[u8] = piece;
        // Bounded: each round consumes at least one byte or the body is done.
        for _ in 0..=piece.len() + 1 {
            if rest.is_empty() || d.is_done() {
                break;
            }
            match d.decode(rest) {
                Ok(step) => {
                    assert!(
                        step.data.end <= step.consumed,
                        "data must lie inside the consumed bytes"
                    );
                    body.extend_from_slice(&rest[step.data.clone()]);
                    consumed_total += step.consumed;
                    rest = &rest[step.consumed..];
                }
                Err(e) => return (Err(e.kind), consumed_total, false),
            }
        }
    }
    let ended_before_eof = d.is_done();
    if !ended_before_eof {
        if let Err(e) = d.feed_eof() {
            return (Err(e.kind), consumed_total, false);
        }
    }
    (Ok(body), consumed_total, ended_before_eof)
}

pub fn decode_all_ways(mode: BodyMode, limits: &Limits, input: &[u8], expected: Outcome<'_>) {
    let bytewise: Vec<&[u8]> = input.chunks(1).collect();
    let mut with_junk = input.to_vec();
    with_junk.extend_from_slice(b"JUNK");
    let ways: [(&str, Vec<&[u8]>, bool); 3] = [
        ("whole", vec![input], false),
        ("bytewise", bytewise, false),
        ("trailing junk", vec![&with_junk], true),
    ];
    for (name, pieces, junk) in ways {
        let (result, consumed, ended) = run(mode, limits, &pieces);
        match expected {
            Outcome::Body(want) => {
                assert_eq!(result.as_deref(), Ok(want), "{name}: body");
                assert!(ended, "{name}: body must end before EOF");
                assert_eq!(
                    consumed,
                    input.len(),
                    "{name}: consumed exactly the message"
                );
            }
            Outcome::BodyAtEof(want) if !junk => {
                assert_eq!(result.as_deref(), Ok(want), "{name}: body");
                assert!(!ended, "{name}: close-delimited body ends only at EOF");
            }
            // Trailing bytes are part of a close-delimited body by definition.
            Outcome::BodyAtEof(_) => {}
            // Junk after a truncated message is not a truncation any more.
            Outcome::Error(ProtoErrorKind::UnexpectedEof) if junk => {}
            Outcome::Error(kind) => assert_eq!(result.map(|_| ()), Err(kind), "{name}: error kind"),
        }
    }
}
