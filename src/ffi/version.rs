//! Library version, as macros in the header and at run time.
use std::ffi::c_char;

use super::boundary::StaticStr;

/// Major version of the header; a change means an ABI break (soname bump).
pub const REQIVO_VERSION_MAJOR: u32 = 0;
/// Minor version of the header: additions only.
pub const REQIVO_VERSION_MINOR: u32 = 1;
/// Patch version of the header.
pub const REQIVO_VERSION_PATCH: u32 = 0;

const VERSION: &std::ffi::CStr = c"0.1.0";

/// The library's version as "MAJOR.MINOR.PATCH". Compare it with the
/// `REQIVO_VERSION_*` macros to detect a header/library mismatch.
///
/// Ownership: a static string; never free it.
/// NULL: no pointer arguments.
/// Thread safety: callable from any thread.
/// Returns: the version string, never NULL.
/// Since: 0.1.0
#[no_mangle]
pub extern "C" fn reqivo_version() -> *const c_char {
    ffi_boundary!({ StaticStr(VERSION.as_ptr()) }).0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_macros_match_cargo_toml() {
        assert_eq!(
            REQIVO_VERSION_MAJOR.to_string(),
            env!("CARGO_PKG_VERSION_MAJOR")
        );
        assert_eq!(
            REQIVO_VERSION_MINOR.to_string(),
            env!("CARGO_PKG_VERSION_MINOR")
        );
        assert_eq!(
            REQIVO_VERSION_PATCH.to_string(),
            env!("CARGO_PKG_VERSION_PATCH")
        );
        assert_eq!(VERSION.to_str().unwrap(), env!("CARGO_PKG_VERSION"));
    }
}
