//! Session switches that take no data.
use super::error::reqivo_code;
use super::session::reqivo_session;

/// Turns content decoding on or off for later sends. On (the default), the
/// library sends `Accept-Encoding: gzip, deflate` unless the request has its
/// own, and decodes a gzip or deflate body, buffered or streamed, setting
/// `REQIVO_RESPONSE_DECOMPRESSED`; headers stay as received, and the decoded
/// size counts against `max_body_bytes` (`REQIVO_ERR_BODY_TOO_LARGE`). A
/// corrupt body is `REQIVO_ERR_DECOMPRESSION`. Off, bodies arrive as sent.
///
/// Ownership: nothing is allocated.
/// NULL: `s` NULL is `REQIVO_ERR_INVALID_ARGUMENT`.
/// Thread safety: callable while other threads send; applies to later sends.
/// Returns: 0, or `REQIVO_ERR_INVALID_ARGUMENT`.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_session_set_decompress(s: *mut reqivo_session, on: bool) -> u32 {
    ffi_boundary!({
        borrow!(s).set_decompress(on);
        reqivo_code::REQIVO_OK as u32
    })
}
