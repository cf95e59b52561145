//! Fuzzes the daemon's socket transport with hostile bytes on a connection.
//!
//! An in-process harness, which is right for fuzzing the service library:
//! the daemon's own start-up code runs in this process once
//! (`ServiceSetup::from_config`, `build` and `platform::start_serving`, as
//! `enea_buffer_service::run` calls them, with `--transport socket` on a
//! socket in a fresh directory), and each input becomes one connection to
//! that socket. So every byte goes the way a real client's does: the
//! daemon's accept loop and admission (credentials, connection caps), the
//! `Guarded` transport (message bound, fd rule, frame clock and deadline)
//! and rsbinder's android-13+ RPC server (handshake, framing, specials,
//! dispatch to the service).
//!
//! Input layout (every byte optional; missing ones read as 0):
//!   [0] connection: bit 0 untrusted peer (uid and gid 65534; else root,
//!       whose fds the daemon takes); bit 1 no handshake from the harness
//!       (the ops write it, or not); bits 2-3 protocol version 2, 1, 0 or
//!       a u32 that follows; bit 4 fd mode none (else unix); bit 5 a
//!       32-byte session id follows (an attach); bit 6 the incoming option
//!   then ops to the input's end, each a byte whose low two bits say:
//!   0, 3  a message: a u16 body length, the body; the harness writes its
//!         RpcWireHeader: command (op bits 2-3: transact, reply, dec-strong,
//!         or a u32 that follows), bodySize (the body's length, or with op
//!         bit 4 a u32 that follows: a size that lies); a transact's
//!         parcelDataSize is set to fit unless op bit 5 is set
//!   1     raw bytes: a u16 length, the bytes
//!   2     fds to attach to the next write: 1 + op bits 2-4 of them (65
//!         with op bit 7: past the per-message cap), a kind byte each
//!
//! Then the client's side is shut for writing and everything the daemon
//! sends is read until it closes the connection. Checked besides "no
//! panic": the daemon ends the connection within STALL of the client's end
//! (no hang, no idle or frame deadline to wait out), and its connection
//! thread ends; no fd outlives the connection (counted every iteration);
//! what the daemon writes is its new-session response (the negotiated
//! version, never above the client's) and then whole RpcWireHeader frames,
//! no more replies than transactions sent; an untrusted peer, whom the
//! policy grants nothing, never gets an fd. With SOCKET_WIRE_TRACE set,
//! each iteration prints what the daemon sent.

#![no_main]

#[path = "../common/input.rs"]
mod input;
#[path = "../../src/stale_dirs.rs"]
mod stale_dirs;

use input::Input;
use std::collections::{BTreeMap, BTreeSet};
use std::io::{IoSlice, IoSliceMut};
use std::mem::MaybeUninit;
use std::os::fd::{AsFd, OwnedFd};
use std::os::unix::net::UnixStream;
use std::path::PathBuf;
use std::sync::mpsc;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use clap::Parser;
use enea_buffer_service::config::Config;
use enea_buffer_service::{build, platform, ServiceSetup};
use libfuzzer_sys::fuzz_target;
use rustix::event::{poll, PollFd, PollFlags};
use rustix::fs::{MemfdFlags, OFlags};
use rustix::net::{
    RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags, Shutdown,
};

/// How long the daemon may leave the client waiting on a step: far past
/// any call's time, far below the 5 s frame deadline and 60 s idle timeout
/// it must never need to wait out here.
const STALL: Duration = Duration::from_secs(3);
/// A uid and gid the daemon neither trusts nor grants anything.
const UNTRUSTED: u32 = 65534;
/// The android-13+ wire (AOSP RpcWireFormat.h).
const WIRE_HEADER_LEN: usize = 16;
const NEW_SESSION_RESPONSE_LEN: usize = 8;
const TXN_FIXED_LEN: usize = 40;
const SERVER_MAX_VERSION: u32 = 2;
const CMD_TRANSACT: u32 = 0;
const CMD_REPLY: u32 = 1;
const CMD_DEC_STRONG: u32 = 2;
/// The daemon's bound on a message (`MAX_MESSAGE`); its replies are far smaller.
const MAX_MESSAGE: usize = 64 * 1024;
const MAX_FDS_PER_WRITE: usize = 65;

struct Harness {
    socket: PathBuf,
    // Kept alive for the process's life: the runtime the stub blocks on,
    // the server (its accept thread) and the directory it lives in.
    _runtime: tokio::runtime::Runtime,
    _serving: platform::Serving,
    untrusted: Mutex<mpsc::Sender<mpsc::Sender<UnixStream>>>,
    /// Open fds after the first iteration: every later one ends with no more.
    fds: OnceLock<BTreeMap<String, String>>,
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        // The daemon is a Rust binary, whose runtime ignores SIGPIPE; libFuzzer's main does not.
        // SAFETY: SIG_IGN installs no handler code; nothing else in this
        // process changes SIGPIPE's disposition.
        unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
        // libFuzzer ends a run with `exit`, which skips every cleanup.
        stale_dirs::remove_dead_processes_dirs("enea-socket-wire-");
        let dir = std::env::temp_dir().join(format!("enea-socket-wire-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir(&dir).expect("socket directory");
        // Others may search it (the untrusted peer) but not write it.
        rustix::fs::chmod(&dir, 0o755.into()).expect("chmod the socket directory");
        let socket = dir.join("socket");
        let socket_arg = socket.to_str().expect("a UTF-8 temp dir").to_owned();
        let group = UNTRUSTED.to_string();
        let config = Config::try_parse_from([
            "vendor.enea.buffer-service",
            "--transport=socket",
            "--socket",
            &socket_arg,
            "--socket-group",
            &group,
            "--access-file=/dev/null",
            "--size=4096",
            "--instance=fuzz",
        ])
        .expect("the daemon's flags");
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        let setup = ServiceSetup::from_config(&config).expect("service setup");
        let built = build(setup, runtime.handle().clone()).expect("build the service");
        let serving =
            platform::start_serving(&config, built.binder.clone(), built.transport_events())
                .expect("serve on the socket");
        Harness {
            untrusted: Mutex::new(untrusted_connector(socket.clone())),
            socket,
            _runtime: runtime,
            _serving: serving,
            fds: OnceLock::new(),
        }
    })
}

/// A thread that connects as uid and gid [`UNTRUSTED`]: Linux credentials
/// are per thread, and the daemon reads the connecting thread's
/// (`SO_PEERCRED`). The rest of the process stays root.
fn untrusted_connector(socket: PathBuf) -> mpsc::Sender<mpsc::Sender<UnixStream>> {
    let (tx, rx) = mpsc::channel::<mpsc::Sender<UnixStream>>();
    let (ready_tx, ready_rx) = mpsc::channel();
    std::thread::Builder::new()
        .name("untrusted-peer".into())
        .spawn(move || {
            let id = rustix::process::Gid::from_raw(UNTRUSTED);
            let dropped = rustix::thread::set_thread_groups(&[])
                .and_then(|()| rustix::thread::set_thread_res_gid(id, id, id))
                .and_then(|()| {
                    let id = rustix::process::Uid::from_raw(UNTRUSTED);
                    rustix::thread::set_thread_res_uid(id, id, id)
                });
            ready_tx.send(dropped).expect("report the uid change");
            for reply in rx {
                let stream = UnixStream::connect(&socket).expect("connect as the untrusted uid");
                let _ = reply.send(stream);
            }
        })
        .expect("spawn the untrusted peer");
    match ready_rx.recv().expect("the untrusted peer starts") {
        Ok(()) => {}
        Err(e) => panic!(
            "cannot become uid {UNTRUSTED} in a thread ({e}): run the fuzzer as root, \
             so that it covers the untrusted peer"
        ),
    }
    tx
}

/// An fd to pass: memfd, either end of a pipe, one end of a socket pair,
/// `/dev/null`; its far end (if any) is closed at once. A pipe's inode is
/// kept for the leak check.
fn open_fd(kind: u8) -> OwnedFd {
    let fd = open_fd_of_kind(kind);
    if let Ok(stat) = rustix::fs::fstat(&fd) {
        // Only pipes: each filesystem numbers its inodes on its own, and a
        // memfd's number may equal that of the symbolizer's pipe.
        if rustix::fs::FileType::from_raw_mode(stat.st_mode) == rustix::fs::FileType::Fifo {
            PASSED_PIPES
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .insert(stat.st_ino as u64);
        }
    }
    fd
}

/// Inodes of the pipes the client passed in this iteration.
static PASSED_PIPES: Mutex<BTreeSet<u64>> = Mutex::new(BTreeSet::new());

fn open_fd_of_kind(kind: u8) -> OwnedFd {
    match kind % 5 {
        0 => rustix::fs::memfd_create("fuzz", MemfdFlags::CLOEXEC).expect("memfd"),
        1 => rustix::pipe::pipe().expect("pipe").0,
        2 => rustix::pipe::pipe().expect("pipe").1,
        3 => {
            rustix::net::socketpair(
                rustix::net::AddressFamily::UNIX,
                rustix::net::SocketType::STREAM,
                rustix::net::SocketFlags::CLOEXEC,
                None,
            )
            .expect("socketpair")
            .0
        }
        _ => rustix::fs::open("/dev/null", OFlags::RDWR | OFlags::CLOEXEC, 0.into())
            .expect("/dev/null"),
    }
}

/// The client's end of one connection, and what the daemon sent on it.
struct Client {
    sock: OwnedFd,
    got: Vec<u8>,
    fds_got: usize,
    /// The daemon closed (or reset) the connection.
    closed: bool,
}

impl Client {
    /// Reads what is there without blocking.
    fn drain(&mut self) {
        let mut buf = [0u8; 4096];
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(64))];
        while !self.closed {
            let mut control = RecvAncillaryBuffer::new(&mut space);
            let mut iov = [IoSliceMut::new(&mut buf)];
            match rustix::net::recvmsg(
                &self.sock,
                &mut iov,
                &mut control,
                RecvFlags::DONTWAIT | RecvFlags::CMSG_CLOEXEC,
            ) {
                Ok(r) if r.bytes == 0 => self.closed = true,
                Ok(r) => {
                    self.got.extend_from_slice(&buf[..r.bytes]);
                    for message in control.drain() {
                        if let RecvAncillaryMessage::ScmRights(fds) = message {
                            self.fds_got += fds.count();
                        }
                    }
                }
                Err(rustix::io::Errno::AGAIN) => return,
                Err(rustix::io::Errno::INTR) => {}
                Err(_) => self.closed = true, // ECONNRESET: closed with our bytes unread
            }
        }
    }

    /// Waits up to STALL for `want` (POLLOUT or POLLIN), reading meanwhile.
    fn wait(&mut self, want: PollFlags, what: &str) {
        let started = Instant::now();
        loop {
            self.drain();
            if self.closed {
                return;
            }
            let left = STALL.saturating_sub(started.elapsed());
            assert!(
                !left.is_zero(),
                "the daemon left the client waiting {STALL:?} to {what}"
            );
            let mut fds = [PollFd::new(&self.sock, want | PollFlags::IN)];
            let timeout = rustix::event::Timespec::try_from(left).expect("a timespec");
            match poll(&mut fds, Some(&timeout)) {
                Ok(_) if fds[0].revents().intersects(want) && !want.contains(PollFlags::IN) => {
                    return
                }
                Ok(_) | Err(rustix::io::Errno::INTR) => {}
                Err(e) => panic!("poll: {e}"),
            }
        }
    }

    /// Writes `bytes`, the fds riding its first byte; stops if the daemon closed.
    fn send(&mut self, mut bytes: &[u8], mut fds: Vec<OwnedFd>) {
        while !bytes.is_empty() && !self.closed {
            self.wait(PollFlags::OUT, "write");
            if self.closed {
                return;
            }
            let borrowed: Vec<_> = fds.iter().map(|fd| fd.as_fd()).collect();
            let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(65))];
            let mut control = SendAncillaryBuffer::new(&mut space);
            if !borrowed.is_empty() {
                assert!(control.push(SendAncillaryMessage::ScmRights(&borrowed)));
            }
            match rustix::net::sendmsg(
                &self.sock,
                &[IoSlice::new(bytes)],
                &mut control,
                SendFlags::NOSIGNAL | SendFlags::DONTWAIT,
            ) {
                Ok(n) => {
                    bytes = &bytes[n..];
                    drop(borrowed);
                    fds.clear();
                }
                Err(rustix::io::Errno::AGAIN) | Err(rustix::io::Errno::INTR) => {}
                Err(_) => self.closed = true, // EPIPE, ECONNRESET: the daemon is done
            }
        }
    }

    /// Ends the client's side and reads until the daemon closes.
    fn finish(&mut self) {
        let _ = rustix::net::shutdown(&self.sock, Shutdown::Write);
        while !self.closed {
            self.wait(PollFlags::IN, "close the connection after the client's end");
        }
    }
}

/// What the input makes the client send, and what it may expect back.
struct Plan {
    untrusted: bool,
    /// The version asked for in a harness-written new-session header.
    new_session_version: Option<u32>,
    transactions: usize,
}

fn connect(harness: &Harness, untrusted: bool) -> UnixStream {
    if !untrusted {
        return UnixStream::connect(&harness.socket).expect("connect");
    }
    let (tx, rx) = mpsc::channel();
    let connector = harness.untrusted.lock().unwrap_or_else(|e| e.into_inner());
    connector.send(tx).expect("the untrusted peer runs");
    rx.recv().expect("a connection from the untrusted peer")
}

fn handshake(input: &mut Input, conn: u8) -> (Vec<u8>, Option<u32>) {
    let version = match (conn >> 2) & 3 {
        0 => 2,
        1 => 1,
        2 => 0,
        _ => input.u32(),
    };
    let fd_mode = if conn & 0x10 != 0 { 0 } else { 1 };
    let session_id = if conn & 0x20 != 0 {
        input.bytes(32)
    } else {
        &[]
    };
    let incoming = conn & 0x40 != 0;
    let mut out = Vec::new();
    out.extend(version.to_le_bytes());
    out.push(u8::from(incoming));
    out.push(fd_mode);
    out.extend([0u8; 8]);
    out.extend((session_id.len() as u16).to_le_bytes());
    out.extend(session_id);
    if !incoming {
        out.extend(b"cci\0\0\0\0\0");
    }
    let new_session = session_id.is_empty();
    (out, new_session.then_some(version))
}

fn message(input: &mut Input, op: u8) -> (Vec<u8>, bool) {
    let command = match (op >> 2) & 3 {
        0 => CMD_TRANSACT,
        1 => CMD_REPLY,
        2 => CMD_DEC_STRONG,
        _ => input.u32(),
    };
    let lie = (op & 0x10 != 0).then(|| input.u32());
    let len = input.u16() as usize;
    let mut body = input.bytes(len).to_vec();
    if command == CMD_TRANSACT && op & 0x20 == 0 && body.len() >= TXN_FIXED_LEN {
        let data = (body.len() - TXN_FIXED_LEN) as u32;
        body[24..28].copy_from_slice(&data.to_le_bytes());
    }
    let size = lie.unwrap_or(body.len() as u32);
    let mut out = Vec::with_capacity(WIRE_HEADER_LEN + body.len());
    out.extend(command.to_le_bytes());
    out.extend(size.to_le_bytes());
    out.extend([0u8; 8]);
    out.extend(body);
    (out, command == CMD_TRANSACT)
}

fn run(harness: &Harness, input: &mut Input) -> (Client, Plan) {
    let conn = input.byte();
    let untrusted = conn & 1 != 0;
    let stream = connect(harness, untrusted);
    stream.set_nonblocking(true).expect("O_NONBLOCK");
    let mut client = Client {
        sock: stream.into(),
        got: Vec::new(),
        fds_got: 0,
        closed: false,
    };
    let mut plan = Plan {
        untrusted,
        new_session_version: None,
        transactions: 0,
    };
    if conn & 2 == 0 {
        let (bytes, version) = handshake(input, conn);
        plan.new_session_version = version;
        client.send(&bytes, Vec::new());
    }
    let mut fds = Vec::new();
    while !input.is_empty() && !client.closed {
        let op = input.byte();
        match op & 3 {
            1 => {
                let len = input.u16() as usize;
                let bytes = input.bytes(len).to_vec();
                client.send(&bytes, std::mem::take(&mut fds));
            }
            2 => {
                let n = if op & 0x80 != 0 {
                    MAX_FDS_PER_WRITE
                } else {
                    1 + ((op >> 2) & 7) as usize
                };
                fds = (0..n).map(|_| open_fd(input.byte())).collect();
            }
            _ => {
                let (bytes, transact) = message(input, op);
                plan.transactions += usize::from(transact);
                client.send(&bytes, std::mem::take(&mut fds));
            }
        }
    }
    client.finish();
    (client, plan)
}

/// The daemon's side of the conversation: a new-session response, then
/// whole frames, as many replies at most as transactions were sent.
fn check_output(client: &Client, plan: &Plan) {
    let got = &client.got;
    if plan.untrusted {
        assert_eq!(
            client.fds_got, 0,
            "the daemon handed {} fds to a peer the policy grants nothing",
            client.fds_got
        );
    }
    let Some(asked) = plan.new_session_version else {
        return;
    };
    if got.is_empty() {
        return; // refused: a version or fd mode it does not take
    }
    assert!(
        got.len() >= NEW_SESSION_RESPONSE_LEN,
        "a partial new-session response: {got:02x?}"
    );
    let version = u32::from_le_bytes(got[..4].try_into().unwrap());
    assert_eq!(
        (version, &got[4..NEW_SESSION_RESPONSE_LEN]),
        (asked.min(SERVER_MAX_VERSION), &[0u8; 4][..]),
        "the new-session response to a client asking for version {asked}"
    );
    let mut rest = &got[NEW_SESSION_RESPONSE_LEN..];
    let mut replies = 0;
    while !rest.is_empty() {
        assert!(
            rest.len() >= WIRE_HEADER_LEN,
            "the daemon sent part of a header: {rest:02x?}"
        );
        let command = u32::from_le_bytes(rest[..4].try_into().unwrap());
        let size = u32::from_le_bytes(rest[4..8].try_into().unwrap()) as usize;
        assert!(
            matches!(command, CMD_REPLY | CMD_DEC_STRONG),
            "the daemon sent command {command}"
        );
        assert!(size <= MAX_MESSAGE, "the daemon sent a {size}-byte body");
        assert!(
            rest.len() >= WIRE_HEADER_LEN + size,
            "the daemon sent part of a {size}-byte body: {} bytes",
            rest.len() - WIRE_HEADER_LEN
        );
        replies += usize::from(command == CMD_REPLY);
        rest = &rest[WIRE_HEADER_LEN + size..];
    }
    assert!(
        replies <= plan.transactions,
        "{replies} replies to {} transactions",
        plan.transactions
    );
}

/// rsbinder's per-connection threads (worker, phase deadline, session
/// reaper), or `None` if this listing of /proc/self/task may have missed one.
fn connection_threads() -> Option<usize> {
    let tasks = std::fs::read_dir("/proc/self/task").expect("/proc/self/task");
    let names: Vec<String> = tasks
        .filter_map(|t| std::fs::read_to_string(t.ok()?.path().join("comm")).ok())
        .collect();
    // The kernel resumes a listing by position, so a thread that exits during
    // it (a worker) hides the next one (its deadline thread): a listing is
    // whole only if it names as many live threads as the kernel counts after.
    (names.len() == thread_count()).then(|| {
        names
            .iter()
            .filter(|name| name.starts_with("rpc-") || name.starts_with("rsbinder-rpc-"))
            .count()
    })
}

/// The kernel's count of this process's threads (`Threads:` in /proc/self/status).
fn thread_count() -> usize {
    let status = std::fs::read_to_string("/proc/self/status").expect("/proc/self/status");
    status
        .lines()
        .find_map(|line| line.strip_prefix("Threads:"))
        .and_then(|n| n.trim().parse().ok())
        .expect("a Threads: line in /proc/self/status")
}

/// What each open fd is (`/proc/self/fd` links), by number, but for the
/// directory being read.
fn open_fds() -> BTreeMap<String, String> {
    let own = format!("/proc/{}/fd", std::process::id());
    std::fs::read_dir("/proc/self/fd")
        .expect("/proc/self/fd")
        .filter_map(|e| {
            let e = e.ok()?;
            let target = std::fs::read_link(e.path()).ok()?;
            let target = target.to_string_lossy().into_owned();
            (target != own).then(|| (e.file_name().to_string_lossy().into_owned(), target))
        })
        .collect()
}

/// Fds open now that were not after the first iteration, but for pipes
/// the client did not pass: AddressSanitizer's symbolizer, which libFuzzer
/// starts when it first prints a new function, talks over two pipes.
fn leaked_fds(before: &BTreeMap<String, String>, passed: &BTreeSet<u64>) -> Vec<(String, String)> {
    open_fds()
        .into_iter()
        .filter(|(fd, target)| before.get(fd) != Some(target))
        .filter(|(_, target)| {
            let pipe = target
                .strip_prefix("pipe:[")
                .and_then(|t| t.strip_suffix(']'));
            pipe.map_or(true, |inode| {
                inode.parse().is_ok_and(|i| passed.contains(&i))
            })
        })
        .collect()
}

/// The daemon's worker for the connection has ended, and every thread it
/// started. No handle to them is reachable from outside the daemon, so
/// their threads are watched in /proc. One still running when libFuzzer
/// checks for leaks can show as a leak of its own thread handle: once tids
/// wrap (pid_max), LeakSanitizer skips a thread whose tid an earlier thread
/// of this process had, as AddressSanitizer keeps finished threads by tid.
fn wait_for_the_worker() {
    let started = Instant::now();
    loop {
        let threads = connection_threads();
        if threads == Some(0) {
            return;
        }
        let what = match threads {
            Some(_) => "the daemon's connection threads did not end after the connection",
            None => "no listing of /proc/self/task held every thread of this process",
        };
        assert!(started.elapsed() < STALL, "{what} within {STALL:?}");
        std::thread::sleep(Duration::from_micros(200));
    }
}

fuzz_target!(|bytes: &[u8]| {
    let harness = harness();
    let mut input = Input(bytes);
    let (client, plan) = run(harness, &mut input);
    if std::env::var_os("SOCKET_WIRE_TRACE").is_some() {
        eprintln!(
            "daemon sent {} bytes, {} fds: {:02x?}",
            client.got.len(),
            client.fds_got,
            client.got
        );
    }
    check_output(&client, &plan);
    drop(client);
    wait_for_the_worker();
    let before = harness.fds.get_or_init(open_fds);
    let passed = std::mem::take(&mut *PASSED_PIPES.lock().unwrap_or_else(|e| e.into_inner()));
    // rsbinder's reaper thread may drop a session's last parcel just after
    // the connection's thread ends: a leak is an fd still open after STALL.
    let started = Instant::now();
    let mut leaked = leaked_fds(before, &passed);
    while !leaked.is_empty() && started.elapsed() < STALL {
        std::thread::sleep(Duration::from_millis(1));
        leaked = leaked_fds(before, &passed);
    }
    assert!(
        leaked.is_empty(),
        "fds open after the connection that were not after the first: {leaked:?}"
    );
});
