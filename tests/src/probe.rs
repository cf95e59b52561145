//! Client processes: the `eneabuf` CLI and the `enea-buffer-probe` test client.

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::process::CommandExt;
use std::process::{Child, ChildStdin, Command, Output, Stdio};
use std::sync::mpsc::{channel, Receiver};

use crate::{bins, daemon::wait_bounded, Daemon, WAIT};

/// The lines `output` (a child's stdout) gives, as they come, read on a
/// thread of their own; the channel ends with the output.
pub fn lines_of(output: impl Read + Send + 'static) -> Receiver<String> {
    let (tx, lines) = channel();
    std::thread::spawn(move || {
        for line in BufReader::new(output).lines().map_while(Result::ok) {
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    lines
}

/// `eneabuf watch` running against a daemon, its stdout read line by line;
/// killed on drop.
pub struct Watch {
    child: Child,
    lines: Receiver<String>,
}

impl Watch {
    /// Starts `eneabuf watch <args>` against `daemon`, its stderr to `stderr`.
    pub fn spawn(daemon: &Daemon, args: &[&str], stderr: impl Into<Stdio>) -> Watch {
        let mut cmd = Command::new(bins::path(bins::ENEABUF));
        cmd.args(daemon.client_args())
            .arg("watch")
            .args(args)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(stderr);
        let mut child = cmd.spawn().expect("spawning eneabuf watch");
        let lines = lines_of(child.stdout.take().unwrap());
        Watch { child, lines }
    }

    /// The next line on stdout, within [`WAIT`].
    pub fn line(&self) -> String {
        self.lines
            .recv_timeout(WAIT)
            .unwrap_or_else(|e| panic!("watch printed no line within {WAIT:?}: {e}"))
    }

    /// Waits (bounded) for the exit; the status and stderr, if it was piped.
    pub fn finish(mut self) -> (std::process::ExitStatus, String) {
        let status = wait_bounded(&mut self.child, WAIT)
            .unwrap_or_else(|| panic!("watch did not exit within {WAIT:?}"));
        let stderr = self
            .child
            .stderr
            .take()
            .map(|e| std::io::read_to_string(e).unwrap_or_default())
            .unwrap_or_default();
        (status, stderr)
    }
}

impl Drop for Watch {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs `command` to completion within [`WAIT`], or panics naming it.
pub fn run_bounded(mut command: Command) -> Output {
    let what = format!("{command:?}");
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = command.spawn().unwrap_or_else(|e| panic!("{what}: {e}"));
    let (out, err) = (child.stdout.take().unwrap(), child.stderr.take().unwrap());
    let out = std::thread::spawn(move || std::io::read_to_string(out).unwrap_or_default());
    let err = std::thread::spawn(move || std::io::read_to_string(err).unwrap_or_default());
    let Some(status) = wait_bounded(&mut child, WAIT) else {
        let _ = child.kill();
        panic!("{what} did not finish within {WAIT:?}");
    };
    Output {
        status,
        stdout: out.join().unwrap().into_bytes(),
        stderr: err.join().unwrap().into_bytes(),
    }
}

/// Runs `eneabuf <args>` against `daemon`.
pub fn eneabuf(daemon: &Daemon, args: &[&str]) -> Output {
    let mut cmd = Command::new(bins::path(bins::ENEABUF));
    cmd.args(daemon.client_args()).args(args);
    run_bounded(cmd)
}

/// `eneabuf <args>` against `daemon` as `uid` with primary group `gid` (and
/// no supplementary groups: std drops them when it changes the uid).
pub fn eneabuf_as(daemon: &Daemon, uid: u32, gid: u32, args: &[&str]) -> Output {
    use std::os::unix::process::CommandExt;
    let mut cmd = Command::new(bins::path(bins::ENEABUF));
    cmd.args(daemon.client_args()).args(args).uid(uid).gid(gid);
    run_bounded(cmd)
}

/// "dev 0x…, inode …" of the region `daemon` serves, as `eneabuf info` says.
pub fn region_identity(daemon: &Daemon) -> String {
    let out = eneabuf(daemon, &["info"]);
    let info = String::from_utf8_lossy(&out.stdout).into_owned();
    let fd = info
        .lines()
        .find_map(|l| l.strip_prefix("fd:"))
        .unwrap_or_else(|| panic!("no fd line in: {info}"));
    let start = fd.find("(dev ").expect("a file identity");
    fd[start + 1..fd.len() - 1].to_owned()
}

/// The probe binary, run once to completion.
pub struct Probe;

impl Probe {
    /// `enea-buffer-probe <args>` against `daemon`, optionally as another uid.
    pub fn run(daemon: &Daemon, args: &[&str], run_as: Option<u32>) -> Output {
        run_bounded(probe_command(daemon, args, run_as))
    }

    /// Starts `enea-buffer-probe <args>` as a long-lived process that
    /// answers commands on stdin, one line each.
    pub fn interactive(daemon: &Daemon, args: &[&str], run_as: Option<u32>) -> Interactive {
        Interactive::spawn(probe_command(daemon, args, run_as))
    }

    /// Starts a probe that maps the region and holds it, taking commands.
    pub fn hold(daemon: &Daemon, read_only: bool, run_as: Option<u32>) -> Held {
        let args: &[&str] = if read_only {
            &["hold", "--read-only"]
        } else {
            &["hold"]
        };
        let mut io = Self::interactive(daemon, args, run_as);
        let ready = io.reply();
        Held {
            fd: field(&ready, "fd").parse().unwrap(),
            dev: field(&ready, "dev").parse().unwrap(),
            ino: field(&ready, "ino").parse().unwrap(),
            base: parse_hex(field(&ready, "base")),
            io,
        }
    }
}

/// A probe process driven line by line.
pub struct Interactive {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl Interactive {
    /// Starts `cmd` with piped stdin/stdout, reading its output line by line.
    pub fn spawn(mut cmd: Command) -> Interactive {
        cmd.stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut child = cmd.spawn().expect("spawning the probe");
        let stdin = child.stdin.take().unwrap();
        let lines = lines_of(child.stdout.take().unwrap());
        Interactive {
            child,
            stdin,
            lines,
        }
    }

    /// The child's process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// The next line the probe prints (within [`WAIT`]); panics on `error`.
    pub fn reply(&mut self) -> String {
        let line = self
            .lines
            .recv_timeout(WAIT)
            .unwrap_or_else(|e| panic!("probe did not answer within {WAIT:?}: {e}"));
        assert!(!line.starts_with("error"), "probe failed: {line}");
        line
    }

    /// The next line the probe prints, or why there is none within
    /// `timeout` (no line, or the probe's own `error ...` line).
    pub fn reply_within(&mut self, timeout: std::time::Duration) -> Result<String, String> {
        match self.lines.recv_timeout(timeout) {
            Ok(line) if line.starts_with("error") => Err(format!("probe failed: {line}")),
            Ok(line) => Ok(line),
            Err(e) => Err(format!("probe did not answer within {timeout:?}: {e}")),
        }
    }

    /// Sends `command` and returns the reply line.
    pub fn ask(&mut self, command: &str) -> String {
        self.send(command);
        self.reply()
    }

    /// SIGKILLs the child and reaps it (a zombie still counts as alive to
    /// `kill(pid, 0)`, so a crash is only complete once it is reaped).
    pub fn kill(&mut self) {
        self.child.kill().expect("SIGKILL");
        self.child.wait().expect("reaping");
    }

    /// Sends `command` without waiting for a reply.
    pub fn send(&mut self, command: &str) {
        writeln!(self.stdin, "{command}").expect("writing to the probe");
        self.stdin.flush().expect("writing to the probe");
    }

    /// Says `quit` and waits (bounded) for the probe to exit.
    pub fn finish(mut self) -> std::process::ExitStatus {
        let _ = writeln!(self.stdin, "quit");
        wait_bounded(&mut self.child, WAIT).expect("probe did not exit")
    }
}

impl Drop for Interactive {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn probe_command(daemon: &Daemon, args: &[&str], run_as: Option<u32>) -> Command {
    let mut cmd = Command::new(bins::path(bins::PROBE));
    cmd.args(daemon.client_args()).args(args);
    if let Some(uid) = run_as {
        cmd.uid(uid).gid(uid);
    }
    cmd
}

/// A probe process holding a mapping of the region.
pub struct Held {
    io: Interactive,
    /// The fd number of the region in the probe.
    pub fd: i32,
    /// `st_dev` of the probe's fd.
    pub dev: u64,
    /// `st_ino` of the probe's fd.
    pub ino: u64,
    /// Where the probe mapped it.
    pub base: u64,
}

impl Held {
    fn ask(&mut self, command: &str) -> String {
        self.io.ask(command)
    }

    /// Word 0, read through the probe's mapping.
    pub fn get(&mut self) -> u32 {
        parse_hex(field(&self.ask("get"), "value")) as u32
    }

    /// Stores `value` into word 0 through the probe's mapping.
    pub fn set(&mut self, value: u32) {
        self.ask(&format!("set {value:#x}"));
    }

    /// Adds `n` to word 0 through the probe's mapping; returns the old value.
    pub fn add(&mut self, n: u32) -> u32 {
        parse_hex(field(&self.ask(&format!("add {n}")), "old")) as u32
    }

    /// Sends a `hold` command (see the probe) and returns its reply line.
    pub fn command(&mut self, command: &str) -> String {
        self.ask(command)
    }

    /// Asks the probe to exit and waits for it.
    pub fn quit(self) {
        assert!(self.io.finish().success(), "probe failed on quit");
    }

    /// SIGKILLs the probe mid-session, as a crashing client.
    pub fn crash(mut self) {
        self.io.child.kill().unwrap();
        self.io.child.wait().unwrap();
    }
}

/// The value of `key=value` in a space-separated line; panics if absent.
pub fn field<'a>(line: &'a str, key: &str) -> &'a str {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key).and_then(|r| r.strip_prefix('=')))
        .unwrap_or_else(|| panic!("no {key}= in {line:?}"))
}

/// Parses `0x...` hex.
pub fn parse_hex(text: &str) -> u64 {
    u64::from_str_radix(text.trim_start_matches("0x"), 16)
        .unwrap_or_else(|_| panic!("not hex: {text:?}"))
}
