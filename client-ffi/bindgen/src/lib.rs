//! The C client API (`client-ffi/include/enea/buffer/enea_buffer_client.h`)
//! as bindgen declares it: generated at build time from the header itself,
//! as Soong's `rust_bindgen` module `libenea_buffer_client_bindgen` does, so
//! the implementation is checked against what C callers compile.

#![allow(
    non_camel_case_types,
    non_upper_case_globals,
    non_snake_case,
    missing_docs,
    clippy::all
)]

include!(concat!(env!("OUT_DIR"), "/bindings.rs"));
