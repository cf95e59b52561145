//! Errors a user can act on, from `eneabuf` against the real daemon on the
//! Unix socket: each names the cause and what to do about it.

use std::os::unix::process::CommandExt;
use std::process::{Command, Output};

use enea_buffer_tests::probe::run_bounded;
use enea_buffer_tests::{bins, require_root, Daemon, DaemonOptions, NONE_UID, OTHER_UID};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// `eneabuf <args>` against `daemon` as `uid` with primary group `gid` (and
/// no supplementary groups: std drops them when it changes the uid).
fn eneabuf_as(daemon: &Daemon, uid: u32, gid: u32, args: &[&str]) -> Output {
    let mut cmd = Command::new(bins::path(bins::ENEABUF));
    cmd.args(daemon.client_args()).args(args).uid(uid).gid(gid);
    run_bounded(cmd)
}

/// Exit status 1, one line on stderr that contains every word of `words`;
/// returns the line.
fn one_error_line(out: &Output, words: &[&str]) -> String {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line: {stderr}");
    for word in words {
        assert!(lines[0].contains(word), "{:?} lacks {word:?}", lines[0]);
    }
    lines[0].to_owned()
}

/// The access policy's refusal: the daemon's message once, no binder
/// exception jargon, and the rule that would let this uid in.
#[test]
fn a_policy_refusal_prints_the_daemons_message_once_and_the_way_in() {
    require_root("the clients run as other uids");
    let daemon = Daemon::start_with(DaemonOptions::socket());
    let out = eneabuf_as(&daemon, NONE_UID, OTHER_UID, &["get"]);
    let said = format!("uid {NONE_UID} has no read access to vendor.enea.buffer");
    let line = one_error_line(
        &out,
        &[
            "getBufferSize",
            "refused",
            &said,
            &format!("--access uid:{NONE_UID}=ro"),
        ],
    );
    assert_eq!(line.matches(&said).count(), 1, "{line}");
    assert_eq!(line.matches("getBufferSize").count(), 1, "{line}");
    assert!(!line.contains("Security"), "{line}");
    // The way in comes last.
    let way_in = line.find("--access").unwrap();
    assert!(way_in > line.find(&said).unwrap(), "{line}");

    // A reader asking to write is told which right it lacks and which it needs.
    let out = eneabuf_as(&daemon, OTHER_UID, OTHER_UID, &["increment"]);
    one_error_line(
        &out,
        &[
            "getRegion",
            &format!("uid {OTHER_UID} has no read-write access"),
            &format!("--access uid:{OTHER_UID}=rw"),
        ],
    );
}
