//! What the `vendor.enea.buffer` daemon and its clients both know, kept
//! once: the interface's name, the region's size limit, where the socket
//! transport listens, the binder device, the kernel-RNG wait, the one
//! duration grammar both command lines accept and the host's user and group
//! names.

#[cfg(not(target_os = "android"))]
mod binder_device;
mod duration;
#[cfg(not(target_os = "android"))]
pub mod etc_ids;
mod rng;
mod socket;

#[cfg(not(target_os = "android"))]
pub use binder_device::find_binder_device;
pub use duration::parse_duration;
pub use rng::KernelRngWait;
pub use socket::{client_socket, server_socket, ROOT_SOCKET, SOCKET_ENV, USER_SOCKET_NAME};

use vendor_enea_buffer::aidl::vendor::enea::buffer::IEneaBuffer::{BpEneaBuffer, IEneaBuffer};

/// Largest region the daemon allocates and a client agrees to map (1 GiB).
pub const MAX_SIZE: usize = 1 << 30;

/// The interface descriptor, `vendor.enea.buffer.IEneaBuffer`, as the
/// generated code declares it.
pub fn descriptor() -> &'static str {
    // The one name AOSP's Rust backend and rsbinder-aidl spell differently.
    #[cfg(target_os = "android")]
    return <BpEneaBuffer as IEneaBuffer>::get_descriptor();
    #[cfg(not(target_os = "android"))]
    return <BpEneaBuffer as IEneaBuffer>::descriptor();
}

/// The full service name of `instance`: `<descriptor>/<instance>`.
pub fn service_name(instance: &str) -> String {
    format!("{}/{instance}", descriptor())
}

/// This process's effective uid.
pub fn effective_uid() -> u32 {
    // SAFETY: geteuid(2) has no preconditions and cannot fail.
    unsafe { libc::geteuid() }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_descriptor_is_the_aidl_package_and_interface() {
        assert_eq!(descriptor(), "vendor.enea.buffer.IEneaBuffer");
        assert_eq!(
            service_name("default"),
            "vendor.enea.buffer.IEneaBuffer/default"
        );
    }

    #[test]
    fn the_effective_uid_is_the_one_proc_reports() {
        let status = std::fs::read_to_string("/proc/self/status").unwrap();
        let euid: u32 = status
            .lines()
            .find_map(|l| l.strip_prefix("Uid:"))
            .and_then(|l| l.split_whitespace().nth(1))
            .and_then(|v| v.parse().ok())
            .unwrap();
        assert_eq!(effective_uid(), euid);
    }
}
