//! A whole response (heads, framing, body) read the way the client reads it
//! (`reqivo::fuzzing::read_response`), from arbitrary bytes cut into
//! arbitrary reads, for a GET (flag bit 0 clear) or a HEAD (set): the
//! outcome never depends on how the bytes were cut, and the body never
//! outgrows the input or breaks its framing.
#![no_main]
use libfuzzer_sys::fuzz_target;
use reqivo::fuzzing::read_response;
use reqivo::proto::BodyMode;
use reqivo_fuzz::Input;

fuzz_target!(|input: &[u8]| {
    let Some(input) = Input::parse(input) else {
        return;
    };
    let head_request = input.flags & 1 == 1;
    let limits = input.limits();
    let whole = read_response(&[input.data], head_request, &limits);
    let split = read_response(&input.pieces(), head_request, &limits);
    assert_eq!(whole, split, "whole and split reads disagree");
    assert!(whole.consumed <= input.data.len());
    assert!(whole.body.len() <= input.data.len());
    if whole.error.is_none() {
        assert!(whole.body.len() <= whole.consumed);
        assert!(whole.body.len() as u64 <= limits.max_body_bytes);
        match whole.mode {
            Some(BodyMode::None) => assert!(whole.body.is_empty()),
            Some(BodyMode::Length(n)) => assert_eq!(whole.body.len() as u64, n),
            Some(BodyMode::CloseDelimited) => assert_eq!(whole.consumed, input.data.len()),
            Some(BodyMode::Chunked) => {}
            None => panic!("success without framing"),
        }
        if head_request {
            assert_eq!(whole.mode, Some(BodyMode::None));
        }
    }
});
