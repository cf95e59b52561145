//! Generates the Rust code for `vendor.enea.buffer` from the .aidl sources.
//!
//! The source is stamped with the frozen version and its hash, as Soong does
//! for `vendor.enea.buffer-V2-rust` (`aidl --version 2 --hash <hash>`), so
//! `getInterfaceVersion()`/`getInterfaceHash()` answer the same on the host
//! as on a device.

use std::path::PathBuf;

/// The frozen version this crate is built as; keep it equal to the last entry
/// of `versions_with_info` in Android.bp (tests/platform checks this).
const VERSION: i32 = 2;

fn main() {
    // Every .aidl of the package, as Soong's `srcs: ["vendor/enea/buffer/*.aidl"]`.
    let dir = PathBuf::from("vendor/enea/buffer");
    let mut sources: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("cannot list {}: {e}", dir.display()))
        .map(|e| e.expect("directory entry").path())
        .filter(|p| p.extension().is_some_and(|x| x == "aidl"))
        .collect();
    sources.sort();
    let hash_file = PathBuf::from(format!("aidl_api/vendor.enea.buffer/{VERSION}/.hash"));
    println!("cargo:rerun-if-changed={}", dir.display());
    for aidl in &sources {
        println!("cargo:rerun-if-changed={}", aidl.display());
    }
    println!("cargo:rerun-if-changed={}", hash_file.display());

    // Soong passes the last line of .hash (`tail -1`): a re-frozen version
    // appends its new hash below the old one.
    let hashes = std::fs::read_to_string(&hash_file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", hash_file.display()));
    let hash = hashes
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or_else(|| panic!("{} is empty", hash_file.display()))
        .to_owned();

    // rsbinder-aidl stamps the source added last; Soong passes --version and
    // --hash for every file of the module.
    let mut builder = rsbinder_aidl::Builder::new();
    for aidl in sources {
        builder = builder.source(aidl).version(VERSION).hash(hash.clone());
    }
    builder
        .output(PathBuf::from("vendor_enea_buffer.rs"))
        .set_async_support(true)
        .generate()
        .expect("rsbinder-aidl failed to generate vendor.enea.buffer");
}
