//! The client's platform seam: service look-up and binder type names, one
//! module per binder stack, each exposing the same items.

#[cfg(target_os = "android")]
mod android;
#[cfg(target_os = "android")]
pub use android::*;

#[cfg(not(target_os = "android"))]
mod linux;
#[cfg(not(target_os = "android"))]
pub use linux::*;
