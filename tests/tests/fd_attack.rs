//! A uid whose right is `none` cannot make the daemon run out of fds: the
//! socket transport never installs its `SCM_RIGHTS` fds, and a message that
//! trickles in is cut a fixed time after its first byte, however often bytes
//! arrive. Socket transport only.
//!
//! The attack runs for `ENEA_FD_ATTACK_SECS` seconds (default 120).

use std::io::{BufRead, BufReader};
use std::os::unix::process::CommandExt;
use std::process::{Command, Stdio};
use std::time::Duration;

use enea_buffer_tests::probe::eneabuf_as;
use enea_buffer_tests::{
    bins, eneabuf, eventually, fd_count, require_root, Daemon, DaemonOptions, NONE_UID, OTHER_UID,
    RW_UID,
};

/// Connections per uid the daemon serves (its default `--max-per-uid`).
const CONNECTIONS: usize = 32;
/// fds sent with each connection's message header.
const FDS: usize = 64;
/// The daemon's open-file limit for the attack: the kernel's default soft
/// limit, well under `CONNECTIONS * FDS`.
const NOFILE: u64 = 1024;

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn field(line: &str, name: &str) -> u64 {
    line.split_whitespace()
        .find_map(|w| w.strip_prefix(name)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {name}= in {line:?}"))
}

#[test]
fn a_none_uid_holding_fds_and_trickling_shuts_nobody_out() {
    require_root("the attacker runs as another uid");
    let seconds: u64 = std::env::var("ENEA_FD_ATTACK_SECS")
        .map(|v| v.parse().expect("ENEA_FD_ATTACK_SECS: a number of seconds"))
        .unwrap_or(120);
    let mut daemon = Daemon::start_with(DaemonOptions::socket());
    let pid = rustix::process::Pid::from_raw(daemon.pid() as i32).unwrap();
    rustix::process::prlimit(
        Some(pid),
        rustix::process::Resource::Nofile,
        rustix::process::Rlimit {
            current: Some(NOFILE),
            maximum: Some(NOFILE),
        },
    )
    .unwrap();
    assert!(eneabuf(&daemon, &["get"]).status.success());
    let baseline = fd_count(daemon.pid());

    let mut attacker = Command::new(bins::path(bins::PROBE));
    attacker
        .args(daemon.client_args())
        .args(["fd-hold", "--trickle-ms", "1000"])
        .args(["--connections", &CONNECTIONS.to_string()])
        .args(["--fds", &FDS.to_string()])
        .args(["--seconds", &seconds.to_string()])
        .uid(NONE_UID)
        .gid(OTHER_UID)
        .stdin(Stdio::null())
        .stdout(Stdio::piped());
    let mut attacker = attacker.spawn().expect("spawning the attacker");
    let mut out = BufReader::new(attacker.stdout.take().unwrap());
    let mut line = String::new();
    out.read_line(&mut line).unwrap();
    assert_eq!(line.trim(), "ready", "{}", daemon.log_text());

    // Until the attacker ends: root and an rw uid are served every time,
    // and the daemon holds no more fds than the connections themselves.
    let (mut gets, mut most) = (0u32, 0usize);
    let status = loop {
        if let Some(status) = attacker.try_wait().unwrap() {
            break status;
        }
        for (who, out) in [
            ("root", eneabuf(&daemon, &["get"])),
            ("rw uid", eneabuf_as(&daemon, RW_UID, OTHER_UID, &["get"])),
        ] {
            assert!(
                out.status.success() && text(&out.stdout).trim() == "0xdeadcafe",
                "{who}'s get under attack: {}\n{}",
                text(&out.stderr),
                daemon.log_text()
            );
        }
        gets += 1;
        most = most.max(fd_count(daemon.pid()));
        // Load pacing between rounds of gets.
        std::thread::sleep(Duration::from_millis(200));
    };
    assert!(status.success(), "attacker: {status:?}");
    let mut done = String::new();
    out.read_line(&mut done).unwrap();
    eprintln!("{gets} rounds of gets; daemon fds {baseline} -> at most {most}; {done}");
    assert!(done.starts_with("done "), "{done:?}");
    // A connection holds one fd; the attacker's 64 per message never land.
    assert!(
        most <= baseline + CONNECTIONS + 8,
        "the daemon held {most} fds (baseline {baseline}): the attacker's fds landed"
    );
    // Trickling does not extend a message past the frame deadline (5 s);
    // the idle timeout (60 s) alone would hold them for the whole attack.
    assert!(field(&done, "cut") > 0, "no connection was cut: {done}");
    assert!(
        field(&done, "longest_hold_ms") < 30_000,
        "a trickling connection was held too long: {done}"
    );
    assert!(gets > 0);
    eventually("the attacker's connections are gone", || {
        fd_count(daemon.pid()) <= baseline
    });
    assert!(
        daemon.wait_exit(Duration::ZERO).is_none(),
        "the daemon died"
    );
}
