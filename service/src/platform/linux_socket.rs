//! The Unix-socket transport's front door: our own listener and accept
//! loop in front of rsbinder's RPC server.
//!
//! rsbinder 0.12 serves each session with its own threads, lets every
//! connection announce a 64 MiB frame, and has no per-peer limits. So the
//! daemon accepts connections itself, reads the peer's credentials
//! (`SO_PEERCRED`), turns away connections over the overall and per-uid
//! caps at once (before any byte is read), and hands each admitted stream
//! to [`RpcServer::serve_connection`] wrapped in a `Guarded` transport
//! that refuses oversized messages, takes fds only from callers the policy
//! gives a right, cuts a message that trickles in, and releases the
//! connection's slot when rsbinder drops it. rsbinder still runs the
//! handshake (with our short deadline) and the idle timeout.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd, RawFd};
use std::os::unix::fs::MetadataExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use enea_buffer_common::etc_ids;
use log::{debug, error, info, warn};
use rsbinder::rpc::transport::UnixTransport;
use rsbinder::rpc::RpcServer;

use super::linux_conns::{peer_cred, ConnTable, Guarded, Limits, MAX_MESSAGE, TABLE};
use crate::platform::ConnectionEvents;

/// How long a new connection has to finish the RPC handshake.
pub const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(1);
/// Listen backlog: connections the kernel queues while the accept loop is busy.
const BACKLOG: i32 = 4096;

/// Why the socket cannot be served.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    /// The directory is not safe to put the socket in.
    #[error("socket directory {dir} {why}: another user could replace the socket")]
    UnsafeDirectory {
        /// The directory.
        dir: PathBuf,
        /// What is wrong with it.
        why: String,
    },
    /// A system call failed; the text says which and where.
    #[error("{0}")]
    Sys(String),
}

fn sys(what: String) -> impl FnOnce(std::io::Error) -> SocketError {
    move |e| SocketError::Sys(format!("{what}: {e}"))
}

/// Refuses a socket directory another user could replace the socket in: one
/// owned by another user, or writable by group or others without the sticky
/// bit. A missing directory is left to the lock's error.
pub fn check_directory(dir: &Path, me: u32) -> Result<(), SocketError> {
    let Ok(meta) = std::fs::metadata(dir) else {
        return Ok(());
    };
    let unsafe_dir = |why: String| SocketError::UnsafeDirectory {
        dir: dir.to_path_buf(),
        why,
    };
    if meta.uid() != 0 && meta.uid() != me {
        return Err(unsafe_dir(format!(
            "is owned by uid {}, neither root nor the daemon's uid {me}",
            meta.uid()
        )));
    }
    let mode = meta.mode();
    if mode & 0o022 != 0 && mode & 0o1000 == 0 {
        return Err(unsafe_dir(format!(
            "is writable by other users (mode {:04o}) and has no sticky bit",
            mode & 0o7777
        )));
    }
    Ok(())
}

/// Creates the default socket directory: 0755, owned by the daemon's uid.
pub fn create_default_directory(dir: &Path) -> Result<(), SocketError> {
    use std::os::unix::fs::DirBuilderExt;
    match std::fs::DirBuilder::new().mode(0o755).create(dir) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(SocketError::Sys(format!(
            "cannot create the socket directory {}: {e}",
            dir.display()
        ))),
    }
}

/// Binds `path` (mode 0660, group `group`), replacing a stale socket: the
/// caller holds the path's lock, so no live daemon serves it.
fn bind(path: &Path, group: Option<u32>) -> Result<UnixListener, SocketError> {
    if let Ok(meta) = std::fs::symlink_metadata(path) {
        use std::os::unix::fs::FileTypeExt;
        if !meta.file_type().is_socket() {
            return Err(SocketError::Sys(format!(
                "{} exists and is not a socket; not replacing it",
                path.display()
            )));
        }
        std::fs::remove_file(path).map_err(sys(format!(
            "cannot remove the stale socket {}",
            path.display()
        )))?;
    }
    // No window in which the socket is more open than 0660: bind under a
    // umask that leaves at most 0600, then widen to the group.
    // SAFETY: umask(2) cannot fail; it is process-wide, and nothing else
    // creates files while the daemon starts.
    let old = unsafe { libc::umask(0o177) };
    let bound = UnixListener::bind(path);
    // SAFETY: as above; restores the previous mask.
    unsafe { libc::umask(old) };
    let listener = bound.map_err(sys(format!("cannot bind {}", path.display())))?;
    if let Some(gid) = group {
        std::os::unix::fs::chown(path, None, Some(gid)).map_err(sys(format!(
            "cannot give {} to group {gid}",
            path.display()
        )))?;
    }
    std::fs::set_permissions(path, std::os::unix::fs::PermissionsExt::from_mode(0o660))
        .map_err(sys(format!("cannot chmod {}", path.display())))?;
    // SAFETY: a listening socket we own; listen(2) again only resizes its backlog.
    if unsafe { libc::listen(listener.as_raw_fd(), BACKLOG) } != 0 {
        return Err(sys(format!("listen on {}", path.display()))(
            std::io::Error::last_os_error(),
        ));
    }
    listener
        .set_nonblocking(true)
        .map_err(sys("O_NONBLOCK on the listener".into()))?;
    Ok(listener)
}

/// An RPC server with no reachable listener of its own: rsbinder binds
/// one, and we unlink it at once; connections come from our accept loop.
fn detached_rpc_server(dir: &Path) -> Result<Arc<RpcServer>, SocketError> {
    let private = dir.join(format!(".rsbinder-{}", std::process::id()));
    let _ = std::fs::remove_file(&private);
    let server = RpcServer::setup_unix_server(&private).map_err(|s| {
        SocketError::Sys(format!(
            "cannot set up the RPC server at {}: {s:?}",
            private.display()
        ))
    })?;
    std::fs::remove_file(&private).map_err(sys(format!("cannot remove {}", private.display())))?;
    Ok(server)
}

/// The running socket server.
pub struct SocketServer {
    rpc: Arc<RpcServer>,
    table: Arc<ConnTable>,
    stopping: Arc<AtomicBool>,
    wake: OwnedFd,
    accept_thread: Option<std::thread::JoinHandle<()>>,
    path: PathBuf,
    file: (u64, u64),
}

impl SocketServer {
    /// Binds `path` and serves `configure`d rsbinder RPC on it.
    pub fn start(
        path: &Path,
        group: Option<u32>,
        limits: Limits,
        events: Arc<dyn ConnectionEvents>,
        configure: impl FnOnce(&RpcServer) -> Result<(), SocketError>,
    ) -> Result<SocketServer, SocketError> {
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let rpc = detached_rpc_server(&dir)?;
        rpc.set_handshake_timeout(Some(HANDSHAKE_TIMEOUT));
        rpc.set_idle_timeout(limits.idle);
        configure(&rpc)?;
        let listener = bind(path, group)?;
        let meta =
            std::fs::metadata(path).map_err(sys(format!("cannot stat {}", path.display())))?;
        let table = TABLE.get_or_init(Arc::default).clone();
        let stopping = Arc::new(AtomicBool::new(false));
        let (wake_rx, wake) = pipe()?;
        let accept_thread = {
            let (rpc, table, stopping) = (rpc.clone(), table.clone(), stopping.clone());
            std::thread::Builder::new()
                .name("socket-accept".into())
                .spawn(move || {
                    accept_loop(
                        &listener, &wake_rx, &rpc, &table, &stopping, &limits, &*events,
                    )
                })
                .map_err(sys("cannot start the accept thread".into()))?
        };
        Ok(SocketServer {
            rpc,
            table,
            stopping,
            wake,
            accept_thread: Some(accept_thread),
            path: path.to_path_buf(),
            file: (meta.dev(), meta.ino()),
        })
    }

    /// Stops accepting, cuts every connection, waits for their workers
    /// (calls in flight finish) and removes the socket. Bounded whatever
    /// the peers do: no worker waits on a peer once its socket is cut.
    pub fn stop(mut self) {
        self.stopping.store(true, Ordering::SeqCst);
        // SAFETY: writes one byte from a valid buffer to a pipe we own.
        let _ = unsafe { libc::write(self.wake.as_raw_fd(), b"x".as_ptr().cast(), 1) };
        if let Some(t) = self.accept_thread.take() {
            let _ = t.join();
        }
        let live = self.table.total();
        self.table.cut_all();
        self.rpc.terminate();
        debug!("stopped; cut {live} connections");
        if std::fs::metadata(&self.path).is_ok_and(|m| (m.dev(), m.ino()) == self.file) {
            let _ = std::fs::remove_file(&self.path);
        }
    }
}

fn pipe() -> Result<(OwnedFd, OwnedFd), SocketError> {
    let mut fds = [0 as RawFd; 2];
    // SAFETY: `fds` has room for the two fds pipe2(2) writes.
    if unsafe { libc::pipe2(fds.as_mut_ptr(), libc::O_CLOEXEC) } != 0 {
        return Err(sys("pipe2".into())(std::io::Error::last_os_error()));
    }
    use std::os::fd::FromRawFd;
    // SAFETY: pipe2 succeeded, so both fds are open and owned by nobody else.
    Ok(unsafe { (OwnedFd::from_raw_fd(fds[0]), OwnedFd::from_raw_fd(fds[1])) })
}

/// Waits until the listener or the wake pipe is readable.
fn wait_readable(listener: BorrowedFd<'_>, wake: BorrowedFd<'_>) {
    let mut fds = [
        libc::pollfd {
            fd: listener.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
        libc::pollfd {
            fd: wake.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        },
    ];
    // SAFETY: `fds` is a valid array of two pollfds for the call.
    unsafe { libc::poll(fds.as_mut_ptr(), 2, -1) };
}

fn accept_loop(
    listener: &UnixListener,
    wake: &OwnedFd,
    rpc: &Arc<RpcServer>,
    table: &Arc<ConnTable>,
    stopping: &AtomicBool,
    limits: &Limits,
    events: &dyn ConnectionEvents,
) {
    while !stopping.load(Ordering::SeqCst) {
        match listener.accept() {
            Ok((stream, _)) => admit(stream, rpc, table, limits, events),
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                wait_readable(listener.as_fd(), wake.as_fd())
            }
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
            Err(e) => match e.raw_os_error() {
                Some(libc::ECONNABORTED) | Some(libc::EPROTO) => {}
                Some(libc::EMFILE) | Some(libc::ENFILE) | Some(libc::ENOMEM)
                | Some(libc::ENOBUFS) => {
                    // Heals as connections close; the backlog holds new ones meanwhile.
                    warn!("accept: {e}; retrying in 50 ms");
                    std::thread::sleep(Duration::from_millis(50));
                }
                _ => {
                    error!("accept failed, no longer accepting connections: {e}");
                    return;
                }
            },
        }
    }
}

fn admit(
    stream: UnixStream,
    rpc: &Arc<RpcServer>,
    table: &Arc<ConnTable>,
    limits: &Limits,
    events: &dyn ConnectionEvents,
) {
    let cred = match peer_cred(stream.as_fd()) {
        Ok(c) => c,
        Err(e) => {
            debug!("connection without credentials refused: {e}");
            return;
        }
    };
    let slot = match table.admit(cred, stream.as_raw_fd(), limits) {
        Ok(slot) => slot,
        Err(why) => {
            // Dropping the stream closes it: the peer reads the end at once.
            debug!(
                "connection from uid={} pid={} refused: {why}",
                cred.uid, cred.pid
            );
            events.connection_refused();
            return;
        }
    };
    if let Err(e) = stream.set_nonblocking(false) {
        debug!("connection from uid={} dropped: {e}", cred.uid);
        return;
    }
    let sock = stream.as_raw_fd();
    match UnixTransport::from_stream(stream) {
        Ok(inner) => {
            let takes_fds = events.takes_fds_from(cred.uid, cred.gid);
            rpc.serve_connection(Box::new(Guarded::new(slot, inner, sock, takes_fds)))
        }
        Err(e) => debug!("connection from uid={} dropped: {e:?}", cred.uid),
    }
}

/// Resolves `--socket-group`: a number, or a name from /etc/group.
pub fn resolve_group(text: &str) -> Result<u32, String> {
    if let Ok(gid) = text.parse::<u32>() {
        return Ok(gid);
    }
    etc_ids::id_of(etc_ids::GROUP, text).ok_or_else(|| {
        format!(
            "--socket-group {text}: no group of that name in {}; give a group listed there, \
             or its number",
            etc_ids::GROUP
        )
    })
}

/// Logged once at start: the limits in force.
pub fn describe(limits: &Limits) -> String {
    let idle = limits
        .idle
        .map(|d| format!("{d:?}"))
        .unwrap_or_else(|| "none".into());
    let s = format!(
        "at most {} connections, {} per uid (root and the daemon's uid: no per-uid cap, {} more overall); handshake {HANDSHAKE_TIMEOUT:?}, idle {idle}, \
         messages up to {MAX_MESSAGE} bytes",
        limits.max_connections, limits.max_per_uid, limits.max_per_uid
    );
    info!("socket limits: {s}");
    s
}
