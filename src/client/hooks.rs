//! Caller hooks around each hop of a send: `on_request` may change the
//! headers of the attempt about to go out; `on_response` sees every
//! response head, redirect hops included. Both run on the sending thread;
//! returning false aborts the send (`AbortedByCallback`).
use url::Url;

use super::error::{ClientError, ClientErrorKind};
use super::headers::HeaderList;
use super::request::validate_header;
use crate::proto::ResponseHead;

/// The request of one hop, as a hook sees and changes it.
pub struct HookRequest<'a, 'h> {
    pub(crate) method: &'a str,
    pub(crate) url: &'a Url,
    pub(crate) headers: &'a mut HeaderList<'h>,
}

impl HookRequest<'_, '_> {
    pub fn method(&self) -> &str {
        self.method
    }

    pub fn url(&self) -> &Url {
        self.url
    }

    /// The first value of `name`, compared case-insensitively.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name)
    }

    /// Replaces every field named `name` with one `name: value`.
    pub fn set_header(&mut self, name: &str, value: &str) -> Result<(), ClientError> {
        validate_header(name, value)?;
        self.headers.set(name.to_string(), value.to_string());
        Ok(())
    }

    /// Adds a field, keeping others of the same name.
    pub fn add_header(&mut self, name: &str, value: &str) -> Result<(), ClientError> {
        validate_header(name, value)?;
        self.headers
            .add_from_caller(name.to_string(), value.to_string());
        Ok(())
    }

    /// Removes every field named `name`. Host and the framing headers the
    /// library derives from the body cannot be removed.
    pub fn remove_header(&mut self, name: &str) -> Result<(), ClientError> {
        if name.eq_ignore_ascii_case("host") || super::request::is_framing_header(name) {
            return Err(ClientError::Proto(crate::proto::ProtoError::new(
                crate::proto::ProtoErrorKind::InvalidHeader,
                format!("header {:?} cannot be removed: the request needs it", name),
            )));
        }
        self.headers.remove(name);
        Ok(())
    }
}

pub trait Hooks: Send + Sync {
    /// Before each hop is sent. Return false to abort the send.
    fn on_request(&self, _req: &mut HookRequest<'_, '_>) -> bool {
        true
    }

    /// After each response head is read (the body follows). Return false to abort.
    fn on_response(&self, _head: &ResponseHead, _url: &Url) -> bool {
        true
    }
}

pub(crate) fn aborted(which: &str) -> ClientError {
    ClientError::new(
        ClientErrorKind::AbortedByCallback,
        format!("{} hook aborted the send", which),
    )
}

impl std::fmt::Debug for dyn Hooks {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Hooks")
    }
}
