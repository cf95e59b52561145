//! The daemon speaks systemd's readiness protocol (`Type=notify` in
//! `systemd/vendor.enea.buffer.service`): `READY=1` once its socket accepts
//! connections, `STOPPING=1` when SIGTERM arrives. Real daemon, real
//! datagram socket standing in for systemd's.

use std::os::unix::net::{UnixDatagram, UnixStream};
use std::process::{Command, Stdio};

use enea_buffer_tests::daemon::{fresh_dir, wait_bounded};
use enea_buffer_tests::{bins, WAIT};

/// The next datagram on `sock`, as text (bounded by [`WAIT`]).
fn next_message(sock: &UnixDatagram) -> String {
    let mut buf = [0u8; 256];
    let n = sock
        .recv(&mut buf)
        .unwrap_or_else(|e| panic!("no notification within {WAIT:?}: {e}"));
    String::from_utf8_lossy(&buf[..n]).into_owned()
}

#[test]
fn ready_when_the_socket_accepts_and_stopping_on_sigterm() {
    let dir = fresh_dir();
    let notify = dir.join("notify");
    let listener = UnixDatagram::bind(&notify).expect("binding the stand-in for systemd's socket");
    listener.set_read_timeout(Some(WAIT)).unwrap();
    let socket = dir.join("buffer.sock");
    let mut daemon = Command::new(bins::path(bins::DAEMON))
        .args(["--transport", "socket", "--log-period", "0", "--socket"])
        .arg(&socket)
        .env("NOTIFY_SOCKET", &notify)
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("spawning the daemon");

    assert_eq!(next_message(&listener), "READY=1");
    // READY must mean it: the listening socket is already there.
    UnixStream::connect(&socket).expect("the socket accepts once READY=1 was sent");

    let pid = rustix::process::Pid::from_raw(daemon.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    assert_eq!(next_message(&listener), "STOPPING=1");
    let status = wait_bounded(&mut daemon, WAIT).expect("the daemon exits after SIGTERM");
    assert!(status.success(), "exit status {status}");
}

#[test]
fn without_notify_socket_nothing_is_sent_and_serving_works() {
    // Outside systemd the variable is unset: the daemon must not fail for it.
    let dir = fresh_dir();
    let socket = dir.join("buffer.sock");
    let mut daemon = Command::new(bins::path(bins::DAEMON))
        .args(["--transport", "socket", "--log-period", "0", "--socket"])
        .arg(&socket)
        .env_remove("NOTIFY_SOCKET")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .expect("spawning the daemon");
    enea_buffer_tests::eventually("the socket accepting", || {
        UnixStream::connect(&socket).is_ok()
    });
    let pid = rustix::process::Pid::from_raw(daemon.id() as i32).unwrap();
    rustix::process::kill_process(pid, rustix::process::Signal::TERM).unwrap();
    let status = wait_bounded(&mut daemon, WAIT).expect("the daemon exits after SIGTERM");
    assert!(status.success(), "exit status {status}");
    let mut stderr = String::new();
    std::io::Read::read_to_string(&mut daemon.stderr.take().unwrap(), &mut stderr).unwrap();
    assert!(
        !stderr.contains("systemd"),
        "unexpected systemd complaint: {stderr}"
    );
}
