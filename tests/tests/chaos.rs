//! Chaos: a dozen client processes at once — `eneabuf increment` writers in
//! loops, `eneabuf watch`es (following restarts), snapshot readers and a
//! publisher — while the daemon is SIGKILLed and restarted on its socket
//! again and again, and once SIGSTOPped for longer than the clients'
//! timeouts. No client is killed by a signal or runs past its timeout,
//! every failure is one clear error line, every watch ends on the last
//! daemon's region, and that daemon's fds and memory come back once the
//! clients leave. Socket transport (the test restarts the daemon itself).

use std::io::{BufRead, BufReader};
use std::os::unix::process::ExitStatusExt;
use std::process::{Child, Command, Output, Stdio};
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::mpsc::{channel, Receiver};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

use enea_buffer_tests::daemon::wait_bounded;
use enea_buffer_tests::footprint::rss;
use enea_buffer_tests::probe::{field, region_identity};
use enea_buffer_tests::{
    bins, eneabuf, eventually, fd_count, Daemon, DaemonOptions, DEADCAFE, WAIT,
};
use rustix::process::Signal;

/// Daemon restarts (SIGKILL, then a new daemon on the same socket).
const RESTARTS: u32 = 12;
/// The restart before which the daemon is SIGSTOPped for a while.
const STOP_BEFORE: u32 = RESTARTS / 2;
/// The timeout every client is given (`--timeout` / `--call-timeout-ms`).
const CLIENT_TIMEOUT: Duration = Duration::from_secs(1);
/// How long a short-lived client may take past its timeout: one process
/// makes up to four calls (handshake, version, size, region), each bounded
/// by the timeout, plus generous slack for a loaded machine.
const CLIENT_LIMIT: Duration = Duration::from_secs(4 + 6);
/// Load pacing while the daemon is stopped: past the clients' timeout and
/// the library's wedge threshold, so that every kind of wait has to give up.
const STOP_PACING: Duration = Duration::from_millis(2500);
/// Load pacing after a client failed (the daemon is down): keeps the lanes
/// from spinning on the two cores the daemon needs to come back.
const FAILED_PACING: Duration = Duration::from_millis(20);
/// Short-lived client processes run against the last daemon after its
/// memory baseline is taken.
const FINAL_CLIENTS: u64 = 160;
/// Resident growth the last daemon is allowed over [`FINAL_CLIENTS`]: a
/// leak of a few KiB per client (a session's bookkeeping) exceeds it.
const RSS_GROWTH_BOUND: u64 = 512 << 10;
/// The publisher's writer id in its records.
const WRITER: u32 = 7;
/// What the final increment adds: a value no earlier region reaches.
const FINAL_ADD: u32 = 0x4000_0000;
/// Watchers woken through the futex word, then one polling read-only.
const NOTIFIED_WATCHERS: usize = 3;

/// What each client error line names: the daemon is not there (killed,
/// not yet restarted), the session ended (killed mid-call), or the daemon
/// did not answer within the timeout (stopped).
const MET_CHAOS: [&str; 3] = [
    "no vendor.enea.buffer daemon at ",
    "is gone",
    "did not answer",
];

/// The short-lived client kinds, each run in a loop by a lane.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Role {
    /// `eneabuf increment`.
    Increment,
    /// `enea-buffer-probe peek`: one snapshot of the record.
    Snapshot { read_only: bool },
    /// `enea-buffer-probe put`: one publish of the record.
    Publish,
}

/// One finished client process.
struct Record {
    lane: usize,
    /// The chaos epoch when it started and when it ended.
    started: u64,
    ended: u64,
    ok: bool,
}

/// What the lanes and the chaos driver share.
struct Shared {
    socket_args: Vec<String>,
    /// Bumped on each change of the daemon's state (restarted, stopped,
    /// resumed): a client that started in epoch e met the state e names.
    epoch: AtomicU64,
    done: AtomicBool,
    records: Mutex<Vec<Record>>,
    failures: Mutex<Vec<String>>,
    /// Each distinct client error line, with digits masked, and its count.
    errors: Mutex<std::collections::BTreeMap<String, u32>>,
    /// The last record counter handed to the publisher.
    published: AtomicU32,
}

impl Shared {
    fn fail(&self, what: String) {
        self.failures.lock().unwrap().push(what);
        self.done.store(true, Ordering::SeqCst);
    }

    fn check_failures(&self) {
        let failures = self.failures.lock().unwrap();
        assert!(
            failures.is_empty(),
            "client failures:\n{}",
            failures.join("\n")
        );
    }

    fn bump(&self) -> u64 {
        self.epoch.fetch_add(1, Ordering::SeqCst) + 1
    }

    /// Waits (bounded) until every lane finished a client that started in
    /// the current epoch or later.
    fn wait_progress(&self, lanes: usize, what: &str) {
        let epoch = self.epoch.load(Ordering::SeqCst);
        eventually(what, || {
            self.check_failures();
            let records = self.records.lock().unwrap();
            (0..lanes).all(|lane| records.iter().any(|r| r.lane == lane && r.started >= epoch))
        });
    }

    fn finished_since(&self, epoch: u64) -> u64 {
        let records = self.records.lock().unwrap();
        records.iter().filter(|r| r.started >= epoch).count() as u64
    }

    /// Runs `role` in a loop until `done`.
    fn lane(&self, lane: usize, role: Role) {
        while !self.done.load(Ordering::SeqCst) {
            let started = self.epoch.load(Ordering::SeqCst);
            let ok = match self.run_once(role) {
                Ok(ok) => ok,
                Err(e) => {
                    self.fail(format!("{role:?}: {e}"));
                    return;
                }
            };
            let ended = self.epoch.load(Ordering::SeqCst);
            self.records.lock().unwrap().push(Record {
                lane,
                started,
                ended,
                ok,
            });
            if !ok {
                std::thread::sleep(FAILED_PACING);
            }
        }
    }

    /// One client process of `role`: `Ok(true)` if it did its job,
    /// `Ok(false)` if it failed with a clear error, `Err` if it failed badly.
    fn run_once(&self, role: Role) -> Result<bool, String> {
        let timeout_ms = CLIENT_TIMEOUT.as_millis().to_string();
        let mut cmd;
        let mut counter = 0;
        match role {
            Role::Increment => {
                cmd = Command::new(bins::path(bins::ENEABUF));
                cmd.args(&self.socket_args).args([
                    "--timeout",
                    &format!("{timeout_ms}ms"),
                    "increment",
                ]);
            }
            Role::Snapshot { read_only } => {
                cmd = Command::new(bins::path(bins::PROBE));
                cmd.args(&self.socket_args)
                    .args(["--call-timeout-ms", &timeout_ms])
                    .args(["peek", "--timeout-ms", "200"]);
                if read_only {
                    cmd.arg("--read-only");
                }
            }
            Role::Publish => {
                counter = self.published.fetch_add(1, Ordering::SeqCst) + 1;
                cmd = Command::new(bins::path(bins::PROBE));
                cmd.args(&self.socket_args)
                    .args(["--call-timeout-ms", &timeout_ms, "put"])
                    .args(["--writer", &WRITER.to_string()])
                    .args(["--counter", &counter.to_string(), "--timeout-ms", "200"]);
            }
        }
        let out = run_client(cmd)?;
        let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
        let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
        let said = || format!("{}; stdout {stdout:?}; stderr {stderr:?}", out.status);
        if let Some(signal) = out.status.signal() {
            return Err(format!("killed by signal {signal}: {}", said()));
        }
        if stderr.contains("panicked") {
            return Err(format!("panicked: {}", said()));
        }
        let error_line = match (role, out.status.code()) {
            (_, Some(0)) => {
                check_success(role, &stdout, counter, &self.published)
                    .map_err(|e| format!("{e}: {}", said()))?;
                return Ok(true);
            }
            // The CLI: one line on stderr, nothing on stdout.
            (Role::Increment, Some(1)) if stdout.is_empty() => one_line(&stderr, "eneabuf: "),
            // The probe: one `error <why>` line on stdout, nothing on stderr.
            (_, Some(1)) if stderr.is_empty() => one_line(&stdout, "error "),
            _ => None,
        };
        let line = error_line.ok_or_else(|| format!("not one clear error line: {}", said()))?;
        // Chaos explains every failure: no daemon (dead, restarting, not
        // answering in time) or a session that ended; never a bad region.
        if !MET_CHAOS.iter().any(|m| line.contains(m)) {
            return Err(format!("an error the chaos does not explain: {}", said()));
        }
        let masked: String = line
            .chars()
            .map(|c| if c.is_ascii_digit() { '#' } else { c })
            .collect();
        *self.errors.lock().unwrap().entry(masked).or_default() += 1;
        Ok(false)
    }
}

/// `text` if it is exactly one line: `prefix` and a reason of some words.
fn one_line(text: &str, prefix: &str) -> Option<String> {
    let line = text.strip_suffix('\n')?;
    let why = line.strip_prefix(prefix)?;
    (!line.contains('\n') && why.trim().len() > 10).then(|| line.to_owned())
}

/// Whether a successful client printed what its job promises.
fn check_success(
    role: Role,
    stdout: &str,
    counter: u32,
    published: &AtomicU32,
) -> Result<(), String> {
    let lines: Vec<&str> = stdout.lines().collect();
    match role {
        Role::Increment => {
            let data =
                |l: &&str| u32::from_str_radix(field(l, "Data").trim_start_matches("0x"), 16);
            match &lines[..] {
                [before, after] if data(after) == data(before).map(|d| d.wrapping_add(1)) => Ok(()),
                _ => Err("increment did not print before and after".into()),
            }
        }
        Role::Snapshot { .. } => match &lines[..] {
            [l] if *l == "result=empty" || l.starts_with("result=busy ") => Ok(()),
            [l] if l.starts_with("result=ok ") => {
                let got: u32 = field(l, "counter").parse().map_err(|_| "bad counter")?;
                // Only one publisher: its writer id, a counter it was given.
                if field(l, "writer") == WRITER.to_string()
                    && got >= 1
                    && got <= published.load(Ordering::SeqCst)
                {
                    Ok(())
                } else {
                    Err("a record nobody published".into())
                }
            }
            _ => Err("a torn, abandoned or unexpected snapshot".into()),
        },
        Role::Publish => match &lines[..] {
            [l] if *l == format!("published writer={WRITER} counter={counter}") => Ok(()),
            _ => Err("publish did not confirm its record".into()),
        },
    }
}

/// Stops the lanes when dropped, also by a panic.
struct StopLanes<'a>(&'a AtomicBool);

impl Drop for StopLanes<'_> {
    fn drop(&mut self) {
        self.0.store(true, Ordering::SeqCst);
    }
}

/// Runs `cmd` to its end, bounded by [`CLIENT_LIMIT`].
fn run_client(mut cmd: Command) -> Result<Output, String> {
    let what = format!("{cmd:?}");
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = cmd.spawn().map_err(|e| format!("{what}: {e}"))?;
    let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || std::io::read_to_string(out).unwrap_or_default());
    let err = std::thread::spawn(move || std::io::read_to_string(err).unwrap_or_default());
    let Some(status) = wait_bounded(&mut child, CLIENT_LIMIT) else {
        let _ = child.kill();
        let _ = child.wait();
        return Err(format!(
            "{what} ran past its timeout ({CLIENT_TIMEOUT:?} per call; waited {CLIENT_LIMIT:?})"
        ));
    };
    Ok(Output {
        status,
        stdout: out.join().unwrap().into_bytes(),
        stderr: err.join().unwrap().into_bytes(),
    })
}

/// A long-lived `eneabuf watch`, its output read as it comes.
struct Watcher {
    child: Child,
    lines: Receiver<String>,
    stderr: Arc<Mutex<Vec<String>>>,
    /// Once set, the stdout reader closes the pipe after this line: the
    /// next line the watch writes ends it (a closed pipe ends it cleanly).
    last: Arc<OnceLock<String>>,
    seen_last: Receiver<()>,
}

impl Watcher {
    fn spawn(daemon: &Daemon, args: &[&str]) -> Watcher {
        let mut cmd = Command::new(bins::path(bins::ENEABUF));
        cmd.args(daemon.client_args())
            .args(["--timeout", "1s", "watch"])
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawning eneabuf watch");
        let (stdout, stderr) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
        let (tx, lines) = channel();
        let (seen_tx, seen_last) = channel();
        let last = Arc::new(OnceLock::<String>::new());
        let wanted = last.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let done = wanted.get() == Some(&line);
                let _ = tx.send(line);
                if done {
                    let _ = seen_tx.send(());
                    break;
                }
            }
        });
        let err_lines = Arc::new(Mutex::new(Vec::new()));
        let sink = err_lines.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lock().unwrap().push(line);
            }
        });
        Watcher {
            child,
            lines,
            stderr: err_lines,
            last,
            seen_last,
        }
    }

    fn stderr_text(&self) -> String {
        self.stderr.lock().unwrap().join("\n")
    }

    /// The region this watch says it watches since its last restart line.
    fn region(&self) -> Option<String> {
        let lines = self.stderr.lock().unwrap();
        lines.iter().rev().find_map(|l| {
            let (_, id) = l.split_once("watching its new region (")?;
            Some(id.trim_end_matches(')').to_owned())
        })
    }

    fn still_running(&mut self) {
        if let Some(status) = self.child.try_wait().unwrap() {
            panic!(
                "a watch exited during the chaos ({status}): {}",
                self.stderr_text()
            );
        }
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        if std::thread::panicking() {
            eprintln!("--- watch stderr ---\n{}\n---", self.stderr_text());
        }
    }
}

/// Kills `daemon` and starts another on its socket.
fn restart(daemon: Daemon) -> Daemon {
    let dir = daemon.dir.clone();
    daemon.stop_with(Signal::KILL);
    Daemon::start_with(DaemonOptions {
        dir: Some(dir),
        ..DaemonOptions::socket()
    })
}

fn signal(daemon: &Daemon, signal: Signal) {
    let pid = rustix::process::Pid::from_raw(daemon.pid() as i32).unwrap();
    rustix::process::kill_process(pid, signal).expect("signalling the daemon");
}

/// The state letter of process `pid` (`T`: stopped).
fn state(pid: u32) -> char {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    let (_, rest) = stat.rsplit_once(") ").unwrap();
    rest.chars().next().unwrap()
}

#[test]
fn clients_survive_a_daemon_killed_restarted_and_stopped_under_them() {
    let roles = [
        Role::Increment,
        Role::Increment,
        Role::Increment,
        Role::Increment,
        Role::Snapshot { read_only: false },
        Role::Snapshot { read_only: true },
        Role::Snapshot { read_only: true },
        Role::Publish,
    ];
    let lanes = roles.len();
    let first = Daemon::start_with(DaemonOptions::socket());
    // Every daemon here runs with the same flags: this is the idle count.
    let idle_fds = fd_count(first.pid());
    let mut watchers: Vec<Watcher> = (0..NOTIFIED_WATCHERS)
        .map(|_| Watcher::spawn(&first, &[]))
        .chain([Watcher::spawn(
            &first,
            &["--read-only", "--interval", "50ms"],
        )])
        .collect();
    for w in &watchers {
        let line = w
            .lines
            .recv_timeout(WAIT)
            .expect("the watch printed word 0");
        assert_eq!(line, format!("{DEADCAFE:#010x}"), "{}", w.stderr_text());
    }
    let shared = Shared {
        socket_args: first.client_args(),
        epoch: AtomicU64::new(0),
        done: AtomicBool::new(false),
        records: Mutex::new(Vec::new()),
        failures: Mutex::new(Vec::new()),
        errors: Mutex::new(Default::default()),
        published: AtomicU32::new(0),
    };
    let mut stop_epoch = 0;
    let (last, baseline_rss) = std::thread::scope(|scope| {
        // The scope joins the lanes before a panic here leaves it: stop them.
        let _stop = StopLanes(&shared.done);
        for (lane, role) in roles.iter().enumerate() {
            let shared = &shared;
            scope.spawn(move || shared.lane(lane, *role));
        }
        let mut daemon = first;
        for n in 1..=RESTARTS {
            shared.wait_progress(
                lanes,
                &format!("every lane ran a client against daemon {n}"),
            );
            for w in &mut watchers {
                w.still_running();
            }
            if n == STOP_BEFORE {
                signal(&daemon, Signal::STOP);
                stop_epoch = shared.bump();
                std::thread::sleep(STOP_PACING);
                // Every lane gave up on the stopped daemon by itself.
                shared.wait_progress(lanes, "every lane ran a client against the stopped daemon");
                assert_eq!(state(daemon.pid()), 'T', "the daemon is still stopped");
                // The epoch moves first: a client that ended in the stop's
                // epoch ended before the daemon could answer again.
                shared.bump();
                signal(&daemon, Signal::CONT);
                shared.wait_progress(lanes, "every lane ran a client after SIGCONT");
            }
            daemon = restart(daemon);
            shared.bump();
        }
        // The last daemon: a first round of clients, then its baseline.
        shared.wait_progress(lanes, "every lane ran a client against the last daemon");
        let region = region_identity(&daemon);
        eventually("every watch follows the service to the last region", || {
            watchers.iter_mut().all(|w| {
                w.still_running();
                w.region().as_ref() == Some(&region)
            })
        });
        let baseline_rss = rss(daemon.pid());
        let epoch = shared.bump();
        eventually(&format!("{FINAL_CLIENTS} more clients ran"), || {
            shared.check_failures();
            shared.finished_since(epoch) >= FINAL_CLIENTS
        });
        shared.done.store(true, Ordering::SeqCst);
        (daemon, baseline_rss)
    });
    shared.check_failures();

    // The lanes' clients are gone; every watch reports the final value.
    let before = u32::from_str_radix(
        String::from_utf8_lossy(&eneabuf(&last, &["get"]).stdout)
            .trim()
            .trim_start_matches("0x"),
        16,
    )
    .expect("word 0 of the last region");
    let fin = format!("{:#010x}", before.wrapping_add(FINAL_ADD));
    for w in &watchers {
        w.last.set(fin.clone()).unwrap();
    }
    let out = eneabuf(&last, &["increment", "--by", &FINAL_ADD.to_string()]);
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(text.ends_with(&format!("Data={fin}\n")), "{text}");
    for w in &watchers {
        w.seen_last
            .recv_timeout(WAIT)
            .unwrap_or_else(|_| panic!("a watch never printed {fin}: {}", w.stderr_text()));
    }
    // One more change: each watch writes it into its closed pipe and ends.
    assert!(eneabuf(&last, &["increment"]).status.success());
    let region = region_identity(&last);
    for w in &mut watchers {
        let status = wait_bounded(&mut w.child, WAIT).expect("the watch ends on a closed pipe");
        let stderr = w.stderr_text();
        assert!(status.success(), "{status}: {stderr}");
        assert!(!stderr.contains("panicked"), "{stderr}");
        assert!(
            stderr.lines().all(|l| l.starts_with("eneabuf: ")),
            "{stderr}"
        );
        assert_eq!(w.region(), Some(region.clone()), "{stderr}");
    }

    // Clients that met the stopped daemon gave up while it was stopped.
    let records = shared.records.lock().unwrap();
    let met_stop: Vec<&Record> = records
        .iter()
        .filter(|r| r.started == stop_epoch && r.ended == stop_epoch)
        .collect();
    assert!(met_stop.len() >= lanes);
    assert!(
        met_stop.iter().all(|r| !r.ok),
        "a client succeeded against a stopped daemon"
    );
    let ok = records.iter().filter(|r| r.ok).count();
    eprintln!(
        "chaos: {} clients, {ok} succeeded, {} publishes; errors:",
        records.len(),
        shared.published.load(Ordering::SeqCst)
    );
    for (line, n) in shared.errors.lock().unwrap().iter() {
        eprintln!("  {n:5} × {line}");
    }
    for role in roles {
        assert!(
            records.iter().any(|r| r.ok && roles[r.lane] == role),
            "no {role:?} client ever succeeded"
        );
    }

    let pid = last.pid();
    eventually(&format!("the last daemon's fds back to {idle_fds}"), || {
        fd_count(pid) <= idle_fds
    });
    let after = rss(pid);
    eprintln!(
        "last daemon: RSS {} KiB after its first clients, {} KiB after {FINAL_CLIENTS} more",
        baseline_rss >> 10,
        after >> 10
    );
    assert!(
        after <= baseline_rss + RSS_GROWTH_BOUND,
        "the daemon's RSS grew by {} KiB",
        (after.saturating_sub(baseline_rss)) >> 10
    );
}
