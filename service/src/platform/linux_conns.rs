//! Who is connected to the socket transport: each admitted connection's
//! credentials and slot under the overall and per-uid caps, and the
//! [`Guarded`] transport that enforces the message bound and frees the slot
//! when rsbinder drops the connection.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use log::debug;
use rsbinder::rpc::transport::UnixTransport;
use rsbinder::rpc::{PeerIdentity, RpcError, RpcTransport};

type RpcResult<T> = std::result::Result<T, RpcError>;

/// Largest message a client may send. Every call of IEneaBuffer (and the
/// look-up before it) fits in a few hundred bytes; rsbinder's own bound is
/// 64 MiB, which a peer can make the daemon commit memory for.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// Connection limits of the socket transport.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// Connections served at once.
    pub max_connections: usize,
    /// Connections served at once for one uid.
    pub max_per_uid: usize,
    /// Idle timeout of an established connection.
    pub idle: Option<Duration>,
    /// The daemon's own uid: with root, not held to the per-uid cap, and
    /// with `max_per_uid` more connections past the overall cap reserved for
    /// them, so other users cannot lock them out.
    pub owner: u32,
}

/// A peer's credentials, as the kernel recorded them at connect time.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PeerCred {
    /// Process id.
    pub pid: i32,
    /// Effective uid.
    pub uid: u32,
    /// Effective gid.
    pub gid: u32,
}

/// `SO_PEERCRED` of a connected Unix socket.
pub fn peer_cred(sock: BorrowedFd<'_>) -> std::io::Result<PeerCred> {
    let mut cred = libc::ucred {
        pid: 0,
        uid: 0,
        gid: 0,
    };
    let mut len = std::mem::size_of::<libc::ucred>() as libc::socklen_t;
    // SAFETY: `cred` and `len` are valid for writes and `len` is `cred`'s
    // size; the fd is a live socket borrowed for the call.
    let rc = unsafe {
        libc::getsockopt(
            sock.as_raw_fd(),
            libc::SOL_SOCKET,
            libc::SO_PEERCRED,
            (&mut cred as *mut libc::ucred).cast(),
            &mut len,
        )
    };
    if rc != 0 {
        return Err(std::io::Error::last_os_error());
    }
    Ok(PeerCred {
        pid: cred.pid,
        uid: cred.uid,
        gid: cred.gid,
    })
}

#[derive(Default)]
struct TableInner {
    next_id: u64,
    total: usize,
    per_uid: HashMap<u32, usize>,
    /// (uid, pid) → (gid, connections): the gid a call's (uid, pid) connected with.
    peers: HashMap<(u32, i32), (u32, usize)>,
    /// Live connections' socket fds, for cutting them all at stop.
    sockets: HashMap<u64, RawFd>,
}

/// The live connections: counts for the limits, credentials for the policy.
#[derive(Default)]
pub struct ConnTable {
    inner: Mutex<TableInner>,
}

impl ConnTable {
    fn lock(&self) -> std::sync::MutexGuard<'_, TableInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Takes a slot for a connection from `cred` on socket `fd`, or says
    /// which limit is full.
    pub(super) fn admit(
        self: &Arc<Self>,
        cred: PeerCred,
        fd: RawFd,
        limits: &Limits,
    ) -> Result<Slot, &'static str> {
        let mut t = self.lock();
        let trusted = cred.uid == 0 || cred.uid == limits.owner;
        let cap = if trusted {
            limits.max_connections + limits.max_per_uid
        } else {
            limits.max_connections
        };
        if t.total >= cap {
            return Err("the daemon's connection limit is reached");
        }
        let mine = t.per_uid.entry(cred.uid).or_insert(0);
        if !trusted && *mine >= limits.max_per_uid {
            return Err("the uid's connection limit is reached");
        }
        *mine += 1;
        t.total += 1;
        t.peers
            .entry((cred.uid, cred.pid))
            .or_insert((cred.gid, 0))
            .1 += 1;
        let id = t.next_id;
        t.next_id += 1;
        t.sockets.insert(id, fd);
        Ok(Slot {
            table: self.clone(),
            id,
            cred,
        })
    }

    /// The gid the caller `(uid, pid)` connected with, if it is connected.
    pub fn gid_of(&self, uid: u32, pid: i32) -> Option<u32> {
        self.lock().peers.get(&(uid, pid)).map(|&(gid, _)| gid)
    }

    /// Connections served now.
    pub(super) fn total(&self) -> usize {
        self.lock().total
    }

    /// Shuts every live connection down: their workers wake and end.
    pub(super) fn cut_all(&self) {
        let t = self.lock();
        for &fd in t.sockets.values() {
            // SAFETY: a socket stays in `sockets` only while its `Slot`
            // lives; the `Slot` is dropped (under this lock) before the
            // transport that owns the fd, so the fd is open here.
            // shutdown(2) does not close it.
            unsafe { libc::shutdown(fd, libc::SHUT_RDWR) };
        }
    }
}

/// One admitted connection's place in the [`ConnTable`]; released on drop.
pub(super) struct Slot {
    table: Arc<ConnTable>,
    id: u64,
    cred: PeerCred,
}

impl Drop for Slot {
    fn drop(&mut self) {
        let mut t = self.table.lock();
        t.total -= 1;
        if let Some(n) = t.per_uid.get_mut(&self.cred.uid) {
            *n -= 1;
            if *n == 0 {
                t.per_uid.remove(&self.cred.uid);
            }
        }
        let key = (self.cred.uid, self.cred.pid);
        if let Some(entry) = t.peers.get_mut(&key) {
            entry.1 -= 1;
            if entry.1 == 0 {
                t.peers.remove(&key);
            }
        }
        t.sockets.remove(&self.id);
    }
}

/// rsbinder's Unix transport, with our message bound and slot.
pub(super) struct Guarded {
    // Declared first so it drops first: the slot leaves the table before
    // the transport closes the socket (see `ConnTable::cut_all`).
    pub(super) _slot: Slot,
    pub(super) inner: UnixTransport,
}

impl Guarded {
    /// rsbinder reads a message's body into a buffer of exactly the size
    /// its header announced (header and handshake reads are a few bytes),
    /// so a read into a larger buffer is a message over our bound: refuse
    /// it before a byte of it is read or a page of that buffer touched.
    fn check(&self, len: usize) -> RpcResult<()> {
        if len > MAX_MESSAGE {
            debug!(
                "uid={} pid={}: a {len}-byte message is over the {MAX_MESSAGE}-byte limit; \
                 closing the connection",
                self._slot.cred.uid, self._slot.cred.pid
            );
            return Err(RpcError::FrameTooLarge {
                declared: len,
                max: MAX_MESSAGE,
            });
        }
        Ok(())
    }
}

impl RpcTransport for Guarded {
    fn send_frame(&self, buf: &[u8]) -> RpcResult<()> {
        self.inner.send_frame(buf)
    }
    fn recv_frame(&self) -> RpcResult<Vec<u8>> {
        self.inner.recv_frame()
    }
    fn peer_identity(&self) -> PeerIdentity {
        self.inner.peer_identity()
    }
    fn describe(&self) -> &str {
        self.inner.describe()
    }
    fn set_read_timeout(&self, timeout: Option<Duration>) -> RpcResult<()> {
        self.inner.set_read_timeout(timeout)
    }
    fn set_write_timeout(&self, timeout: Option<Duration>) -> RpcResult<()> {
        self.inner.set_write_timeout(timeout)
    }
    fn set_liveness(&self, timeout: Option<Duration>) -> RpcResult<()> {
        self.inner.set_liveness(timeout)
    }
    fn peer_closed(&self) -> Option<bool> {
        self.inner.peer_closed()
    }
    fn shutdown_handle(&self) -> Option<Box<dyn FnOnce() + Send>> {
        self.inner.shutdown_handle()
    }
    fn shutdown(&self) -> RpcResult<()> {
        self.inner.shutdown()
    }
    fn supports_fd_passing(&self) -> bool {
        self.inner.supports_fd_passing()
    }
    fn send_frame_with_fds(&self, buf: &[u8], fds: &[BorrowedFd<'_>]) -> RpcResult<()> {
        self.inner.send_frame_with_fds(buf, fds)
    }
    fn recv_frame_with_fds(&self) -> RpcResult<(Vec<u8>, Vec<OwnedFd>)> {
        self.inner.recv_frame_with_fds()
    }
    fn send_raw(&self, buf: &[u8]) -> RpcResult<()> {
        self.inner.send_raw(buf)
    }
    fn recv_raw(&self, buf: &mut [u8]) -> RpcResult<usize> {
        self.check(buf.len())?;
        self.inner.recv_raw(buf)
    }
    fn send_raw_with_fds(&self, buf: &[u8], fds: &[BorrowedFd<'_>]) -> RpcResult<()> {
        self.inner.send_raw_with_fds(buf, fds)
    }
    fn recv_raw_with_fds(&self, buf: &mut [u8]) -> RpcResult<(usize, Vec<OwnedFd>)> {
        self.check(buf.len())?;
        self.inner.recv_raw_with_fds(buf)
    }
    fn send_raw_draining(
        &self,
        buf: &[u8],
        fds: &[BorrowedFd<'_>],
        drain: &mut dyn FnMut() -> RpcResult<()>,
    ) -> RpcResult<()> {
        self.inner.send_raw_draining(buf, fds, drain)
    }
}

/// The connection table of the running socket server, for the policy's gid.
pub(super) static TABLE: OnceLock<Arc<ConnTable>> = OnceLock::new();

/// The gid a socket caller connected with (`None` on kernel binder).
pub fn caller_gid(uid: u32, pid: i32) -> Option<u32> {
    TABLE.get().and_then(|t| t.gid_of(uid, pid))
}
