//! Generates the bench-only `vendor.enea.buffer.bench.IBufferBench` bindings.

use std::path::PathBuf;

fn main() {
    let aidl = PathBuf::from("aidl/vendor/enea/buffer/bench/IBufferBench.aidl");
    println!("cargo:rerun-if-changed={}", aidl.display());
    rsbinder_aidl::Builder::new()
        .source(aidl)
        .output(PathBuf::from("ibuffer_bench.rs"))
        .set_async_support(true)
        .generate()
        .expect("rsbinder-aidl failed to generate IBufferBench");
}
