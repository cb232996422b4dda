//! The WebSocket client: the opening handshake through the session
//! (`connect`), then framed messages over the connection it hands over
//! (`socket`). What the bytes mean is decided in `crate::ws`; waiting is
//! done by `net`; this module holds the policy in between (auto-pong,
//! close handshake, keep-alive pings, which failures end the connection).
mod connect;
mod receive;
mod socket;
mod websocket;

/// A data message's kind (text or binary), as sends take it.
pub use crate::ws::Kind;
pub use connect::{connect, refused, Dial, WsConnectError, WsOptions};
pub use receive::Received;
pub use socket::Message;
pub use websocket::{OnReconnect, Reconnect, WebSocket};
