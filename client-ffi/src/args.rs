//! Checks of what C passes in: NULL, alignment and lengths are refused with
//! INVALID_ARGUMENT. What cannot be checked (that a non-NULL pointer is
//! live and of the right type) is each function's documented contract.

use std::ffi::{c_char, c_void, CStr};

use crate::status::Failure;

fn invalid(message: String) -> Failure {
    Failure::Invalid(message)
}

/// `p` as a reference to the handle it points to.
///
/// # Safety
/// `p` is NULL or came from this library's constructor of `H` (cast to the
/// header's opaque type) and was not closed; the reference must not
/// outlive the handle.
pub(crate) unsafe fn handle<'a, H, Opaque>(p: *const Opaque, what: &str) -> Result<&'a H, Failure> {
    // SAFETY: per the contract, a non-NULL `p` points to a live `H`, which
    // the library only ever accesses through shared references.
    unsafe { p.cast::<H>().as_ref() }.ok_or_else(|| invalid(format!("{what} is NULL")))
}

/// Stores `value` through the out-parameter `p`.
///
/// # Safety
/// `p` is NULL or valid for a write of a `T`.
pub(crate) unsafe fn write_out<T>(p: *mut T, value: T, what: &str) -> Result<(), Failure> {
    check_out(p, what)?;
    // SAFETY: non-NULL and aligned (checked above); valid for writes per the
    // contract. `write` does not read or drop the old contents.
    unsafe { p.write(value) };
    Ok(())
}

/// Refuses an out-parameter that is NULL or misaligned for `T`: callers
/// that create a handle check first, so a bad pointer leaks nothing.
pub(crate) fn check_out<T>(p: *mut T, what: &str) -> Result<(), Failure> {
    if p.is_null() {
        return Err(invalid(format!("the out-parameter {what} is NULL")));
    }
    if (p as usize) % std::mem::align_of::<T>() != 0 {
        return Err(invalid(format!(
            "the out-parameter {what} is not aligned to {} bytes",
            std::mem::align_of::<T>()
        )));
    }
    Ok(())
}

/// As [`write_out`], for an optional out-parameter: NULL means "not wanted".
///
/// # Safety
/// As [`write_out`].
pub(crate) unsafe fn write_optional<T>(p: *mut T, value: T, what: &str) -> Result<(), Failure> {
    if p.is_null() {
        return Ok(());
    }
    // SAFETY: forwarded contract.
    unsafe { write_out(p, value, what) }
}

fn check_len(p: *const c_void, len: usize, what: &str) -> Result<bool, Failure> {
    if len == 0 {
        return Ok(false);
    }
    if p.is_null() {
        return Err(invalid(format!("{what} is NULL but its length is {len}")));
    }
    if len > isize::MAX as usize {
        return Err(invalid(format!(
            "{what}'s length {len} is larger than any object can be"
        )));
    }
    Ok(true)
}

/// The caller's `len` bytes at `p`, to read.
///
/// # Safety
/// If `len > 0` and `p` is not NULL, `p..p+len` is the caller's own memory
/// (not a mapping of the shared region), readable, and not written by
/// anyone while the call runs.
pub(crate) unsafe fn bytes<'a>(
    p: *const c_void,
    len: usize,
    what: &str,
) -> Result<&'a [u8], Failure> {
    if !check_len(p, len, what)? {
        return Ok(&[]);
    }
    // SAFETY: non-NULL, at most isize::MAX bytes (checked); readable and
    // unaliased by writers per the contract. u8 needs no alignment.
    Ok(unsafe { std::slice::from_raw_parts(p.cast::<u8>(), len) })
}

/// The caller's `len` bytes at `p`, to write.
///
/// # Safety
/// If `len > 0` and `p` is not NULL, `p..p+len` is the caller's own memory
/// (not a mapping of the shared region), writable, and not accessed by
/// anyone else while the call runs.
pub(crate) unsafe fn bytes_mut<'a>(
    p: *mut c_void,
    len: usize,
    what: &str,
) -> Result<&'a mut [u8], Failure> {
    if !check_len(p, len, what)? {
        return Ok(&mut []);
    }
    // SAFETY: non-NULL, at most isize::MAX bytes (checked); writable and
    // exclusively ours for the call per the contract.
    Ok(unsafe { std::slice::from_raw_parts_mut(p.cast::<u8>(), len) })
}

/// An optional C string: NULL is `None`.
///
/// # Safety
/// `p` is NULL or points to a NUL-terminated string that lives, unchanged,
/// for the call.
pub(crate) unsafe fn c_str<'a>(p: *const c_char) -> Option<&'a CStr> {
    if p.is_null() {
        return None;
    }
    // SAFETY: non-NULL and NUL-terminated per the contract.
    Some(unsafe { CStr::from_ptr(p) })
}

/// Leaks `value` into a handle pointer for C (`Opaque` is the header's
/// opaque type); [`take`] gets it back.
pub(crate) fn into_raw<H, Opaque>(value: H) -> *mut Opaque {
    Box::into_raw(Box::new(value)).cast()
}

/// Takes back a handle made by [`into_raw`] and drops it; NULL is ignored.
///
/// # Safety
/// `p` is NULL or came from [`into_raw`] for `H`, was not taken before, and
/// no other thread uses it.
pub(crate) unsafe fn take<H, Opaque>(p: *mut Opaque) {
    if !p.is_null() {
        // SAFETY: per the contract, `p` is the unique owner of a live Box<H>.
        drop(unsafe { Box::from_raw(p.cast::<H>()) });
    }
}

/// A file identity as the header declares it.
pub(crate) fn c_identity(
    id: enea_buffer_client::FileIdentity,
) -> crate::sys::enea_buffer_file_identity {
    crate::sys::enea_buffer_file_identity {
        dev: id.dev,
        ino: id.ino,
    }
}
