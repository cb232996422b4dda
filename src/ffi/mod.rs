//! The C ABI, a thin shell over `client` (DESIGN §2, §3). Each exported
//! body is the panic boundary (`ffi_boundary!`), argument checks
//! (`borrow!`, `require!`, `str_in`, `header_in`), one call into `client`,
//! and writing outputs; a failure is one `FailValue` per return type. No
//! HTTP logic lives here; if an export grows past a screenful, logic has
//! leaked and belongs in `client`. The crate is reached only through
//! `client`.
//!
//! Every `reqivo_<noun>_*` function lives in the file named after its noun
//! (the longest file name that prefixes it: `ws_options.rs` for
//! `reqivo_ws_options_*`, `ws.rs` for the other `reqivo_ws_*`); the files
//! that are no noun (`boundary`, `handle`, `block`, `error`, `callback`,
//! `limits`, `trailers`) hold no export. `rules` below checks both.
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
pub mod multipart;
pub mod pool;
pub mod request;
pub mod response;
pub mod retry;
pub mod session;
pub mod stream;
pub mod timeout;
pub mod tls;
pub mod trailers;
pub mod version;
pub mod ws;
pub mod ws_message;
pub mod ws_options;

/// The layer's rules, checked on its own sources: it reaches the crate
/// only through `client` (DESIGN §2), and every export lives in the file
/// of its noun (DESIGN §3).
#[cfg(test)]
mod rules {
    use std::path::Path;

    /// (file stem, text) of every `src/ffi/*.rs`.
    fn sources() -> Vec<(String, String)> {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src/ffi");
        let mut out: Vec<_> = std::fs::read_dir(dir)
            .expect("src/ffi is readable")
            .map(|e| e.expect("a directory entry").path())
            .filter(|p| p.extension().is_some_and(|x| x == "rs"))
            .map(|p| {
                let stem = p.file_stem().unwrap().to_string_lossy().into_owned();
                (stem, std::fs::read_to_string(&p).expect("a source file"))
            })
            .collect();
        out.sort();
        out
    }

    #[test]
    fn ffi_reaches_the_crate_only_through_client() {
        for (stem, text) in sources() {
            // Built here so that this file does not name them itself.
            for below in ["net", "proto", "ws"].map(|l| format!("crate::{}", l)) {
                assert!(
                    !text.contains(&below),
                    "src/ffi/{}.rs uses {}: reach it through client",
                    stem,
                    below
                );
            }
        }
    }

    #[test]
    fn ffi_exports_live_in_the_file_of_their_noun() {
        let sources = sources();
        let stems: Vec<&str> = sources.iter().map(|(s, _)| s.as_str()).collect();
        let mut exports = 0;
        for (stem, text) in &sources {
            for line in text.lines() {
                let Some(rest) = line.strip_prefix("pub extern \"C\" fn reqivo_") else {
                    continue;
                };
                let name = rest.split('(').next().unwrap();
                // The noun is the longest file name that prefixes the name.
                let home = stems
                    .iter()
                    .filter(|s| name == **s || name.starts_with(&format!("{}_", s)))
                    .max_by_key(|s| s.len());
                assert_eq!(
                    home,
                    Some(&stem.as_str()),
                    "reqivo_{} is in src/ffi/{}.rs",
                    name,
                    stem
                );
                exports += 1;
            }
        }
        assert!(exports > 90, "found only {} exports", exports);
    }
}
