//! `eneabuf watch` across a daemon restart: it follows the service to its
//! new region by default, and with `--no-follow` it exits with an error.
//! Socket transport: the test restarts the daemon on the same socket.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::mpsc::Receiver;

use enea_buffer_tests::daemon::wait_bounded;
use enea_buffer_tests::probe::{lines_of, region_identity};
use enea_buffer_tests::{bins, eneabuf, Daemon, DaemonOptions, DEADCAFE, WAIT};

/// `eneabuf watch <args>` against `daemon`, its stdout read line by line.
struct Watcher {
    child: Child,
    lines: Receiver<String>,
}

impl Watcher {
    fn spawn(daemon: &Daemon, args: &[&str]) -> Watcher {
        let mut cmd = Command::new(bins::path(bins::ENEABUF));
        cmd.args(daemon.client_args())
            .arg("watch")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawning eneabuf watch");
        let lines = lines_of(child.stdout.take().unwrap());
        Watcher { child, lines }
    }

    /// The next line on stdout, within [`WAIT`].
    fn line(&self) -> String {
        self.lines
            .recv_timeout(WAIT)
            .unwrap_or_else(|e| panic!("watch printed no line within {WAIT:?}: {e}"))
    }

    /// Waits (bounded) for the exit; the status and all of stderr.
    fn finish(mut self) -> (std::process::ExitStatus, String) {
        let status = wait_bounded(&mut self.child, WAIT)
            .unwrap_or_else(|| panic!("watch did not exit within {WAIT:?}"));
        let mut stderr = String::new();
        self.child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        (status, stderr)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

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
    let watcher = Watcher::spawn(&first, &["--changes", "3"]);
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
    let watcher = Watcher::spawn(&daemon, &["--no-follow"]);
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
