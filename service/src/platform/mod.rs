//! The one platform seam: everything that differs between AOSP's
//! libbinder_rs and rsbinder (registration, thread pool, logging, calling
//! identity, type names) lives in exactly one of these modules, which
//! expose the same items.

#[cfg(target_os = "android")]
mod android;
#[cfg(target_os = "android")]
pub use android::*;

#[cfg(not(target_os = "android"))]
mod linux;
#[cfg(not(target_os = "android"))]
pub use linux::*;

/// Who made the call being handled (the same on both binder stacks).
#[derive(Clone, Copy, Debug)]
pub struct Caller {
    /// Binder's calling uid (`SO_PEERCRED` on the socket).
    pub uid: u32,
    /// Binder's calling pid.
    pub pid: i32,
    /// The socket peer's gid at connect time; kernel binder carries none.
    pub gid: Option<u32>,
}

/// What a transport reports about the connections it handles, to whoever
/// counts them (the daemon's call table); the seam knows nothing else of
/// the service.
pub trait ConnectionEvents: Send + Sync {
    /// A connection was turned away by a limit before any call on it.
    fn connection_refused(&self);
    /// Whether a socket peer's `SCM_RIGHTS` fds are taken: no IEneaBuffer
    /// call takes one (a dump does), so a caller refused every call gets
    /// none installed in the daemon.
    fn takes_fds_from(&self, uid: u32, gid: u32) -> bool;
}
