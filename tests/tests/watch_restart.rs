//! `eneabuf watch` across a daemon restart: it follows the service to its
//! new region by default, and with `--no-follow` it exits with an error.
//! Socket transport: the test restarts the daemon on the same socket.

use std::process::Stdio;

use enea_buffer_tests::probe::{region_identity, Watch};
use enea_buffer_tests::{eneabuf, Daemon, DaemonOptions, DEADCAFE};

fn increment(daemon: &Daemon) {
    let out = eneabuf(daemon, &["increment"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

/// Kills `daemon` and starts another on its socket.
fn restart(daemon: Daemon) -> Daemon {
    let dir = daemon.dir.clone();
    daemon.stop_with(rustix::process::Signal::KILL);
    Daemon::start_with(DaemonOptions {
        dir: Some(dir),
        ..DaemonOptions::socket()
    })
}

#[test]
fn watch_follows_the_service_to_its_new_region_after_a_restart() {
    let first = Daemon::start_with(DaemonOptions::socket());
    let watcher = Watch::spawn(&first, &["--changes", "3"], Stdio::piped());
    assert_eq!(watcher.line(), format!("{DEADCAFE:#010x}"));
    increment(&first);
    assert_eq!(watcher.line(), format!("{:#010x}", DEADCAFE + 1));

    let second = restart(first);
    // The new region starts at 0xdeadcafe again: a change for the watcher.
    assert_eq!(watcher.line(), format!("{DEADCAFE:#010x}"));
    increment(&second);
    assert_eq!(watcher.line(), format!("{:#010x}", DEADCAFE + 1));

    let (status, stderr) = watcher.finish();
    assert!(status.success(), "{status}: {stderr}");
    let restarted: Vec<&str> = stderr
        .lines()
        .filter(|l| l.contains("the service restarted"))
        .collect();
    assert_eq!(restarted.len(), 1, "one restart line: {stderr}");
    // "dev 0x…, inode …" of the new region, as `info` names it.
    assert!(
        restarted[0].contains(&region_identity(&second)),
        "{:?} does not name the new region ({})",
        restarted[0],
        region_identity(&second)
    );
}

#[test]
fn watch_with_no_follow_exits_with_an_error_when_the_service_dies() {
    let daemon = Daemon::start_with(DaemonOptions::socket());
    let watcher = Watch::spawn(&daemon, &["--no-follow"], Stdio::piped());
    assert_eq!(watcher.line(), format!("{DEADCAFE:#010x}"));
    daemon.stop_with(rustix::process::Signal::KILL);
    let (status, stderr) = watcher.finish();
    assert_eq!(status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("eneabuf: the service died; "),
        "{stderr}"
    );
    assert!(stderr.contains("--no-follow"), "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
}
