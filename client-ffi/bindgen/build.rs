//! Runs bindgen over the C header with the flags Soong's rust_bindgen module
//! reads (`bindgen_flags.txt`), so Cargo and Soong generate the same code.

use std::path::{Path, PathBuf};

fn main() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
    let header = dir.join("include/enea/buffer/enea_buffer_client.h");
    let flags_file = dir.join("bindgen_flags.txt");
    println!("cargo:rerun-if-changed={}", header.display());
    println!("cargo:rerun-if-changed={}", flags_file.display());
    let flags = std::fs::read_to_string(&flags_file)
        .unwrap_or_else(|e| panic!("reading {}: {e}", flags_file.display()));
    let mut builder = bindgen::Builder::default()
        .header(header.to_string_lossy())
        .clang_arg("-std=c11");
    let mut words = flags.split_whitespace();
    while let Some(flag) = words.next() {
        let mut value = || {
            words
                .next()
                .unwrap_or_else(|| panic!("{}: {flag} needs a value", flags_file.display()))
        };
        builder = match flag {
            "--allowlist-function" => builder.allowlist_function(value()),
            "--allowlist-type" => builder.allowlist_type(value()),
            "--allowlist-var" => builder.allowlist_var(value()),
            "--no-prepend-enum-name" => builder.prepend_enum_name(false),
            other => panic!(
                "{}: this build script does not know the flag {other}; \
                 teach it, so Cargo and Soong keep generating the same code",
                flags_file.display()
            ),
        };
    }
    let bindings = builder.generate().unwrap_or_else(|e| {
        panic!(
            "bindgen over {} failed: {e} (bindgen needs libclang: apt-get install libclang-dev)",
            header.display()
        )
    });
    let out = PathBuf::from(std::env::var("OUT_DIR").expect("OUT_DIR")).join("bindings.rs");
    bindings
        .write_to_file(&out)
        .unwrap_or_else(|e| panic!("writing {}: {e}", out.display()));
}
