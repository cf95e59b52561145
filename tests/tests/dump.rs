//! The binder dump transaction (`dumpsys` on a device, `eneabuf dump`
//! here), over kernel binder and the socket alike: the documented fields,
//! per-caller counts, who may read it, and the bound on a silent daemon.

use std::os::unix::process::CommandExt;
use std::process::Command;
use std::sync::mpsc;
use std::time::Duration;

use enea_buffer_client::{ConnectOptions, Connection, Error};

use enea_buffer_tests::daemon::fresh_dir;
use enea_buffer_tests::probe::eneabuf_as;
use enea_buffer_tests::probe::run_bounded;
use enea_buffer_tests::{
    bins, eneabuf, require_root, Daemon, DaemonOptions, Mode, DEADCAFE, OTHER_UID, RW_UID,
};

/// The service the harness's daemons serve.
const SERVICE: &str = "vendor.enea.buffer.IEneaBuffer/default";

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The value of `key: value` on its own line of the dump.
fn field<'a>(dump: &'a str, key: &str) -> &'a str {
    dump.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no `{key}:` line in the dump:\n{dump}"))
}

#[test]
fn dump_shows_the_region_the_callers_and_refuses_strangers() {
    require_root("the dump is tried as another uid");
    let daemon = Daemon::start();
    let inc = eneabuf(&daemon, &["increment"]);
    assert!(inc.status.success(), "{}", text(&inc.stderr));

    // A stranger is refused, with the reason, and nothing of the state.
    let mut stranger = Command::new(bins::path(bins::ENEABUF));
    stranger
        .args(daemon.client_args())
        .arg("dump")
        .uid(OTHER_UID)
        .gid(OTHER_UID);
    let refused = run_bounded(stranger);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stdout));
    // One line: the daemon's message once, then who may read the dump; no
    // binder status names. The message comes through the dump's fd on both
    // transports (a refusal's status carries none).
    let stderr = text(&refused.stderr);
    let lines: Vec<&str> = stderr.lines().collect();
    assert_eq!(lines.len(), 1, "{stderr}");
    let line = lines[0];
    let said = format!("permission denied: uid {OTHER_UID} may not dump {SERVICE}");
    assert!(
        line.starts_with(&format!("eneabuf: the daemon refused dump: {said}; ")),
        "{line}"
    );
    assert_eq!(line.matches("may not dump").count(), 1, "{line}");
    assert!(
        line.ends_with(
            "only root and the user the daemon runs as may read its dump: \
             run the dump as one of them (e.g. `sudo eneabuf dump`)"
        ),
        "{line}"
    );
    assert!(!line.contains("PermissionDenied"), "{line}");
    assert!(
        !text(&refused.stdout).contains("word 0"),
        "{}",
        text(&refused.stdout)
    );

    let out = eneabuf(&daemon, &["dump"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let dump = text(&out.stdout);
    assert_eq!(field(&dump, "service"), SERVICE);
    assert_eq!(
        field(&dump, "interface version"),
        vendor_enea_buffer::aidl::vendor::enea::buffer::IEneaBuffer::VERSION.to_string()
    );
    assert_eq!(
        field(&dump, "interface hash"),
        vendor_enea_buffer::aidl::vendor::enea::buffer::IEneaBuffer::HASH
    );
    let transport = match daemon.mode {
        Mode::Binder => "kernel binder ",
        Mode::Socket => "unix://",
    };
    assert!(field(&dump, "transport").starts_with(transport), "{dump}");
    assert!(field(&dump, "uptime").ends_with(" s"), "{dump}");
    // The same size and file identity a client sees.
    let info = text(&eneabuf(&daemon, &["info"]).stdout);
    let size = info
        .lines()
        .find_map(|l| l.strip_prefix("size:"))
        .map(|s| s.trim().trim_end_matches(" bytes").to_owned())
        .expect("eneabuf info size");
    let region = field(&dump, "region");
    assert!(
        region.starts_with(&format!("{size} bytes, ")),
        "{region} vs {size}"
    );
    let inode = info
        .lines()
        .find_map(|l| l.split("inode ").nth(1))
        .map(|s| s.trim_end_matches(')').to_owned())
        .expect("eneabuf info inode");
    assert!(
        region.ends_with(&format!(", inode {inode}")),
        "{region} vs {inode}"
    );
    assert_eq!(field(&dump, "word 0"), format!("{:#010x}", DEADCAFE + 1));
    // Root's increment and the stranger's refusal are on record.
    assert!(
        dump.lines()
            .any(|l| l.starts_with("  uid 0: calls [") && l.contains("getRegion 1")),
        "{dump}"
    );
    assert!(
        dump.contains(&format!("  uid {OTHER_UID}: calls [")) && dump.contains("refused 1"),
        "{dump}"
    );
}

/// A daemon running as an ordinary user dumps to that user over the socket:
/// the dump belongs to root and to the daemon's own uid.
#[test]
fn a_daemon_dumps_to_its_own_uid_over_the_socket() {
    require_root("the daemon runs as another uid");
    let dir = fresh_dir();
    rustix::fs::chown(&dir, Some(uid(RW_UID)), Some(gid(RW_UID))).expect("chown");
    let daemon = Daemon::start_with(DaemonOptions {
        dir: Some(dir),
        run_as: Some(RW_UID),
        bare: true,
        ..DaemonOptions::socket()
    });
    let out = eneabuf_as(&daemon, RW_UID, RW_UID, &["dump"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let dump = text(&out.stdout);
    assert_eq!(field(&dump, "word 0"), format!("{DEADCAFE:#010x}"));
    assert!(
        dump.contains(&format!("  uid {RW_UID}: calls [")) && dump.contains("dump 1"),
        "{dump}"
    );
}

/// A daemon that stops (SIGSTOP) before it answers a dump does not hold
/// the caller: the dump gives up at the connection's timeout and says what
/// happened and what to do.
#[test]
fn a_dump_from_a_stopped_daemon_gives_up_at_the_timeout() {
    use rustix::process::{kill_process, Pid, Signal};
    let daemon = Daemon::start_with(DaemonOptions::socket());
    let options = ConnectOptions {
        timeout: Duration::from_millis(500),
        ..daemon.connect_options()
    };
    let conn = Connection::connect(&options).expect("connecting to the daemon");
    let pid = Pid::from_raw(daemon.pid() as i32).unwrap();
    kill_process(pid, Signal::STOP).unwrap();
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(conn.dump());
    });
    // A bound on the behaviour, not a speed assert: without the timeout the
    // dump would wait for the stopped daemon for ever.
    let bound = Duration::from_secs(60);
    let dumped = rx.recv_timeout(bound);
    kill_process(pid, Signal::CONT).unwrap();
    let dumped = dumped.unwrap_or_else(|e| panic!("the dump did not return within {bound:?}: {e}"));
    let err = dumped.expect_err("a stopped daemon dumped");
    let said = err.to_string();
    assert!(matches!(err, Error::Unresponsive { .. }), "{said}");
    for word in [
        "did not answer the dump call within 500ms",
        "stopped or overloaded",
        "try again",
        "--timeout",
    ] {
        assert!(said.contains(word), "{said:?} lacks {word:?}");
    }
    // Resumed, the same daemon dumps.
    let out = eneabuf(&daemon, &["dump"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert_eq!(field(&text(&out.stdout), "service"), SERVICE);
}

fn uid(raw: u32) -> rustix::fs::Uid {
    rustix::fs::Uid::from_raw(raw)
}

fn gid(raw: u32) -> rustix::fs::Gid {
    rustix::fs::Gid::from_raw(raw)
}
