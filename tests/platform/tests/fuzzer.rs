//! The Soong service fuzzer stays buildable and in AOSP's shape: its
//! Android.bp module, its source and tests/android/aosp-crates.toml agree.
//! (tests/android/check.py then compiles the source against those crates.)

use enea_buffer_platform_checks::{aosp, blueprint, read, repo_root};

const FUZZER: &str = "vendor.enea.buffer-service_fuzzer";

fn fuzzer() -> (blueprint::BpFile, android_bp::Module) {
    for f in blueprint::all_files() {
        if let Some(m) = f.module("rust_fuzz", FUZZER) {
            let m = m.clone();
            return (f, m);
        }
    }
    panic!("no rust_fuzz {FUZZER:?} in any Android.bp");
}

/// AOSP's service fuzzers (security/authgraph/default,
/// security/secretkeeper/default): one source calling `fuzz_service` on the
/// service's binder, libbinder_random_parcel_rs and libbinder_rs linked,
/// a fuzz_config naming whom to tell.
#[test]
fn the_service_fuzzer_is_aosps_shape() {
    let (bpf, m) = fuzzer();
    let srcs = blueprint::strings(&m, "srcs");
    assert_eq!(
        srcs.len(),
        1,
        "{} {FUZZER}: one crate root, found {srcs:?}",
        bpf.rel
    );
    let src = bpf.resolve(&srcs[0]);
    assert!(
        repo_root().join(&src).is_file(),
        "{} {FUZZER} names {src}, which does not exist",
        bpf.rel
    );
    let text = read(&src);
    for needle in [
        "fuzz_target!",
        "fuzz_service(&mut ",
        ".as_binder()",
        "enea_buffer_service::",
    ] {
        assert!(
            text.contains(needle),
            "{src} lacks `{needle}`: not AOSP's service fuzzer shape"
        );
    }

    let libs = blueprint::strings(&m, "rustlibs");
    for lib in [
        "libenea_buffer_service",
        "libbinder_random_parcel_rs",
        "libbinder_rs",
    ] {
        assert!(
            libs.iter().any(|l| l == lib),
            "{} {FUZZER} rustlibs lack {lib}: {libs:?}",
            bpf.rel
        );
    }
    let table = aosp::Aosp::load();
    // Soong links liblibfuzzer_sys into every rust_fuzz (rust/fuzz.go).
    for lib in libs.iter().map(String::as_str).chain(["liblibfuzzer_sys"]) {
        assert!(
            table.modules.iter().any(|row| row.soong == lib),
            "{} {FUZZER} links {lib}, which {} does not describe",
            bpf.rel,
            aosp::TABLE
        );
    }

    let cc = blueprint::nested(&m, &["fuzz_config", "cc"]);
    assert!(
        matches!(cc, Some(android_bp::Value::Array(a)) if !a.is_empty()),
        "{} {FUZZER}: fuzz_config has no cc (whom to tell of a finding)",
        bpf.rel
    );
    // libbinder_random_parcel_rs is a platform library: a vendor module
    // cannot link it, and the service library must be vendor_available.
    assert_ne!(
        blueprint::boolean(&m, "vendor"),
        Some(true),
        "{} {FUZZER} is vendor: true",
        bpf.rel
    );
    let lib = blueprint::all_files()
        .into_iter()
        .find_map(|f| f.module("rust_library", "libenea_buffer_service").cloned())
        .expect("rust_library libenea_buffer_service");
    assert_eq!(
        blueprint::boolean(&lib, "vendor_available"),
        Some(true),
        "libenea_buffer_service must be vendor_available for {FUZZER} to link it"
    );
}
