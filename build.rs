//! Link settings of the shared library: a soname carrying the ABI major
//! version, and a version script exporting only `reqivo_*` symbols.
fn main() {
    println!("cargo:rerun-if-changed=reqivo.map");
    let target_os = std::env::var("CARGO_CFG_TARGET_OS").unwrap_or_default();
    if target_os == "linux" {
        let major = std::env::var("CARGO_PKG_VERSION_MAJOR").unwrap_or_else(|_| "0".into());
        let map =
            std::path::Path::new(&std::env::var("CARGO_MANIFEST_DIR").unwrap()).join("reqivo.map");
        println!(
            "cargo:rustc-cdylib-link-arg=-Wl,-soname,libreqivo.so.{}",
            major
        );
        println!(
            "cargo:rustc-cdylib-link-arg=-Wl,--version-script={}",
            map.display()
        );
    }
}
