//! The lazy HAL variant (`--lazy`, init.lazy.rc): registered with the
//! service manager as a lazy service, it exits once no client holds it and
//! is started again on the next look-up. Without a service manager there is
//! nobody to start it on demand, so the socket transport refuses `--lazy`.
//!
//! In the VM rig, rsb_hub declares a test instance, `.../lazy`, with a
//! `start` program that plays init's part (tests/vm/run.sh,
//! `write_hub_config`): the whole lifecycle -- start on demand, exit when
//! unused, restart on demand with a fresh region -- runs against it.

use std::os::fd::OwnedFd;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use enea_buffer_tests::daemon::{fresh_dir, init_rc_service};
use enea_buffer_tests::initrc::{self, ServiceDef};
use enea_buffer_tests::probe::{field, parse_hex, run_bounded};
use enea_buffer_tests::{bins, eneabuf, Daemon, DaemonOptions, Interactive, Mode, DEADCAFE, WAIT};

const REFUSAL: &str =
    "--lazy needs a service manager (kernel binder); the socket transport has none";

/// `--lazy` on the socket transport (asked for, or chosen by `auto` because
/// no service manager answers) fails at start with one clear line.
#[test]
fn lazy_without_a_service_manager_is_refused() {
    let transports: &[&str] = match Mode::current() {
        Mode::Socket => &["socket", "auto"],
        // In the VM a service manager answers, so `auto` picks kernel binder.
        Mode::Binder => &["socket"],
    };
    for transport in transports {
        let dir = fresh_dir();
        let mut cmd = Command::new(bins::path(bins::DAEMON));
        cmd.args(["--lazy", "--transport", transport, "--socket"])
            .arg(dir.join("buffer.sock"));
        let out = run_bounded(cmd);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "--transport {transport}: {stderr}"
        );
        assert!(
            stderr.contains(REFUSAL),
            "--transport {transport}: {stderr}"
        );
        assert!(
            !dir.join("buffer.sock").exists(),
            "--transport {transport}: a refused lazy start must not leave a socket"
        );
    }
}

/// The lazy daemon, started as init.lazy.rc says, serves a client and then
/// exits by itself (status 0) once the service manager reports that no
/// client holds the service any more (AOSP's 5 s client check, in rsb_hub).
/// (Started by the harness; the on-demand start is tested below.)
#[test]
#[ignore = "needs a service manager (kernel binder): tests/vm/run.sh runs it"]
fn lazy_daemon_exits_once_no_client_holds_it() {
    assert_eq!(
        Mode::current(),
        Mode::Binder,
        "run with ENEA_TEST_TRANSPORT=binder, against rsb_hub"
    );
    let mut daemon = Daemon::start_with(DaemonOptions {
        lazy: true,
        ..DaemonOptions::default()
    });
    assert!(
        daemon.wait_log(|l| l.contains("(lazy)"), WAIT).is_some(),
        "the daemon did not register lazily:\n{}",
        daemon.log_text()
    );
    let out = eneabuf(&daemon, &["get"]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout).trim(),
        format!("{DEADCAFE:#010x}")
    );
    // Two of rsb_hub's 5 s checks and some slack: generous for a loaded VM.
    let status = daemon.wait_exit(WAIT).unwrap_or_else(|| {
        panic!(
            "the lazy daemon still runs {WAIT:?} after its last client left:\n{}",
            daemon.log_text()
        )
    });
    assert!(
        status.success(),
        "exit status {status}:\n{}",
        daemon.log_text()
    );
}

/// The instance tests/vm/run.sh declares for rsb_hub with a `start`
/// program (its LAZY_SERVICE_NAME): init.lazy.rc's service plus
/// `--instance lazy`, so that it never answers for /default, which the
/// other tests start themselves.
const LAZY_INSTANCE: &str = "lazy";

/// The lazy HAL's whole lifecycle over kernel binder, with rsb_hub as the
/// service manager that starts it (as servicemanager has init start it):
/// (a) no daemon runs, and a client's waitForService starts one -- as the
/// .rc's user, in its SELinux domain, a child of the service manager;
/// (b) once the client lets go, the daemon exits; (c) the next client
/// starts it again and gets a fresh region (another file, word 0 back to
/// 0xdeadcafe although the first client incremented it), while the mapping
/// that client kept of the first region stays readable with its old value.
#[test]
#[ignore = "needs a service manager (kernel binder): tests/vm/run.sh runs it"]
fn lazy_daemon_starts_on_demand_exits_and_restarts_with_a_fresh_region() {
    assert_eq!(
        Mode::current(),
        Mode::Binder,
        "run with ENEA_TEST_TRANSPORT=binder, against rsb_hub"
    );
    let def = init_rc_service(true);
    let running = lazy_daemons(&def);
    assert!(
        running.is_empty(),
        "lazy daemons run before any client asked for one: pids {running:?}"
    );

    let mut cmd = Command::new(bins::path(bins::PROBE));
    // --socket is required by the probe's command line, unused over binder.
    cmd.args(["--transport", "binder", "--socket", "/nonexistent"])
        .args(["lazy", "--instance", LAZY_INSTANCE]);
    let mut probe = Interactive::spawn(cmd);

    // (a) Start on demand.
    let first = start_on_demand(&mut probe, &def, 0);
    assert_eq!(
        first.value, DEADCAFE,
        "a new region holds 0xdeadcafe: {}",
        first.line
    );
    assert_eq!(first.now, DEADCAFE + 1, "{}", first.line);

    // (b) Exit when unused.
    release_and_wait_exit(&mut probe, first.daemon, "first");
    let old = probe.ask("old 0");
    assert_eq!(
        parse_hex(field(&old, "value")) as u32,
        DEADCAFE + 1,
        "the first region, mapped by the client, keeps its value after the daemon exited: {old}"
    );

    // (c) Restart on demand, with a fresh region.
    let second = start_on_demand(&mut probe, &def, 1);
    assert_eq!(
        second.value, DEADCAFE,
        "a restarted daemon must create a fresh region, not reuse the old one \
         (the first run left 0xdeadcaff in word 0): {}",
        second.line
    );
    assert_ne!(
        (second.dev, second.ino),
        (first.dev, first.ino),
        "the restarted daemon's region must be another file: first {}, second {}",
        first.line,
        second.line
    );
    let old = probe.ask("old 0");
    assert_eq!(
        parse_hex(field(&old, "value")) as u32,
        DEADCAFE + 1,
        "the mapping of the first region stays readable and keeps its value: {old}"
    );
    assert_eq!(
        (field(&old, "dev"), field(&old, "ino")),
        (
            first.dev.to_string().as_str(),
            first.ino.to_string().as_str()
        ),
        "{old}"
    );
    eprintln!("lazy: after the restart, the first mapping: {old}");
    // And it goes away again: the cycle repeats.
    release_and_wait_exit(&mut probe, second.daemon, "restarted");
    assert!(probe.finish().success(), "the probe failed on quit");
}

/// A daemon started on demand, as the probe and /proc saw it.
struct Started {
    /// The probe's `started` line.
    line: String,
    /// Word 0 when the probe first read it, and after it added 1.
    value: u32,
    now: u32,
    /// The region's identity (fstat of the probe's fd).
    dev: u64,
    ino: u64,
    /// The daemon process, opened while the probe held it.
    daemon: Process,
}

/// A process that is not our child: its pid, and a pidfd that becomes
/// readable when it exits.
struct Process {
    pid: u32,
    pidfd: OwnedFd,
}

/// `start` in the probe (waitForService, connect, map, add 1), then the
/// one daemon process that appeared, checked against the .rc.
fn start_on_demand(probe: &mut Interactive, def: &ServiceDef, run: usize) -> Started {
    probe.send("start");
    let line = probe.reply_within(WAIT).unwrap_or_else(|why| {
        panic!(
            "start on demand (run {run}): no client got vendor.enea.buffer.IEneaBuffer/\
             {LAZY_INSTANCE}: {why}. rsb_hub must start it on the client's getService \
             (its `start` in tests/vm/run.sh); lazy daemons running: {:?}{}",
            lazy_daemons(def),
            hub_log()
        )
    });
    assert_eq!(field(&line, "run"), run.to_string(), "{line}");
    let pids = lazy_daemons(def);
    assert_eq!(
        pids.len(),
        1,
        "run {run}: the client holds the service, so exactly one lazy daemon runs: {pids:?}"
    );
    let pid = pids[0];
    // Opened while the client holds the daemon, so it cannot have exited.
    let pidfd = rustix::process::pidfd_open(
        rustix::process::Pid::from_raw(pid as i32).unwrap(),
        rustix::process::PidfdFlags::empty(),
    )
    .unwrap_or_else(|e| panic!("pidfd_open({pid}): {e}"));
    check_started_as_rc_says(pid, def);
    eprintln!("lazy: daemon pid {pid} started on demand; probe: {line}");
    Started {
        value: parse_hex(field(&line, "value")) as u32,
        now: parse_hex(field(&line, "now")) as u32,
        dev: field(&line, "dev").parse().unwrap(),
        ino: field(&line, "ino").parse().unwrap(),
        line,
        daemon: Process { pid, pidfd },
    }
}

/// The daemon was started by the service manager, as init would start it
/// from init.lazy.rc: its child, with the .rc's command line (plus the
/// test instance), user, group, and the HAL's SELinux domain.
fn check_started_as_rc_says(pid: u32, def: &ServiceDef) {
    let parent = parent_of(pid);
    let parent_exe = exe_of(parent);
    assert!(
        parent_exe
            .as_deref()
            .is_some_and(|p| p.file_name() == Some("rsb_hub".as_ref())),
        "daemon {pid}'s parent {parent} is {parent_exe:?}, not the service manager"
    );
    let cmdline = std::fs::read(format!("/proc/{pid}/cmdline")).unwrap();
    let args: Vec<String> = cmdline
        .split(|&b| b == 0)
        .filter(|a| !a.is_empty())
        .skip(1)
        .map(|a| String::from_utf8_lossy(a).into_owned())
        .collect();
    let mut want = def.args.clone();
    want.extend(["--instance".to_owned(), LAZY_INSTANCE.to_owned()]);
    assert_eq!(args, want, "daemon {pid}'s arguments");
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    let id = |key: &str| -> u32 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(key))
            .and_then(|rest| rest.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in /proc/{pid}/status"))
    };
    let want_uid = initrc::lookup_id(Path::new("/etc/passwd"), &def.user).unwrap();
    let group = def.groups.first().unwrap_or(&def.user);
    let want_gid = initrc::lookup_id(Path::new("/etc/group"), group).unwrap();
    assert_eq!(
        (id("Uid:"), id("Gid:")),
        (want_uid, want_gid),
        "daemon {pid} runs as uid/gid, the .rc says user {} group {group}",
        def.user
    );
    if Path::new("/sys/fs/selinux/enforce").exists() {
        let domain = std::fs::read_to_string(format!("/proc/{pid}/attr/current")).unwrap();
        assert_eq!(
            domain.trim_end_matches(['\0', '\n']),
            "u:r:hal_enea_buffer_default:s0",
            "daemon {pid}'s SELinux domain"
        );
    }
}

/// `release` in the probe, then a bounded wait for the daemon's exit.
fn release_and_wait_exit(probe: &mut Interactive, daemon: Process, which: &str) {
    assert_eq!(probe.ask("release"), "released");
    // Two of rsb_hub's 5 s client checks and some slack, as above.
    assert!(
        exits_within(&daemon.pidfd, WAIT),
        "the {which} lazy daemon (pid {}) still runs {WAIT:?} after its last client let go{}",
        daemon.pid,
        hub_log()
    );
    eprintln!(
        "lazy: the {which} daemon (pid {}) exited once unused",
        daemon.pid
    );
}

/// Whether the process behind `pidfd` exits within `timeout`.
fn exits_within(pidfd: &OwnedFd, timeout: Duration) -> bool {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let deadline = Instant::now() + timeout;
    loop {
        let mut fds = [PollFd::new(pidfd, PollFlags::IN)];
        let Some(left) = deadline.checked_duration_since(Instant::now()) else {
            return false;
        };
        let left = Timespec::try_from(left).expect("timeout fits a timespec");
        if poll(&mut fds, Some(&left)).is_ok_and(|n| n > 0) {
            return true;
        }
    }
}

/// Processes running the lazy daemon's executable (zombies have none).
fn lazy_daemons(def: &ServiceDef) -> Vec<u32> {
    let exe = Path::new(&def.path);
    let mut pids: Vec<u32> = std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&pid| exe_of(pid).as_deref() == Some(exe))
        .collect();
    pids.sort_unstable();
    pids
}

fn exe_of(pid: u32) -> Option<PathBuf> {
    std::fs::read_link(format!("/proc/{pid}/exe")).ok()
}

fn parent_of(pid: u32) -> u32 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // `pid (comm) state ppid ...`; comm may hold spaces and parentheses.
    let after = &stat[stat.rfind(')').expect("/proc/<pid>/stat") + 1..];
    after.split_whitespace().nth(1).unwrap().parse().unwrap()
}

/// rsb_hub's log (the VM rig exports ENEA_HUB_LOG), where the daemons it
/// starts write theirs: for failure messages.
fn hub_log() -> String {
    match std::env::var_os("ENEA_HUB_LOG") {
        Some(path) => format!(
            "\n--- rsb_hub's log ({}):\n{}",
            Path::new(&path).display(),
            std::fs::read_to_string(&path).unwrap_or_else(|e| e.to_string())
        ),
        None => String::new(),
    }
}
