//! The C functions that report errors: the thread's last message and a
//! status's name (over `status`, which every other module reports through).

use std::panic::catch_unwind;

use crate::args;
use crate::status::{self, Status};

/// C: `enea_buffer_last_error`.
///
/// # Safety
/// `buf` is NULL or valid for writes of `len` bytes.
#[no_mangle]
pub unsafe extern "C" fn enea_buffer_last_error(buf: *mut std::ffi::c_char, len: usize) -> usize {
    catch_unwind(|| {
        // SAFETY: forwarded contract; a NULL `buf` with a non-zero `len`
        // is refused and treated as no room.
        let out = unsafe { args::bytes_mut(buf.cast(), len, "buf") };
        status::copy_last_error(out.unwrap_or(&mut []))
    })
    .unwrap_or(0)
}

/// C: `enea_buffer_status_name`.
///
/// # Safety
/// None: any value is accepted. (`unsafe` only to match the header's
/// declaration, as every function of the ABI.)
#[no_mangle]
pub unsafe extern "C" fn enea_buffer_status_name(status: Status) -> *const std::ffi::c_char {
    status::name(status).as_ptr()
}
