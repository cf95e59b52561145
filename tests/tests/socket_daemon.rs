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
    bins, eneabuf, eventually, fd_count, require_root, Daemon, DaemonOptions, OTHER_UID,
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

/// A socket-transport daemon, whatever `ENEA_TEST_TRANSPORT` says: these
/// tests are about the socket, and run in the VM rig too.
fn start() -> Daemon {
    Daemon::start_with(DaemonOptions::socket())
}

#[test]
fn bad_arguments_are_refused_with_one_clear_line() {
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
            "invalid value 'loud' for '--log-level <LEVEL>': 'loud' is not a log level: \
             use off, error, warn, info, debug or trace",
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

/// A `--socket-group` name the host does not know stops the daemon before
/// it makes a socket, naming the file it looked in and what to give instead.
#[test]
fn an_unknown_socket_group_is_named() {
    let dir = fresh_dir();
    let sock = dir.join("s.sock");
    let out = run_bounded({
        let mut c = daemon_command(&["--socket-group", "enea-no-such-group"]);
        c.arg("--socket").arg(&sock);
        c
    });
    assert_refused(
        &out,
        1,
        "--socket-group enea-no-such-group: no group of that name in /etc/group; \
         give a group listed there, or its number",
    );
    assert!(!sock.exists(), "a refused start left a socket behind");
}

#[test]
fn missing_socket_directory_is_named() {
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
    let first = start();
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
    let first = start();
    let dir = first.dir.clone();
    let status = first.stop_with(rustix::process::Signal::KILL);
    assert!(!status.success());
    assert!(
        dir.join("buffer.sock").exists(),
        "SIGKILL cannot remove the socket"
    );
    let second = Daemon::start_with(DaemonOptions {
        dir: Some(dir),
        ..DaemonOptions::socket()
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
    for signal in [rustix::process::Signal::TERM, rustix::process::Signal::INT] {
        let daemon = start();
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
        "eneabuf: no vendor.enea.buffer daemon at unix://{}: the socket is stale",
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
    let daemon = start();
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

/// The socket is mode 0660 and belongs to `--socket-group`; its directory
/// keeps its mode.
#[test]
fn socket_is_private_to_its_owner_and_group() {
    use std::os::unix::fs::MetadataExt;
    let daemon = start();
    let meta = std::fs::metadata(&daemon.socket).unwrap();
    assert_eq!(meta.mode() & 0o7777, 0o660, "socket mode {:o}", meta.mode());
    assert_eq!(meta.gid(), OTHER_UID, "the harness's --socket-group");
    assert_eq!(meta.uid(), 0);
}

/// A directory another user could replace the socket in is refused; a
/// sticky world-writable one (like /tmp) is accepted.
#[test]
fn unsafe_socket_directories_are_refused() {
    require_root("the directory must belong to another user");
    let dir = fresh_dir();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o777)).unwrap();
    let out = run_bounded(daemon_command(&[
        "--socket",
        dir.join("x.sock").to_str().unwrap(),
    ]));
    assert_refused(
        &out,
        1,
        &format!(
            "socket directory {} is writable by other users (mode 0777) and has no sticky bit: \
             another user could replace the socket",
            dir.display()
        ),
    );
    assert!(
        !dir.join("x.sock.lock").exists(),
        "the refused start wrote into the directory"
    );

    let theirs = fresh_dir();
    std::os::unix::fs::chown(&theirs, Some(OTHER_UID), Some(OTHER_UID)).unwrap();
    let out = run_bounded(daemon_command(&[
        "--socket",
        theirs.join("x.sock").to_str().unwrap(),
    ]));
    assert_refused(
        &out,
        1,
        &format!(
            "socket directory {} is owned by uid {OTHER_UID}, neither root nor the daemon's uid 0",
            theirs.display()
        ),
    );

    let sticky = fresh_dir();
    std::fs::set_permissions(&sticky, std::fs::Permissions::from_mode(0o1777)).unwrap();
    let daemon = Daemon::start_with(DaemonOptions {
        dir: Some(sticky),
        ..DaemonOptions::socket()
    });
    assert_eq!(
        text(&eneabuf(&daemon, &["get"]).stdout).trim(),
        "0xdeadcafe"
    );
}

/// The client will not talk to a socket another user owns: that user may
/// have created it to pose as the daemon.
#[test]
fn the_client_refuses_a_socket_another_user_owns() {
    require_root("the socket must belong to another user");
    let dir = fresh_dir();
    let path = dir.join("impostor.sock");
    let _listener = UnixListener::bind(&path).unwrap();
    std::os::unix::fs::chown(&path, Some(OTHER_UID), None).unwrap();
    let out = eneabuf_get_at(&path);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(
        text(&out.stderr).trim(),
        format!(
            "eneabuf: refusing the socket {}: it is owned by uid {OTHER_UID}, neither root nor \
             this user (uid 0); another user may be posing as the daemon",
            path.display()
        )
    );
}

/// A dedicated daemon account's socket is trusted where root handed it the
/// directory (systemd's RuntimeDirectory=): a directory of that user's,
/// writable only by it, inside one only root can write. The same socket in
/// a directory others can write is refused.
#[test]
fn the_client_trusts_a_daemon_account_in_a_directory_root_gave_it() {
    require_root("the daemon runs as another user");
    let run = fresh_dir(); // root's, 0755: stands in for /run
    let dir = run.join("vendor.enea.buffer");
    std::fs::create_dir(&dir).unwrap();
    std::os::unix::fs::chown(&dir, Some(OTHER_UID), Some(OTHER_UID)).unwrap();
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    let socket = dir.join("socket");
    let mut cmd = Command::new(bins::path(bins::DAEMON));
    cmd.args(["--transport", "socket", "--log-period", "0", "--socket"])
        .arg(&socket)
        .uid(OTHER_UID)
        .gid(OTHER_UID)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut daemon = cmd.spawn().expect("spawning the daemon");
    enea_buffer_tests::eventually("the daemon's socket", || socket.exists());
    let out = eneabuf_get_at(&socket);
    let _ = daemon.kill();
    let _ = daemon.wait();
    assert_eq!(
        (out.status.code(), text(&out.stdout).trim().to_owned()),
        (Some(0), "0xdeadcafe".to_owned()),
        "{}",
        text(&out.stderr)
    );

    // Writable by others: anyone could have put a socket there.
    let open = run.join("open");
    std::fs::create_dir(&open).unwrap();
    std::os::unix::fs::chown(&open, Some(OTHER_UID), Some(OTHER_UID)).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    let impostor = open.join("socket");
    let _listener = UnixListener::bind(&impostor).unwrap();
    std::os::unix::fs::chown(&impostor, Some(OTHER_UID), None).unwrap();
    let refused = eneabuf_get_at(&impostor);
    assert_eq!(refused.status.code(), Some(1));
    assert!(
        text(&refused.stderr).contains("refusing the socket"),
        "{}",
        text(&refused.stderr)
    );
}

/// Without --socket, a daemon that is not root serves
/// $XDG_RUNTIME_DIR/vendor.enea.buffer.sock, and a client of that user
/// finds it there by default.
#[test]
fn a_user_daemon_and_client_meet_in_xdg_runtime_dir_by_default() {
    require_root("the daemon and client run as another user");
    let runtime = fresh_dir();
    std::os::unix::fs::chown(&runtime, Some(OTHER_UID), Some(OTHER_UID)).unwrap();
    std::fs::set_permissions(&runtime, std::fs::Permissions::from_mode(0o700)).unwrap();
    let mut cmd = Command::new(bins::path(bins::DAEMON));
    cmd.args(["--transport", "socket", "--log-period", "0"])
        .env("XDG_RUNTIME_DIR", &runtime)
        .env_remove("ENEA_BUFFER_SOCKET")
        .uid(OTHER_UID)
        .gid(OTHER_UID)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null());
    let mut child = cmd.spawn().unwrap();
    let socket = runtime.join("vendor.enea.buffer.sock");
    eventually("the daemon's socket appears", || socket.exists());
    let mut client = Command::new(bins::path(bins::ENEABUF));
    client
        .args(["--transport", "socket", "get"])
        .env("XDG_RUNTIME_DIR", &runtime)
        .env_remove("ENEA_BUFFER_SOCKET")
        .uid(OTHER_UID)
        .gid(OTHER_UID);
    let out = run_bounded(client);
    let _ = child.kill();
    let _ = child.wait();
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(text(&out.stdout).trim(), "0xdeadcafe");
}

/// Without --socket, `ENEA_BUFFER_SOCKET` names the daemon's socket; an
/// empty value counts as unset (the system daemon's socket is then tried,
/// whether or not a daemon listens there).
#[test]
fn the_socket_env_var_is_the_clients_default_and_empty_is_unset() {
    let daemon = start();
    let info = |value: &std::ffi::OsStr| {
        let mut cmd = Command::new(bins::path(bins::ENEABUF));
        cmd.args(["--transport", "socket", "info"])
            .env("ENEA_BUFFER_SOCKET", value)
            .env_remove("XDG_RUNTIME_DIR");
        run_bounded(cmd)
    };
    let out = info(daemon.socket.as_os_str());
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stdout = text(&out.stdout);
    let endpoint = format!("endpoint:  unix://{}\n", daemon.socket.display());
    assert!(stdout.contains(&endpoint), "{stdout}");
    let out = info("".as_ref());
    let said = text(&out.stdout) + &text(&out.stderr);
    assert!(
        said.contains(&format!("unix://{}", enea_buffer_client::ROOT_SOCKET)),
        "{said}"
    );
}

/// Out of fds after its own dup, the daemon answers ERROR_NO_RESOURCES (as
/// the AIDL documents) and logs it, instead of a bare transaction failure.
#[test]
fn no_fd_for_the_reply_is_error_no_resources() {
    use rustix::process::{prlimit, Pid, Resource, Rlimit};
    let mut daemon = start();
    let pid = Pid::from_raw(daemon.pid() as i32).unwrap();
    // Sockets only: a runtime may open other files lazily on a first call.
    let sockets = |pid: u32| {
        std::fs::read_dir(format!("/proc/{pid}/fd"))
            .unwrap()
            .filter_map(|e| std::fs::read_link(e.ok()?.path()).ok())
            .filter(|l| l.to_string_lossy().starts_with("socket:"))
            .count()
    };
    let idle = sockets(daemon.pid());
    assert!(eneabuf(&daemon, &["get"]).status.success());
    // A connection fd closed after the sweep below looks would leave one
    // more free fd number than it meant, so wait for the idle socket count.
    eventually("the first client's connection is gone", || {
        sockets(daemon.pid()) <= idle
    });
    // How many fds a connection holds before the reply's dup depends on the
    // runtime and on when the first client's fd is closed, so sweep: leave
    // 1, 2, ... free fd numbers until the reply's dup is the one that fails.
    // Fewer free numbers may fail earlier (accept, handshake); each must
    // still be a clean error, never a dead daemon.
    let mut said = Vec::new();
    let mut hit = false;
    for free_wanted in 1..=8 {
        let open: std::collections::BTreeSet<u32> =
            std::fs::read_dir(format!("/proc/{}/fd", daemon.pid()))
                .unwrap()
                .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
                .collect();
        let mut free = 0;
        let mut limit = 0u32;
        while free < free_wanted {
            if !open.contains(&limit) {
                free += 1;
            }
            limit += 1;
        }
        let old = prlimit(
            Some(pid),
            Resource::Nofile,
            Rlimit {
                current: Some(limit as u64),
                // The daemon inherited ours.
                maximum: rustix::process::getrlimit(Resource::Nofile).maximum,
            },
        )
        .unwrap();
        let out = eneabuf(&daemon, &["get"]);
        prlimit(Some(pid), Resource::Nofile, old).unwrap();
        let stderr = text(&out.stderr);
        said.push(format!(
            "{free_wanted} free: {:?} {stderr}",
            out.status.code()
        ));
        let exited = daemon.wait_exit(std::time::Duration::ZERO);
        assert!(
            exited.is_none(),
            "{exited:?} {said:#?}\n{}",
            daemon.log_text()
        );
        if stderr.contains("getReadOnlyRegion failed: ServiceSpecific")
            && stderr.contains("cannot duplicate the region fd for the reply")
        {
            assert_eq!(out.status.code(), Some(1), "{stderr}");
            hit = true;
            break;
        }
    }
    assert!(hit, "no fd limit made the reply's dup fail: {said:#?}");
    let logged = daemon.wait_log(
        |l| l.contains("WARN") && l.contains("getReadOnlyRegion: cannot duplicate the region fd"),
        enea_buffer_tests::WAIT,
    );
    assert!(logged.is_some(), "{}", daemon.log_text());
    // With fds again, the same daemon serves.
    assert_eq!(
        text(&eneabuf(&daemon, &["get"]).stdout).trim(),
        "0xdeadcafe"
    );
}

/// Per-call lines are debug; at info, a uid's first call of each method and
/// then one summary per period, however many calls.
#[test]
fn calls_are_summarised_not_logged_one_by_one() {
    let daemon = Daemon::start_with(DaemonOptions {
        args: vec!["--summary-period".into(), "300ms".into()],
        ..DaemonOptions::socket()
    });
    for _ in 0..20 {
        assert!(eneabuf(&daemon, &["get"]).status.success());
    }
    // The periods' summaries add up to the calls made.
    let summed = |method: &str| -> u32 {
        daemon
            .log_text()
            .lines()
            .filter_map(|l| l.split("calls in the last 300ms: uid 0: ").nth(1))
            .flat_map(|counts| counts.split(';').next().unwrap_or("").split(", "))
            .filter_map(|c| c.strip_suffix(method)?.trim().parse::<u32>().ok())
            .sum()
    };
    eventually("the summaries count all 40 calls", || {
        summed(" getReadOnlyRegion") == 20 && summed(" getBufferSize") == 20
    });
    let log = daemon.log_text();
    let per_call = log.lines().filter(|l| l.contains(" from uid=0 ")).count();
    assert_eq!(
        per_call, 2,
        "one line per method at info, not per call:\n{log}"
    );
}

/// getRegion() and getReadOnlyRegion() report a layout only for a region
/// that holds the control words (IEneaBuffer.CONTROL_SIZE bytes): a smaller
/// one reports layout version 0, so that a client following the AIDL never
/// places a control word past the region's end.
#[test]
fn only_a_region_that_holds_the_control_words_reports_a_layout() {
    use vendor_enea_buffer::aidl::vendor::enea::buffer::IEneaBuffer::{
        IEneaBuffer, CONTROL_SIZE, LAYOUT_VERSION,
    };
    for (size, layout) in [
        (32, 0),
        (CONTROL_SIZE - 4, 0),
        (CONTROL_SIZE, LAYOUT_VERSION),
    ] {
        let daemon = Daemon::start_with(DaemonOptions {
            args: vec!["--size".into(), size.to_string()],
            ..DaemonOptions::socket()
        });
        let conn =
            enea_buffer_client::Connection::connect(&daemon.connect_options()).expect("connect");
        let service = conn.service();
        for (call, region) in [
            ("getRegion", service.r#getRegion().unwrap()),
            ("getReadOnlyRegion", service.r#getReadOnlyRegion().unwrap()),
        ] {
            assert_eq!(
                (region.size, region.layoutVersion),
                (i64::from(size), layout),
                "{call} of a --size {size} daemon"
            );
        }
    }
}

/// The RPC root object is IEneaBuffer itself, as AOSP's
/// RpcServer::setRootObject serves it (what libbinder's
/// RpcSession::getRootObject() asks for); the instance name is still
/// checked through the root's extension, a name directory.
#[test]
fn the_rpc_root_object_is_the_service() {
    use rsbinder::entry::uri::{WireProfile, WireVersion};
    use vendor_enea_buffer::aidl::vendor::enea::buffer::IEneaBuffer::IEneaBuffer;
    let daemon = start();
    let uri = rsbinder::Uri::new(rsbinder::Endpoint::unix(&daemon.socket))
        .with_wire(WireProfile::Android13Plus(WireVersion::MAX));
    let client = rsbinder::Client::open_with(uri, |o, _| {
        o.fd_mode = Some(rsbinder::rpc::FileDescriptorTransportMode::Unix);
    })
    .unwrap();
    let root = client.session().unwrap().get_root().unwrap();
    let service = rsbinder::Strong::<dyn IEneaBuffer>::try_from(root).unwrap();
    assert_eq!(service.r#getBufferSize().unwrap(), 10240);
    let fd: std::os::fd::OwnedFd = service.r#getReadOnlyBuffer().unwrap().into();
    assert_eq!(rustix::fs::fstat(&fd).unwrap().st_size, 10240);

    let wrong = eneabuf(&daemon, &["--instance", "other", "get"]);
    assert_eq!(wrong.status.code(), Some(1));
    assert!(
        text(&wrong.stderr).contains("does not serve vendor.enea.buffer.IEneaBuffer/other"),
        "{}",
        text(&wrong.stderr)
    );
}

/// The CLI's connection flags reach the library: `--transport binder` looks
/// only at kernel binder (here: at the device `--binder-device` names), and
/// `--instance` names the instance asked for, even with a daemon serving
/// the default instance on the socket.
#[test]
fn eneabuf_honours_transport_binder_device_and_instance() {
    let daemon = start();
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
    let daemon = start();
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
