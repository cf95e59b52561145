//! Test harness: starts the real daemon and real client processes and talks
//! to them over a real binder transport, chosen by `ENEA_TEST_TRANSPORT`:
//! `socket` (default; rsbinder RPC over a Unix socket) or `binder` (kernel
//! binder, as inside the VM rig, where the daemon is started from init.rc).

pub mod bins;
pub mod daemon;
pub mod footprint;
pub mod initrc;
pub mod probe;
pub mod record;
pub mod selinux;
pub mod stale_dirs;
pub mod v1server;
pub mod wire;

/// `vendor.enea.buffer` as the frozen V1 dump declares it, generated at build
/// time (tests/build.rs), for the V1 client and the V1 service of the
/// evolution tests: `v1::aidl::vendor::enea::buffer::IEneaBuffer`.
#[allow(
    clippy::all,
    missing_docs,
    non_snake_case,
    non_camel_case_types,
    unused
)]
pub mod v1 {
    /// The generated AIDL tree.
    pub mod aidl {
        include!(concat!(env!("OUT_DIR"), "/vendor_enea_buffer_v1.rs"));
    }
}

pub use daemon::{Daemon, DaemonOptions};
pub use probe::{eneabuf, Held, Interactive, Probe};

use std::time::Duration;

/// Upper bound for anything a test waits on: generous, so a loaded CI
/// machine does not flake, yet a hang still fails instead of blocking.
pub const WAIT: Duration = Duration::from_secs(30);

/// The word the daemon writes at start-up.
pub const DEADCAFE: u32 = 0xdead_cafe;

/// The transport the suite runs over.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Mode {
    /// rsbinder RPC on a Unix socket; the harness starts the daemon itself.
    Socket,
    /// Kernel binder; the daemon is started from init.rc's service definition.
    Binder,
}

impl Mode {
    /// The mode selected by `ENEA_TEST_TRANSPORT`; an unknown value panics.
    pub fn current() -> Mode {
        match std::env::var("ENEA_TEST_TRANSPORT").as_deref() {
            Err(_) | Ok("") | Ok("socket") => Mode::Socket,
            Ok("binder") => Mode::Binder,
            Ok(other) => panic!("ENEA_TEST_TRANSPORT={other}: expected `socket` or `binder`"),
        }
    }

    /// The `--transport` value clients use in this mode.
    pub fn transport_arg(self) -> &'static str {
        match self {
            Mode::Socket => "socket",
            Mode::Binder => "binder",
        }
    }
}

/// How many fds process `pid` holds open.
pub fn fd_count(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .unwrap_or_else(|e| panic!("/proc/{pid}/fd: {e}"))
        .count()
}

/// Waits (bounded by [`WAIT`]) until `cond` holds, re-checking every 20 ms:
/// for state that settles asynchronously, such as a daemon closing the fds
/// of a session that ended.
pub fn eventually(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = std::time::Instant::now() + WAIT;
    while !cond() {
        assert!(
            std::time::Instant::now() < deadline,
            "{what} did not happen within {WAIT:?}"
        );
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Panics unless the test runs as root (needed to run processes as another uid).
pub fn require_root(why: &str) {
    assert!(
        rustix::process::geteuid().is_root(),
        "this test must run as root: {why}"
    );
}

/// An unprivileged uid/gid for "another user" clients (AID_SHELL), distinct
/// from the daemon's (root on the host, `nobody` under init.rc). The test
/// daemons grant it `ro` (socket mode: harness flags; VM: the rig's access
/// file) and give the socket to its group.
pub const OTHER_UID: u32 = 2000;
/// A uid the test daemons grant `rw` (clients run with group [`OTHER_UID`]
/// to reach the socket).
pub const RW_UID: u32 = 2001;
/// A uid no rule names: `none` under the Linux default policy.
pub const NONE_UID: u32 = 2002;

/// The access flags of every harness daemon in socket mode; the VM rig
/// writes the same rules into /etc/vendor.enea.buffer/access.conf.
pub fn harness_access_args() -> Vec<String> {
    vec![
        "--socket-group".into(),
        OTHER_UID.to_string(),
        "--access".into(),
        format!("uid:{OTHER_UID}=ro"),
        "--access".into(),
        format!("uid:{RW_UID}=rw"),
    ]
}

/// AOSP's `waitForService` over kernel binder, bounded: `getService` (on
/// which the service manager starts a declared lazy service that is not
/// running), then a registration notification. Returns the service, to be
/// held while the caller connects. On a timeout the waiting thread is left
/// behind (rsbinder's wait has no bound), which ends with the test process.
pub fn wait_for_service(name: &str, timeout: Duration) -> Result<rsbinder::SIBinder, String> {
    let client = rsbinder::Client::open(rsbinder::Uri::new(
        rsbinder::entry::uri::KernelEndpoint::default(),
    ))
    .map_err(|s| format!("cannot open kernel binder: {s:?}"))?;
    // The registration notification arrives on a binder thread.
    rsbinder::ProcessState::start_thread_pool();
    let (tx, rx) = std::sync::mpsc::channel();
    let wanted = name.to_owned();
    std::thread::spawn(move || {
        let _ = tx.send(client.binder(&wanted));
    });
    match rx.recv_timeout(timeout) {
        Ok(Ok(binder)) => Ok(binder),
        Ok(Err(s)) => Err(format!("waitForService {name}: {s:?}")),
        Err(_) => Err(format!("{name} did not register within {timeout:?}")),
    }
}
