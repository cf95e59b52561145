//! `enea-buffer-bench`: measures vendor.enea.buffer against the physical
//! limits and the alternatives, side by side in one run, and reports ratios.
//!
//!     cargo run --release -p enea-buffer-bench -- --out bench/results   # full run
//!     cargo run --release -p enea-buffer-bench -- --quick              # every row, tiny
//!
//! The suite starts the real daemon and re-executes this binary as the client
//! processes, the bench-only binder server and the socket ping-pong peer, all
//! over the real transport (rsbinder RPC on a Unix socket, android-13+ wire).
//! Targets (bench/targets.toml) are evaluated in the report; only correctness
//! (exact counts, bytes that arrived, callbacks in order) fails the run.

mod aidl;
mod clients;
mod measure;
mod procs;
mod proto;
mod report;
mod server;
mod suite;
mod targets;
mod wake;

use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

/// Benchmarks vendor.enea.buffer: data path vs memcpy, control path vs a
/// no-op binder call, shared counter vs binder calls, daemon footprint.
#[derive(Debug, Parser)]
#[command(name = "enea-buffer-bench")]
struct Cli {
    /// Run every row tiny (few iterations, small sizes, 50 clients): a smoke
    /// run for CI that still checks exact counts; its numbers mean little.
    #[arg(long)]
    quick: bool,

    /// Where to write table.md, results.json and throughput.svg.
    #[arg(long, value_name = "DIR", default_value = "target/bench")]
    out: PathBuf,

    /// Directory holding vendor-enea-buffer-service [default: beside this
    /// binary, built first with the same profile].
    #[arg(long, value_name = "DIR")]
    bin_dir: Option<PathBuf>,

    #[command(subcommand)]
    role: Option<Role>,
}

/// The processes the suite starts (internal).
#[derive(Debug, Subcommand)]
enum Role {
    /// Serve the bench-only IBufferBench interface.
    #[command(hide = true)]
    Server {
        #[arg(long)]
        socket: PathBuf,
    },
    /// Echo 1-byte messages on a Unix socket.
    #[command(hide = true)]
    Pong {
        #[arg(long)]
        socket: PathBuf,
    },
    /// P1 client.
    #[command(hide = true)]
    Bulk {
        #[arg(long)]
        socket: PathBuf,
        #[arg(long, value_delimiter = ',')]
        sizes: Vec<usize>,
        #[arg(long)]
        rounds: usize,
        #[arg(long)]
        min_round_us: u64,
    },
    /// P1b client.
    #[command(hide = true)]
    FirstTouch {
        #[arg(long)]
        socket: PathBuf,
        #[arg(long)]
        rounds: usize,
        #[arg(long)]
        min_round_us: u64,
    },
    /// P2 client.
    #[command(hide = true)]
    BinderBulk {
        #[arg(long)]
        socket: PathBuf,
        #[arg(long, value_delimiter = ',')]
        sizes: Vec<usize>,
        #[arg(long)]
        rounds: usize,
        #[arg(long)]
        min_round_us: u64,
    },
    /// P3 client.
    #[command(hide = true)]
    Control {
        #[arg(long)]
        socket: PathBuf,
        #[arg(long)]
        pong: PathBuf,
        #[arg(long)]
        rounds: usize,
        #[arg(long)]
        iters: u64,
    },
    /// P4 shared-memory counting client.
    #[command(hide = true)]
    CountShm {
        #[arg(long)]
        socket: PathBuf,
        #[arg(long)]
        offset: usize,
        #[arg(long)]
        count: u64,
    },
    /// P4 binder counting client.
    #[command(hide = true)]
    CountBinder {
        #[arg(long)]
        socket: PathBuf,
        #[arg(long)]
        count: u64,
    },
    /// P7 client (and P4's no-waiter cost).
    #[command(hide = true)]
    Records {
        #[arg(long)]
        socket: PathBuf,
        #[arg(long)]
        offset: usize,
        #[arg(long)]
        counter: usize,
        #[arg(long, value_delimiter = ',')]
        sizes: Vec<usize>,
        #[arg(long)]
        rounds: usize,
        #[arg(long)]
        min_round_us: u64,
    },
    /// P6 waiting client.
    #[command(hide = true)]
    Waiter {
        #[arg(long)]
        socket: PathBuf,
        #[arg(long)]
        offset: usize,
        #[arg(long)]
        rounds: u32,
        #[arg(long)]
        poll_ms: Option<u64>,
    },
    /// P6 binder listener: register a callback, report its arrivals.
    #[command(hide = true)]
    WakeListener {
        #[arg(long)]
        socket: PathBuf,
        #[arg(long)]
        rounds: u32,
    },
    /// P5 client: connect, map, increment, unmap, exit.
    #[command(hide = true)]
    Touch {
        #[arg(long)]
        socket: PathBuf,
        #[arg(long)]
        offset: usize,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let us = Duration::from_micros;
    let result = match cli.role {
        None => suite::run(&suite::Settings {
            quick: cli.quick,
            out: cli.out,
            bin_dir: cli.bin_dir,
        }),
        Some(Role::Server { socket }) => server::serve(&socket),
        Some(Role::Pong { socket }) => server::pong(&socket),
        Some(Role::Bulk {
            socket,
            sizes,
            rounds,
            min_round_us,
        }) => clients::bulk(&socket, &sizes, rounds, us(min_round_us)),
        Some(Role::FirstTouch {
            socket,
            rounds,
            min_round_us,
        }) => clients::first_touch(&socket, rounds, us(min_round_us)),
        Some(Role::BinderBulk {
            socket,
            sizes,
            rounds,
            min_round_us,
        }) => clients::binder_bulk(&socket, &sizes, rounds, us(min_round_us)),
        Some(Role::Control {
            socket,
            pong,
            rounds,
            iters,
        }) => clients::control(&socket, &pong, rounds, iters),
        Some(Role::CountShm {
            socket,
            offset,
            count,
        }) => clients::count_shm(&socket, offset, count),
        Some(Role::CountBinder { socket, count }) => clients::count_binder(&socket, count),
        Some(Role::Touch { socket, offset }) => clients::touch(&socket, offset),
        Some(Role::Waiter {
            socket,
            offset,
            rounds,
            poll_ms,
        }) => clients::waiter(&socket, offset, rounds, poll_ms),
        Some(Role::WakeListener { socket, rounds }) => wake::listen(&socket, rounds),
        Some(Role::Records {
            socket,
            offset,
            counter,
            sizes,
            rounds,
            min_round_us,
        }) => clients::records(&socket, offset, counter, &sizes, rounds, us(min_round_us)),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("enea-buffer-bench: {message}");
            ExitCode::FAILURE
        }
    }
}
