//! `enea-buffer-probe`: a client process the integration tests drive. It
//! uses the client library like any client, and additionally tries every
//! way a hostile client could change the region's file behind the daemon.

use std::io::BufRead;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use enea_buffer_client::{ConnectOptions, Connection, Transport};
use rustix::fs::{FallocateFlags, Mode, OFlags, SealFlags};
use rustix::io::Errno;
use rustix::mm::{MapFlags, MprotectFlags, ProtFlags};

#[derive(Parser)]
struct Cli {
    #[arg(long, default_value = "socket")]
    transport: Transport,
    #[arg(long)]
    socket: PathBuf,
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
    /// Atomically increment word 0 `count` times.
    Increment {
        #[arg(long)]
        count: u32,
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let options = ConnectOptions {
        transport: cli.transport,
        socket: cli.socket,
        ..ConnectOptions::default()
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
    let conn = Connection::connect(options)?;
    match command {
        Cmd::Hold { read_only } => hold(&conn, read_only),
        Cmd::Increment { count } => {
            let buffer = conn.map()?;
            let word = buffer.atomic_u32(0)?;
            for _ in 0..count {
                word.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
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
        Cmd::DeathWatch | Cmd::Flood { .. } => unreachable!(),
    }
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
    println!("ready value={:#010x}", buffer.load_u32(0)?);
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

fn hold(conn: &Connection, read_only: bool) -> enea_buffer_client::Result<()> {
    // Either handle serves reads; only the read-write one can write.
    let (rw, ro) = if read_only {
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
        let load = || match (&rw, &ro) {
            (Some(b), _) => b.load_u32(0),
            (_, Some(b)) => b.load_u32(0),
            _ => unreachable!(),
        };
        match (words.as_slice(), &rw) {
            (["get"], _) => println!("value={:#010x}", load()?),
            (["set", v], Some(b)) => {
                let v = u32::from_str_radix(v.trim_start_matches("0x"), 16).unwrap();
                b.store_u32(0, v)?;
                println!("ok");
            }
            (["add", n], Some(b)) => {
                println!("old={:#010x}", b.fetch_add_u32(0, n.parse().unwrap())?)
            }
            (["quit"], _) => break,
            _ => println!("error unknown command {line:?}"),
        }
    }
    Ok(())
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
