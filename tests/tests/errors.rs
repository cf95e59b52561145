//! Errors a user can act on, from `eneabuf` against the real daemon on the
//! Unix socket: each names the cause and what to do about it. README's
//! recipe "Letting other users in" is run here as it is written
//! (`letting_other_users_in_as_the_readme_says`).

use std::io::{BufRead, BufReader, Read};
use std::os::unix::net::UnixListener;
use std::os::unix::process::ExitStatusExt;
use std::process::{Command, Output, Stdio};

use enea_buffer_common::etc_ids;
use enea_buffer_tests::daemon::{fresh_dir, wait_bounded};
use enea_buffer_tests::probe::{eneabuf_as, run_bounded, Watch};
use enea_buffer_tests::{
    bins, eneabuf, require_root, Daemon, DaemonOptions, NONE_UID, OTHER_UID, WAIT,
};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
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

/// A user the socket's mode keeps out is told there is a daemon, whose
/// socket it is, and how to be let in.
#[test]
fn a_socket_this_user_may_not_connect_to_names_its_owner_and_the_way_in() {
    require_root("the client runs as another uid");
    let daemon = Daemon::start_with(DaemonOptions::socket());
    // The harness gives the socket to group OTHER_UID; 3001 is not it.
    let out = eneabuf_as(&daemon, 2004, 3001, &["get"]);
    let line = one_error_line(
        &out,
        &[
            &daemon.socket.display().to_string(),
            "may not connect",
            "uid 0 (root)",
            &format!("group {OTHER_UID}"),
            "mode 0660",
            "uid 2004",
            "run as root",
            "--socket-group",
            "--access uid:2004=",
        ],
    );
    assert!(!line.contains("Errno"), "{line}");
    assert!(!line.contains("no vendor.enea.buffer daemon"), "{line}");
}

/// A directory on the socket's path that this user cannot search is named
/// as what keeps it out.
#[test]
fn a_directory_this_user_cannot_pass_is_named() {
    use std::os::unix::fs::PermissionsExt;
    require_root("the client runs as another uid");
    let daemon = Daemon::start_with(DaemonOptions::socket());
    std::fs::set_permissions(&daemon.dir, std::fs::Permissions::from_mode(0o700)).unwrap();
    let out = eneabuf_as(&daemon, OTHER_UID, OTHER_UID, &["get"]);
    one_error_line(
        &out,
        &[
            "may not connect",
            &format!("the directory {} (uid 0 (root)", daemon.dir.display()),
            "mode 0700",
            "does not let this user through",
            "--socket PATH",
        ],
    );
}

/// A socket file with no daemon behind it: the daemon is not running, and
/// the file may be removed.
#[test]
fn a_stale_socket_says_the_daemon_is_not_running() {
    let dir = fresh_dir();
    let stale = dir.join("stale.sock");
    drop(UnixListener::bind(&stale).unwrap());
    let mut cmd = Command::new(bins::path(bins::ENEABUF));
    cmd.args(["--transport", "socket", "--socket"])
        .arg(&stale)
        .arg("get");
    let line = one_error_line(
        &run_bounded(cmd),
        &[
            "stale",
            "not running",
            "start it",
            &format!("remove {}", stale.display()),
        ],
    );
    assert!(!line.contains("Errno"), "{line}");
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

/// `--transport auto` tries kernel binder, then the socket; when both fail,
/// both reasons are given.
#[test]
fn auto_reports_why_each_transport_failed() {
    let dir = fresh_dir();
    let missing = dir.join("none.sock");
    let mut cmd = Command::new(bins::path(bins::ENEABUF));
    cmd.args([
        "--transport",
        "auto",
        "--binder-device",
        "/nonexistent-enea/binder",
        "--socket",
    ])
    .arg(&missing)
    .arg("get");
    one_error_line(
        &run_bounded(cmd),
        &[
            "kernel binder",
            "no binder device at /nonexistent-enea/binder",
            &format!("no socket at {}", missing.display()),
        ],
    );
}

/// A group this host has, by name and number, for the README's `enea`.
fn host_group() -> (String, u32) {
    ["users", "staff", "nogroup", "daemon"]
        .into_iter()
        .find_map(|name| Some((name.to_owned(), etc_ids::id_of(etc_ids::GROUP, name)?)))
        .unwrap_or_else(|| {
            panic!(
                "{} names none of users, staff, nogroup, daemon",
                etc_ids::GROUP
            )
        })
}

/// README's words with this test's names: a group this host has for its
/// `enea`, uids 2101 and 2102 for its 1000 and 1001.
fn ours(text: &str, group: &str) -> String {
    let text = text
        .replace("uid:1000=", "uid:2101=")
        .replace("uid:1001=", "uid:2102=");
    match text.as_str() {
        "enea" => group.to_owned(),
        _ => text,
    }
}

/// README's recipe, both ways it gives: the daemon's flags from its command
/// line, and the rules of its access.conf block.
fn readme_recipe(group: &str) -> (Vec<String>, String) {
    let readme = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../README.md"))
        .expect("README.md");
    let section = readme
        .split("## Letting other users in")
        .nth(1)
        .expect("README has a 'Letting other users in' section");
    let command = section
        .split("vendor-enea-buffer-service ")
        .nth(1)
        .expect("the recipe starts the daemon")
        .split("\n\n")
        .next()
        .unwrap()
        .replace('\\', " ");
    let flags = command.split_whitespace().map(|w| ours(w, group)).collect();
    let conf = section
        .split("```\n")
        .nth(1)
        .expect("the recipe has an access.conf block")
        .lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| ours(l, group) + "\n")
        .collect();
    (flags, conf)
}

/// README's "Letting other users in", both ways it gives (flags, then the
/// access file), as written but for the names (`ours`): the first user
/// increments, the second reads and may not write; a group member without
/// a rule is refused by the policy, a user outside the group cannot
/// connect, and each refusal says how to be let in.
#[test]
fn letting_other_users_in_as_the_readme_says() {
    require_root("the daemon runs as root and the clients as other uids");
    let (group, gid) = host_group();
    let (flags, conf_text) = readme_recipe(&group);
    assert_eq!(
        flags[..2],
        ["--socket-group".to_owned(), group.clone()],
        "{flags:?}"
    );
    let dir = fresh_dir();
    let conf = dir.join("access.conf");
    std::fs::write(&conf, conf_text).unwrap();
    let file = [
        "--socket-group".to_owned(),
        group.clone(),
        "--access-file".to_owned(),
        conf.to_str().unwrap().to_owned(),
    ];
    for args in [flags, file.to_vec()] {
        let rules = args.clone();
        let daemon = Daemon::start_with(DaemonOptions {
            args,
            bare: true,
            ..DaemonOptions::socket()
        });
        let inc = eneabuf_as(&daemon, 2101, gid, &["increment"]);
        assert!(inc.status.success(), "{rules:?}: {}", text(&inc.stderr));
        assert!(text(&inc.stdout).contains("Data=0xdeadcaff"), "{inc:?}");

        let get = eneabuf_as(&daemon, 2102, gid, &["get"]);
        assert_eq!(text(&get.stdout).trim(), "0xdeadcaff", "{rules:?}: {get:?}");
        let write = eneabuf_as(&daemon, 2102, gid, &["increment"]);
        one_error_line(
            &write,
            &["uid 2102 has no read-write access", "--access uid:2102=rw"],
        );

        let member = eneabuf_as(&daemon, 2103, gid, &["get"]);
        one_error_line(
            &member,
            &["uid 2103 has no read access", "--access uid:2103=ro"],
        );

        let outside = eneabuf_as(&daemon, 2104, 2104, &["get"]);
        one_error_line(
            &outside,
            &[
                "may not connect",
                &format!("group {gid} ({group})"),
                "--socket-group",
                "--access uid:2104=",
            ],
        );

        // No refusal changed the word.
        let get = eneabuf(&daemon, &["get"]);
        assert_eq!(text(&get.stdout).trim(), "0xdeadcaff", "{get:?}");
    }
}

/// `eneabuf watch | head -1`: once the reader of its stdout is gone, watch
/// ends quietly (status 0, nothing on stderr) at its next line, instead of
/// panicking on EPIPE.
#[test]
fn watch_ends_quietly_when_its_reader_goes_away() {
    let daemon = Daemon::start_with(DaemonOptions::socket());
    let mut cmd = Command::new(bins::path(bins::ENEABUF));
    cmd.args(daemon.client_args())
        .arg("watch")
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().expect("spawning eneabuf watch");
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let first = lines.next().expect("watch printed nothing").unwrap();
    assert_eq!(first, "0xdeadcafe");
    // The only read end of the pipe: watch's next line meets EPIPE.
    drop(lines);
    let inc = eneabuf(&daemon, &["increment"]);
    assert!(inc.status.success(), "{}", text(&inc.stderr));
    let status = wait_bounded(&mut child, WAIT).expect("eneabuf watch did not exit");
    let mut stderr = String::new();
    child
        .stderr
        .take()
        .unwrap()
        .read_to_string(&mut stderr)
        .unwrap();
    assert_eq!(status.signal(), None, "{stderr}");
    assert!(!stderr.contains("panicked"), "{stderr}");
    assert!(status.success(), "{status}: {stderr}");
    assert_eq!(stderr, "");
}

/// `program args` with its soft open-file limit lowered to `soft` (the hard
/// one kept), through the shell's `ulimit`.
fn with_soft_nofile(soft: u32, program: &str, args: &[String]) -> Output {
    let mut cmd = Command::new("sh");
    cmd.arg("-c")
        .arg(r#"ulimit -S -n "$0" && exec "$@""#)
        .arg(soft.to_string())
        .arg(bins::path(program))
        .args(args);
    run_bounded(cmd)
}

/// A client out of fds is told so, with its limit and the way out,
/// whichever step ran out (its connection, the callback connection a death
/// notification needs, the region's fd); never that the service is gone.
/// The sweep starts at 4: below that the dynamic loader itself fails.
#[test]
fn a_client_out_of_fds_names_its_open_file_limit() {
    let daemon = Daemon::start_with(DaemonOptions::socket());
    let args = |extra: &[&str]| -> Vec<String> {
        let mut args = daemon.client_args();
        args.extend(extra.iter().map(|s| s.to_string()));
        args
    };
    let (mut refused, mut served) = (0, 0);
    for soft in 4..=7 {
        let runs = [
            (bins::ENEABUF, args(&["get"])),
            (bins::ENEABUF, args(&["increment"])),
            // Asks for death notifications: one more connection.
            (bins::PROBE, args(&["session"])),
        ];
        for (program, args) in runs {
            let out = with_soft_nofile(soft, program, &args);
            if out.status.success() {
                served += 1;
                continue;
            }
            refused += 1;
            // eneabuf says it on stderr; the probe as `error ...` on stdout.
            let said = format!("{}{}", text(&out.stdout), text(&out.stderr));
            for word in [
                "out of file descriptors",
                &format!("open-file limit (soft RLIMIT_NOFILE) is {soft}"),
                "close mappings",
                "ulimit -n",
                "LimitNOFILE=",
            ] {
                assert!(
                    said.contains(word),
                    "{program} at {soft}: {said:?} lacks {word:?}"
                );
            }
            assert!(!said.contains("is gone"), "{program} at {soft}: {said}");
            assert!(!said.contains("no vendor.enea.buffer daemon"), "{said}");
        }
    }
    // The sweep crossed the line: some runs had too few fds, some enough.
    assert!(
        refused >= 3 && served >= 3,
        "{refused} refused, {served} served"
    );
    // The daemon served the starved clients' attempts and is still there.
    assert!(eneabuf(&daemon, &["get"]).status.success());
}

/// A daemon that is there but does not answer (stopped here) is named as
/// such, with the timeout waited and the way to allow longer, not as a
/// missing daemon or a dead service.
#[test]
fn a_stopped_daemon_is_named_unresponsive_not_missing() {
    use rustix::process::{kill_process, Pid, Signal};
    let daemon = Daemon::start_with(DaemonOptions::socket());
    let pid = Pid::from_raw(daemon.pid() as i32).unwrap();
    kill_process(pid, Signal::STOP).unwrap();
    let out = eneabuf(&daemon, &["--timeout", "500ms", "get"]);
    kill_process(pid, Signal::CONT).unwrap();
    let line = one_error_line(
        &out,
        &[
            "did not answer",
            "within 500ms",
            "stopped or overloaded",
            "--timeout",
        ],
    );
    assert!(
        !line.contains("no vendor.enea.buffer daemon") && !line.contains("is gone"),
        "{line}"
    );
    // Resumed, the same daemon serves.
    let get = eneabuf(&daemon, &["get"]);
    assert_eq!(
        text(&get.stdout).trim(),
        "0xdeadcafe",
        "{}",
        text(&get.stderr)
    );
}

/// `eneabuf <args>` with its stderr on `/dev/full`, where every write fails
/// (ENOSPC); stdout and the status are the caller's to read.
fn eneabuf_with_stderr_full(args: &[String]) -> Command {
    let mut cmd = Command::new(bins::path(bins::ENEABUF));
    cmd.args(args).stdin(Stdio::null()).stderr(dev_full());
    cmd
}

/// `/dev/full` for writing: every write fails with ENOSPC.
fn dev_full() -> std::fs::File {
    std::fs::OpenOptions::new()
        .write(true)
        .open("/dev/full")
        .expect("opening /dev/full")
}

/// A failing command whose stderr cannot be written still ends with the
/// error status (1): the message is lost, but no panic (101) replaces it.
#[test]
fn a_failing_command_keeps_its_status_when_stderr_is_unwritable() {
    let missing = fresh_dir().join("none.sock");
    let args = ["--transport", "socket", "--socket"]
        .map(String::from)
        .into_iter()
        .chain([missing.display().to_string(), "get".into()])
        .collect::<Vec<_>>();
    let mut child = eneabuf_with_stderr_full(&args)
        .stdout(Stdio::null())
        .spawn()
        .expect("spawning eneabuf get");
    let status = wait_bounded(&mut child, WAIT).expect("eneabuf get did not exit");
    assert_eq!(status.signal(), None, "{status}");
    assert_eq!(status.code(), Some(1), "{status} (101 is a panic)");
}

/// With stderr unwritable, `watch --read-only --no-follow` says why it
/// polls (lost), prints the word, and, when the service dies, ends with
/// the documented error status 1, not a panic.
#[test]
fn watch_with_no_follow_ends_with_its_error_status_when_stderr_is_unwritable() {
    let daemon = Daemon::start_with(DaemonOptions::socket());
    let watch = Watch::spawn(&daemon, &["--read-only", "--no-follow"], dev_full());
    assert_eq!(watch.line(), "0xdeadcafe");
    daemon.stop_with(rustix::process::Signal::KILL);
    let (status, _) = watch.finish();
    assert_eq!(status.signal(), None, "{status}");
    assert_eq!(status.code(), Some(1), "{status} (101 is a panic)");
}

/// With stderr unwritable, `watch` still follows the service across a
/// restart (it says so on stderr, which fails) and watches the new region
/// until the change it was asked for.
#[test]
fn watch_follows_a_restart_when_stderr_is_unwritable() {
    let first = Daemon::start_with(DaemonOptions::socket());
    let dir = first.dir.clone();
    let watch = Watch::spawn(&first, &["--changes", "1"], dev_full());
    assert_eq!(watch.line(), "0xdeadcafe");
    first.stop_with(rustix::process::Signal::KILL);
    let second = Daemon::start_with(DaemonOptions {
        dir: Some(dir),
        ..DaemonOptions::socket()
    });
    // The new region's word, after the two lines stderr lost.
    assert_eq!(watch.line(), "0xdeadcafe");
    let inc = eneabuf(&second, &["increment"]);
    assert!(inc.status.success(), "{}", text(&inc.stderr));
    assert_eq!(watch.line(), "0xdeadcaff");
    let (status, _) = watch.finish();
    assert_eq!(status.signal(), None, "{status}");
    assert!(status.success(), "{status} (101 is a panic)");
}
