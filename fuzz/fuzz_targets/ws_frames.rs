//! The WebSocket frame parser and message reassembler (`reqivo::ws`) on
//! arbitrary server bytes cut into arbitrary reads (input layout in
//! `reqivo_fuzz::Input`; flag bit 1 picks tight limits): the events, or the
//! error that ends the connection, never depend on how the bytes were cut;
//! nothing delivered is over the limits; text is UTF-8; control payloads
//! fit in 125 bytes.
#![no_main]
use libfuzzer_sys::fuzz_target;
use reqivo::ws::{Event, Kind, Limits, Reassembler};
use reqivo_fuzz::Input;

/// The events read, then the error kind that ended the reading, if any.
type Read = (Vec<Event>, Option<String>);

/// Reads as the connection does: bytes the reassembler did not take (a
/// frame header cut short) stay buffered until the next read adds more.
fn read(pieces: &[&[u8]], limits: Limits) -> Read {
    let mut r = Reassembler::new(limits);
    let mut events = Vec::new();
    let mut buf: Vec<u8> = Vec::new();
    for piece in pieces {
        buf.extend_from_slice(piece);
        loop {
            match r.feed(&buf) {
                Ok((used, ev)) => {
                    assert!(used <= buf.len());
                    buf.drain(..used);
                    match ev {
                        Some(ev) => events.push(ev),
                        None => {
                            // Only a header cut short may be left behind.
                            assert!(buf.len() < 14, "{} bytes left untaken", buf.len());
                            break;
                        }
                    }
                }
                Err(e) => return (events, Some(format!("{:?}", e.kind))),
            }
        }
    }
    (events, None)
}

fuzz_target!(|input: &[u8]| {
    let Some(input) = Input::parse(input) else {
        return;
    };
    let limits = if input.flags & 2 == 0 {
        Limits::default()
    } else {
        Limits {
            max_frame: 64,
            max_message: 100,
        }
    };
    let whole = read(&[input.data], limits);
    let split = read(&input.pieces(), limits);
    assert_eq!(whole, split, "whole and split reads disagree");
    for ev in &whole.0 {
        match ev {
            Event::Message { kind, data } => {
                assert!(data.len() as u64 <= limits.max_message);
                if *kind == Kind::Text {
                    assert!(std::str::from_utf8(data).is_ok(), "text that is not UTF-8");
                }
            }
            Event::Ping(p) | Event::Pong(p) => assert!(p.len() <= 125),
            Event::Close(c) => assert!(c.reason.len() <= 123),
        }
    }
});
