//! The client against a server that lies: a region it can shrink after
//! replying, one of the wrong size, an absurd reported size. Every client
//! command must refuse with one clear line and exit 1, never die of a
//! signal (SIGBUS is what mapping such a region used to cost).
//!
//! The misbehaving server (`enea-buffer-evil-server`) is rsbinder RPC on a
//! Unix socket, so these tests run over the socket transport only: the
//! checks they exercise act on the received fd, whatever carried it.

use std::os::unix::process::ExitStatusExt;
use std::path::PathBuf;
use std::process::{Command, Output};

use enea_buffer_tests::daemon::fresh_dir;
use enea_buffer_tests::probe::run_bounded;
use enea_buffer_tests::{bins, Interactive, Mode};

/// A running evil server in `mode`; killed on drop.
struct Evil {
    io: Interactive,
    socket: PathBuf,
}

impl Evil {
    fn start(mode: &str) -> Evil {
        assert_eq!(
            Mode::current(),
            Mode::Socket,
            "hostile_server runs over the Unix-socket transport only (its test server is rsbinder \
             RPC); the VM rig skips it"
        );
        let socket = fresh_dir().join("evil.sock");
        let mut cmd = Command::new(bins::path(bins::EVIL_SERVER));
        cmd.args(["--mode", mode]).arg("--socket").arg(&socket);
        let mut io = Interactive::spawn(cmd);
        assert_eq!(io.reply(), "ready");
        Evil { io, socket }
    }

    /// Runs `eneabuf <args>` against this server.
    fn eneabuf(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(bins::path(bins::ENEABUF));
        cmd.args(["--transport", "socket", "--timeout", "5s", "--socket"])
            .arg(&self.socket)
            .args(args);
        run_bounded(cmd)
    }

    /// The calls the server has answered so far, in order.
    fn calls(&mut self) -> String {
        let line = self.io.ask("calls");
        line.strip_prefix("calls ").unwrap_or("").to_owned()
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Exit 1 (not a signal), nothing on stdout, exactly `eneabuf: <message>` on stderr.
fn assert_refused(out: &Output, what: &str, message: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(
        out.status.signal(),
        None,
        "{what} died of a signal: {}; stderr: {stderr}",
        out.status
    );
    assert_eq!(out.status.code(), Some(1), "{what}: stderr: {stderr}");
    assert_eq!(stderr.trim_end(), format!("eneabuf: {message}"), "{what}");
    assert_eq!(text(&out.stdout), "", "{what} printed a value");
}

const COMMANDS: [&[&str]; 3] = [
    &["get"],
    &["increment"],
    &["watch", "--interval", "10ms", "--changes", "1"],
];

/// Each command is refused with `message`, and the server saw the calls
/// `calls` (the getter of each command in turn, after getBufferSize; the
/// server is V2, so the client fetches with getRegion/getReadOnlyRegion, and
/// `watch` maps read-write to wait on the futex word).
fn every_command_is_refused(mode: &str, message: &str, fetches: bool) {
    let mut evil = Evil::start(mode);
    for args in COMMANDS {
        let out = evil.eneabuf(args);
        assert_refused(&out, &format!("eneabuf {} ({mode})", args[0]), message);
    }
    let expected = if fetches {
        "getBufferSize,getReadOnlyRegion,getBufferSize,getRegion,getBufferSize,getRegion"
    } else {
        "getBufferSize,getBufferSize,getBufferSize"
    };
    assert_eq!(evil.calls(), expected);
}

/// The control: the same server, behaving, is served normally, so the
/// refusals below are the checks' doing, not the harness's.
#[test]
fn a_well_behaved_test_server_is_served() {
    let evil = Evil::start("sealed");
    let get = evil.eneabuf(&["get"]);
    assert_eq!(get.status.code(), Some(0), "{}", text(&get.stderr));
    assert_eq!(text(&get.stdout).trim(), "0xdeadcafe");
    let inc = evil.eneabuf(&["increment", "--by", "2"]);
    assert_eq!(inc.status.code(), Some(0), "{}", text(&inc.stderr));
    assert!(
        text(&inc.stdout).ends_with("Data=0xdeadcb00\n"),
        "{}",
        text(&inc.stdout)
    );
}

/// An unsealed memfd, truncated to nothing right after the reply.
#[test]
fn an_unsealed_region_is_refused_before_it_is_mapped() {
    every_command_is_refused(
        "unsealed",
        "region is not sealed against shrinking or growing",
        true,
    );
}

/// Sealed against growing only, then truncated: the shrink seal is what
/// keeps a mapping alive.
#[test]
fn a_region_that_can_shrink_is_refused() {
    every_command_is_refused("shrinkable", "region is not sealed against shrinking", true);
}

/// A sealed memfd of 0 bytes is a memfd that says it is empty, not ashmem.
#[test]
fn an_empty_region_is_refused() {
    every_command_is_refused(
        "zero",
        "region size mismatch: the service reports 10240 bytes but its fd holds 0",
        true,
    );
}

#[test]
fn a_region_smaller_than_reported_is_refused() {
    every_command_is_refused(
        "wrong-size",
        "region size mismatch: the service reports 10240 bytes but its fd holds 5120",
        true,
    );
}

/// 2^40 bytes is refused on the size alone: no fd is even asked for.
#[test]
fn an_absurd_reported_size_is_refused_before_anything_else() {
    every_command_is_refused(
        "huge",
        "the service reported a region of 1099511627776 bytes, more than the 1073741824 bytes \
         a client maps",
        false,
    );
}

/// A call the service refuses is reported as its error, not as a dead
/// service, and the client exits 1. The evil server is a V2 service, so
/// the call the client makes (and names) is getReadOnlyRegion.
#[test]
fn a_refused_call_is_the_services_error_not_its_death() {
    let evil = Evil::start("refuse");
    let out = evil.eneabuf(&["get"]);
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(
        stderr.starts_with("eneabuf: getReadOnlyRegion failed: ") && stderr.contains("out of fds"),
        "{stderr}"
    );
}
