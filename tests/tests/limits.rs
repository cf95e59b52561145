//! No local user can starve the daemon on its Unix socket: hostile
//! connections from other uids are capped, cut by deadlines and bounded in
//! memory, while a real client keeps being served. Socket transport only
//! (also inside the VM, whose other tests run in binder mode).

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixStream;
use std::os::unix::process::CommandExt;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use enea_buffer_tests::probe::{eneabuf_as, field};
use enea_buffer_tests::{
    bins, eneabuf, eventually, fd_count, require_root, Daemon, DaemonOptions, NONE_UID, OTHER_UID,
    RW_UID, WAIT,
};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// A `/proc/<pid>/status` field in kB (VmRSS) or as a count (Threads).
fn status_field(pid: u32, name: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix(name))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or_else(|| panic!("no {name} in /proc/{pid}/status"))
}

/// An attacker process: `enea-buffer-probe flood` as `uid` (group
/// OTHER_UID, which owns the socket), holding its connections until dropped.
struct Flood {
    child: Child,
    ready: String,
}

impl Flood {
    fn start(daemon: &Daemon, uid: u32, what: &[&str]) -> Flood {
        let mut cmd = Command::new(bins::path(bins::PROBE));
        cmd.args(daemon.client_args())
            .arg("flood")
            .args(what)
            .uid(uid)
            .gid(OTHER_UID)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped());
        let mut child = cmd.spawn().expect("spawning the flood probe");
        let mut out = BufReader::new(child.stdout.take().unwrap());
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut line = String::new();
            let _ = out.read_line(&mut line);
            let _ = tx.send(line);
        });
        // 60 MiB per half-sent connection through a loaded machine: generous.
        let ready = rx
            .recv_timeout(WAIT * 4)
            .expect("the flood probe did not get ready");
        assert!(ready.starts_with("ready"), "flood probe: {ready:?}");
        Flood { child, ready }
    }
}

impl Drop for Flood {
    fn drop(&mut self) {
        if let Some(mut stdin) = self.child.stdin.take() {
            let _ = stdin.write_all(b"quit\n");
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// `eneabuf get` as root; returns how long it took.
fn timed_get(daemon: &Daemon) -> Duration {
    let started = Instant::now();
    let out = eneabuf(daemon, &["get"]);
    let took = started.elapsed();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "0xdeadcafe");
    took
}

/// The attack, from three other uids at once: 1,100 connections
/// that never send, 1,024 that finish the handshake and idle, 16 that send
/// 60 MiB of a 64 MiB message. A real client is served within 2 s
/// throughout, the daemon stays under 64 MiB and a bounded thread count,
/// and its fds return to the baseline once the attackers leave.
#[test]
fn a_flood_of_hostile_connections_does_not_starve_a_real_client() {
    require_root("the attackers run as other uids");
    let daemon = Daemon::start_with(DaemonOptions::socket());
    let pid = daemon.pid();
    timed_get(&daemon);
    let baseline_fds = fd_count(pid);
    let baseline_rss = status_field(pid, "VmRSS:");

    let silent = Flood::start(&daemon, OTHER_UID, &["--silent", "1100"]);
    let during_silent = timed_get(&daemon);
    let idle = Flood::start(&daemon, RW_UID, &["--idle", "1024"]);
    let during_idle = timed_get(&daemon);
    let half_sent = Flood::start(&daemon, NONE_UID, &["--half-sent", "16"]);
    let during_all = timed_get(&daemon);
    let rss_kb = status_field(pid, "VmRSS:");
    let threads = status_field(pid, "Threads:");
    let fds = fd_count(pid);
    eprintln!(
        "attack: {} | {} | {}; eneabuf get took {during_silent:?} / {during_idle:?} / \
         {during_all:?}; daemon RSS {baseline_rss} -> {rss_kb} kB, {threads} threads, \
         {baseline_fds} -> {fds} fds",
        silent.ready.trim(),
        idle.ready.trim(),
        half_sent.ready.trim()
    );
    for took in [during_silent, during_idle, during_all] {
        assert!(
            took < Duration::from_secs(2),
            "a real client waited {took:?}"
        );
    }
    assert!(rss_kb < 64 * 1024, "daemon RSS {rss_kb} kB under attack");
    // Per uid at most 32 connections (one worker each, plus a deadline
    // thread and a socket dup while a handshake runs), whatever the
    // attackers open.
    assert!(threads < 3 * 32 * 2 + 16, "{threads} daemon threads");
    assert!(fds <= baseline_fds + 3 * 32 * 2, "{fds} daemon fds");
    // Handshakes past the per-uid cap failed: the daemon closed them at once.
    assert_eq!(field(&idle.ready, "idle"), "32");
    // Each oversized message ended its connection at its header.
    assert_eq!(field(&half_sent.ready, "half_sent"), "0");

    drop((silent, idle, half_sent));
    eventually("daemon fd count back to baseline", || {
        fd_count(pid) <= baseline_fds
    });
    timed_get(&daemon);
}

/// A connection that never completes the handshake is cut after about a
/// second; one that completes it and idles, after the idle timeout.
#[test]
fn silent_and_idle_connections_are_cut_by_their_deadlines() {
    let daemon = Daemon::start_with(DaemonOptions {
        args: vec!["--idle-timeout".into(), "2s".into()],
        ..DaemonOptions::socket()
    });
    let wait_closed = |s: &mut UnixStream| {
        s.set_read_timeout(Some(WAIT)).unwrap();
        let started = Instant::now();
        let mut buf = [0u8; 64];
        loop {
            match std::io::Read::read(s, &mut buf) {
                Ok(0) | Err(_) => return started.elapsed(),
                Ok(_) => {}
            }
        }
    };
    let mut silent = UnixStream::connect(&daemon.socket).unwrap();
    let took = wait_closed(&mut silent);
    assert!(
        took >= Duration::from_millis(500) && took < Duration::from_secs(5),
        "silent connection closed after {took:?}"
    );

    let mut idle = UnixStream::connect(&daemon.socket).unwrap();
    // Handshake by hand: header v1, no session id, "cci"; read the response.
    let mut hello = Vec::new();
    hello.extend_from_slice(&1u32.to_le_bytes());
    hello.extend_from_slice(&[0u8; 12]);
    hello.extend_from_slice(b"cci\0\0\0\0\0");
    idle.write_all(&hello).unwrap();
    let mut response = [0u8; 8];
    std::io::Read::read_exact(&mut idle, &mut response).unwrap();
    let took = wait_closed(&mut idle);
    assert!(
        took >= Duration::from_millis(1500) && took < Duration::from_secs(10),
        "idle connection closed after {took:?}"
    );
}

/// Past the per-uid cap a uid's connections are closed at once; other uids
/// and root are still served; the log's call summary counts the refusals.
#[test]
fn per_uid_and_overall_caps_hold() {
    require_root("the attackers run as other uids");
    let daemon = Daemon::start_with(DaemonOptions {
        args: vec![
            "--max-connections".into(),
            "6".into(),
            "--max-connections-per-uid".into(),
            "4".into(),
            "--summary-period".into(),
            "200ms".into(),
        ],
        ..DaemonOptions::socket()
    });
    // Handshakes complete only on admitted connections.
    let a = Flood::start(&daemon, OTHER_UID, &["--idle", "10"]);
    assert_eq!(field(&a.ready, "idle"), "4", "{}", a.ready);
    // One more connection of that uid is closed unanswered; the client
    // names the limit as the likely cause.
    let refused = eneabuf_as(&daemon, OTHER_UID, OTHER_UID, &["get"]);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains(
            "closed the connection before the handshake: it is at its connection limit \
             (--max-connections / --max-connections-per-uid)"
        ),
        "{}",
        text(&refused.stderr)
    );
    // A second uid gets what is left of the overall cap.
    let b = Flood::start(&daemon, NONE_UID, &["--idle", "10"]);
    assert_eq!(field(&b.ready, "idle"), "2", "{}", b.ready);
    // Root keeps a reserve past the overall cap.
    assert!(timed_get(&daemon) < Duration::from_secs(2));
    // 6 + 8 of the 20 flood connections and eneabuf's were turned away: the socket transport
    // reports each to the call table, whose summaries add up to that.
    let refused = || -> u64 {
        daemon
            .log_text()
            .lines()
            .filter_map(|l| {
                let (before, _) = l.split_once(" connections refused by limits")?;
                before.rsplit(' ').next()?.parse::<u64>().ok()
            })
            .sum()
    };
    eventually("the summaries count the 15 refused connections", || {
        refused() == 15
    });
    drop((a, b));
}

/// SIGTERM ends the daemon within a second whatever connections are open:
/// idle ones, a client holding a mapping, and silent ones just connected,
/// which no deadline would end for another second (the daemon shuts every
/// connection down instead of waiting for them).
#[test]
fn sigterm_completes_within_a_second_under_open_connections() {
    require_root("the attackers run as other uids");
    let daemon = Daemon::start_with(DaemonOptions::socket());
    let _idle = Flood::start(&daemon, RW_UID, &["--idle", "10"]);
    let _held = enea_buffer_tests::Probe::hold(&daemon, false, None);
    let _silent = Flood::start(&daemon, OTHER_UID, &["--silent", "20"]);
    let started = Instant::now();
    let status = daemon.terminate();
    let took = started.elapsed();
    assert_eq!(status.code(), Some(0));
    // Well inside the 1 s the issue asks for, and inside the handshake
    // deadline the silent connections would otherwise be waited for.
    assert!(took < Duration::from_millis(600), "SIGTERM took {took:?}");
}
