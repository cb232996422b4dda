//! One request as an HTTP/2 stream on a shared connection: the request
//! mapped to h2's (`request`), sent with its body under the send window
//! (`exchange`), and the response body read as the caller asks for it
//! (`body`). Redirects, cookies, auth, hooks and retries are the same
//! `Chain` as for HTTP/1.1: they see a head and a body whatever carried
//! them (docs/DESIGN.md §10).
mod body;
mod early;
mod exchange;
mod request;

pub(crate) use body::H2Body;
pub(crate) use early::Early;
pub(crate) use exchange::{exchange, unprocessed};
pub(crate) use request::to_h2;
