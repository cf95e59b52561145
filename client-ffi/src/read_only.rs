//! The read-only mapping's functions. Every access of a `ReadOnlyBuffer`
//! takes `&self` (reads never race reads), so C threads share it freely.

use std::ffi::c_void;
use std::time::Duration;

use enea_buffer_client::ReadOnlyBuffer;

use crate::args::{self, bytes_mut, handle, write_optional, write_out};
use crate::status::{guard, guard_close, Failure, Status};
use crate::sys;

/// What a `enea_buffer_read_only *` points to.
pub(crate) struct ReadOnly {
    pub(crate) buffer: ReadOnlyBuffer,
}

/// The mapping behind a C handle.
///
/// # Safety
/// As [`args::handle`].
unsafe fn read_only<'a>(
    p: *const sys::enea_buffer_read_only,
) -> Result<&'a ReadOnlyBuffer, Failure> {
    // SAFETY: forwarded contract.
    unsafe { handle::<ReadOnly, _>(p, "buffer") }.map(|h| &h.buffer)
}

/// C: `enea_buffer_read_only_close`.
///
/// # Safety
/// `buffer` is NULL or an open mapping no other thread uses.
#[no_mangle]
pub unsafe extern "C" fn enea_buffer_read_only_close(buffer: *mut sys::enea_buffer_read_only) {
    // SAFETY: forwarded contract.
    guard_close(|| unsafe { args::take::<ReadOnly, _>(buffer) })
}

/// C: `enea_buffer_read_only_size`.
///
/// # Safety
/// `buffer` is NULL or open; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn enea_buffer_read_only_size(
    buffer: *const sys::enea_buffer_read_only,
    out: *mut usize,
) -> Status {
    // SAFETY: forwarded contracts.
    guard(|| unsafe { write_out(out, read_only(buffer)?.len(), "out") })
}

/// C: `enea_buffer_read_only_identity`.
///
/// # Safety
/// `buffer` is NULL or open; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn enea_buffer_read_only_identity(
    buffer: *const sys::enea_buffer_read_only,
    out: *mut sys::enea_buffer_file_identity,
) -> Status {
    guard(|| {
        // SAFETY: forwarded contract.
        let id = crate::args::c_identity(unsafe { read_only(buffer) }?.identity()?);
        // SAFETY: forwarded contract.
        unsafe { write_out(out, id, "out") }
    })
}

/// C: `enea_buffer_read_only_load_u32`.
///
/// # Safety
/// `buffer` is NULL or open; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn enea_buffer_read_only_load_u32(
    buffer: *const sys::enea_buffer_read_only,
    offset: usize,
    out: *mut u32,
) -> Status {
    guard(|| {
        // SAFETY: forwarded contract.
        let value = unsafe { read_only(buffer) }?.load_u32(offset)?;
        // SAFETY: forwarded contract.
        unsafe { write_out(out, value, "out") }
    })
}

/// C: `enea_buffer_read_only_read_at`.
///
/// # Safety
/// `buffer` is NULL or open; `out` is NULL or `len` writable bytes of the
/// caller's own memory.
#[no_mangle]
pub unsafe extern "C" fn enea_buffer_read_only_read_at(
    buffer: *const sys::enea_buffer_read_only,
    offset: usize,
    out: *mut c_void,
    len: usize,
) -> Status {
    guard(|| {
        // SAFETY: forwarded contracts.
        let (buffer, out) = unsafe { (read_only(buffer)?, bytes_mut(out, len, "out")?) };
        Ok(buffer.read_at(offset, out)?)
    })
}

/// C: `enea_buffer_read_only_snapshot`.
///
/// # Safety
/// `buffer` is NULL or open; `out` is NULL or `len` writable bytes of the
/// caller's own memory; `sequence` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn enea_buffer_read_only_snapshot(
    buffer: *const sys::enea_buffer_read_only,
    offset: usize,
    out: *mut c_void,
    len: usize,
    timeout_ms: u32,
    sequence: *mut u32,
) -> Status {
    guard(|| {
        // SAFETY: forwarded contracts.
        let (buffer, out) = unsafe { (read_only(buffer)?, bytes_mut(out, len, "out")?) };
        let seq = buffer.snapshot(offset, out, Duration::from_millis(u64::from(timeout_ms)))?;
        // SAFETY: forwarded contract.
        unsafe { write_optional(sequence, seq, "sequence") }
    })
}
