//! The daemon raises its soft open-file limit to the hard one, so callers
//! holding fds in unfinished frames cannot use up a soft limit of 1024.

use enea_buffer_tests::{require_root, Daemon, DaemonOptions, WAIT};

/// (soft, hard) "Max open files" of `pid`, from /proc.
fn nofile(pid: u32) -> (u64, u64) {
    let limits = std::fs::read_to_string(format!("/proc/{pid}/limits")).unwrap();
    let line = limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .unwrap();
    let v: Vec<u64> = line
        .split_whitespace()
        .filter_map(|w| w.parse().ok())
        .collect();
    (v[0], v[1])
}

#[test]
fn the_daemon_raises_its_soft_fd_limit_to_the_hard_one() {
    require_root("only this test runs in its process, whose limit it lowers");
    // Children inherit the limit: start the daemon under a soft limit of 1024.
    use rustix::process::{getrlimit, setrlimit, Resource, Rlimit};
    let hard = getrlimit(Resource::Nofile)
        .maximum
        .expect("a finite hard limit");
    assert!(hard > 1024, "the hard limit {hard} is too low to test this");
    let lowered = Rlimit {
        current: Some(1024),
        maximum: Some(hard),
    };
    setrlimit(Resource::Nofile, lowered).unwrap();
    let daemon = Daemon::start_with(DaemonOptions::socket());
    let line = daemon
        .wait_log(|l| l.contains("open-file limit"), WAIT)
        .expect("the daemon logs its open-file limit");
    assert_eq!(nofile(daemon.pid()), (hard, hard), "{line}");
}
