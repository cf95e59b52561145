//! Who may use the region: the daemon's per-caller access policy, seen from
//! clients of different uids over whichever transport `ENEA_TEST_TRANSPORT`
//! selects (the Unix socket here; kernel binder in the VM rig, where the
//! daemon runs as init.rc says and the rig's access file names the uids).

use std::os::unix::process::CommandExt;
use std::process::{Command, Output};

use enea_buffer_tests::daemon::fresh_dir;
use enea_buffer_tests::probe::{eneabuf_as, run_bounded};
use enea_buffer_tests::{
    bins, eneabuf, require_root, Daemon, DaemonOptions, NONE_UID, OTHER_UID, RW_UID, WAIT,
};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn assert_refused(out: &Output, uid: u32, lacks: &str) {
    let stderr = text(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "stdout: {}", text(&out.stdout));
    let want = format!("uid {uid} has no {lacks} access to vendor.enea.buffer");
    assert!(stderr.contains(&want), "{stderr:?} does not say {want:?}");
    assert!(
        stderr.contains("the daemon refused") && !stderr.contains("Security /"),
        "not a policy refusal (EX_SECURITY) as such: {stderr:?}"
    );
}

/// rw, ro and none, from three uids, plus root: each gets exactly its right.
#[test]
fn three_uids_get_exactly_their_rights() {
    require_root("the clients run as other uids");
    let daemon = Daemon::start();

    // rw: may take the read-write fd and write.
    let inc = eneabuf_as(&daemon, RW_UID, OTHER_UID, &["increment"]);
    assert!(inc.status.success(), "{}", text(&inc.stderr));
    assert!(text(&inc.stdout).contains("Data=0xdeadcaff"));

    // ro: may read, may not take the read-write fd.
    let get = eneabuf_as(&daemon, OTHER_UID, OTHER_UID, &["get"]);
    assert!(get.status.success(), "{}", text(&get.stderr));
    assert_eq!(text(&get.stdout).trim(), "0xdeadcaff");
    let inc = eneabuf_as(&daemon, OTHER_UID, OTHER_UID, &["increment"]);
    assert_refused(&inc, OTHER_UID, "read-write");
    watch_polls_for_a_reader(&daemon, OTHER_UID);

    // none: not even the size.
    let get = eneabuf_as(&daemon, NONE_UID, OTHER_UID, &["get"]);
    assert_refused(&get, NONE_UID, "read");

    // Root: rw by default.
    let inc = eneabuf(&daemon, &["increment"]);
    assert!(inc.status.success(), "{}", text(&inc.stderr));
    assert!(text(&inc.stdout).contains("Data=0xdeadcb00"));

    // The refusals are in the log (a uid's first refusal of a method at info).
    for (uid, call) in [(OTHER_UID, "getRegion"), (NONE_UID, "getBufferSize")] {
        let line = format!("{call} from uid={uid} ");
        let seen = daemon.wait_log(|l| l.contains(&line) && l.contains("refused"), WAIT);
        assert!(
            seen.is_some(),
            "no refusal `{line}`:\n{}",
            daemon.log_text()
        );
    }
}

/// A reader's `eneabuf watch` asks for the read-write view (a waiter counts
/// itself in the region), is refused, says so, and polls the read-only one:
/// it still sees root's next increment.
fn watch_polls_for_a_reader(daemon: &Daemon, uid: u32) {
    use std::io::{BufRead, BufReader, Read};
    let mut cmd = Command::new(bins::path(bins::ENEABUF));
    cmd.args(daemon.client_args())
        .args(["watch", "--interval", "10ms", "--changes", "1"])
        .uid(uid)
        .gid(OTHER_UID)
        .stdin(std::process::Stdio::null())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    let mut child = cmd.spawn().expect("spawning eneabuf watch");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    // The pipe closes if watch dies, so these reads cannot block forever.
    let first = lines.next().expect("watch printed nothing").unwrap();
    let inc = eneabuf(daemon, &["increment"]);
    assert!(inc.status.success(), "{}", text(&inc.stderr));
    let second = lines.next().expect("watch saw no change").unwrap();
    let status = enea_buffer_tests::daemon::wait_bounded(&mut child, WAIT)
        .expect("eneabuf watch did not exit");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert!(status.success(), "{status}: {stderr}");
    let value = |l: &str| u32::from_str_radix(l.trim_start_matches("0x"), 16).unwrap();
    assert_eq!(value(&second), value(&first).wrapping_add(1));
    assert!(
        stderr.contains("change notification needs the read-write view")
            && stderr.contains("polling every 10ms"),
        "{stderr}"
    );
}

/// On the socket, rules can name the caller's gid (SO_PEERCRED); a uid rule
/// beats a gid rule; and a uid outside the socket's group cannot connect.
#[test]
fn gid_rules_apply_on_the_socket() {
    require_root("the clients run as other uids");
    let daemon = Daemon::start_with(DaemonOptions {
        args: [
            "--socket-group",
            "3000",
            "--access",
            "gid:3000=ro",
            "--access",
            "uid:2005=rw",
        ]
        .map(String::from)
        .to_vec(),
        bare: true,
        ..DaemonOptions::socket()
    });
    let get = eneabuf_as(&daemon, 2003, 3000, &["get"]);
    assert!(get.status.success(), "{}", text(&get.stderr));
    assert_refused(
        &eneabuf_as(&daemon, 2003, 3000, &["increment"]),
        2003,
        "read-write",
    );
    let inc = eneabuf_as(&daemon, 2005, 3000, &["increment"]);
    assert!(inc.status.success(), "{}", text(&inc.stderr));
    // Not in the socket's group: the socket (mode 0660) does not let it in.
    let out = eneabuf_as(&daemon, 2004, 3001, &["get"]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        text(&out.stderr).contains("may not connect"),
        "{}",
        text(&out.stderr)
    );
}

/// Bad rules stop the daemon with one clear line naming the rule (and the
/// file and line).
#[test]
fn bad_access_rules_are_refused_with_one_clear_line() {
    let dir = fresh_dir();
    let sock = dir.join("s.sock");
    let daemon = |args: &[&str]| {
        let mut cmd = Command::new(bins::path(bins::DAEMON));
        cmd.args(["--transport", "socket", "--socket"])
            .arg(&sock)
            .args(args);
        run_bounded(cmd)
    };
    let one_line = |out: &Output, code: i32, message: &str| {
        let stderr = text(&out.stderr);
        assert_eq!(out.status.code(), Some(code), "{stderr}");
        let lines: Vec<_> = stderr.lines().filter(|l| !l.trim().is_empty()).collect();
        assert_eq!(lines.len(), 1, "{stderr}");
        assert!(
            lines[0].contains(message),
            "{:?} lacks {message:?}",
            lines[0]
        );
    };
    one_line(
        &daemon(&["--access", "uid:x=rw"]),
        2,
        "'uid:x=rw' is not an access rule: use uid:<N>=<rw|ro|none>",
    );
    let file = dir.join("access.conf");
    std::fs::write(&file, "# ok\nuid:1=ro\nbogus\n").unwrap();
    one_line(
        &daemon(&["--access-file", file.to_str().unwrap()]),
        1,
        &format!("{}:3: 'bogus' is not an access rule", file.display()),
    );
    one_line(
        &daemon(&["--access-file", "/nonexistent-enea/access.conf"]),
        1,
        "cannot read access file /nonexistent-enea/access.conf",
    );
    assert!(!sock.exists(), "a refused start left a socket");
}
