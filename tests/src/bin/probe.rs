//! `enea-buffer-probe`: a client process the integration tests drive. It
//! uses the client library like any client, and additionally tries every
//! way a hostile client could change the region's file behind the daemon.

#[path = "probe/fd_hold.rs"]
mod fd_hold;

use std::io::BufRead;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::PathBuf;
use std::process::ExitCode;

use std::sync::atomic::Ordering;
use std::time::Duration;

use clap::{Parser, Subcommand};
use enea_buffer_client::{
    ConnectOptions, Connection, Error, SharedBuffer, Transport, RECORD_HEADER_SIZE,
};
use enea_buffer_tests::record;
use rustix::fs::{FallocateFlags, Mode, OFlags, SealFlags};
use rustix::io::Errno;
use rustix::mm::{MapFlags, MprotectFlags, ProtFlags};

#[derive(Parser)]
struct Cli {
    #[arg(long, default_value = "socket")]
    transport: Transport,
    #[arg(long)]
    socket: PathBuf,
    /// How long a silent daemon may keep a call waiting (the library's
    /// `ConnectOptions::timeout`); the library's default otherwise.
    #[arg(long, value_name = "MS")]
    call_timeout_ms: Option<u64>,
    #[command(subcommand)]
    command: Cmd,
}

#[derive(Subcommand)]
enum Cmd {
    /// Map and hold the region; answer `get`, `set <hex>`, `add <n>`, `quit` on stdin.
    Hold {
        #[arg(long)]
        read_only: bool,
    },
    /// Increment word 0 `count` times with the library's `fetch_add_u32`.
    /// With `--barrier N`: map, print `ready`, wait for a line on stdin,
    /// then arrive at a barrier in the region (word 1) and start counting
    /// only once all N workers have arrived there.
    Increment {
        #[arg(long)]
        count: u32,
        #[arg(long, value_name = "N")]
        barrier: Option<u32>,
    },
    /// Try to truncate, grow and re-seal through a read-write fd.
    AttackRw,
    /// Try every route to write through a read-only fd.
    AttackRo,
    /// Map, link to death, report the death and that calls now fail with
    /// ServiceGone; on `reconnect`, connect anew and map the new region.
    DeathWatch,
    /// Open hostile raw connections to the socket, report how many the
    /// daemon still holds open, and keep them until stdin closes or says
    /// `quit`: `silent` ones send nothing, `idle` ones finish the RPC
    /// handshake and go quiet, `half_sent` ones finish it and send 60 MiB
    /// of a message announced as 64 MiB.
    Flood {
        #[arg(long, default_value_t = 0)]
        silent: usize,
        #[arg(long, default_value_t = 0)]
        idle: usize,
        #[arg(long, default_value_t = 0)]
        half_sent: usize,
    },
    /// The fd-exhaustion attack (see `fd_hold`): `connections` connections,
    /// each holding a message open with `fds` fds, trickled every
    /// `trickle_ms`, for `seconds`.
    FdHold {
        #[arg(long)]
        connections: usize,
        #[arg(long)]
        fds: usize,
        #[arg(long)]
        trickle_ms: u64,
        #[arg(long)]
        seconds: u64,
    },
    /// Send `calls` transactions to the root object over the socket, each
    /// with an interface token of `token_len` bytes that holds newlines and
    /// a line forged to look like the daemon's own; prints `sent <n>`.
    TokenFlood {
        #[arg(long)]
        calls: usize,
        #[arg(long)]
        token_len: usize,
    },
    /// Connect with death notifications and map; on `drop`, drop the
    /// mapping, the watch and the connection but keep running.
    Session,
    /// Send `calls` dump transactions over the socket; print `dumped <n>`
    /// and the first reply's first line.
    DumpFlood {
        #[arg(long)]
        calls: usize,
    },
    /// Publish records (`record::pattern`, writer `writer`, counter 1, 2, …)
    /// at `record::OFFSET` until `readers` readers have counted themselves
    /// done. Prints `ready`, waits for a line on stdin, then arrives at the
    /// barrier in the region with `barrier` processes in all.
    Publish {
        #[arg(long)]
        writer: u32,
        #[arg(long)]
        readers: u32,
        #[arg(long)]
        barrier: u32,
    },
    /// Snapshot the record at `record::OFFSET` `reads` times and check each
    /// copy; same start as `publish`. Prints the counts.
    Snapshot {
        #[arg(long)]
        reads: u64,
        #[arg(long)]
        barrier: u32,
        /// Snapshot through a read-only mapping.
        #[arg(long)]
        read_only: bool,
    },
    /// Store `words` aligned 8-byte words from `offset` over and over, each
    /// sweep one pattern (every byte of a word the sweep's count), with
    /// 64-bit atomic stores, until the word at `stop` is not 0; prints
    /// `ready` once mapped, then `done sweeps=<n>`.
    WordWriter {
        #[arg(long)]
        offset: usize,
        #[arg(long)]
        words: usize,
        #[arg(long)]
        stop: usize,
    },
    /// One snapshot of the record at `record::OFFSET` with `timeout_ms`:
    /// prints `result=ok writer= counter=`, `result=empty` (never
    /// published: sequence 0, all zeros), `result=busy pid=` or
    /// `result=abandoned pid=`.
    Peek {
        #[arg(long)]
        timeout_ms: u64,
        #[arg(long)]
        read_only: bool,
    },
    /// One publish of `record::pattern(writer, counter)` at `record::OFFSET`
    /// with `timeout_ms`; prints `published writer= counter=`.
    Put {
        #[arg(long)]
        writer: u32,
        #[arg(long)]
        counter: u32,
        #[arg(long)]
        timeout_ms: u64,
    },
    /// Start a publish of the record at `record::OFFSET` by hand, following
    /// the AIDL's record layout, and stop in the middle (as a writer that
    /// dies there would): `owned` takes the owner word only; `half` also
    /// makes the sequence odd and writes half a payload. Prints `stalled`
    /// and waits on stdin for the test to kill it.
    Stall {
        #[arg(long)]
        stage: String,
    },
    /// A lazy HAL's client, over kernel binder, driven on stdin. `start`:
    /// waitForService `<descriptor>/<instance>` (the service manager starts
    /// a declared lazy service on the miss), connect, map, keep a mapping
    /// of the region of its own (a dup of the fd mapped read-only by hand:
    /// it holds no binder reference), add 1 to word 0, and print `started
    /// run=<n> value=<word 0 first> now=<after the add> dev= ino=`.
    /// `release`: drop the connection, the library's mapping and every
    /// binder reference; print `released`. `old <n>`: word 0 and identity
    /// of the mapping kept from start number n (from 0): `old run= value=
    /// dev= ino=`. `quit`.
    Lazy {
        #[arg(long)]
        instance: String,
    },
    /// A peer with write access that ignores the layout's protocols, driven
    /// on stdin: `store <offset> <hex>` stores a 32-bit word raw (control
    /// words included, waking nobody) and prints `ok`; `flip <offset>`
    /// starts storing even, ever-changing values into the word (a record's
    /// sequence) and prints `flipping` after the first; `stop` ends the
    /// flipping and prints `stopped flips=<n>`; `quit`, or the end of
    /// stdin, ends it all.
    Peer,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let defaults = ConnectOptions::default();
    let options = ConnectOptions {
        transport: cli.transport,
        socket: cli.socket,
        timeout: cli
            .call_timeout_ms
            .map_or(defaults.timeout, Duration::from_millis),
        ..defaults
    };
    match run(cli.command, &options) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            println!("error {e}");
            ExitCode::FAILURE
        }
    }
}

fn run(command: Cmd, options: &ConnectOptions) -> enea_buffer_client::Result<()> {
    if let Cmd::DeathWatch = command {
        return death_watch(options);
    }
    if let Cmd::Flood {
        silent,
        idle,
        half_sent,
    } = command
    {
        flood(&options.socket, silent, idle, half_sent);
        return Ok(());
    }
    if let Cmd::FdHold {
        connections,
        fds,
        trickle_ms,
        seconds,
    } = command
    {
        fd_hold::run(
            &options.socket,
            connections,
            fds,
            Duration::from_millis(trickle_ms),
            Duration::from_secs(seconds),
        );
        return Ok(());
    }
    if let Cmd::TokenFlood { calls, token_len } = command {
        return token_flood(&options.socket, calls, token_len);
    }
    if let Cmd::DumpFlood { calls } = command {
        let conn = Connection::connect(options)?;
        let said: Vec<String> = (0..calls)
            .map(|_| conn.dump().unwrap_or_else(|e| e.to_string()))
            .collect();
        let first = said.first().and_then(|t| t.lines().next()).unwrap_or("");
        println!("dumped {} first={first}", said.len());
        return Ok(());
    }
    if let Cmd::Session = command {
        return session(options);
    }
    if let Cmd::Lazy { instance } = command {
        return lazy(&ConnectOptions {
            instance,
            ..options.clone()
        });
    }
    let conn = Connection::connect(options)?;
    match command {
        Cmd::Publish {
            writer,
            readers,
            barrier,
        } => publish(&conn, writer, readers, barrier),
        Cmd::Snapshot {
            reads,
            barrier,
            read_only,
        } => snapshot(&conn, reads, barrier, read_only),
        Cmd::Peek {
            timeout_ms,
            read_only,
        } => peek(&conn, Duration::from_millis(timeout_ms), read_only),
        Cmd::Put {
            writer,
            counter,
            timeout_ms,
        } => {
            let data = record::pattern(writer, counter, record::LEN);
            conn.map()?
                .publish(record::OFFSET, &data, Duration::from_millis(timeout_ms))?;
            println!("published writer={writer} counter={counter}");
            Ok(())
        }
        Cmd::Stall { stage } => stall(&conn, &stage),
        Cmd::WordWriter {
            offset,
            words,
            stop,
        } => word_writer(&conn, offset, words, stop),
        Cmd::Peer => peer(&conn),
        Cmd::Hold { read_only } => hold(&conn, read_only),
        Cmd::Increment { count, barrier } => {
            let buffer = conn.map()?;
            if let Some(workers) = barrier {
                println!("ready");
                let mut go = String::new();
                std::io::stdin().read_line(&mut go).expect("reading stdin");
                // The barrier is a std atomic, not the fetch_add_u32 under test,
                // past the control words (offset 4 is the V2 waiter count).
                let arrived = buffer.atomic_u32(enea_buffer_client::CONTROL_SIZE)?;
                arrived.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                while arrived.load(std::sync::atomic::Ordering::SeqCst) < workers {
                    std::thread::yield_now();
                }
            }
            for _ in 0..count {
                buffer.fetch_add_u32(0, 1)?;
            }
            println!("done");
            Ok(())
        }
        Cmd::AttackRw => {
            let buffer = conn.map()?;
            attack_read_write(buffer.fd(), buffer.len() as u64);
            Ok(())
        }
        Cmd::AttackRo => {
            let buffer = conn.map_read_only()?;
            attack_read_only(buffer.fd(), buffer.len());
            println!("value={:#010x}", buffer.load_u32(0)?);
            Ok(())
        }
        Cmd::DeathWatch
        | Cmd::Flood { .. }
        | Cmd::FdHold { .. }
        | Cmd::TokenFlood { .. }
        | Cmd::DumpFlood { .. }
        | Cmd::Session
        | Cmd::Lazy { .. } => {
            unreachable!()
        }
    }
}

/// A token that, logged verbatim, would forge the daemon's own lines.
pub const FORGED_LINE: &str = "FORGED getBuffer from uid=1000 granted (rw)";

fn token_flood(
    socket: &std::path::Path,
    calls: usize,
    token_len: usize,
) -> enea_buffer_client::Result<()> {
    use rsbinder::entry::uri::{Endpoint, WireProfile, WireVersion};
    use rsbinder::rpc::RpcProxy;
    let failed = |what: &str, s: rsbinder::StatusCode| enea_buffer_client::Error::Call {
        call: "token flood",
        status: format!("{what}: {s:?}"),
    };
    let uri = rsbinder::Uri::new(Endpoint::unix(socket))
        .with_wire(WireProfile::Android13Plus(WireVersion::MAX));
    let client = rsbinder::Client::open(uri).map_err(|s| failed("connect", s))?;
    let session = client
        .session()
        .ok_or_else(|| failed("session", rsbinder::StatusCode::BadType))?;
    let root = session.get_root().map_err(|s| failed("root", s))?;
    let proxy = root
        .as_any()
        .downcast_ref::<RpcProxy>()
        .ok_or_else(|| failed("root", rsbinder::StatusCode::BadType))?;
    let mut token = format!("x\n{FORGED_LINE}\n\r\x1b[2K");
    while token.len() < token_len {
        token.push('A');
    }
    let mut sent = 0;
    for _ in 0..calls {
        let data = proxy
            .build_request(&token)
            .map_err(|s| failed("build", s))?;
        // Refused or not, each call is a line in the daemon's log unless it
        // is rate-limited; only a dead connection stops the flood.
        match proxy.transact(rsbinder::FIRST_CALL_TRANSACTION, &data, 0) {
            Err(rsbinder::StatusCode::DeadObject) => break,
            _ => sent += 1,
        }
    }
    println!("sent {sent}");
    Ok(())
}

fn death_watch(options: &ConnectOptions) -> enea_buffer_client::Result<()> {
    let options = ConnectOptions {
        death_notifications: true,
        ..options.clone()
    };
    let conn = Connection::connect(&options)?;
    let (tx, died) = std::sync::mpsc::channel();
    let _watch = conn.link_to_death(move || {
        let _ = tx.send(std::time::Instant::now());
    })?;
    let buffer = conn.map()?;
    println!(
        "ready value={:#010x} alive={}",
        buffer.load_u32(0)?,
        conn.is_alive()
    );
    let at = died.recv().expect("death recipient dropped");
    println!("died after_ms={}", at.elapsed().as_millis());
    let verdict = match conn.map() {
        Err(enea_buffer_client::Error::ServiceGone(_)) => "ServiceGone".to_string(),
        Err(e) => format!("other:{e}"),
        Ok(_) => "still-answers".into(),
    };
    println!("call result={verdict} alive={}", conn.is_alive());
    // The old mapping outlives the service.
    println!("old value={:#010x}", buffer.load_u32(0)?);
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        match line.trim() {
            "reconnect" => {
                let fresh = conn.reconnect()?.map()?;
                let same = fresh.identity()? == buffer.identity()?;
                println!(
                    "reconnected value={:#010x} same_file={same}",
                    fresh.load_u32(0)?
                );
            }
            "quit" => break,
            other => println!("error unknown command {other:?}"),
        }
    }
    Ok(())
}

fn session(options: &ConnectOptions) -> enea_buffer_client::Result<()> {
    let options = ConnectOptions {
        death_notifications: true,
        ..options.clone()
    };
    let conn = Connection::connect(&options)?;
    let watch = conn.link_to_death(|| {})?;
    let buffer = conn.map()?;
    println!("connected value={:#010x}", buffer.load_u32(0)?);
    let mut held = Some((conn, watch, buffer));
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        match line.trim() {
            "drop" => {
                held = None;
                println!("dropped");
            }
            "quit" => break,
            other => println!("error unknown command {other:?}"),
        }
    }
    drop(held);
    Ok(())
}

/// A read-only mapping of a region, made by hand from a dup of its fd, so
/// that it keeps no binder reference to the service (unlike the library's
/// mappings, which keep their connection).
struct Kept {
    fd: rustix::fd::OwnedFd,
    base: *mut std::ffi::c_void,
    len: usize,
}

impl Kept {
    fn new(buffer: &SharedBuffer) -> Result<Kept, Errno> {
        let fd = rustix::io::fcntl_dupfd_cloexec(buffer.fd(), 0)?;
        let len = buffer.len();
        // SAFETY: a fresh shared read-only mapping at an address the kernel
        // picks; nothing else in this process refers to it. The file's size
        // is sealed against shrinking, so the whole length stays backed.
        let base = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ,
                MapFlags::SHARED,
                &fd,
                0,
            )
        }?;
        Ok(Kept { fd, base, len })
    }

    fn word0(&self) -> u32 {
        // SAFETY: `base` is page-aligned, mapped readable for `len` (at
        // least 4) bytes as long as `self` lives; a volatile read because
        // another process may have written it.
        unsafe { std::ptr::read_volatile(self.base as *const u32) }
    }
}

impl Drop for Kept {
    fn drop(&mut self) {
        // SAFETY: the mapping made in `new`, not used after this.
        let _ = unsafe { rustix::mm::munmap(self.base, self.len) };
    }
}

fn lazy(options: &ConnectOptions) -> enea_buffer_client::Result<()> {
    use vendor_enea_buffer::aidl::vendor::enea::buffer::IEneaBuffer::IEneaBuffer;
    let name = options.service_name();
    let mut kept: Vec<Kept> = Vec::new();
    let mut session: Option<(Connection, SharedBuffer)> = None;
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        let words: Vec<&str> = line.split_whitespace().collect();
        match words[..] {
            ["start"] => {
                // AOSP's waitForService: getService (which starts a declared
                // lazy service on a miss), then a registration notification.
                // Kernel binder: Client::get waits without a bound; the test
                // bounds this probe's reply instead.
                let client = rsbinder::Client::open(rsbinder::Uri::new(
                    rsbinder::entry::uri::KernelEndpoint::default(),
                ))
                .map_err(|s| Error::NoDaemon {
                    endpoint: "kernel binder".into(),
                    reason: format!("cannot open the driver: {s:?}"),
                })?;
                rsbinder::ProcessState::start_thread_pool();
                let waited = client
                    .get::<dyn IEneaBuffer>(&name)
                    .map_err(|s| Error::NoDaemon {
                        endpoint: "kernel binder".into(),
                        reason: format!("waitForService {name}: {s:?}"),
                    })?;
                // Connect while the waited-for handle still holds the service.
                let conn = Connection::connect(options)?;
                drop(waited);
                let buffer = conn.map()?;
                let value = buffer.load_u32(0)?;
                let mine = Kept::new(&buffer).map_err(Error::Map)?;
                buffer.fetch_add_u32(0, 1)?;
                let id = rustix::fs::fstat(&mine.fd).map_err(Error::Stat)?;
                println!(
                    "started run={} value={value:#010x} now={:#010x} dev={} ino={}",
                    kept.len(),
                    mine.word0(),
                    id.st_dev,
                    id.st_ino
                );
                kept.push(mine);
                session = Some((conn, buffer));
            }
            ["release"] => {
                session = None;
                println!("released");
            }
            ["old", n] => match n.parse::<usize>().ok().and_then(|n| kept.get(n)) {
                Some(old) => {
                    let id = rustix::fs::fstat(&old.fd).map_err(Error::Stat)?;
                    println!(
                        "old run={n} value={:#010x} dev={} ino={}",
                        old.word0(),
                        id.st_dev,
                        id.st_ino
                    );
                }
                None => println!("error no kept mapping {n}"),
            },
            ["quit"] => break,
            _ => println!("error unknown command {line:?}"),
        }
    }
    drop(session);
    Ok(())
}

fn hold(conn: &Connection, read_only: bool) -> enea_buffer_client::Result<()> {
    // Either handle serves reads; only the read-write one can write.
    let (mut rw, ro) = if read_only {
        (None, Some(conn.map_read_only()?))
    } else {
        (Some(conn.map()?), None)
    };
    let (fd, base, id) = match (&rw, &ro) {
        (Some(b), _) => (b.raw_fd(), b.base_addr(), b.identity()?),
        (_, Some(b)) => (b.raw_fd(), b.base_addr(), b.identity()?),
        _ => unreachable!(),
    };
    println!("ready fd={fd} dev={} ino={} base={base:#x}", id.dev, id.ino);
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        let words: Vec<&str> = line.split_whitespace().collect();
        if words == ["quit"] {
            break;
        }
        // A refusal by the library is an answer, not the end of the session.
        match command(&words, rw.as_mut(), ro.as_ref()) {
            Ok(Some(reply)) => println!("{reply}"),
            Ok(None) => println!("error unknown command {line:?}"),
            Err(e) => println!("refused {e}"),
        }
    }
    Ok(())
}

/// One `hold` command: `get`, `set <hex>`, `add <n>`, `add64 <offset> <n>`,
/// `write <offset> <hex bytes>`, `read <offset> <len>`.
fn command(
    words: &[&str],
    rw: Option<&mut enea_buffer_client::SharedBuffer>,
    ro: Option<&enea_buffer_client::ReadOnlyBuffer>,
) -> enea_buffer_client::Result<Option<String>> {
    let num = |w: &str| w.parse::<usize>().expect("a decimal number");
    Ok(Some(match (words, rw, ro) {
        (["get"], Some(b), _) => format!("value={:#010x}", b.load_u32(0)?),
        (["get"], _, Some(b)) => format!("value={:#010x}", b.load_u32(0)?),
        (["set", v], Some(b), _) => {
            let v = u32::from_str_radix(v.trim_start_matches("0x"), 16).unwrap();
            b.store_u32(0, v)?;
            "ok".into()
        }
        (["add", n], Some(b), _) => {
            format!("old={:#010x}", b.fetch_add_u32(0, n.parse().unwrap())?)
        }
        (["add64", offset, n], Some(b), _) => {
            let word = b.atomic_u64(num(offset))?;
            let old = word.fetch_add(n.parse().unwrap(), std::sync::atomic::Ordering::SeqCst);
            format!("old={old:#018x}")
        }
        (["write", offset, bytes], Some(b), _) => {
            b.write_at(num(offset), &unhex(bytes))?;
            "ok".into()
        }
        (["read", offset, len], rw, ro) => {
            let mut out = vec![0u8; num(len)];
            match (rw, ro) {
                (Some(b), _) => b.read_at(num(offset), &mut out)?,
                (_, Some(b)) => b.read_at(num(offset), &mut out)?,
                _ => unreachable!(),
            }
            format!("bytes={}", hex(&out))
        }
        _ => return Ok(None),
    }))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn unhex(text: &str) -> Vec<u8> {
    (0..text.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&text[i..i + 2], 16).expect("hex bytes"))
        .collect()
}

fn errno_name(e: Errno) -> String {
    let known = [
        (Errno::PERM, "EPERM"),
        (Errno::ACCESS, "EACCES"),
        (Errno::BADF, "EBADF"),
        (Errno::INVAL, "EINVAL"),
        (Errno::BUSY, "EBUSY"),
    ];
    known
        .iter()
        .find(|(k, _)| *k == e)
        .map(|(_, n)| n.to_string())
        .unwrap_or_else(|| format!("errno{}", e.raw_os_error()))
}

fn report(route: &str, result: Result<(), Errno>) {
    let r = result.map_or_else(errno_name, |()| "ok".into());
    println!("route={route} result={r}");
}

fn attack_read_write(fd: BorrowedFd<'_>, size: u64) {
    report("ftruncate_shrink", rustix::fs::ftruncate(fd, size - 1));
    report("ftruncate_grow", rustix::fs::ftruncate(fd, size + 4096));
    report(
        "fallocate_grow",
        rustix::fs::fallocate(fd, FallocateFlags::empty(), size, 4096),
    );
    report(
        "pwrite_past_end",
        rustix::io::pwrite(fd, b"x", size).map(drop),
    );
    report(
        "add_seal_write",
        rustix::fs::fcntl_add_seals(fd, SealFlags::WRITE),
    );
    report(
        "add_seal_future_write",
        rustix::fs::fcntl_add_seals(fd, SealFlags::FUTURE_WRITE),
    );
    // Control: the fd is writable, so the refusals above come from the seals.
    report(
        "pwrite_inside",
        rustix::io::pwrite(fd, &[0u8; 4], 4).map(drop),
    );
}

fn attack_read_only(fd: BorrowedFd<'_>, size: usize) {
    let raw = fd.as_raw_fd();
    // SAFETY: fresh mappings at kernel-chosen addresses; each one made is
    // unmapped right away and never turned into a Rust reference.
    let map =
        |prot, flags| unsafe { rustix::mm::mmap(std::ptr::null_mut(), size, prot, flags, fd, 0) };
    let unmap = |p| {
        // SAFETY: `p` is a mapping of `size` bytes made by `map` above.
        let _ = unsafe { rustix::mm::munmap(p, size) };
    };
    report(
        "mmap_shared_write",
        map(ProtFlags::READ | ProtFlags::WRITE, MapFlags::SHARED).map(unmap),
    );
    report(
        "mprotect_write",
        map(ProtFlags::READ, MapFlags::SHARED).and_then(|p| {
            // SAFETY: `p` is our own read-only mapping of `size` bytes.
            let r = unsafe {
                rustix::mm::mprotect(p, size, MprotectFlags::READ | MprotectFlags::WRITE)
            };
            unmap(p);
            r
        }),
    );
    report("write", rustix::io::write(fd, b"x").map(drop));
    report("pwrite", rustix::io::pwrite(fd, b"x", 0).map(drop));
    report("ftruncate", rustix::fs::ftruncate(fd, 0));
    report(
        "fallocate",
        rustix::fs::fallocate(fd, FallocateFlags::empty(), 0, 4096),
    );
    report(
        "add_seals",
        rustix::fs::fcntl_add_seals(fd, SealFlags::WRITE),
    );
    let proc_path = format!("/proc/self/fd/{raw}");
    let reopen =
        |flags| rustix::fs::open(&proc_path, flags | OFlags::CLOEXEC, Mode::empty()).map(drop);
    report("reopen_rdwr", reopen(OFlags::RDWR));
    report("reopen_wronly", reopen(OFlags::WRONLY));
    report("fchmod", rustix::fs::fchmod(fd, Mode::from_raw_mode(0o666)));
    // F_SETFL cannot change the access mode: the call succeeds and changes nothing.
    let still_read_only = rustix::fs::fcntl_setfl(fd, OFlags::RDWR)
        .and_then(|()| rustix::fs::fcntl_getfl(fd))
        .is_ok_and(|flags| flags & OFlags::ACCMODE == OFlags::RDONLY);
    let verdict = if still_read_only {
        "still-read-only"
    } else {
        "WRITABLE"
    };
    println!("route=setfl_rdwr result={verdict}");
    // A private writable mapping is allowed, but its writes must stay private.
    let private = map(ProtFlags::READ | ProtFlags::WRITE, MapFlags::PRIVATE).map(|p| {
        // SAFETY: `p` is our own private copy-on-write mapping, at least 4 bytes.
        let word = unsafe { std::sync::atomic::AtomicU32::from_ptr(p.cast()) };
        word.store(0x4141_4141, std::sync::atomic::Ordering::SeqCst);
        unmap(p);
    });
    report("mmap_private_write", private);
}

/// The android-13+ RPC handshake of a new session, raw (RpcConnectionHeader
/// v1 with no fd mode, "cci", then the server's RpcNewSessionResponse).
fn handshake(s: &mut std::os::unix::net::UnixStream) -> std::io::Result<()> {
    use std::io::{Read, Write};
    let mut hello = Vec::new();
    hello.extend_from_slice(&1u32.to_le_bytes()); // version
    hello.extend_from_slice(&[0u8; 10]); // options, fd mode, reserved[8]
    hello.extend_from_slice(&0u16.to_le_bytes()); // no session id: a new session
    hello.extend_from_slice(b"cci\0\0\0\0\0");
    s.write_all(&hello)?;
    let mut response = [0u8; 8];
    s.read_exact(&mut response)
}

/// Whether the daemon still holds `s` open: not closed from its side.
fn held(s: &std::os::unix::net::UnixStream) -> bool {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let mut fds = [PollFd::new(s, PollFlags::IN | PollFlags::RDHUP)];
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    matches!(poll(&mut fds, Some(&zero)), Ok(0))
}

fn flood(socket: &std::path::Path, silent: usize, idle: usize, half_sent: usize) {
    use std::io::Write;
    use std::os::unix::net::UnixStream;
    // Room for every connection this process keeps open.
    let limit = rustix::process::getrlimit(rustix::process::Resource::Nofile);
    let _ = rustix::process::setrlimit(
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    );
    let connect = || {
        let s = UnixStream::connect(socket).ok()?;
        // Bounded: a daemon that neither answers nor closes must not hang the probe.
        s.set_read_timeout(Some(std::time::Duration::from_secs(5)))
            .ok()?;
        s.set_write_timeout(Some(std::time::Duration::from_secs(5)))
            .ok()?;
        Some(s)
    };
    let silent: Vec<UnixStream> = (0..silent).filter_map(|_| connect()).collect();
    let idle: Vec<UnixStream> = (0..idle)
        .filter_map(|_| {
            let mut s = connect()?;
            handshake(&mut s).ok()?;
            Some(s)
        })
        .collect();
    let half_sent: Vec<UnixStream> = (0..half_sent)
        .filter_map(|_| {
            let mut s = connect()?;
            handshake(&mut s).ok()?;
            let mut header = Vec::new();
            header.extend_from_slice(&0u32.to_le_bytes()); // TRANSACT
            header.extend_from_slice(&(64u32 << 20).to_le_bytes()); // bodySize
            header.extend_from_slice(&[0u8; 8]);
            s.write_all(&header).ok()?;
            let chunk = vec![0x5au8; 1 << 20];
            for _ in 0..60 {
                if s.write_all(&chunk).is_err() {
                    break;
                }
            }
            Some(s)
        })
        .collect();
    let count = |v: &[UnixStream]| v.iter().filter(|s| held(s)).count();
    println!(
        "ready silent={} idle={} half_sent={}",
        count(&silent),
        count(&idle),
        count(&half_sent)
    );
    for line in std::io::stdin().lock().lines() {
        match line.as_deref() {
            Ok("count") => println!(
                "held silent={} idle={} half_sent={}",
                count(&silent),
                count(&idle),
                count(&half_sent)
            ),
            _ => break,
        }
    }
}

/// How long a stress process waits for a record before calling it wedged.
const RECORD_WAIT: Duration = Duration::from_secs(20);

/// Prints `ready`, waits for the go line, then waits at the region's barrier
/// word until `processes` processes have arrived.
fn start_together(buffer: &SharedBuffer, processes: u32) -> enea_buffer_client::Result<()> {
    println!("ready");
    let mut go = String::new();
    std::io::stdin().read_line(&mut go).expect("reading stdin");
    let arrived = buffer.atomic_u32(record::BARRIER)?;
    arrived.fetch_add(1, Ordering::SeqCst);
    while arrived.load(Ordering::SeqCst) < processes {
        std::thread::yield_now();
    }
    Ok(())
}

fn publish(
    conn: &Connection,
    writer: u32,
    readers: u32,
    barrier: u32,
) -> enea_buffer_client::Result<()> {
    let buffer = conn.map()?;
    start_together(&buffer, barrier)?;
    let done = buffer.atomic_u32(record::READERS_DONE)?;
    let mut counter = 0u32;
    while done.load(Ordering::SeqCst) < readers {
        counter += 1;
        let data = record::pattern(writer, counter, record::LEN);
        buffer.publish(record::OFFSET, &data, RECORD_WAIT)?;
        // Let a reader on this CPU run: the point is overlapping reads and
        // writes, not the most publishes (a 2-CPU machine runs 4 processes).
        std::thread::yield_now();
    }
    println!("done publishes={counter}");
    Ok(())
}

fn snapshot(
    conn: &Connection,
    reads: u64,
    barrier: u32,
    read_only: bool,
) -> enea_buffer_client::Result<()> {
    let buffer = conn.map()?;
    let ro = if read_only {
        Some(conn.map_read_only()?)
    } else {
        None
    };
    start_together(&buffer, barrier)?;
    let mut out = vec![0u8; record::LEN];
    let (mut torn, mut distinct, mut last_seq) = (0u64, 0u64, None);
    let mut first_torn: Option<String> = None;
    let mut writers = std::collections::BTreeSet::new();
    for _ in 0..reads {
        let seq = match &ro {
            Some(ro) => ro.snapshot(record::OFFSET, &mut out, RECORD_WAIT),
            None => buffer.snapshot(record::OFFSET, &mut out, RECORD_WAIT),
        };
        let seq = seq.inspect_err(|_| {
            // Let the writers stop even when this reader gives up.
            let _ = buffer.fetch_add_u32(record::READERS_DONE, 1);
        })?;
        if seq % 2 != 0 {
            torn += 1;
            first_torn.get_or_insert(format!("odd sequence {seq}"));
        }
        if last_seq != Some(seq) {
            distinct += 1;
            last_seq = Some(seq);
        }
        match record::check(&out) {
            Ok((writer, _)) => {
                writers.insert(writer);
            }
            Err(e) => {
                torn += 1;
                first_torn.get_or_insert(e);
            }
        }
    }
    buffer.fetch_add_u32(record::READERS_DONE, 1)?;
    let writers: Vec<String> = writers.iter().map(u32::to_string).collect();
    println!(
        "done reads={reads} torn={torn} distinct={distinct} writers={} first_torn={:?}",
        writers.join(","),
        first_torn.unwrap_or_default()
    );
    Ok(())
}

fn word_writer(
    conn: &Connection,
    offset: usize,
    words: usize,
    stop: usize,
) -> enea_buffer_client::Result<()> {
    let mut buffer = conn.map()?;
    let control = conn.map()?;
    let stop = control.atomic_u32(stop)?;
    // Bounds and alignment are checked once, here; the addresses stay valid
    // while `buffer` lives.
    let words: Vec<*const std::sync::atomic::AtomicU64> = (0..words)
        .map(|i| buffer.atomic_u64(offset + 8 * i).map(std::ptr::from_ref))
        .collect::<Result<_, _>>()?;
    println!("ready");
    let mut sweeps = 0u64;
    while stop.load(Ordering::Relaxed) == 0 {
        sweeps += 1;
        let pattern = u64::from_ne_bytes([sweeps as u8; 8]);
        for word in &words {
            // SAFETY: aligned, in bounds and mapped while `buffer` lives;
            // nothing else in this process touches these bytes.
            unsafe { &**word }.store(pattern, Ordering::Relaxed);
        }
    }
    drop(buffer);
    println!("done sweeps={sweeps}");
    Ok(())
}

fn peek(conn: &Connection, timeout: Duration, read_only: bool) -> enea_buffer_client::Result<()> {
    let mut out = vec![0u8; record::LEN];
    let result = if read_only {
        conn.map_read_only()?
            .snapshot(record::OFFSET, &mut out, timeout)
    } else {
        conn.map()?.snapshot(record::OFFSET, &mut out, timeout)
    };
    match result {
        Ok(0) if out.iter().all(|&b| b == 0) => println!("result=empty"),
        Ok(seq) => match record::check(&out) {
            Ok((writer, counter)) => {
                println!("result=ok writer={writer} counter={counter} seq={seq}")
            }
            Err(e) => println!("result=torn {e}"),
        },
        Err(Error::Busy { pid, .. }) => println!("result=busy pid={pid}"),
        Err(Error::Abandoned { pid, .. }) => println!("result=abandoned pid={pid}"),
        Err(e) => return Err(e),
    }
    Ok(())
}

fn stall(conn: &Connection, stage: &str) -> enea_buffer_client::Result<()> {
    let buffer = conn.map()?;
    let seq = buffer.atomic_u32(record::OFFSET)?;
    let owner = buffer.atomic_u32(record::OFFSET + 4)?;
    let me = std::process::id();
    if owner
        .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
        .is_err()
    {
        println!(
            "error the record is owned by {}",
            owner.load(Ordering::SeqCst)
        );
        return Ok(());
    }
    match stage {
        "owned" => {}
        "half" => {
            seq.fetch_or(1, Ordering::Release);
            std::sync::atomic::fence(Ordering::Release);
            let data = record::pattern(99, 99, record::LEN);
            for (i, chunk) in data[..record::LEN / 2].chunks(4).enumerate() {
                let mut word = [0u8; 4];
                word[..chunk.len()].copy_from_slice(chunk);
                buffer
                    .atomic_u32(record::OFFSET + RECORD_HEADER_SIZE + 4 * i)?
                    .store(u32::from_ne_bytes(word), Ordering::Relaxed);
            }
        }
        other => {
            println!("error unknown stage {other:?}");
            return Ok(());
        }
    }
    println!("stalled pid={me} seq={}", seq.load(Ordering::SeqCst));
    // Stopped here until the test kills us.
    let mut line = String::new();
    let _ = std::io::stdin().read_line(&mut line);
    println!("error stall was not killed");
    Ok(())
}

/// The `peer` subcommand: raw stores and a sequence flipper (see `Cmd::Peer`).
fn peer(conn: &Connection) -> enea_buffer_client::Result<()> {
    use std::sync::atomic::AtomicBool;
    let buffer = conn.map()?;
    let stop = AtomicBool::new(false);
    let hex = |w: &str| u32::from_str_radix(w.trim_start_matches("0x"), 16);
    println!("ready");
    std::thread::scope(|s| {
        let mut flipper = None;
        for line in std::io::stdin().lock().lines().map_while(Result::ok) {
            let words: Vec<&str> = line.split_whitespace().collect();
            match (&words[..], flipper.is_some()) {
                (["store", offset, value], _) => {
                    match (
                        offset.parse::<usize>().map(|o| buffer.atomic_u32(o)),
                        hex(value),
                    ) {
                        (Ok(Ok(word)), Ok(value)) => {
                            word.store(value, Ordering::SeqCst);
                            println!("ok");
                        }
                        _ => println!("error bad store {line:?}"),
                    }
                }
                (["flip", offset], false) => {
                    let Ok(Ok(word)) = offset.parse::<usize>().map(|o| buffer.atomic_u32(o)) else {
                        println!("error bad flip {line:?}");
                        continue;
                    };
                    stop.store(false, Ordering::SeqCst);
                    let stop = &stop;
                    let (tx, started) = std::sync::mpsc::channel();
                    flipper = Some(s.spawn(move || {
                        // Even values only, each new: no odd value says
                        // "mid-write", yet every copy sees a change.
                        let first = word.load(Ordering::SeqCst) & !1;
                        let mut flips = 0u32;
                        while !stop.load(Ordering::Relaxed) {
                            flips = flips.wrapping_add(1);
                            word.store(first.wrapping_add(flips.wrapping_mul(2)), Ordering::SeqCst);
                            if flips == 1 {
                                let _ = tx.send(());
                            }
                        }
                        flips
                    }));
                    let _ = started.recv();
                    println!("flipping");
                }
                (["stop"], true) => {
                    stop.store(true, Ordering::SeqCst);
                    let flips = flipper.take().map_or(0, |f| f.join().unwrap_or(0));
                    println!("stopped flips={flips}");
                }
                (["quit"], _) => break,
                _ => println!("error unknown or untimely command {line:?}"),
            }
        }
        // The scope joins the flipper: end it first, whatever ended stdin.
        stop.store(true, Ordering::SeqCst);
    });
    Ok(())
}
