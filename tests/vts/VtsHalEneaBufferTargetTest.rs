//! VTS for vendor.enea.buffer: every declared IEneaBuffer instance hands out
//! a usable, sealed region and a read-only view that cannot write it.
//!
//! On a device this runs against the HALs the VINTF manifest declares. On a
//! Linux host the same source runs against a daemon it starts itself
//! (`ENEA_TEST_TRANSPORT` picks the RPC socket or, in the VM rig, kernel
//! binder through rsb_hub).

use enea_buffer_client::{declared_instances, ConnectOptions, Connection, Transport};
use rustix::fs::{OFlags, SealFlags};
use rustix::io::Errno;
use rustix::mm::{MapFlags, ProtFlags};
use vendor_enea_buffer::aidl::vendor::enea::buffer::IEneaBuffer::VERSION;

/// What a test needs: where to connect, and (on the host) the daemon.
struct Env {
    base: ConnectOptions,
    #[cfg(not(target_os = "android"))]
    _daemon: enea_buffer_tests::Daemon,
}

#[cfg(target_os = "android")]
fn env() -> Env {
    Env {
        base: ConnectOptions {
            transport: Transport::Binder,
            ..ConnectOptions::default()
        },
    }
}

#[cfg(not(target_os = "android"))]
fn env() -> Env {
    let daemon = enea_buffer_tests::Daemon::start();
    Env {
        base: daemon.connect_options(),
        _daemon: daemon,
    }
}

/// Runs `check` against a fresh connection to every declared instance.
fn for_each_instance(check: impl Fn(&str, &Connection)) {
    let env = env();
    let instances = declared_instances(&env.base).expect("listing declared instances");
    assert!(!instances.is_empty(), "no IEneaBuffer instance is declared");
    for instance in instances {
        let options = ConnectOptions {
            instance: instance.clone(),
            ..env.base.clone()
        };
        // A declared lazy instance runs only once asked for. On a device
        // Connection::connect waits for it (wait_for_interface); the Linux
        // library looks up without waiting, so wait here first, holding the
        // service until connected.
        #[cfg(not(target_os = "android"))]
        let _waited = (options.transport == Transport::Binder).then(|| {
            enea_buffer_tests::wait_for_service(&options.service_name(), enea_buffer_tests::WAIT)
                .unwrap_or_else(|e| panic!("{instance}: declared but not reachable: {e}"))
        });
        let conn = Connection::connect(&options)
            .unwrap_or_else(|e| panic!("{instance}: declared but not reachable: {e}"));
        check(&instance, &conn);
    }
}

#[test]
fn default_instance_is_declared() {
    let env = env();
    let instances = declared_instances(&env.base).expect("listing declared instances");
    assert!(instances.iter().any(|i| i == "default"), "{instances:?}");
}

#[test]
fn interface_version_is_the_frozen_one() {
    for_each_instance(|instance, conn| {
        let version = conn
            .service()
            .r#getInterfaceVersion()
            .expect("getInterfaceVersion");
        assert_eq!(version, VERSION, "{instance}");
    });
}

#[test]
fn buffer_size_is_positive_and_matches_the_fd() {
    for_each_instance(|instance, conn| {
        assert!(conn.size() >= 4, "{instance}: size {}", conn.size());
        let buffer = conn.map().expect("map");
        let st = rustix::fs::fstat(buffer.fd()).expect("fstat");
        // ashmem reports 0; a memfd must report the advertised size.
        assert!(
            st.st_size == 0 || st.st_size as usize == conn.size(),
            "{instance}: fd holds {} bytes, service says {}",
            st.st_size,
            conn.size()
        );
    });
}

#[test]
fn buffer_is_sealed_against_resize_and_new_seals() {
    for_each_instance(|instance, conn| {
        let buffer = conn.map().expect("map");
        let seals = rustix::fs::fcntl_get_seals(buffer.fd()).expect("F_GET_SEALS");
        let wanted = SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL;
        assert!(seals.contains(wanted), "{instance}: seals {seals:?}");
        assert_eq!(
            rustix::fs::ftruncate(buffer.fd(), 0),
            Err(Errno::PERM),
            "{instance}: truncate"
        );
    });
}

#[test]
fn read_only_buffer_cannot_be_mapped_writable() {
    for_each_instance(|instance, conn| {
        let ro = conn.map_read_only().expect("map_read_only");
        let mode = rustix::fs::fcntl_getfl(ro.fd()).expect("F_GETFL") & OFlags::ACCMODE;
        assert_eq!(mode, OFlags::RDONLY, "{instance}");
        // SAFETY: a new mapping at a kernel-chosen address; unmapped at once if made.
        let map = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                ro.len(),
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                ro.fd(),
                0,
            )
        };
        if let Ok(p) = map {
            // SAFETY: `p` is the mapping just made, of `ro.len()` bytes.
            let _ = unsafe { rustix::mm::munmap(p, ro.len()) };
        }
        assert_eq!(map.err(), Some(Errno::ACCESS), "{instance}");
    });
}

#[test]
fn both_views_are_the_same_pages() {
    for_each_instance(|instance, conn| {
        let rw = conn.map().expect("map");
        let ro = conn.map_read_only().expect("map_read_only");
        assert_eq!(rw.identity().unwrap(), ro.identity().unwrap(), "{instance}");
        let before = rw.fetch_add_u32(0, 1).expect("fetch_add");
        let seen = ro.load_u32(0).expect("load");
        // Put the HAL's word back as it was for whoever else uses it.
        rw.fetch_add_u32(0, u32::MAX).expect("restore");
        assert_eq!(seen, before.wrapping_add(1), "{instance}");
    });
}
