//! Who is connected to the socket transport: each admitted connection's
//! credentials and slot under the overall and per-uid caps, and the
//! [`Guarded`] transport that enforces the message bound, the fd rule and
//! the frame deadline, and frees the slot when rsbinder drops the connection.

use std::collections::HashMap;
use std::os::fd::{AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use log::debug;
use rsbinder::rpc::transport::UnixTransport;
use rsbinder::rpc::{PeerIdentity, RpcError, RpcTransport};

type RpcResult<T> = std::result::Result<T, RpcError>;

/// Largest message a client may send. Every call of IEneaBuffer (and the
/// look-up before it) fits in a few hundred bytes; rsbinder's own bound is
/// 64 MiB, which a peer can make the daemon commit memory for.
pub const MAX_MESSAGE: usize = 64 * 1024;

/// How long a message may take to arrive once its first byte has: clients
/// write a message in one system call, so only a peer trickling bytes to
/// hold the connection (and its resources) comes near this.
pub const FRAME_DEADLINE: Duration = Duration::from_secs(5);

/// rsbinder's `RpcWireHeader` (android-13+ wire): 16 bytes, `bodySize` the
/// little-endian `u32` at offset 4 (AOSP `RpcWireFormat.h`).
const WIRE_HEADER_LEN: usize = 16;

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

/// Where the message being read stands, to hold it to [`FRAME_DEADLINE`].
#[derive(Default)]
struct FrameClock {
    header: [u8; WIRE_HEADER_LEN],
    header_got: usize,
    body_left: usize,
    /// When the first byte of the message being read arrived.
    started: Option<Instant>,
}

impl FrameClock {
    /// Follows the bytes just read (in wire order) through headers and bodies.
    fn saw(&mut self, mut bytes: &[u8]) {
        while !bytes.is_empty() {
            self.started.get_or_insert_with(Instant::now);
            if self.header_got < WIRE_HEADER_LEN {
                let take = (WIRE_HEADER_LEN - self.header_got).min(bytes.len());
                self.header[self.header_got..self.header_got + take]
                    .copy_from_slice(&bytes[..take]);
                self.header_got += take;
                bytes = &bytes[take..];
                if self.header_got == WIRE_HEADER_LEN {
                    let size: [u8; 4] = self.header[4..8].try_into().unwrap_or_default();
                    self.body_left = u32::from_le_bytes(size) as usize;
                }
            } else {
                let take = self.body_left.min(bytes.len());
                self.body_left -= take;
                bytes = &bytes[take..];
            }
            if self.header_got == WIRE_HEADER_LEN && self.body_left == 0 {
                *self = Self::default();
            }
        }
    }
}

/// rsbinder's Unix transport, with our message bound, fd rule, frame
/// deadline and slot.
pub(super) struct Guarded {
    // Declared first so it drops first: the slot leaves the table before
    // the transport closes the socket (see `ConnTable::cut_all`).
    _slot: Slot,
    inner: UnixTransport,
    /// The socket `inner` owns, for the frame deadline's poll.
    sock: RawFd,
    /// Whether the peer's `SCM_RIGHTS` fds are received (the access
    /// policy's call: see `ConnectionEvents::takes_fds_from`).
    takes_fds: bool,
    /// The read timeout rsbinder last set (its handshake or idle deadline).
    read_timeout: Mutex<Option<Duration>>,
    frame: Mutex<FrameClock>,
}

impl Guarded {
    /// `inner`, held to our limits for the connection in `slot`.
    pub(super) fn new(slot: Slot, inner: UnixTransport, sock: RawFd, takes_fds: bool) -> Self {
        Self {
            _slot: slot,
            inner,
            sock,
            takes_fds,
            read_timeout: Mutex::new(None),
            frame: Mutex::new(FrameClock::default()),
        }
    }

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

    /// Mid-message, waits for more bytes only until [`FRAME_DEADLINE`] after
    /// the message's first byte: trickling cannot extend it. A `Timeout` here
    /// is rsbinder's mid-frame deadline, which ends the connection.
    fn within_frame_deadline(&self) -> RpcResult<()> {
        let started = self.frame.lock().unwrap_or_else(|e| e.into_inner()).started;
        let Some(started) = started else {
            return Ok(());
        };
        let own = *self.read_timeout.lock().unwrap_or_else(|e| e.into_inner());
        loop {
            let left = FRAME_DEADLINE.saturating_sub(started.elapsed());
            if own.is_some_and(|t| t <= left) {
                // rsbinder's own deadline comes first.
                return Ok(());
            }
            if left.is_zero() {
                debug!(
                    "uid={} pid={}: a message took over {FRAME_DEADLINE:?} to arrive; \
                     closing the connection",
                    self._slot.cred.uid, self._slot.cred.pid
                );
                return Err(RpcError::Timeout);
            }
            let mut fds = [libc::pollfd {
                fd: self.sock,
                events: libc::POLLIN,
                revents: 0,
            }];
            let ms = left.as_millis().clamp(1, i32::MAX as u128) as i32;
            // SAFETY: `fds` is one valid pollfd for the call; `sock` is the
            // socket `inner` owns, open while `self` lives.
            match unsafe { libc::poll(fds.as_mut_ptr(), 1, ms) } {
                n if n > 0 => return Ok(()),
                0 => continue,
                _ if std::io::Error::last_os_error().kind() == std::io::ErrorKind::Interrupted => {
                    continue
                }
                _ => return Err(std::io::Error::last_os_error().into()),
            }
        }
    }

    /// One read of the message stream, held to the bound and the deadline.
    fn read<T>(
        &self,
        buf: &mut [u8],
        read: impl FnOnce(&mut [u8]) -> RpcResult<(usize, T)>,
    ) -> RpcResult<(usize, T)> {
        self.check(buf.len())?;
        self.within_frame_deadline()?;
        let (n, more) = read(buf)?;
        self.frame
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .saw(&buf[..n.min(buf.len())]);
        Ok((n, more))
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
        *self.read_timeout.lock().unwrap_or_else(|e| e.into_inner()) = timeout;
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
        // Handshake reads and fd mode `None`: the bound only. The frame
        // clock follows the framed reads of fd mode `Unix`, which every
        // client of ours negotiates (handshake bytes are not frames).
        self.check(buf.len())?;
        self.inner.recv_raw(buf)
    }
    fn send_raw_with_fds(&self, buf: &[u8], fds: &[BorrowedFd<'_>]) -> RpcResult<()> {
        self.inner.send_raw_with_fds(buf, fds)
    }
    /// rsbinder's framed read in fd mode `Unix`, the only one that takes
    /// fds. A peer that may not take them gets none installed here: a plain
    /// read makes the kernel close them (`MSG_CTRUNC`), so it cannot make
    /// the daemon hold fds while it waits for the rest of a message.
    fn recv_raw_with_fds(&self, buf: &mut [u8]) -> RpcResult<(usize, Vec<OwnedFd>)> {
        if self.takes_fds {
            self.read(buf, |b| self.inner.recv_raw_with_fds(b))
        } else {
            self.read(buf, |b| Ok((self.inner.recv_raw(b)?, Vec::new())))
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    fn header(body: u32) -> Vec<u8> {
        let mut h = vec![0u8; WIRE_HEADER_LEN];
        h[4..8].copy_from_slice(&body.to_le_bytes());
        h
    }

    #[test]
    fn the_clock_runs_from_a_messages_first_byte_to_its_last() {
        let mut clock = FrameClock::default();
        let h = header(3);
        clock.saw(&h[..5]);
        assert!(clock.started.is_some(), "half a header is a message begun");
        clock.saw(&h[5..]);
        clock.saw(&[1, 2]);
        assert!(clock.started.is_some(), "the body is not complete");
        clock.saw(&[3]);
        assert!(clock.started.is_none(), "the message is complete");
    }

    #[test]
    fn messages_read_together_are_followed_one_by_one() {
        let mut clock = FrameClock::default();
        let mut bytes = header(0);
        bytes.extend(header(2));
        bytes.extend([9, 9]);
        bytes.extend(&header(4)[..3]);
        clock.saw(&bytes);
        assert_eq!(clock.header_got, 3, "the third message's header is begun");
        assert!(clock.started.is_some());
        clock.saw(&header(4)[3..]);
        clock.saw(&[0; 4]);
        assert!(clock.started.is_none());
    }
}
