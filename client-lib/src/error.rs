//! What can go wrong between a client and the buffer service.

use rustix::io::Errno;

/// This process's fd table against its open-file limit (in [`Error::FdLimit`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdUsage {
    /// Open fds below the soft limit.
    pub open: u64,
    /// The soft `RLIMIT_NOFILE`: fds are numbered below it.
    pub soft: u64,
    /// The hard `RLIMIT_NOFILE` (`None`: unlimited), up to which an
    /// unprivileged process may raise the soft one.
    pub hard: Option<u64>,
}

/// Errors of the client library; each says what went wrong and where.
#[derive(Debug, thiserror::Error)]
pub enum Error {
    /// Nothing serves the interface at the endpoint.
    #[error("no vendor.enea.buffer daemon at {endpoint}: {reason}")]
    NoDaemon {
        /// Where we looked.
        endpoint: String,
        /// What the system said.
        reason: String,
    },
    /// The connection cannot carry file descriptors, so no buffer can be shared.
    #[error("the transport to {0} refused file-descriptor passing")]
    FdPassingRefused(String),
    /// The service died or the connection to it was lost.
    #[error("the vendor.enea.buffer service at {0} is gone")]
    ServiceGone(String),
    /// A daemon is there but did not answer in time.
    #[error(
        "the vendor.enea.buffer daemon at {endpoint} did not answer {step} within \
         {timeout:?}: it may be stopped or overloaded; try again, or allow it longer \
         (eneabuf --timeout, ConnectOptions::timeout)"
    )]
    Unresponsive {
        /// Where the daemon is.
        endpoint: String,
        /// What it did not answer (the handshake, a call).
        step: String,
        /// How long the client waited.
        timeout: std::time::Duration,
    },
    /// A binder call failed for another reason.
    #[error("{call} failed: {status}")]
    Call {
        /// The AIDL method.
        call: &'static str,
        /// The binder status, as text.
        status: String,
    },
    /// The size the service reports is unusable (below one 32-bit word).
    #[error("the service reported an invalid region size: {0} bytes")]
    BadSize(i64),
    /// The service reports a region larger than a client agrees to map.
    #[error("the service reported a region of {reported} bytes, more than the {max} bytes a client maps")]
    TooLarge {
        /// What `getBufferSize()` said.
        reported: i64,
        /// [`crate::MAX_SIZE`].
        max: usize,
    },
    /// The received fd is neither a memfd nor ashmem, so nothing bounds
    /// its size while it is mapped.
    #[error("the region's fd is not shared memory (a memfd or ashmem) but a {0}")]
    NotSharedMemory(&'static str),
    /// The memfd lacks a seal that keeps its size fixed: its owner could
    /// shrink it under the mapping.
    #[error("region is not sealed against {0}")]
    NotSealed(&'static str),
    /// The fd the service sent does not hold the size it reported.
    #[error(
        "region size mismatch: the service reports {reported} bytes but its fd holds {actual}"
    )]
    SizeMismatch {
        /// What `getBufferSize()` said.
        reported: usize,
        /// What the received fd holds (`fstat`, or `ASHMEM_GET_SIZE` for ashmem).
        actual: u64,
    },
    /// Reading the memfd's seals (`F_GET_SEALS`) or the ashmem size
    /// (`ASHMEM_GET_SIZE`) failed.
    #[error("inspecting the region's {what} failed: {errno}")]
    Inspect {
        /// What was being read.
        what: &'static str,
        /// The kernel's error.
        errno: Errno,
    },
    /// `mmap` of the received fd failed.
    #[error("mapping the region failed: {0}")]
    Map(Errno),
    /// `fstat` of the received fd failed.
    #[error("inspecting the received fd failed: {0}")]
    Stat(Errno),
    /// An access outside the region.
    #[error("{len} bytes at offset {offset} do not fit in the {size}-byte region")]
    OutOfBounds {
        /// First byte asked for.
        offset: usize,
        /// How many bytes.
        len: usize,
        /// Region size.
        size: usize,
    },
    /// A write through a mapping made read-only.
    #[error("the mapping is read-only")]
    ReadOnly,
    /// An atomic access at an offset that is not a multiple of its alignment.
    #[error("offset {offset} is not aligned to {align} bytes")]
    Misaligned {
        /// The offset asked for.
        offset: usize,
        /// The required alignment.
        align: usize,
    },
    /// The service speaks an interface version without the region layout
    /// (change notification, records): V1 services. Poll instead.
    #[error("{what} needs interface version 2 or later, but the service implements version {version}; poll instead")]
    Unsupported {
        /// What was asked for.
        what: &'static str,
        /// The service's `getInterfaceVersion()`.
        version: i32,
    },
    /// A record's writer died while publishing it: the record holds a
    /// half-written copy until the next publish repairs it.
    #[error("the record at offset {offset} was left half-written by process {pid}, which died; the next publish repairs it")]
    Abandoned {
        /// The record's offset.
        offset: usize,
        /// The dead writer's pid.
        pid: u32,
    },
    /// A record stayed in the middle of a write (by a live writer) for the
    /// whole timeout.
    #[error("the record at offset {offset} stayed mid-write by process {pid} for {waited:?}")]
    Busy {
        /// The record's offset.
        offset: usize,
        /// The writer's pid.
        pid: u32,
        /// How long the caller waited.
        waited: std::time::Duration,
    },
    /// One holder kept a record unchanged (mid-write, or owned) for at
    /// least `SharedBuffer::WEDGED_AFTER` as this caller saw it: a writer
    /// stopped mid-publish, or a peer that wrote the record's header
    /// outside the protocol. `SharedBuffer::take_over` takes it back.
    #[error("the record at offset {offset} is wedged: process {pid} has held it unchanged for {held_for:?}, far longer than a publish takes; if that process is no writer stopped mid-publish, take the record back with take_over from pid {pid}")]
    Wedged {
        /// The record's offset.
        offset: usize,
        /// The pid in the record's owner word (0: none, yet mid-write).
        pid: u32,
        /// How long this caller saw the record held unchanged.
        held_for: std::time::Duration,
    },
    /// A record's sequence changed during every copy a snapshot made until
    /// its timeout: publishes follow each other faster than one copy, or a
    /// peer changes the sequence outside the protocol.
    #[error("the record at offset {offset} changed during each of the {copies} copies made in {waited:?}: publishes come faster than a copy of it, or a peer writes its sequence outside the protocol; retry with a longer timeout")]
    Unsettled {
        /// The record's offset.
        offset: usize,
        /// How many copies were made and discarded.
        copies: u32,
        /// How long the caller tried.
        waited: std::time::Duration,
    },
    /// The socket is owned by neither root nor this user: another user may
    /// have created it to pose as the daemon.
    #[error("refusing the socket {path}: it is owned by uid {owner}, neither root nor this user (uid {me}); another user may be posing as the daemon")]
    UntrustedSocket {
        /// The socket.
        path: String,
        /// Its owner.
        owner: u32,
        /// This process's effective uid.
        me: u32,
    },
    /// The kernel's random number generator is not seeded, and an RPC
    /// session id cannot be drawn without it.
    #[error("the kernel's random number generator is still not seeded after {0:?}; an RPC session needs it (early boot, or a VM without RDRAND or virtio-rng?)")]
    RngNotSeeded(std::time::Duration),
    /// The region has no layout although the service implements interface
    /// version 2 or later: it reported no layout version this library
    /// knows for the region, or the region is too small for the control
    /// words. Poll instead.
    #[error("{what} needs the region's control words, but this region has none: the service reported layout version {layout_version} for its {size} bytes, and the control words need layout version 1 and at least {} bytes; poll instead", vendor_enea_buffer::aidl::vendor::enea::buffer::IEneaBuffer::CONTROL_SIZE)]
    NoLayout {
        /// What was asked for.
        what: &'static str,
        /// `Region.layoutVersion` as the service reported it.
        layout_version: i32,
        /// The region's size.
        size: usize,
    },
    /// A write to the control words of a region that has them (the waiter
    /// count and the reserved words), or a 64-bit atomic over any of them:
    /// only the layout's own protocol may change them.
    #[error("{len} bytes at offset {offset} overlap the region's control words (the waiter count and reserved words up to offset {}), which clients must not write; use word 0 with 32-bit operations, anything else from offset {} on", vendor_enea_buffer::aidl::vendor::enea::buffer::IEneaBuffer::CONTROL_SIZE, vendor_enea_buffer::aidl::vendor::enea::buffer::IEneaBuffer::CONTROL_SIZE)]
    ControlWords {
        /// First byte asked for.
        offset: usize,
        /// How many bytes.
        len: usize,
    },
    /// This user may not connect to the daemon's socket (EACCES): the
    /// socket's owner, group and mode, a directory on its path, or a
    /// security module keep it out. `why` says which, and the way in.
    #[error("this user (uid {me}) may not connect to the vendor.enea.buffer socket {path}: {why}")]
    SocketDenied {
        /// The socket.
        path: String,
        /// This process's effective uid.
        me: u32,
        /// What keeps this user out, and what to do about it.
        why: String,
    },
    /// The daemon's access policy refused a call (EX_SECURITY).
    #[error("the daemon refused {call}: {message}; {}", way_in(*.uid, .needs))]
    Refused {
        /// The AIDL method.
        call: &'static str,
        /// What the daemon said.
        message: String,
        /// This process's effective uid, which the policy judged.
        uid: u32,
        /// What the call needs: the right `ro` or `rw`, or `dump`: to be
        /// one of the dump's readers, which no access rule makes anyone.
        needs: &'static str,
    },
    /// This process is at its open-file limit (`RLIMIT_NOFILE`), so a step
    /// that needs a new fd (connecting, receiving the region's fd) failed.
    #[error("{step} failed: this process is out of file descriptors: its open-file limit (soft RLIMIT_NOFILE) is {}, hard limit {}, and {} fds are open; close mappings or files it no longer needs, or raise the soft limit (`ulimit -n`, up to the hard one; LimitNOFILE= in a systemd unit)", .usage.soft, hard(.usage.hard), .usage.open)]
    FdLimit {
        /// The step that failed (a connection, or the AIDL method).
        step: String,
        /// The fd table and the limits when the step failed.
        usage: FdUsage,
    },
    /// The system-wide open-file table is full (`ENFILE`).
    #[error("{0} failed: the system's open-file table is full (ENFILE: fs.file-max reached), so no process can open another file; close files elsewhere or raise fs.file-max")]
    FileTableFull(String),
    /// Neither transport reached the daemon (`--transport auto`).
    #[error(
        "no vendor.enea.buffer daemon on either transport: {}; {}",
        tried(kernel),
        tried(socket)
    )]
    NoTransport {
        /// Why kernel binder failed.
        kernel: Box<Error>,
        /// Why the socket failed.
        socket: Box<Error>,
    },
}

/// Who may read the daemon's dump (service/src/platform's `may_dump`),
/// and how to be one of them.
#[cfg(not(target_os = "android"))]
const DUMP_READERS: &str = "only root and the user the daemon runs as may read its dump: \
     run the dump as one of them (e.g. `sudo eneabuf dump`)";
#[cfg(target_os = "android")]
const DUMP_READERS: &str = "only root, system, shell and the daemon's own user may read its \
     dump: read it with dumpsys as shell (`adb shell dumpsys vendor.enea.buffer.IEneaBuffer/default`)";

/// The access rule that would let `uid` make a call needing `needs`, or,
/// for the dump, who may read it.
fn way_in(uid: u32, needs: &str) -> String {
    if needs == "dump" {
        return DUMP_READERS.to_owned();
    }
    let also = if needs == "ro" {
        " to read (`=rw` to also write)"
    } else {
        ""
    };
    format!(
        "to be let in, have the daemon started with `--access uid:{uid}={needs}`{also}, \
         or that rule in its access file"
    )
}

/// A hard limit as text.
fn hard(limit: Option<u64>) -> String {
    limit.map_or_else(|| "unlimited".into(), |v| v.to_string())
}

/// One transport's failure in [`Error::NoTransport`]: where, and why.
fn tried(error: &Error) -> String {
    match error {
        Error::NoDaemon { endpoint, reason } => format!("{endpoint}: {reason}"),
        other => other.to_string(),
    }
}

/// The library's result type.
pub type Result<T> = std::result::Result<T, Error>;
