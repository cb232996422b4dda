//! Everything that waits: DNS, connect, TLS handshakes, socket reads and
//! writes, the pool.
//!
//! Rule for this layer: every wait is bounded by a timeout from `Budget` or
//! ended by its `Cancel`; no function here decides what bytes mean (that is
//! `proto`) or follows policy across exchanges (that is `client`).
#![deny(unsafe_code)]

mod budget;
mod cancel;
mod conn;
mod connect;
mod error;
pub mod h2;
pub mod poller;
mod pool;
mod proxy;
pub mod resolver;
mod socket;
mod socks;
mod target;
mod tls;

pub use budget::{Budget, OnCancel, Op, TimeoutOverrides, Timeouts};
pub use cancel::{Cancel, Waker as CancelWaker};
pub use conn::{Conn, ConnTimings, Handshake, WriteStep};
pub use connect::{
    finish_connect, interleave, ip_literal, plan, start_connect, Plan, ATTEMPT_DELAY,
};
pub use error::{NetError, NetErrorKind};
pub use pool::{
    Checkout, H2Lease, KeyRef, Lease, Leased, Pool, PoolConfig, PoolKey, PoolStats, Reservation,
};
pub use proxy::{Proxy, ProxyKind, Route, TunnelAsk};
pub use target::{Dial, Endpoint, Targets};
pub use tls::{TlsConfig, TlsConfigBuilder, TlsInfo, TlsVersion};

#[cfg(test)]
pub(crate) mod test_support {
    use std::net::{TcpListener, TcpStream};

    /// A connected pair of loopback TCP sockets: (client, server).
    pub fn tcp_pair() -> (TcpStream, TcpStream) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let client = TcpStream::connect(listener.local_addr().unwrap()).unwrap();
        let (server, _) = listener.accept().unwrap();
        (client, server)
    }
}
