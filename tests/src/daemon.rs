//! The daemon under test, as a child process whose log the test can read.

use std::io::{BufRead, BufReader};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Condvar, Mutex};
use std::time::{Duration, Instant};

use crate::{bins, initrc, Mode, WAIT};

/// Service name in init.rc.
pub const INIT_SERVICE: &str = "vendor.enea.buffer-service";

/// How to start a daemon (socket mode; binder mode takes init.rc as it is).
#[derive(Clone, Debug, Default)]
pub struct DaemonOptions {
    /// Extra command-line arguments (e.g. `--size 4096`).
    pub args: Vec<String>,
    /// Socket directory to reuse (for restarts); a fresh one otherwise.
    pub dir: Option<PathBuf>,
    /// Run the daemon as this uid/gid.
    pub run_as: Option<u32>,
    /// Binder mode: start the lazy variant, as init.lazy.rc says.
    pub lazy: bool,
    /// The transport, whatever `ENEA_TEST_TRANSPORT` says (socket-only tests).
    pub mode: Option<Mode>,
    /// Leave out the harness's access flags ([`crate::harness_access_args`]).
    pub bare: bool,
}

impl DaemonOptions {
    /// A socket-transport daemon, also inside the VM (whose tests run in binder mode).
    pub fn socket() -> Self {
        DaemonOptions {
            mode: Some(Mode::Socket),
            ..Default::default()
        }
    }
}

/// Lines the daemon wrote to stderr, shared with the reader thread.
#[derive(Default)]
struct Log {
    lines: Mutex<Vec<String>>,
    grew: Condvar,
}

/// A running daemon; killed on drop if still running.
pub struct Daemon {
    child: Child,
    log: Arc<Log>,
    /// The socket directory (socket mode).
    pub dir: PathBuf,
    /// The socket path (socket mode).
    pub socket: PathBuf,
    /// The transport in use.
    pub mode: Mode,
}

/// A fresh world-traversable directory for one test's socket. The first
/// call of a process removes those of test processes that have ended.
pub fn fresh_dir() -> PathBuf {
    static N: AtomicU32 = AtomicU32::new(0);
    static SWEPT: std::sync::Once = std::sync::Once::new();
    SWEPT.call_once(|| crate::stale_dirs::remove_dead_processes_dirs("enea-test-"));
    let dir = std::env::temp_dir().join(format!(
        "enea-test-{}-{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed)
    ));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("creating the socket directory");
    std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).unwrap();
    dir
}

impl Daemon {
    /// Starts a daemon with default options and waits until it serves.
    pub fn start() -> Daemon {
        Self::start_with(DaemonOptions::default())
    }

    /// Starts a daemon and waits until its log says it serves.
    pub fn start_with(options: DaemonOptions) -> Daemon {
        let mode = options.mode.unwrap_or_else(Mode::current);
        let dir = options.dir.clone().unwrap_or_else(fresh_dir);
        let socket = dir.join("buffer.sock");
        let mut cmd = match mode {
            Mode::Socket => {
                let mut cmd = Command::new(bins::path(bins::DAEMON));
                cmd.args(["--transport", "socket", "--log-period", "100ms"])
                    .arg("--socket")
                    .arg(&socket);
                if !options.bare {
                    cmd.args(crate::harness_access_args());
                }
                cmd.args(&options.args);
                if let Some(uid) = options.run_as {
                    cmd.uid(uid).gid(uid);
                }
                cmd
            }
            Mode::Binder => {
                assert!(
                    options.args.is_empty() && options.run_as.is_none(),
                    "binder mode starts the daemon exactly as init.rc says; this test needs options"
                );
                init_rc_command(options.lazy)
            }
        };
        cmd.stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        let mut child = cmd.spawn().expect("spawning the daemon");
        let log = Arc::new(Log::default());
        let stderr = child.stderr.take().unwrap();
        let sink = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                sink.lines.lock().unwrap().push(line);
                sink.grew.notify_all();
            }
        });
        let daemon = Daemon {
            child,
            log,
            dir,
            socket,
            mode,
        };
        let ready = daemon.wait_log(|l| l.contains("] serving "), WAIT);
        assert!(
            ready.is_some(),
            "daemon did not report serving within {WAIT:?}; log:\n{}",
            daemon.log_text()
        );
        daemon
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits up to `timeout` for a log line matching `pred`; returns it.
    pub fn wait_log(&self, pred: impl Fn(&str) -> bool, timeout: Duration) -> Option<String> {
        let deadline = Instant::now() + timeout;
        let mut lines = self.log.lines.lock().unwrap();
        loop {
            if let Some(l) = lines.iter().find(|l| pred(l)) {
                return Some(l.clone());
            }
            let left = deadline.checked_duration_since(Instant::now())?;
            lines = self.log.grew.wait_timeout(lines, left).unwrap().0;
        }
    }

    /// Everything the daemon logged so far.
    pub fn log_text(&self) -> String {
        self.log.lines.lock().unwrap().join("\n")
    }

    /// The client library's options for reaching this daemon.
    pub fn connect_options(&self) -> enea_buffer_client::ConnectOptions {
        use enea_buffer_client::{ConnectOptions, Transport};
        ConnectOptions {
            transport: match self.mode {
                Mode::Socket => Transport::Socket,
                Mode::Binder => Transport::Binder,
            },
            socket: self.socket.clone(),
            ..ConnectOptions::default()
        }
    }

    /// Environment and flags that point a client process at this daemon.
    pub fn client_args(&self) -> Vec<String> {
        vec![
            "--transport".into(),
            self.mode.transport_arg().into(),
            "--socket".into(),
            self.socket.display().to_string(),
        ]
    }

    /// Sends `signal` and waits (bounded) for the exit.
    pub fn stop_with(mut self, signal: rustix::process::Signal) -> ExitStatus {
        let pid = rustix::process::Pid::from_raw(self.child.id() as i32).unwrap();
        rustix::process::kill_process(pid, signal).expect("signalling the daemon");
        let status = wait_bounded(&mut self.child, WAIT);
        assert!(
            status.is_some(),
            "daemon did not exit within {WAIT:?} of {signal:?}"
        );
        status.unwrap()
    }

    /// Waits (bounded) for the daemon to exit by itself.
    pub fn wait_exit(&mut self, timeout: Duration) -> Option<ExitStatus> {
        wait_bounded(&mut self.child, timeout)
    }

    /// SIGTERM, as init's `stop`; returns the exit status.
    pub fn terminate(self) -> ExitStatus {
        self.stop_with(rustix::process::Signal::TERM)
    }
}

impl Drop for Daemon {
    fn drop(&mut self) {
        if self.child.try_wait().ok().flatten().is_none() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
        if std::thread::panicking() {
            eprintln!("--- daemon log ---\n{}\n---", self.log_text());
        }
    }
}

/// Waits for `child` to exit, at most `timeout`; `None` if it is still running.
pub fn wait_bounded(child: &mut Child, timeout: Duration) -> Option<ExitStatus> {
    use rustix::event::{poll, PollFd, PollFlags, Timespec};
    let pid = rustix::process::Pid::from_raw(child.id() as i32).unwrap();
    // A pidfd becomes readable when the process exits: no polling loop.
    let pidfd =
        rustix::process::pidfd_open(pid, rustix::process::PidfdFlags::empty()).expect("pidfd_open");
    let deadline = Instant::now() + timeout;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for a child") {
            return Some(status);
        }
        let left = deadline.checked_duration_since(Instant::now())?;
        let mut fds = [PollFd::new(&pidfd, PollFlags::IN)];
        let left = Timespec::try_from(left).expect("timeout fits a timespec");
        let _ = poll(&mut fds, Some(&left));
    }
}

/// The daemon's service definition in init.rc (or, `lazy`, init.lazy.rc,
/// installed beside it as `<name>.lazy.rc`).
pub fn init_rc_service(lazy: bool) -> initrc::ServiceDef {
    let rc = std::env::var_os("ENEA_INIT_RC")
        .map(PathBuf::from)
        .unwrap_or_else(|| Path::new(env!("CARGO_MANIFEST_DIR")).join("../init.rc"));
    let (rc, service) = if lazy {
        let lazy_rc = match rc.file_name().and_then(|n| n.to_str()) {
            Some("init.rc") => rc.with_file_name("init.lazy.rc"),
            _ => rc.with_extension("lazy.rc"),
        };
        (lazy_rc, format!("{INIT_SERVICE}.lazy"))
    } else {
        (rc, INIT_SERVICE.to_owned())
    };
    initrc::load_service(&rc, &service).unwrap_or_else(|e| panic!("{e}"))
}

/// The daemon command from init.rc (or, `lazy`, init.lazy.rc): path, args,
/// and user/group resolved through /etc/passwd and /etc/group.
fn init_rc_command(lazy: bool) -> Command {
    let def = init_rc_service(lazy);
    let uid =
        initrc::lookup_id(Path::new("/etc/passwd"), &def.user).unwrap_or_else(|e| panic!("{e}"));
    let group = def
        .groups
        .first()
        .cloned()
        .unwrap_or_else(|| def.user.clone());
    let gid = initrc::lookup_id(Path::new("/etc/group"), &group).unwrap_or_else(|e| panic!("{e}"));
    let mut cmd = Command::new(&def.path);
    cmd.args(&def.args).uid(uid).gid(gid);
    cmd
}
