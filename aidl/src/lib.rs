//! Generated bindings for `vendor.enea.buffer`, exposed under the module path
//! AOSP's `aidl --lang=rust` crate uses, so service and client code read the
//! same on both platforms: `vendor_enea_buffer::aidl::vendor::enea::buffer`.

#![allow(
    clippy::all,
    missing_docs,
    non_snake_case,
    non_camel_case_types,
    unused
)]

/// The generated AIDL tree (`aidl::vendor::enea::buffer::IEneaBuffer`).
pub mod aidl {
    include!(concat!(env!("OUT_DIR"), "/vendor_enea_buffer.rs"));
}
