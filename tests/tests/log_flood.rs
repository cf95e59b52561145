//! A caller cannot flood the daemon's log or forge lines in it: interface
//! tokens are caller bytes that rsbinder logs before any access policy
//! runs, and warnings about one caller cannot crowd out another's. Socket
//! transport only (the attacker speaks RPC by hand).

use std::os::unix::process::CommandExt;
use std::process::Command;

use enea_buffer_tests::probe::run_bounded;
use enea_buffer_tests::{
    bins, eneabuf, eventually, require_root, Daemon, DaemonOptions, NONE_UID, OTHER_UID, RW_UID,
    WAIT,
};

/// As [`probe`]'s `FORGED_LINE`: what a token tries to pass off as the daemon's.
const FORGED: &str = "FORGED getBuffer from uid=1000 granted (rw)";

#[test]
fn hostile_tokens_neither_flood_nor_forge_the_log() {
    require_root("the attacker runs as a uid whose right is none");
    let daemon = Daemon::start_with(DaemonOptions::socket());
    let before = daemon.log_text().len();
    let mut flood = Command::new(bins::path(bins::PROBE));
    flood
        .args(daemon.client_args())
        .args(["token-flood", "--calls", "300", "--token-len", "32000"])
        .uid(NONE_UID)
        .gid(OTHER_UID);
    let out = run_bounded(flood);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(
        out.status.success(),
        "the flood failed: {said} {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        said.trim(),
        "sent 300",
        "every hostile call reached the daemon"
    );
    // The daemon still serves root, and its log shows that call after the flood.
    let get = eneabuf(&daemon, &["get"]);
    assert!(
        get.status.success(),
        "{}",
        String::from_utf8_lossy(&get.stderr)
    );
    let log = daemon.log_text();
    let grown = log.len() - before;
    // Logged verbatim, 300 tokens of 32,000 UTF-16 units are over 9 MB.
    assert!(
        grown < 1 << 20,
        "300 hostile calls grew the log by {grown} bytes (bound: 1 MiB)"
    );
    for line in log.lines() {
        assert!(
            !line.starts_with(FORGED),
            "a caller forged a log line: {line:?}"
        );
        assert!(
            !line.contains('\x1b'),
            "a caller's escape sequence reached the log: {line:?}"
        );
    }
    assert!(
        log.contains("interface token mismatch"),
        "the hostile calls were not logged at all: {}",
        &log[before..before + (log.len() - before).min(2000)]
    );
}

/// `enea-buffer-probe dump-flood` as `uid` (group [`OTHER_UID`], which may
/// reach the socket): `calls` dump transactions, each refused.
fn refused_dumps(daemon: &Daemon, uid: u32, calls: usize) {
    let mut cmd = Command::new(bins::path(bins::PROBE));
    cmd.args(daemon.client_args())
        .args(["dump-flood", "--calls", &calls.to_string()])
        .uid(uid)
        .gid(OTHER_UID);
    let out = run_bounded(cmd);
    let said = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{said}");
    assert!(
        said.starts_with(&format!("dumped {calls} first=")),
        "{said}"
    );
    assert!(
        said.contains(&format!("permission denied: uid {uid} may not dump")),
        "{said}"
    );
}

/// How many warnings about `uid` the per-uid limit reported dropped, over
/// every report line in `log`.
fn reported_dropped(log: &str, uid: u32) -> u64 {
    let tag = format!("uid {uid}: ");
    log.lines()
        .filter(|l| l.contains("warnings dropped"))
        .flat_map(|l| l.split("; "))
        .filter_map(|part| part.split_once(&tag))
        .filter_map(|(_, rest)| rest.split_once(" warnings dropped")?.0.parse::<u64>().ok())
        .sum()
}

/// Warnings about callers are limited per uid: one uid flooding refused
/// dumps neither hides another uid's refused dump nor loses count of its
/// own, which a report line gives.
#[test]
fn one_uid_flooding_warnings_hides_no_other_uids() {
    require_root("the callers run as other uids");
    let daemon = Daemon::start_with(DaemonOptions {
        args: vec!["--summary-period".into(), "1s".into()],
        ..DaemonOptions::socket()
    });
    const FLOOD: usize = 60;
    refused_dumps(&daemon, OTHER_UID, FLOOD);
    refused_dumps(&daemon, RW_UID, 1);
    let other = daemon.wait_log(
        |l| l.contains(&format!("dump refused to uid={RW_UID}")),
        WAIT,
    );
    assert!(
        other.is_some(),
        "uid {RW_UID}'s warning was hidden:\n{}",
        daemon.log_text()
    );
    // Every one of the flood's warnings is either in the log or counted
    // in a report (the periodic one comes within a second).
    let flood_line = format!("dump refused to uid={OTHER_UID}");
    let mut logged = 0;
    eventually("the flood's warnings are all logged or reported", || {
        let log = daemon.log_text();
        logged = log.lines().filter(|l| l.ends_with(&flood_line)).count();
        logged + reported_dropped(&log, OTHER_UID) as usize == FLOOD
    });
    assert!(
        (1..FLOOD / 4).contains(&logged),
        "{logged} of {FLOOD} warnings about one uid were logged"
    );
}
