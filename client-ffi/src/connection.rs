//! The connection functions: connect, queries, mapping.

use std::ffi::OsStr;
use std::os::unix::ffi::OsStrExt;
use std::path::PathBuf;
use std::time::Duration;

use enea_buffer_client::{ConnectOptions, Connection, MapOptions, Transport};

use crate::args::{self, c_str, check_out, handle, into_raw, write_out};
use crate::read_only::ReadOnly;
use crate::shared::Shared;
use crate::status::{guard, guard_close, Failure, Status};
use crate::sys;

/// The Rust options for the C ones (`NULL`: all defaults).
fn rust_options(c: Option<&sys::enea_buffer_connect_options>) -> Result<ConnectOptions, Failure> {
    let mut options = ConnectOptions::default();
    let Some(c) = c else {
        return Ok(options);
    };
    options.transport = match c.transport {
        sys::ENEA_BUFFER_TRANSPORT_AUTO => Transport::Auto,
        sys::ENEA_BUFFER_TRANSPORT_BINDER => Transport::Binder,
        sys::ENEA_BUFFER_TRANSPORT_SOCKET => Transport::Socket,
        other => {
            return Err(Failure::Invalid(format!(
                "transport {other} is not one of ENEA_BUFFER_TRANSPORT_AUTO, _BINDER or _SOCKET"
            )))
        }
    };
    // SAFETY: the header requires these to be NULL or NUL-terminated
    // strings that live for the call.
    if let Some(instance) = unsafe { c_str(c.instance) } {
        let instance = instance
            .to_str()
            .map_err(|_| Failure::Invalid("the instance name is not UTF-8".into()))?;
        options.instance = String::from(instance);
    }
    // SAFETY: as above.
    if let Some(path) = unsafe { c_str(c.socket_path) } {
        options.socket = PathBuf::from(OsStr::from_bytes(path.to_bytes()));
    }
    if c.timeout_ms != 0 {
        options.timeout = Duration::from_millis(u64::from(c.timeout_ms));
    }
    options.death_notifications = c.death_notifications;
    Ok(options)
}

/// C: `enea_buffer_connect`.
///
/// # Safety
/// `options` is NULL or points to initialised options whose strings are
/// NULL or NUL-terminated; `out` is NULL or valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn enea_buffer_connect(
    options: *const sys::enea_buffer_connect_options,
    out: *mut *mut sys::enea_buffer_connection,
) -> Status {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY: NULL or valid options, per the contract.
        let options = rust_options(unsafe { options.as_ref() })?;
        let conn = Connection::connect(&options)?;
        // SAFETY: valid for a pointer write, per the contract.
        unsafe { write_out(out, into_raw(conn), "out") }
    })
}

/// C: `enea_buffer_connection_close`.
///
/// # Safety
/// `connection` is NULL or an open connection no other thread uses.
#[no_mangle]
pub unsafe extern "C" fn enea_buffer_connection_close(
    connection: *mut sys::enea_buffer_connection,
) {
    // SAFETY: forwarded contract.
    guard_close(|| unsafe { args::take::<Connection, _>(connection) })
}

/// The connection behind a C handle.
///
/// # Safety
/// As [`args::handle`].
unsafe fn conn<'a>(p: *const sys::enea_buffer_connection) -> Result<&'a Connection, Failure> {
    // SAFETY: forwarded contract.
    unsafe { handle(p, "connection") }
}

/// C: `enea_buffer_connection_size`.
///
/// # Safety
/// `connection` is NULL or open; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn enea_buffer_connection_size(
    connection: *const sys::enea_buffer_connection,
    out: *mut usize,
) -> Status {
    // SAFETY: forwarded contracts.
    guard(|| unsafe { write_out(out, conn(connection)?.size(), "out") })
}

/// C: `enea_buffer_connection_interface_version`.
///
/// # Safety
/// `connection` is NULL or open; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn enea_buffer_connection_interface_version(
    connection: *const sys::enea_buffer_connection,
    out: *mut i32,
) -> Status {
    // SAFETY: forwarded contracts.
    guard(|| unsafe { write_out(out, conn(connection)?.interface_version(), "out") })
}

/// C: `enea_buffer_connection_is_alive`.
///
/// # Safety
/// `connection` is NULL or open; `out` is NULL or valid for a write.
#[no_mangle]
pub unsafe extern "C" fn enea_buffer_connection_is_alive(
    connection: *const sys::enea_buffer_connection,
    out: *mut bool,
) -> Status {
    // SAFETY: forwarded contracts.
    guard(|| unsafe { write_out(out, conn(connection)?.is_alive(), "out") })
}

/// C: `enea_buffer_map`.
///
/// # Safety
/// `connection` is NULL or open; `out` is NULL or valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn enea_buffer_map(
    connection: *const sys::enea_buffer_connection,
    populate: bool,
    out: *mut *mut sys::enea_buffer_shared,
) -> Status {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY: forwarded contract.
        let buffer = unsafe { conn(connection) }?.map_with(MapOptions { populate })?;
        // SAFETY: forwarded contract.
        unsafe { write_out(out, into_raw(Shared::new(buffer)), "out") }
    })
}

/// C: `enea_buffer_map_read_only`.
///
/// # Safety
/// `connection` is NULL or open; `out` is NULL or valid for a pointer write.
#[no_mangle]
pub unsafe extern "C" fn enea_buffer_map_read_only(
    connection: *const sys::enea_buffer_connection,
    out: *mut *mut sys::enea_buffer_read_only,
) -> Status {
    guard(|| {
        check_out(out, "out")?;
        // SAFETY: forwarded contract.
        let buffer = unsafe { conn(connection) }?.map_read_only()?;
        // SAFETY: forwarded contract.
        unsafe { write_out(out, into_raw(ReadOnly { buffer }), "out") }
    })
}
