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
    /// Connect with death notifications and map; on `drop`, drop the
    /// mapping, the watch and the connection but keep running.
    Session,
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
    if let Cmd::Session = command {
        return session(options);
    }
    let conn = Connection::connect(options)?;
    match command {
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
        Cmd::DeathWatch | Cmd::Session => unreachable!(),
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
