//! C ABI of the `vendor.enea.buffer` client library, declared by the
//! hand-written header `include/enea/buffer/enea_buffer_client.h` (C11) and
//! wrapped for C++17 by `enea_buffer_client.hpp`.
//!
//! C callers get the guarantees of [`enea_buffer_client`]: a region is
//! mapped only after its fd was verified, every access is bounds- and
//! alignment-checked, and the shared memory is touched only by atomics and
//! volatile copies. On top of that, at the boundary:
//! - every exported function catches panics and returns
//!   `ENEA_BUFFER_ERR_PANIC`: no unwind crosses into C;
//! - NULL pointers, misaligned out-parameters, lengths above `isize::MAX`
//!   and non-UTF-8 instance names are `ENEA_BUFFER_ERR_INVALID_ARGUMENT`;
//! - the Rust library's `&mut self` rule (a byte copy never races an atomic
//!   of the same handle) holds for C threads too: see [`shared`].
//!
//! The header is the single source of the ABI: bindgen turns it into
//! `enea_buffer_client_bindgen` at build time, and [`abi`] makes the
//! compiler compare every function here with its declaration there.

mod abi;
mod args;
mod connection;
mod death;
mod last_error;
mod read_only;
mod shared;
mod status;

use enea_buffer_client_bindgen as sys;
