//! A Unix-socket relay between RPC clients and a daemon that forwards the
//! bytes and `SCM_RIGHTS` fds of every connection both ways and records
//! them. It never parses: what it records is what crossed the sockets.
//!
//! Each byte is recorded before it is forwarded, so once a client has
//! the reply to a call, the call and its reply are in the record.
//!
//! `rustix::net` comes with rsbinder's build of rustix (its Unix
//! transport needs it); this crate does not ask for it separately.

use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;

use rustix::io::Errno;
use rustix::net::{
    recvmsg, sendmsg, shutdown, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, ReturnFlags,
    SendAncillaryBuffer, SendAncillaryMessage, SendFlags, Shutdown,
};

/// Most fds one `recvmsg` may carry (AOSP `getRpcTransportModeMaxFds(UNIX)`).
const MAX_FDS: usize = 253;

/// A chunk that carried fds: where it started in the stream and how many.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FdBatch {
    /// Offset of the chunk's first byte in the direction's stream.
    pub offset: usize,
    /// Number of fds that came with it.
    pub count: usize,
}

/// What one direction of a connection carried.
#[derive(Clone, Debug, Default)]
pub struct Direction {
    /// Every byte, in order.
    pub bytes: Vec<u8>,
    /// The chunks that carried fds.
    pub fds: Vec<FdBatch>,
    /// Why forwarding stopped, if not a clean end of stream.
    pub error: Option<String>,
}

/// One relayed connection.
#[derive(Clone, Debug, Default)]
pub struct Captured {
    /// From the client to the daemon.
    pub to_server: Direction,
    /// From the daemon to the client.
    pub to_client: Direction,
}

type Shared = Arc<Mutex<Direction>>;

/// A running relay; stops accepting on drop (open connections run on).
pub struct Relay {
    /// The socket clients connect to.
    pub path: PathBuf,
    conns: Arc<Mutex<Vec<(Shared, Shared)>>>,
    stop: Arc<AtomicBool>,
    accept: Option<JoinHandle<()>>,
}

impl Relay {
    /// Listens on `dir`/relay.sock and relays each connection to `upstream`.
    pub fn start(dir: &Path, upstream: &Path) -> Relay {
        let path = dir.join("relay.sock");
        let listener = UnixListener::bind(&path)
            .unwrap_or_else(|e| panic!("binding the relay at {}: {e}", path.display()));
        let conns: Arc<Mutex<Vec<(Shared, Shared)>>> = Arc::default();
        let stop = Arc::new(AtomicBool::new(false));
        let (c, s, up) = (conns.clone(), stop.clone(), upstream.to_path_buf());
        let accept = std::thread::spawn(move || accept_loop(listener, &up, &c, &s));
        Relay {
            path,
            conns,
            stop,
            accept: Some(accept),
        }
    }

    /// What every connection carried so far, in the order they were accepted.
    pub fn captured(&self) -> Vec<Captured> {
        self.conns
            .lock()
            .unwrap()
            .iter()
            .map(|(up, down)| Captured {
                to_server: up.lock().unwrap().clone(),
                to_client: down.lock().unwrap().clone(),
            })
            .collect()
    }
}

impl Drop for Relay {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the blocking accept, which then sees `stop`.
        let _ = UnixStream::connect(&self.path);
        if let Some(t) = self.accept.take() {
            let _ = t.join();
        }
    }
}

fn accept_loop(
    listener: UnixListener,
    upstream: &Path,
    conns: &Mutex<Vec<(Shared, Shared)>>,
    stop: &AtomicBool,
) {
    for client in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let up: Shared = Arc::default();
        let down: Shared = Arc::default();
        conns.lock().unwrap().push((up.clone(), down.clone()));
        let client = match client {
            Ok(c) => c,
            Err(e) => {
                up.lock().unwrap().error = Some(format!("accept: {e}"));
                continue;
            }
        };
        let server = match UnixStream::connect(upstream) {
            Ok(s) => s,
            Err(e) => {
                up.lock().unwrap().error = Some(format!("connect {}: {e}", upstream.display()));
                continue;
            }
        };
        let (c2, s2) = (
            client.try_clone().expect("dup of the client socket"),
            server.try_clone().expect("dup of the server socket"),
        );
        std::thread::spawn(move || pump(&client, &server, &up));
        std::thread::spawn(move || pump(&s2, &c2, &down));
    }
}

/// Copies `from` to `to`, recording each byte before it is forwarded and
/// keeping every fd on the byte it was sent with; at end of stream
/// half-closes `to`.
///
/// A `recvmsg` may join fd-less bytes and a following chunk that carries
/// fds, and hands the fds over with the joined bytes: forwarded as one
/// chunk, the fds would move to an earlier message. So it reads one byte
/// at a time (fds come with the first byte of the chunk that carried
/// them) and forwards what it has before such a byte and whenever no more
/// is waiting.
fn pump(from: &UnixStream, to: &UnixStream, log: &Mutex<Direction>) {
    let mut pending: Vec<u8> = Vec::new();
    let mut pending_fds: Vec<OwnedFd> = Vec::new();
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(MAX_FDS))];
    let fail = |what: String| log.lock().unwrap().error = Some(what);
    loop {
        let mut flags = RecvFlags::CMSG_CLOEXEC;
        if !pending.is_empty() {
            flags |= RecvFlags::DONTWAIT;
        }
        let mut byte = [0u8; 1];
        let mut anc = RecvAncillaryBuffer::new(&mut space);
        let got = match recvmsg(from, &mut [IoSliceMut::new(&mut byte)], &mut anc, flags) {
            Ok(r) => r,
            Err(Errno::INTR) => continue,
            Err(Errno::AGAIN) => {
                if let Err(e) = send_all(to, &pending, &pending_fds) {
                    return fail(format!("sendmsg: {e}"));
                }
                pending.clear();
                pending_fds.clear();
                continue;
            }
            Err(e) => return fail(format!("recvmsg: {e}")),
        };
        if got.flags.contains(ReturnFlags::CTRUNC) {
            return fail("recvmsg: ancillary data truncated".into());
        }
        let fds: Vec<OwnedFd> = anc
            .drain()
            .flat_map(|m| match m {
                RecvAncillaryMessage::ScmRights(fds) => fds.collect::<Vec<_>>(),
                _ => Vec::new(),
            })
            .collect();
        drop(anc);
        if got.bytes == 0 || !fds.is_empty() {
            if let Err(e) = send_all(to, &pending, &pending_fds) {
                return fail(format!("sendmsg: {e}"));
            }
            pending.clear();
            pending_fds.clear();
        }
        if got.bytes == 0 {
            let _ = shutdown(to, Shutdown::Write);
            return;
        }
        {
            let mut d = log.lock().unwrap();
            if !fds.is_empty() {
                let offset = d.bytes.len();
                d.fds.push(FdBatch {
                    offset,
                    count: fds.len(),
                });
            }
            d.bytes.push(byte[0]);
        }
        pending.push(byte[0]);
        pending_fds.extend(fds);
    }
}

/// Sends `bytes`, with `fds` on the first `sendmsg`.
fn send_all(to: &UnixStream, bytes: &[u8], fds: &[OwnedFd]) -> Result<(), Errno> {
    let borrowed: Vec<BorrowedFd<'_>> = fds.iter().map(|f| f.as_fd()).collect();
    let mut space = vec![MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(borrowed.len()))];
    let mut sent = 0;
    while sent < bytes.len() {
        let mut anc = SendAncillaryBuffer::new(&mut space);
        if sent == 0 && !borrowed.is_empty() {
            assert!(
                anc.push(SendAncillaryMessage::ScmRights(&borrowed)),
                "room for {} fds",
                borrowed.len()
            );
        }
        match sendmsg(
            to,
            &[IoSlice::new(&bytes[sent..])],
            &mut anc,
            SendFlags::NOSIGNAL,
        ) {
            Ok(n) => sent += n,
            Err(Errno::INTR) => continue,
            Err(e) => return Err(e),
        }
    }
    Ok(())
}
