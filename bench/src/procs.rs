//! Processes the suite runs: the daemon, this binary in its other roles,
//! and what /proc says about them.

use std::io::{BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::time::{Duration, Instant};

use serde::de::DeserializeOwned;

use crate::clients;
use crate::server::read_line;

/// The daemon binary's Cargo name.
pub const DAEMON: &str = "vendor-enea-buffer-service";
/// How long anything the suite starts may take to become ready.
const READY_TIMEOUT: Duration = Duration::from_secs(30);

/// Path of the daemon: in `bin_dir`, or beside this binary after building it
/// with the same profile (so the suite never measures a stale daemon).
pub fn daemon_binary(bin_dir: Option<&Path>) -> Result<PathBuf, String> {
    if let Some(dir) = bin_dir {
        let p = dir.join(DAEMON);
        return p
            .is_file()
            .then_some(p.clone())
            .ok_or_else(|| format!("{} does not exist", p.display()));
    }
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let profile_dir = exe.parent().ok_or("executable has no directory")?;
    let target_dir = profile_dir
        .parent()
        .ok_or("executable outside a target dir")?;
    let mut cargo = Command::new(env!("CARGO"));
    cargo
        .args([
            "build",
            "--quiet",
            "-p",
            "enea-buffer-service",
            "--bin",
            DAEMON,
        ])
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    if profile_dir.file_name().is_some_and(|n| n == "release") {
        cargo.arg("--release");
    }
    let status = cargo
        .status()
        .map_err(|e| format!("running cargo to build the daemon: {e}"))?;
    if !status.success() {
        return Err("cargo build of the daemon failed".into());
    }
    Ok(profile_dir.join(DAEMON))
}

/// A running daemon; stopped (SIGTERM, then SIGKILL) on drop.
pub struct DaemonProc {
    child: Child,
    /// Its socket.
    pub socket: PathBuf,
    spawned: Instant,
}

impl DaemonProc {
    /// Starts `bin` on `socket` with `args`, stderr appended to `log`.
    pub fn spawn(bin: &Path, socket: &Path, args: &[&str], log: &Path) -> Result<Self, String> {
        let _ = std::fs::remove_file(socket);
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .map_err(|e| format!("{}: {e}", log.display()))?;
        let mut cmd = Command::new(bin);
        cmd.args(["--transport", "socket", "--log-period", "0", "--socket"])
            .arg(socket)
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log);
        let spawned = Instant::now();
        let child = cmd
            .spawn()
            .map_err(|e| format!("spawning {}: {e}", bin.display()))?;
        Ok(Self {
            child,
            socket: socket.to_path_buf(),
            spawned,
        })
    }

    /// Waits until a client call succeeds; returns the time since exec began.
    pub fn wait_ready(&mut self) -> Result<Duration, String> {
        loop {
            if self.socket.exists() && clients::connect(&self.socket).is_ok() {
                return Ok(self.spawned.elapsed());
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                return Err(format!("the daemon exited at start: {status}"));
            }
            if self.spawned.elapsed() > READY_TIMEOUT {
                return Err(format!(
                    "the daemon did not answer within {READY_TIMEOUT:?}"
                ));
            }
            std::thread::sleep(Duration::from_micros(100));
        }
    }

    /// The daemon's pid.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for DaemonProc {
    fn drop(&mut self) {
        if let Some(pid) = rustix::process::Pid::from_raw(self.child.id() as i32) {
            let _ = rustix::process::kill_process(pid, rustix::process::Signal::TERM);
        }
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(5));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// This binary in another role, talking line by line over stdin/stdout.
pub struct Peer {
    child: Child,
    stdin: Option<ChildStdin>,
    stdout: BufReader<ChildStdout>,
}

impl Peer {
    /// Starts `enea-buffer-bench <args>`.
    pub fn spawn(args: &[String]) -> Result<Self, String> {
        Self::spawn_env(args, &[])
    }

    /// Starts `enea-buffer-bench <args>` with extra environment variables.
    pub fn spawn_env(args: &[String], env: &[(&str, &str)]) -> Result<Self, String> {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        let mut child = Command::new(exe)
            .args(args)
            .envs(env.iter().copied())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .map_err(|e| format!("spawning {args:?}: {e}"))?;
        let stdin = child.stdin.take();
        let stdout = BufReader::new(child.stdout.take().ok_or("no stdout")?);
        Ok(Self {
            child,
            stdin,
            stdout,
        })
    }

    /// Reads the next line the peer prints.
    pub fn line(&mut self) -> Result<String, String> {
        read_line(&mut self.stdout).map_err(|e| format!("{}: {e}", self.describe()))
    }

    /// Waits for `ready`.
    pub fn ready(&mut self) -> Result<(), String> {
        match self.line()?.as_str() {
            "ready" => Ok(()),
            other => Err(format!("expected `ready`, got {other:?}")),
        }
    }

    /// Sends one line.
    pub fn send(&mut self, line: &str) -> Result<(), String> {
        let stdin = self.stdin.as_mut().ok_or("stdin closed")?;
        writeln!(stdin, "{line}")
            .and_then(|()| stdin.flush())
            .map_err(|e| e.to_string())
    }

    /// Reads the JSON result line and waits for a successful exit.
    pub fn result<T: DeserializeOwned>(mut self) -> Result<T, String> {
        let line = self.line()?;
        let value = serde_json::from_str(&line).map_err(|e| format!("bad result {line:?}: {e}"))?;
        self.finish()?;
        Ok(value)
    }

    /// Closes stdin and waits for a successful exit.
    pub fn finish(mut self) -> Result<(), String> {
        self.stdin = None;
        let status = self.child.wait().map_err(|e| e.to_string())?;
        if status.success() {
            Ok(())
        } else {
            Err(format!("{} failed: {status}", self.describe()))
        }
    }

    fn describe(&self) -> String {
        format!("bench process {}", self.child.id())
    }
}

impl Drop for Peer {
    fn drop(&mut self) {
        self.stdin = None;
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
        }
        let _ = self.child.wait();
    }
}

/// Runs `enea-buffer-bench <args>` to completion and parses its result line.
pub fn run_client<T: DeserializeOwned>(args: &[String]) -> Result<T, String> {
    Peer::spawn(args)?.result()
}

/// As [`run_client`], with extra environment variables.
pub fn run_client_env<T: DeserializeOwned>(
    args: &[String],
    env: &[(&str, &str)],
) -> Result<T, String> {
    Peer::spawn_env(args, env)?.result()
}

/// What /proc says about a process's memory, threads and fds.
#[derive(Clone, Copy, Debug, Default, serde::Serialize)]
pub struct Footprint {
    /// VmRSS, bytes.
    pub rss: u64,
    /// RssAnon, bytes.
    pub rss_anon: u64,
    /// RssFile (binary and libraries), bytes.
    pub rss_file: u64,
    /// RssShmem (the region's touched pages), bytes.
    pub rss_shmem: u64,
    /// Pss (shared pages divided among the processes mapping them), bytes.
    pub pss: u64,
    /// Threads.
    pub threads: u64,
    /// Open fds.
    pub fds: u64,
}

/// Reads `/proc/<pid>/status` and `/proc/<pid>/fd`.
pub fn footprint(pid: u32) -> Result<Footprint, String> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))
        .map_err(|e| format!("/proc/{pid}/status: {e}"))?;
    let field = |name: &str| -> u64 {
        status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or(0)
    };
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup")).unwrap_or_default();
    let pss = rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024;
    let fds = std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map_err(|e| format!("/proc/{pid}/fd: {e}"))?
        .count() as u64;
    Ok(Footprint {
        rss: field("VmRSS:") * 1024,
        rss_anon: field("RssAnon:") * 1024,
        rss_file: field("RssFile:") * 1024,
        rss_shmem: field("RssShmem:") * 1024,
        pss,
        threads: field("Threads:"),
        fds,
    })
}
