//! `enea-buffer-bench`: measures vendor.enea.buffer against the physical
//! limits and the alternatives, side by side in one run, and reports ratios.
//!
//!     cargo build --release -p enea-buffer-service                   # the daemon it measures
//!     cargo run --release -p enea-buffer-bench -- --out bench/results  # full run
//!     cargo run --release -p enea-buffer-bench -- --quick              # every row, tiny
//!
//! The suite starts the real daemon (through the tests' harness) and
//! re-executes this binary as the client processes, the bench-only binder
//! server and the socket ping-pong peer, all over the real transport
//! (rsbinder RPC on a Unix socket, android-13+ wire). Targets
//! (bench/targets.toml) are judged in the report; only correctness (exact
//! counts, bytes that arrived, callbacks in order) fails the run.

mod aidl;
mod clients;
mod iceoryx;
mod measure;
mod proto;
mod report;
mod server;
mod suite;
mod targets;
mod wake;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;

/// Benchmarks vendor.enea.buffer: data path vs memcpy, control path vs a
/// no-op binder call, shared counter vs binder calls, daemon footprint.
#[derive(Debug, Parser)]
#[command(name = "enea-buffer-bench")]
struct Cli {
    /// Run every row tiny (few iterations, small sizes): a smoke run for CI
    /// that checks every row's counts; its numbers are not measurements.
    #[arg(long)]
    quick: bool,

    /// Measure only these rows (comma-separated keys, e.g. `P1,P7`); the
    /// report judges the rows measured.
    #[arg(long, value_name = "ROWS", value_delimiter = ',')]
    only: Vec<String>,

    /// Make the client processes copy on this path of the client library
    /// (`word`, `sse2`, `avx2`, `neon`) instead of the widest the CPU has.
    #[arg(long, value_name = "PATH")]
    copy_path: Option<String>,

    /// Where to write table.md, results.json and throughput.svg.
    #[arg(long, value_name = "DIR", default_value = "target/bench")]
    out: PathBuf,

    /// A process of the suite: its role and parameters as JSON (internal).
    #[arg(long, hide = true)]
    job: Option<String>,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.job {
        None => suite::run(cli.quick, cli.only, cli.copy_path, &cli.out)
            .and_then(|r| report::write(&r, &cli.out)),
        Some(json) => serde_json::from_str(&json)
            .map_err(|e| format!("bad --job {json}: {e}"))
            .and_then(|job| clients::run(&job)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("enea-buffer-bench: {message}");
            ExitCode::FAILURE
        }
    }
}
