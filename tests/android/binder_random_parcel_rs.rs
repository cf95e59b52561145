//! FIXTURE: AOSP's `libbinder_random_parcel_rs`, signatures only.
//!
//! Models frameworks/native/libs/binder/rust/tests/parcel_fuzzer/random_parcel/src/lib.rs
//! (android-15): the crate every AOSP Rust service fuzzer calls. There it
//! wraps libbinder's C++ `fuzzService` (random codes, parcels, fds, binders
//! and calling uids); here it only lets tests/android/check.py type-check
//! service/fuzz/fuzzer.rs against the same API. The bodies never run.

use binder::SpIBinder;

/// AOSP: fuzzes the service behind `binder` with transactions made from
/// `fuzzer_data`.
pub fn fuzz_service(binder: &mut SpIBinder, fuzzer_data: &[u8]) {
    let mut binders = [binder];
    fuzz_multiple_services(&mut binders, fuzzer_data);
}

/// AOSP: as [`fuzz_service`], spreading the transactions over `binders`.
pub fn fuzz_multiple_services(binders: &mut [&mut SpIBinder], fuzzer_data: &[u8]) {
    let _ = (binders, fuzzer_data);
    unimplemented!("a type-check fixture: AOSP's fuzz_service runs on a device only")
}
