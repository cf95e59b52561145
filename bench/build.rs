//! Generates the bench-only `vendor.enea.buffer.bench` bindings:
//! `IBufferBench` (P2, P4) and `IWakeRegistrar` / `IWakeListener` (P6).

use std::path::PathBuf;

fn main() {
    let dir = PathBuf::from("aidl/vendor/enea/buffer/bench");
    println!("cargo:rerun-if-changed={}", dir.display());
    let mut builder = rsbinder_aidl::Builder::new();
    for name in ["IBufferBench", "IWakeListener", "IWakeRegistrar"] {
        let aidl = dir.join(format!("{name}.aidl"));
        println!("cargo:rerun-if-changed={}", aidl.display());
        builder = builder.source(aidl);
    }
    builder
        .output(PathBuf::from("ibuffer_bench.rs"))
        .set_async_support(true)
        .generate()
        .expect("rsbinder-aidl failed to generate vendor.enea.buffer.bench");
}
