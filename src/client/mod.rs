//! Policy that spans exchanges: sessions, URL joining, default headers,
//! redirects, the stale-connection retry, the retry policy, buffered and
//! streamed bodies.
//!
//! Rule for this layer: it decides *what* to send and whether to go on; it
//! never parses bytes (that is `proto`) and never waits on a socket itself
//! (that is `net`).
#![deny(unsafe_code)]

mod body;
mod chain;
mod cookies;
mod decode;
mod digest;
mod error;
mod exchange;
mod h2;
mod headers;
mod hooks;
pub mod json;
mod log;
pub mod multi;
mod multipart;
mod proxy;
mod redirect;
mod request;
mod response;
mod retry;
mod session;
mod stream;
pub mod ws;

pub use body::{BodySource, Progress};
pub use cookies::{CookieLimits, Jar};
pub use error::{ClientError, ClientErrorKind, ErrorKind};
pub use hooks::{HookRequest, Hooks};
pub use log::{Level, Log, Logger};
pub use multipart::{Multipart, DEFAULT_FILE_TYPE};
pub use proxy::{parse_proxy_url, NoProxy, ProxySettings};
pub use request::{is_framing_header, Request};
pub use response::{Finish, Parts, Response, Timings, ToResponse};
pub use retry::RetryPolicy;
pub use session::{Session, SessionConfig, Upgrade, Upgraded, DEFAULT_TIMEOUTS};
pub use stream::Stream;

// What callers of this layer pass in or read out that the layers below
// define. The C ABI (`ffi`) reaches them only through here (DESIGN §2).
pub use crate::net::h2::HttpVersion;
pub use crate::net::{
    Cancel, Pool, PoolConfig, TimeoutOverrides, Timeouts, TlsConfig, TlsConfigBuilder, TlsInfo,
    TlsVersion,
};
pub use crate::proto::{Limits, ResponseHead, Trailers};
pub use url::Url;

// Reached only by the hidden `fuzzing` module, so the fuzzers drive the real
// redirect code without it joining the API.
#[cfg(feature = "fuzzing")]
pub(crate) use exchange::request_target;
#[cfg(feature = "fuzzing")]
pub(crate) use redirect::resolve_location;
