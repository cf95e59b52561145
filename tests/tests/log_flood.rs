//! A caller cannot flood the daemon's log or forge lines in it: interface
//! tokens are caller bytes that rsbinder logs before any access policy
//! runs. Socket transport only (the attacker speaks RPC by hand).

use std::os::unix::process::CommandExt;
use std::process::Command;

use enea_buffer_tests::probe::run_bounded;
use enea_buffer_tests::{bins, eneabuf, require_root, Daemon, DaemonOptions, NONE_UID, OTHER_UID};

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
