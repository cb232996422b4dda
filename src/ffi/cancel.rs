//! Cancellation tokens.
use super::handle::{free_arc, to_arc_ptr, try_ref, Castable, OwnedArc};
use crate::client::Cancel;

/// A cancellation token: pass it to `reqivo_session_send` or
/// `reqivo_session_open`, trigger it from any thread. Reference-counted:
/// a send or stream in flight keeps it alive even after `reqivo_cancel_free`.
pub struct reqivo_cancel {
    _private: [u8; 0],
}

impl Castable for reqivo_cancel {
    type Ownership = OwnedArc;
    type RustType = Cancel;
}

/// Creates a cancellation token. One token may serve any number of sends;
/// once triggered it stays triggered. A token holds no file descriptor
/// for HTTP sends and streams (a cancel shuts their sockets down); a
/// WebSocket call that must stay usable after a cancel makes one eventfd
/// for its token on first use.
///
/// Ownership: the caller owns the token and frees it with `reqivo_cancel_free`;
/// sends and streams using it hold their own references.
/// NULL: no pointer arguments.
/// Thread safety: the token may be used from any thread.
/// Returns: the token.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_cancel_new() -> *mut reqivo_cancel {
    ffi_boundary!({
        match Cancel::new() {
            Ok(c) => to_arc_ptr::<reqivo_cancel>(std::sync::Arc::new(c)).cast_mut(),
            Err(_) => std::ptr::null_mut(),
        }
    })
}

/// Cancels every send, open and stream read using `c`: each returns
/// `REQIVO_ERR_CANCELLED` within 50 ms, whatever it waits on (DNS, connect,
/// pool, read, write).
///
/// Ownership: nothing is allocated.
/// NULL: ignored.
/// Thread safety: callable from any thread, any number of times.
/// Returns: nothing.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_cancel_trigger(c: *const reqivo_cancel) {
    ffi_boundary!({
        // SAFETY: `c` is NULL or a live token from reqivo_cancel_new.
        if let Some(c) = unsafe { try_ref(c) } {
            c.trigger();
        }
    })
}

/// Releases the caller's reference to a token.
///
/// Ownership: the caller's reference ends; sends in flight keep theirs.
/// NULL: ignored.
/// Thread safety: do not free a token another thread is passing to a call.
/// Returns: nothing.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_cancel_free(c: *mut reqivo_cancel) {
    // SAFETY: `c` is NULL or the caller's reference from reqivo_cancel_new.
    ffi_boundary!({ unsafe { free_arc(c.cast_const()) } })
}
