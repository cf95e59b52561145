//! The client's platform seam: service look-up and binder type names, one
//! module per binder stack, each exposing the same items; what both return is defined here once.

#[cfg(target_os = "android")]
mod android;
#[cfg(target_os = "android")]
pub use android::*;

#[cfg(not(target_os = "android"))]
mod linux;
#[cfg(not(target_os = "android"))]
pub use linux::*;

use crate::options::TransportKind;

/// A looked-up service and how it was reached.
pub struct Opened {
    /// What keeps the service reachable.
    pub keepalive: Keepalive,
    /// Where the service was found, for messages.
    pub endpoint: String,
    /// Which transport carries the calls.
    pub transport: TransportKind,
}
