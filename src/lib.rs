//! reqivo: an HTTP/1.1 client core with a C ABI.
//!
//! Layers, top to bottom (see docs/DESIGN.md §2): `ffi` translates C to Rust
//! and back; `client` holds per-session policy (URL joining, headers,
//! redirects, retries, WebSocket connections, the multi); `net` waits on
//! sockets, clocks and DNS (pool, connect, deadlines, cancellation); `proto`
//! is sans-I/O HTTP/1.1 and `ws` sans-I/O WebSocket. Data flows down as a
//! request and up as a response.
//!
//! A layer uses only the layers below it, never one above. `ffi` uses
//! `client` alone: the few types of `net`, `proto` and `ws` that cross the
//! C ABI, and one error kind for every failure (`client::ErrorKind`), reach
//! it through `client`. `client` uses `net`, `proto` and `ws`; `net` and
//! `ws` use `proto`; `proto` uses none.

pub mod client;
pub mod ffi;
pub mod net;
pub mod proto;
pub mod ws;

/// Test entry points for the fuzz targets and the differential check in
/// `fuzz/`; built only with the `fuzzing` feature and not part of the API.
#[cfg(feature = "fuzzing")]
#[doc(hidden)]
pub mod fuzzing;
