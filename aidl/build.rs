//! Generates the Rust code for `vendor.enea.buffer` from the .aidl sources.

use std::path::PathBuf;

fn main() {
    let aidl = PathBuf::from("vendor/enea/buffer/IEneaBuffer.aidl");
    println!("cargo:rerun-if-changed={}", aidl.display());
    rsbinder_aidl::Builder::new()
        .source(aidl)
        .output(PathBuf::from("vendor_enea_buffer.rs"))
        .set_async_support(true)
        .generate()
        .expect("rsbinder-aidl failed to generate vendor.enea.buffer");
}
