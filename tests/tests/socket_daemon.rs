//! Daemon behaviour specific to the Unix-socket transport on a Linux host:
//! configuration errors, the socket's life cycle, and hostile connections.

use std::io::Write;
use std::os::unix::fs::PermissionsExt;
use std::os::unix::net::{UnixListener, UnixStream};
use std::os::unix::process::CommandExt;
use std::process::{Command, Output};

use enea_buffer_tests::daemon::fresh_dir;
use enea_buffer_tests::probe::run_bounded;
use enea_buffer_tests::{
    bins, eneabuf, eventually, fd_count, require_root, Daemon, Mode, OTHER_UID,
};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn daemon_command(args: &[&str]) -> Command {
    let mut cmd = Command::new(bins::path(bins::DAEMON));
    cmd.args(["--transport", "socket"]).args(args);
    cmd
}

/// Asserts a failed start: exit `code`, exactly one stderr line containing
/// `message`, no panic.
fn assert_refused(out: &Output, code: i32, message: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(code), "stderr: {stderr}");
    let lines: Vec<&str> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
    assert_eq!(lines.len(), 1, "expected one error line, got: {stderr}");
    assert!(
        lines[0].contains(message),
        "{:?} does not say {message:?}",
        lines[0]
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// `eneabuf get` against the socket at `path`.
fn eneabuf_get_at(path: &std::path::Path) -> Output {
    let mut cmd = Command::new(bins::path(bins::ENEABUF));
    cmd.args(["--transport", "socket", "--socket"])
        .arg(path)
        .arg("get");
    run_bounded(cmd)
}

fn assert_socket_mode() {
    assert_eq!(
        Mode::current(),
        Mode::Socket,
        "these tests exercise the socket transport"
    );
}

#[test]
fn bad_arguments_are_refused_with_one_clear_line() {
    assert_socket_mode();
    let dir = fresh_dir();
    let sock = dir.join("s.sock");
    let sock = sock.to_str().unwrap();
    let cases: &[(&[&str], &str)] = &[
        (
            &["--size", "0"],
            "0 is too small: the region must hold at least one 32-bit word",
        ),
        (
            &["--size", "2G"],
            "2G is too large: the limit is 1073741824 bytes",
        ),
        (&["--size", "abc"], "'abc' is not a size"),
        (&["--size=-5"], "'-5' is not a size"),
        (&["--instance", "a/b"], "'a/b' is not an instance name"),
        (
            &["--log-period", "soon"],
            "invalid value 'soon' for '--log-period <DURATION>'",
        ),
        (
            &["--log-level", "loud"],
            "invalid value 'loud' for '--log-level <LEVEL>'",
        ),
    ];
    for (args, message) in cases {
        let out = run_bounded({
            let mut c = daemon_command(args);
            c.args(["--socket", sock]);
            c
        });
        assert_refused(&out, 2, message);
    }
    assert!(
        !dir.join("s.sock").exists(),
        "a refused start left a socket behind"
    );
}

#[test]
fn missing_socket_directory_is_named() {
    assert_socket_mode();
    let out = run_bounded(daemon_command(&[
        "--socket",
        "/nonexistent-enea-dir/x.sock",
    ]));
    assert_refused(
        &out,
        1,
        "socket directory /nonexistent-enea-dir does not exist",
    );
}

#[test]
fn unwritable_socket_directory_is_named() {
    assert_socket_mode();
    require_root("the daemon must run as a uid that cannot write a root-owned directory");
    let dir = fresh_dir();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let mut cmd = daemon_command(&["--socket", dir.join("x.sock").to_str().unwrap()]);
    cmd.uid(OTHER_UID).gid(OTHER_UID);
    let out = run_bounded(cmd);
    assert_refused(
        &out,
        1,
        &format!("socket directory {} is not writable", dir.display()),
    );
}

#[test]
fn a_second_daemon_cannot_take_a_live_socket() {
    assert_socket_mode();
    let first = Daemon::start();
    let out = run_bounded(daemon_command(&[
        "--socket",
        first.socket.to_str().unwrap(),
    ]));
    assert_refused(
        &out,
        1,
        "is already served by a live vendor.enea.buffer-service",
    );
    assert!(
        first.socket.exists(),
        "the second daemon removed the first one's socket"
    );
    let get = eneabuf(&first, &["get"]);
    assert!(get.status.success(), "{}", text(&get.stderr));
    assert_eq!(text(&get.stdout).trim(), "0xdeadcafe");
}

#[test]
fn a_killed_daemons_stale_socket_is_replaced() {
    assert_socket_mode();
    let first = Daemon::start();
    let dir = first.dir.clone();
    let status = first.stop_with(rustix::process::Signal::KILL);
    assert!(!status.success());
    assert!(
        dir.join("buffer.sock").exists(),
        "SIGKILL cannot remove the socket"
    );
    let second = Daemon::start_with(enea_buffer_tests::DaemonOptions {
        dir: Some(dir),
        ..Default::default()
    });
    let get = eneabuf(&second, &["get"]);
    assert_eq!(
        text(&get.stdout).trim(),
        "0xdeadcafe",
        "{}",
        text(&get.stderr)
    );
}

#[test]
fn sigterm_and_sigint_stop_gracefully_and_remove_the_socket() {
    assert_socket_mode();
    for signal in [rustix::process::Signal::TERM, rustix::process::Signal::INT] {
        let daemon = Daemon::start();
        let socket = daemon.socket.clone();
        let status = daemon.stop_with(signal);
        assert_eq!(status.code(), Some(0), "{signal:?}");
        assert!(
            !socket.exists(),
            "{signal:?} left {} behind",
            socket.display()
        );
    }
}

#[test]
fn no_daemon_is_a_clear_client_error() {
    assert_socket_mode();
    let dir = fresh_dir();
    let missing = dir.join("none.sock");
    let out = eneabuf_get_at(&missing);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        format!(
            "eneabuf: no vendor.enea.buffer daemon at unix://{0}: no socket at {0}",
            missing.display()
        )
    );

    // A socket file nobody listens on any more.
    let stale = dir.join("stale.sock");
    drop(UnixListener::bind(&stale).unwrap());
    let out = eneabuf_get_at(&stale);
    assert_eq!(out.status.code(), Some(1));
    let prefix = format!(
        "eneabuf: no vendor.enea.buffer daemon at unix://{}: cannot connect",
        stale.display()
    );
    assert!(
        text(&out.stderr).starts_with(&prefix),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn a_server_without_fd_passing_is_reported_as_such() {
    assert_socket_mode();
    let dir = fresh_dir();
    let path = dir.join("nofd.sock");
    // A real rsbinder RPC server that never enables fd passing.
    let server = rsbinder::rpc::RpcServer::setup_unix_server(&path).unwrap();
    server.set_android13plus(rsbinder::entry::uri::WireVersion::MAX.get());
    let _bg = server.run_background();
    let out = eneabuf_get_at(&path);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        format!(
            "eneabuf: the transport to unix://{} refused file-descriptor passing",
            path.display()
        )
    );
}

/// Garbage, truncated frames and silent connections neither crash the
/// daemon nor keep others from being served; closing them leaks nothing.
#[test]
fn hostile_connections_do_not_disturb_other_clients() {
    assert_socket_mode();
    let daemon = Daemon::start();
    let pid = daemon.pid();
    assert!(eneabuf(&daemon, &["get"]).status.success());
    let baseline = fd_count(pid);
    let mut silent: Vec<UnixStream> = (0..32)
        .map(|_| UnixStream::connect(&daemon.socket).unwrap())
        .collect();
    for n in 0..64u32 {
        let mut s = UnixStream::connect(&daemon.socket).unwrap();
        // Random-ish bytes, then a truncated header, then a hang-up.
        let junk: Vec<u8> = (0..(n * 37 % 512)).map(|i| (i * 131 + n) as u8).collect();
        let _ = s.write_all(&junk);
    }
    // Silent connections are open while a real client is served.
    let get = eneabuf(&daemon, &["get"]);
    assert!(get.status.success(), "{}", text(&get.stderr));
    assert_eq!(text(&get.stdout).trim(), "0xdeadcafe");
    silent.clear();
    eventually("daemon fd count back to baseline", || {
        fd_count(pid) <= baseline
    });
    assert!(eneabuf(&daemon, &["get"]).status.success());
}

/// The CLI's connection flags reach the library: `--transport binder` looks
/// only at kernel binder (here: at the device `--binder-device` names), and
/// `--instance` names the instance asked for, even with a daemon serving
/// the default instance on the socket.
#[test]
fn eneabuf_honours_transport_binder_device_and_instance() {
    assert_socket_mode();
    let daemon = Daemon::start();
    let socket = daemon.socket.display().to_string();
    let run = |args: &[&str]| {
        let mut cmd = Command::new(bins::path(bins::ENEABUF));
        cmd.args(["--socket", &socket]).args(args);
        run_bounded(cmd)
    };
    let kernel = run(&[
        "--transport",
        "binder",
        "--binder-device",
        "/nonexistent/binder",
        "get",
    ]);
    assert_eq!(kernel.status.code(), Some(1));
    assert_eq!(
        text(&kernel.stderr).trim(),
        "eneabuf: no vendor.enea.buffer daemon at kernel binder: no binder device at \
         /nonexistent/binder"
    );
    let other = run(&["--transport", "socket", "--instance", "other", "get"]);
    assert_eq!(other.status.code(), Some(1));
    assert_eq!(
        text(&other.stderr).trim(),
        format!(
            "eneabuf: no vendor.enea.buffer daemon at unix://{socket}: the daemon there does \
             not serve vendor.enea.buffer.IEneaBuffer/other"
        )
    );
    let info = run(&["--transport", "socket", "info"]);
    assert_eq!(info.status.code(), Some(0), "{}", text(&info.stderr));
    let info = text(&info.stdout);
    assert!(
        info.contains(&format!("endpoint:  unix://{socket}\n")),
        "{info}"
    );
    assert!(
        info.contains("transport: unix socket (rsbinder RPC)\n"),
        "{info}"
    );
    assert!(
        info.contains("service:   vendor.enea.buffer.IEneaBuffer/default\n"),
        "{info}"
    );
}

/// A client that drops its connection (and the callback session death
/// notification needs) releases it at once, not when its process exits.
#[test]
fn a_dropped_connection_releases_its_session_while_the_client_lives() {
    assert_socket_mode();
    let daemon = Daemon::start();
    let pid = daemon.pid();
    assert!(eneabuf(&daemon, &["get"]).status.success());
    let baseline = fd_count(pid);
    let mut client = enea_buffer_tests::Probe::interactive(&daemon, &["session"], None);
    assert_eq!(client.reply(), "connected value=0xdeadcafe");
    assert!(fd_count(pid) > baseline, "the session holds no daemon fds");
    assert_eq!(client.ask("drop"), "dropped");
    eventually("daemon fd count back to baseline", || {
        fd_count(pid) <= baseline
    });
    assert!(client.finish().success());
}
