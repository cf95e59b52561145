//! What the suite and its processes exchange: the job a process is started
//! with, and the one JSON line it prints back; and how the suite starts one.

use std::path::PathBuf;
use std::process::Command;
use std::time::Duration;

use enea_buffer_tests::Interactive;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// A process's role and parameters (`--job`); each role reads what it needs.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
#[serde(default)]
pub struct Job {
    /// `bulk`, `first-touch`, `binder-bulk`, `control`, `count-shm`,
    /// `count-binder`, `records`, `waiter`, `wake-listener`, `p8-writer`,
    /// `p8-reader`, `server`, `pong`.
    pub role: String,
    /// The daemon's (or bench server's, or registrar's) socket.
    pub socket: PathBuf,
    /// The ping-pong peer's socket (P3).
    pub pong: PathBuf,
    /// Transfer or record sizes, bytes.
    pub sizes: Vec<usize>,
    /// Timed batches (or changes, P6).
    pub rounds: usize,
    /// Least duration of one timed batch, µs.
    pub min_round_us: u64,
    /// Byte offset of the word or record the role works on.
    pub offset: usize,
    /// Byte offset of the counter word (P4's no-waiter cost).
    pub counter: usize,
    /// Increments or calls to make (P4).
    pub count: u64,
    /// Poll every this many ms instead of waiting on the futex (P6).
    pub poll_ms: Option<u64>,
    /// Spin before the futex wait (P6-spin).
    pub spin: bool,
    /// The client library's copy path to force (`--copy-path`).
    pub copy_path: Option<String>,
    /// The CPU to pin the process to (P6-spin's waiter, P8's two sides).
    pub cpu: Option<usize>,
    /// P8 through iceoryx2: this run's tag (service, files); else through the region.
    pub iox: Option<String>,
}

/// One measured value of a row of targets.toml: the product's number
/// against the baseline's, taken in the same run.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Line {
    /// The row's key in targets.toml.
    pub key: String,
    /// Which instance of the row (a size, a process count), if it has several.
    pub what: String,
    /// The product's number, and the baseline's (the value is their ratio).
    pub product: f64,
    pub baseline: Option<f64>,
    /// The unit of both numbers.
    pub unit: String,
    /// Whether the row's counts were exact (true for rows without counts).
    pub exact: bool,
}

impl Line {
    /// A line of row `key` whose counts, if any, were exact.
    pub fn new(key: &str, what: String, product: f64, baseline: Option<f64>, unit: &str) -> Self {
        let (key, unit) = (key.into(), unit.into());
        Self {
            key,
            what,
            product,
            baseline,
            unit,
            exact: true,
        }
    }

    /// The value its target judges: product / baseline, or the product alone.
    pub fn value(&self) -> f64 {
        self.baseline.map_or(self.product, |b| self.product / b)
    }
}

/// P1 at one size: median seconds per copy.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BulkPoint {
    pub size: usize,
    /// memcpy from a caller's buffer into a page-aligned private one.
    pub memcpy_s: f64,
    /// memcpy from that page-aligned buffer into a caller's buffer.
    pub memcpy_out_s: f64,
    /// `SharedBuffer::write_at` into the mapped region, steady state.
    pub shm_s: f64,
    /// `SharedBuffer::read_at` out of it, steady state.
    pub read_s: f64,
}

/// P1b at one region size: medians over fresh mappings.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct FirstTouch {
    pub size: usize,
    /// Warm memcpy between private buffers (the baseline).
    pub memcpy_s: f64,
    /// `map()`: getBuffer + fstat + lazy mmap.
    pub map_plain_s: f64,
    /// The first `write_at` on that mapping, page faults included.
    pub copy_plain_s: f64,
    /// `map_with(populate)`: the same plus pre-faulting.
    pub map_populate_s: f64,
    /// The first `write_at` on the pre-faulted mapping.
    pub copy_populate_s: f64,
}

/// P2 at one size: median seconds to move `size` bytes in `put` calls.
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct BinderPoint {
    pub size: usize,
    pub transfer_s: f64,
}

/// P4, one counting process (CLOCK_MONOTONIC ns).
#[derive(Clone, Debug, Default, Serialize, Deserialize)]
pub struct Count {
    pub start_ns: u64,
    pub end_ns: u64,
    pub count: u64,
}

/// How long the suite waits for a process's next line (a full run's
/// longest client takes seconds; a hang still ends).
const LONG: Duration = Duration::from_secs(600);

/// Starts this binary as the process `job` describes, with `env` added.
pub fn spawn(job: &Job, env: &[(&str, &str)]) -> Result<Interactive, String> {
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let json = serde_json::to_string(job).map_err(|e| e.to_string())?;
    let mut cmd = Command::new(exe);
    cmd.arg("--job").arg(json).envs(env.iter().copied());
    Ok(Interactive::spawn(cmd))
}

/// Waits for the process's `ready` line.
pub fn ready(peer: &mut Interactive) -> Result<(), String> {
    match peer.reply_within(LONG)?.as_str() {
        "ready" => Ok(()),
        other => Err(format!("expected `ready`, got {other:?}")),
    }
}

/// Reads the process's JSON result line and waits for a successful exit.
pub fn result<T: DeserializeOwned>(mut peer: Interactive) -> Result<T, String> {
    let line = peer.reply_within(LONG)?;
    let value = serde_json::from_str(&line).map_err(|e| format!("bad result {line:?}: {e}"))?;
    finish(peer)?;
    Ok(value)
}

/// Says `quit` and waits for a successful exit.
pub fn finish(peer: Interactive) -> Result<(), String> {
    let pid = peer.pid();
    match peer.finish() {
        status if status.success() => Ok(()),
        status => Err(format!("bench process {pid} failed: {status}")),
    }
}

/// Runs `job` to completion and returns its result.
pub fn run<T: DeserializeOwned>(job: &Job, env: &[(&str, &str)]) -> Result<T, String> {
    result(spawn(job, env)?)
}
