//! Generated bindings of the bench-only `vendor.enea.buffer.bench` interfaces.

#![allow(
    clippy::all,
    missing_docs,
    non_snake_case,
    non_camel_case_types,
    unused
)]

include!(concat!(env!("OUT_DIR"), "/ibuffer_bench.rs"));
