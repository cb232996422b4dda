//! Sans-I/O WebSocket (RFC 6455): frame headers, masking, incremental UTF-8
//! validation, message reassembly, close codes and the opening handshake's
//! key and accept check.
//!
//! Rule for this module: bytes in, bytes or events out, no sockets, clocks
//! or threads; everything here is unit-tested with byte strings. Waiting on
//! the connection lives in `client::ws`. Limits are checked on the frame
//! header, before any payload memory is allocated.
#![deny(unsafe_code)]

mod close;
mod deflate;
mod error;
mod frame;
mod handshake;
mod mask;
mod message;
mod utf8;

pub use close::{parse_close_payload, validate_close_code_to_send, CloseFrame};
pub use deflate::{
    accept_response as accept_deflate, DeflateOffer, DeflateParams, Deflater, Inflater,
};
pub use error::{WsError, WsErrorKind};
pub(crate) use frame::MAX_CONTROL_PAYLOAD;
pub use frame::{encode_frame, FrameHeader, OpCode};
pub use handshake::{accept_for, check_response, generate_key, validate_protocols, Agreed};
pub use mask::apply_mask;
pub use message::{Event, Kind, Limits, Reassembler};
pub use utf8::Utf8Validator;
