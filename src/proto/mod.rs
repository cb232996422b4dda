//! Sans-I/O HTTP/1.1: what bytes mean and which bytes to write.
//!
//! Rule for this layer: every function takes byte slices (or writes into a
//! caller's buffer) and returns what it consumed and produced. Nothing here
//! touches a socket, a clock, DNS or TLS; "need more input" is a value, not an
//! error; end of input is an explicit call (`BodyDecoder::feed_eof`). If a
//! change here needs a socket to be tested, it belongs in `net`.
#![deny(unsafe_code)]

mod body;
mod error;
mod framing;
mod limits;
mod reader;
mod request;
mod response;
mod trailers;

pub use body::{BodyDecoder, Step};
pub use error::{ProtoError, ProtoErrorKind};
pub use framing::{is_interim, keep_alive, response_body, BodyMode};
pub use limits::Limits;
pub use reader::{RequestFacts, ResponseReader};
pub use request::{
    encode_chunk, encode_connect, encode_request_head, validate_header_name, validate_header_value,
    validate_method, LAST_CHUNK,
};
pub use response::{list_has_token, parse_head, ResponseHead};
pub use trailers::Trailers;

#[cfg(test)]
mod test_util;
