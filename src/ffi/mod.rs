//! The C ABI. Thin by rule: each exported body is the panic boundary,
//! argument checks through the handle helpers, one call into `client` or
//! `net`, and writing outputs. No HTTP logic lives here; if a function grows
//! past ~25 lines, logic has leaked and belongs in a lower layer.
//!
//! `unsafe` is allowed in this layer only; every block names its invariant.
#![allow(non_camel_case_types)]
// Exported functions take raw pointers from C and cannot be `unsafe fn` in
// any way C would notice; each documents its pointer contract instead, and
// every dereference sits in an `unsafe` block with its SAFETY line.
#![allow(clippy::not_unsafe_ptr_arg_deref)]

#[macro_use]
mod boundary;
mod block;
mod handle;

pub mod callback;
pub mod cancel;
pub mod code;
pub mod error;
pub mod hook_request;
pub mod json;
pub mod limits;
pub mod multi;
pub mod pool;
pub mod request;
pub mod response;
pub mod session;
pub mod stream;
pub mod timeout;
pub mod tls;
pub mod trailers;
pub mod version;
pub mod ws;
pub mod ws_message;
pub mod ws_options;
