//! Death notification: a C callback run once when the service dies.

use std::ffi::c_void;

use enea_buffer_client::{Connection, DeathWatch};

use crate::args::{self, check_out, handle, into_raw, write_out};
use crate::status::{guard, guard_close, Failure, Status};
use crate::sys;

/// The caller's callback and its context pointer.
struct Callback {
    call: unsafe extern "C" fn(*mut c_void),
    context: *mut c_void,
}

// SAFETY: the header requires the callback to be safe to call from another
// thread with its context; the library only passes the pointer back.
unsafe impl Send for Callback {}
// SAFETY: as for Send: the pointer is never dereferenced here.
unsafe impl Sync for Callback {}

impl Callback {
    /// Calls the caller's function with its context.
    fn run(&self) {
        // SAFETY: the caller gave a function safe to run on any thread with
        // this context; the library calls it at most once per watch.
        unsafe { (self.call)(self.context) }
    }
}

/// C: `enea_buffer_connection_on_death`.
///
/// # Safety
/// `connection` is NULL or open; `callback` may be called with `context`
/// from another thread; `out` is NULL or valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn enea_buffer_connection_on_death(
    connection: *const sys::enea_buffer_connection,
    callback: sys::enea_buffer_death_callback,
    context: *mut c_void,
    out: *mut *mut sys::enea_buffer_death_watch,
) -> Status {
    guard(|| {
        check_out(out, "out")?;
        let call = callback.ok_or_else(|| Failure::Invalid("callback is NULL".into()))?;
        // SAFETY: forwarded contract.
        let conn: &Connection = unsafe { handle(connection, "connection") }?;
        let callback = Callback { call, context };
        let watch = conn.link_to_death(move || callback.run())?;
        // SAFETY: forwarded contract.
        unsafe { write_out(out, into_raw(watch), "out") }
    })
}

/// C: `enea_buffer_death_watch_close`.
///
/// # Safety
/// `watch` is NULL or an open watch no other thread uses.
#[no_mangle]
pub unsafe extern "C" fn enea_buffer_death_watch_close(watch: *mut sys::enea_buffer_death_watch) {
    // SAFETY: forwarded contract.
    guard_close(|| unsafe { args::take::<DeathWatch, _>(watch) })
}
