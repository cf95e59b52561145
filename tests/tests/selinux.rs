//! The HAL's SELinux policy, enforced: the daemon, the service manager and
//! clients each in their domain, over kernel binder, with the project's
//! sepolicy/ loaded into the kernel. Only the VM rig (tests/vm/run.sh)
//! boots SELinux enforcing, so these tests are `#[ignore]`d elsewhere and
//! the rig runs them with `--include-ignored`; run outside an enforcing
//! system they fail rather than pass vacuously.
//!
//! Every test also checks that nothing was denied beyond the one denial it
//! provokes on purpose; the rig checks the whole run's kernel log against
//! tests/vm/selinux/expected-denials.

use std::io::{BufRead, BufReader};
use std::process::{Command, Output, Stdio};

use enea_buffer_tests::bins::{self, ENEABUF};
use enea_buffer_tests::probe::run_bounded;
use enea_buffer_tests::selinux::{
    context_of, file_label, in_domain, require_enforcing, Kmsg, CLIENT_DOMAIN, DAEMON_DOMAIN,
    READONLY_CLIENT_DOMAIN, REGION_LABEL, SERVICEMANAGER_DOMAIN, SERVICE_LABEL, UNRELATED_DOMAIN,
};
use enea_buffer_tests::{eneabuf, eventually, Daemon, Mode, WAIT};

fn stdout(o: &Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

fn start() -> (Kmsg, Daemon) {
    require_enforcing();
    assert_eq!(
        Mode::current(),
        Mode::Binder,
        "the SELinux tests need kernel binder (ENEA_TEST_TRANSPORT=binder)"
    );
    let log = Kmsg::now();
    (log, Daemon::start())
}

/// `eneabuf <args>` run in the SELinux domain `context`.
fn eneabuf_in(context: &str, daemon: &Daemon, args: &[&str]) -> Output {
    let mut cmd = in_domain(context, &bins::path(ENEABUF));
    cmd.args(daemon.client_args()).args(args);
    run_bounded(cmd)
}

/// Waits (bounded) until the kernel log shows `key`, then checks that it is
/// the only denial since `log` (the audit record reaches the log from the
/// kernel's audit thread, a moment after the refusal itself).
fn expect_only_denial(log: &Kmsg, key: &str) {
    eventually(&format!("the denial `{key}` in the kernel log"), || {
        log.denials().iter().any(|d| d == key)
    });
    let other: Vec<String> = log.denials().into_iter().filter(|d| d != key).collect();
    assert!(other.is_empty(), "unexpected SELinux denials: {other:#?}");
}

fn expect_no_denial(log: &Kmsg) {
    let denials = log.denials();
    assert!(
        denials.is_empty(),
        "SELinux denied what the policy must allow: {denials:#?}"
    );
}

/// The pids of processes whose command name is `comm`.
fn pids_named(comm: &str) -> Vec<u32> {
    std::fs::read_dir("/proc")
        .expect("/proc")
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            std::fs::read_to_string(format!("/proc/{pid}/comm")).is_ok_and(|c| c.trim() == comm)
        })
        .collect()
}

/// The daemon's memfd fds, as /proc/<pid>/fd paths.
fn region_fds(pid: u32) -> Vec<std::path::PathBuf> {
    let dir = format!("/proc/{pid}/fd");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(Result::ok)
        .map(|e| e.path())
        .filter(|p| {
            std::fs::read_link(p)
                .is_ok_and(|t| t.to_string_lossy().starts_with("/memfd:vendor.enea.buffer"))
        })
        .collect()
}

/// `eneabuf watch` in domain `context` (None: as the runner starts it),
/// running until it has printed `changes` changes; returns it and its first line.
struct Watch {
    child: std::process::Child,
    lines: std::io::Lines<BufReader<std::process::ChildStdout>>,
}

impl Watch {
    fn start(context: Option<&str>, daemon: &Daemon, changes: u32) -> Watch {
        let eneabuf = bins::path(ENEABUF);
        let mut cmd = match context {
            Some(c) => in_domain(c, &eneabuf),
            None => Command::new(&eneabuf),
        };
        cmd.args(daemon.client_args())
            .args(["watch", "--interval", "10ms", "--changes"])
            .arg(changes.to_string());
        // A read-only client says so: asking for the read-write view (to
        // wait without polling) would be refused, and audited.
        if context == Some(READONLY_CLIENT_DOMAIN) {
            cmd.arg("--read-only");
        }
        cmd.stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawning eneabuf watch");
        let lines = BufReader::new(child.stdout.take().unwrap()).lines();
        Watch { child, lines }
    }

    fn line(&mut self) -> String {
        // eneabuf watch prints within its own bounded interval; the pipe
        // closes if it dies, so this cannot block forever.
        self.lines
            .next()
            .expect("eneabuf watch ended early")
            .expect("reading eneabuf watch")
    }

    fn finish(mut self) {
        let status = enea_buffer_tests::daemon::wait_bounded(&mut self.child, WAIT)
            .expect("eneabuf watch did not exit");
        assert!(status.success(), "eneabuf watch: {status}");
    }
}

/// The daemon starts from init into its domain, creates, seals, chmods and
/// maps its region (labelled by the tmpfs type_transition), registers with
/// the service manager (itself in its domain), and serves the seed
/// scenario to a full client -- with no denial at all.
#[test]
#[ignore = "needs SELinux enforcing with the project's policy: tests/vm/run.sh runs it"]
fn daemon_and_full_client_run_in_their_domains_without_a_denial() {
    let (log, daemon) = start();
    assert_eq!(context_of(daemon.pid()), DAEMON_DOMAIN);
    assert!(daemon
        .wait_log(|l| l.contains("Data=0xdeadcafe"), WAIT)
        .is_some());

    // Both of its fds (read-write and the read-only reopen) name the region.
    let fds = region_fds(daemon.pid());
    assert_eq!(fds.len(), 2, "expected the rw and the ro fd: {fds:?}");
    for fd in &fds {
        assert_eq!(file_label(fd), REGION_LABEL, "{}", fd.display());
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(fd).unwrap().permissions().mode() & 0o777;
        assert_eq!(mode, 0o400, "the daemon's fchmod did not take effect");
    }

    let hubs = pids_named("rsb_hub");
    assert_eq!(hubs.len(), 1, "one service manager: {hubs:?}");
    assert_eq!(context_of(hubs[0]), SERVICEMANAGER_DOMAIN);

    // The seed scenario from a full client (as the runner starts eneabuf).
    let out = eneabuf(&daemon, &["increment"]);
    assert!(out.status.success(), "eneabuf increment: {}", stderr(&out));
    assert!(stdout(&out).contains("Data=0xdeadcaff"), "{}", stdout(&out));
    assert!(daemon
        .wait_log(|l| l.contains("Data=0xdeadcaff"), WAIT)
        .is_some());

    // Which domain that client ran in: a long-lived one shows it.
    let mut watch = Watch::start(None, &daemon, 1);
    assert_eq!(watch.line(), "0xdeadcaff");
    assert_eq!(context_of(watch.child.id()), CLIENT_DOMAIN);
    assert!(eneabuf(&daemon, &["increment"]).status.success());
    assert_eq!(watch.line(), "0xdeadcb00");
    watch.finish();

    expect_no_denial(&log);
}

/// A read-only client reads and watches the region; its getRegion() is
/// refused by the kernel's binder fd-transfer check (it may not hold a
/// writable fd of the region), it says so clearly, and the daemon and the
/// value are unharmed.
#[test]
#[ignore = "needs SELinux enforcing with the project's policy: tests/vm/run.sh runs it"]
fn read_only_client_reads_but_the_kernel_refuses_it_a_writable_fd() {
    let (log, daemon) = start();
    let get = eneabuf_in(READONLY_CLIENT_DOMAIN, &daemon, &["get"]);
    assert!(get.status.success(), "get: {}", stderr(&get));
    assert_eq!(stdout(&get).trim(), "0xdeadcafe");

    let mut watch = Watch::start(Some(READONLY_CLIENT_DOMAIN), &daemon, 1);
    assert_eq!(watch.line(), "0xdeadcafe");
    assert_eq!(context_of(watch.child.id()), READONLY_CLIENT_DOMAIN);
    assert!(eneabuf(&daemon, &["increment"]).status.success());
    assert_eq!(watch.line(), "0xdeadcaff");
    watch.finish();
    expect_no_denial(&log);

    let inc = eneabuf_in(READONLY_CLIENT_DOMAIN, &daemon, &["increment"]);
    assert_eq!(
        inc.status.code(),
        Some(1),
        "a refused getRegion() must be an error exit, not a crash: {}\n{}",
        inc.status,
        stderr(&inc)
    );
    let msg = stderr(&inc);
    eprintln!("read-only client's getRegion(): {}", msg.trim());
    assert!(
        msg.contains("getRegion"),
        "the error must name the refused call: {msg}"
    );
    expect_only_denial(
        &log,
        &format!(
            "{{ write }} scontext={READONLY_CLIENT_DOMAIN} tcontext={REGION_LABEL} tclass=file"
        ),
    );

    // Unharmed: the daemon serves, and nothing was written.
    assert!(std::path::Path::new(&format!("/proc/{}", daemon.pid())).exists());
    let after = eneabuf(&daemon, &["get"]);
    assert!(after.status.success(), "{}", stderr(&after));
    assert_eq!(stdout(&after).trim(), "0xdeadcaff");
}

/// A domain that is no client of the HAL cannot even find the service:
/// the service manager's SELinux check refuses `find`, and the client says
/// the service is not there.
#[test]
#[ignore = "needs SELinux enforcing with the project's policy: tests/vm/run.sh runs it"]
fn unrelated_domain_cannot_find_the_service() {
    let (log, daemon) = start();
    let out = eneabuf_in(UNRELATED_DOMAIN, &daemon, &["get"]);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}\n{}",
        out.status,
        stderr(&out)
    );
    let msg = stderr(&out);
    eprintln!("unrelated domain's look-up: {}", msg.trim());
    assert!(
        msg.contains("vendor.enea.buffer.IEneaBuffer/default"),
        "the error must name the service: {msg}"
    );
    assert!(stdout(&out).is_empty(), "{}", stdout(&out));
    expect_only_denial(
        &log,
        &format!("{{ find }} scontext={UNRELATED_DOMAIN} tcontext={SERVICE_LABEL} tclass=service_manager"),
    );
    let get = eneabuf(&daemon, &["get"]);
    assert_eq!(stdout(&get).trim(), "0xdeadcafe");
}
