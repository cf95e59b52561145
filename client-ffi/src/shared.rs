//! The read-write mapping's functions.
//!
//! The Rust library takes `&mut self` for byte copies so that no atomic of
//! the same handle touches the bytes meanwhile. C has no borrows, so the
//! handle holds the buffer in a `RwLock`: word calls take it shared, copies
//! take it exclusively, and only with `try_write`: a copy never waits for
//! another thread's call (which may be a long wait for a change that this
//! very copy's thread is about to make), it fails with BUSY instead.

use std::ffi::c_void;
use std::sync::{PoisonError, RwLock, RwLockReadGuard, TryLockError};
use std::time::Duration;

use enea_buffer_client::{SharedBuffer, WaitOptions};

use crate::args::{self, bytes, bytes_mut, handle, write_optional, write_out};
use crate::status::{guard, guard_close, Failure, Status};
use crate::sys;

/// What a `enea_buffer_shared *` points to.
pub(crate) struct Shared {
    buffer: RwLock<SharedBuffer>,
}

impl Shared {
    pub(crate) fn new(buffer: SharedBuffer) -> Self {
        Self {
            buffer: RwLock::new(buffer),
        }
    }

    /// The buffer for a word call. A panic in another call cannot leave
    /// the buffer half-changed (its `&mut` methods only copy bytes), so a
    /// poisoned lock is taken as it is.
    fn words(&self) -> RwLockReadGuard<'_, SharedBuffer> {
        self.buffer.read().unwrap_or_else(PoisonError::into_inner)
    }

    /// The buffer to itself for a byte copy, or BUSY at once.
    fn exclusive<T>(&self, copy: impl FnOnce(&mut SharedBuffer) -> T) -> Result<T, Failure> {
        let mut guard = match self.buffer.try_write() {
            Ok(guard) => guard,
            Err(TryLockError::Poisoned(p)) => p.into_inner(),
            Err(TryLockError::WouldBlock) => {
                return Err(Failure::Busy(
                    "another thread is inside a call on this mapping; a byte copy needs the \
                     handle to itself: map the region once per thread that copies"
                        .into(),
                ))
            }
        };
        Ok(copy(&mut guard))
    }
}

/// The mapping behind a C handle.
///
/// # Safety
/// As [`args::handle`].
unsafe fn shared<'a>(p: *const sys::enea_buffer_shared) -> Result<&'a Shared, Failure> {
    // SAFETY: forwarded contract.
    unsafe { handle(p, "buffer") }
}

/// A wait's timeout: `ENEA_BUFFER_FOREVER` is none.
fn wait_timeout(ms: u32) -> Option<Duration> {
    (ms != sys::ENEA_BUFFER_FOREVER).then(|| Duration::from_millis(u64::from(ms)))
}

/// C: `enea_buffer_shared_close`.
///
/// # Safety
/// `buffer` is NULL or an open mapping no other thread uses.
#[no_mangle]
pub unsafe extern "C" fn enea_buffer_shared_close(buffer: *mut sys::enea_buffer_shared) {
    // SAFETY: forwarded contract.
    guard_close(|| unsafe { args::take::<Shared, _>(buffer) })
}

/// C: `enea_buffer_shared_size`.
///
/// # Safety
/// `buffer` is NULL or open; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn enea_buffer_shared_size(
    buffer: *const sys::enea_buffer_shared,
    out: *mut usize,
) -> Status {
    // SAFETY: forwarded contracts.
    guard(|| unsafe { write_out(out, shared(buffer)?.words().len(), "out") })
}

/// C: `enea_buffer_shared_identity`.
///
/// # Safety
/// `buffer` is NULL or open; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn enea_buffer_shared_identity(
    buffer: *const sys::enea_buffer_shared,
    out: *mut sys::enea_buffer_file_identity,
) -> Status {
    guard(|| {
        // SAFETY: forwarded contract.
        let id = crate::args::c_identity(unsafe { shared(buffer) }?.words().identity()?);
        // SAFETY: forwarded contract.
        unsafe { write_out(out, id, "out") }
    })
}

/// C: `enea_buffer_shared_has_layout`.
///
/// # Safety
/// `buffer` is NULL or open; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn enea_buffer_shared_has_layout(
    buffer: *const sys::enea_buffer_shared,
    out: *mut bool,
) -> Status {
    // SAFETY: forwarded contracts.
    guard(|| unsafe { write_out(out, shared(buffer)?.words().has_layout(), "out") })
}

/// C: `enea_buffer_shared_load_u32`.
///
/// # Safety
/// `buffer` is NULL or open; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn enea_buffer_shared_load_u32(
    buffer: *const sys::enea_buffer_shared,
    offset: usize,
    out: *mut u32,
) -> Status {
    guard(|| {
        // SAFETY: forwarded contract.
        let value = unsafe { shared(buffer) }?.words().load_u32(offset)?;
        // SAFETY: forwarded contract.
        unsafe { write_out(out, value, "out") }
    })
}

/// C: `enea_buffer_shared_store_u32`.
///
/// # Safety
/// `buffer` is NULL or open.
#[no_mangle]
pub unsafe extern "C" fn enea_buffer_shared_store_u32(
    buffer: *const sys::enea_buffer_shared,
    offset: usize,
    value: u32,
) -> Status {
    guard(|| {
        // SAFETY: forwarded contract.
        let handle = unsafe { shared(buffer) }?;
        Ok(handle.words().store_u32(offset, value)?)
    })
}

/// C: `enea_buffer_shared_fetch_add_u32`.
///
/// # Safety
/// `buffer` is NULL or open; `old_value` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn enea_buffer_shared_fetch_add_u32(
    buffer: *const sys::enea_buffer_shared,
    offset: usize,
    value: u32,
    old_value: *mut u32,
) -> Status {
    guard(|| {
        // SAFETY: forwarded contract.
        let old = unsafe { shared(buffer) }?
            .words()
            .fetch_add_u32(offset, value)?;
        // SAFETY: forwarded contract.
        unsafe { write_optional(old_value, old, "old_value") }
    })
}

/// C: `enea_buffer_shared_wait_change`.
///
/// # Safety
/// `buffer` is NULL or open; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn enea_buffer_shared_wait_change(
    buffer: *const sys::enea_buffer_shared,
    offset: usize,
    old_value: u32,
    timeout_ms: u32,
    out: *mut u32,
) -> Status {
    let options = WaitOptions::default();
    // SAFETY: forwarded contracts.
    guard(|| unsafe { wait_change(buffer, offset, old_value, timeout_ms, &options, out) })
}

/// C: `enea_buffer_shared_wait_change_spin`.
///
/// # Safety
/// `buffer` is NULL or open; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn enea_buffer_shared_wait_change_spin(
    buffer: *const sys::enea_buffer_shared,
    offset: usize,
    old_value: u32,
    timeout_ms: u32,
    spin_us: u32,
    out: *mut u32,
) -> Status {
    let spin = Duration::from_micros(u64::from(spin_us));
    let options = WaitOptions::default().with_spin(spin);
    // SAFETY: forwarded contracts.
    guard(|| unsafe { wait_change(buffer, offset, old_value, timeout_ms, &options, out) })
}

/// Both wait calls: the new value into `out`, or TIMEOUT.
///
/// # Safety
/// `buffer` is NULL or open; `out` is NULL or valid for a write.
unsafe fn wait_change(
    buffer: *const sys::enea_buffer_shared,
    offset: usize,
    old_value: u32,
    timeout_ms: u32,
    options: &WaitOptions,
    out: *mut u32,
) -> Result<(), Failure> {
    args::check_out(out, "out")?;
    // SAFETY: forwarded contract.
    let buffer = unsafe { shared(buffer) }?.words();
    match buffer.wait_u32_change_with(offset, old_value, wait_timeout(timeout_ms), options)? {
        // SAFETY: forwarded contract.
        Some(value) => unsafe { write_out(out, value, "out") },
        None => Err(Failure::Timeout(format!(
            "the word at offset {offset} still held {old_value:#x} after {timeout_ms} ms"
        ))),
    }
}

/// C: `enea_buffer_shared_read_at`.
///
/// # Safety
/// `buffer` is NULL or open; `out` is NULL or `len` writable bytes of the
/// caller's own memory.
#[no_mangle]
pub unsafe extern "C" fn enea_buffer_shared_read_at(
    buffer: *mut sys::enea_buffer_shared,
    offset: usize,
    out: *mut c_void,
    len: usize,
) -> Status {
    guard(|| {
        // SAFETY: forwarded contracts.
        let (handle, out) = unsafe { (shared(buffer)?, bytes_mut(out, len, "out")?) };
        Ok(handle.exclusive(|b| b.read_at(offset, out))??)
    })
}

/// C: `enea_buffer_shared_write_at`.
///
/// # Safety
/// `buffer` is NULL or open; `data` is NULL or `len` readable bytes of the
/// caller's own memory.
#[no_mangle]
pub unsafe extern "C" fn enea_buffer_shared_write_at(
    buffer: *mut sys::enea_buffer_shared,
    offset: usize,
    data: *const c_void,
    len: usize,
) -> Status {
    guard(|| {
        // SAFETY: forwarded contracts.
        let (handle, data) = unsafe { (shared(buffer)?, bytes(data, len, "data")?) };
        Ok(handle.exclusive(|b| b.write_at(offset, data))??)
    })
}

/// C: `enea_buffer_shared_publish`.
///
/// # Safety
/// `buffer` is NULL or open; `data` is NULL or `len` readable bytes of the
/// caller's own memory.
#[no_mangle]
pub unsafe extern "C" fn enea_buffer_shared_publish(
    buffer: *const sys::enea_buffer_shared,
    offset: usize,
    data: *const c_void,
    len: usize,
    timeout_ms: u32,
) -> Status {
    guard(|| {
        // SAFETY: forwarded contracts.
        let (handle, data) = unsafe { (shared(buffer)?, bytes(data, len, "data")?) };
        let timeout = Duration::from_millis(u64::from(timeout_ms));
        Ok(handle.words().publish(offset, data, timeout)?)
    })
}

/// C: `enea_buffer_shared_snapshot`.
///
/// # Safety
/// `buffer` is NULL or open; `out` is NULL or `len` writable bytes of the
/// caller's own memory; `sequence` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn enea_buffer_shared_snapshot(
    buffer: *const sys::enea_buffer_shared,
    offset: usize,
    out: *mut c_void,
    len: usize,
    timeout_ms: u32,
    sequence: *mut u32,
) -> Status {
    guard(|| {
        // SAFETY: forwarded contracts.
        let (handle, out) = unsafe { (shared(buffer)?, bytes_mut(out, len, "out")?) };
        let timeout = Duration::from_millis(u64::from(timeout_ms));
        let seq = handle.words().snapshot(offset, out, timeout)?;
        // SAFETY: forwarded contract.
        unsafe { write_optional(sequence, seq, "sequence") }
    })
}
