//! Generates a V1 client/server of `vendor.enea.buffer` from the frozen V1
//! dump (aidl_api/vendor.enea.buffer/1), stamped as Soong stamps
//! `vendor.enea.buffer-V1-rust`: real generated code, so the evolution tests
//! run what a V1 client or V1 service built years ago would run.

use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from("../aidl/aidl_api/vendor.enea.buffer/1");
    let aidl = dir.join("vendor/enea/buffer/IEneaBuffer.aidl");
    let hash_file = dir.join(".hash");
    println!("cargo:rerun-if-changed={}", aidl.display());
    println!("cargo:rerun-if-changed={}", hash_file.display());
    let hash = std::fs::read_to_string(&hash_file)
        .unwrap_or_else(|e| panic!("cannot read {}: {e}", hash_file.display()))
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or_else(|| panic!("{} is empty", hash_file.display()))
        .to_owned();
    rsbinder_aidl::Builder::new()
        .source(aidl)
        .version(1)
        .hash(hash)
        .output(PathBuf::from("vendor_enea_buffer_v1.rs"))
        .generate()
        .expect("rsbinder-aidl failed to generate the frozen V1 interface");
}
