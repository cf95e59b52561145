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
