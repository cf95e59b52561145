//! The orchestrator: starts the daemon, the bench server and the client
//! processes, runs every row against its baseline and writes the report.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use enea_buffer_client::{MapOptions, WAITERS_OFFSET};
use enea_buffer_tests::daemon::fresh_dir;
use enea_buffer_tests::footprint::status_field;
use enea_buffer_tests::{bins, Daemon, DaemonOptions, Interactive};
use serde::Serialize;

use crate::clients::connect;
use crate::measure::{loadavg, machine, median, pin, quantile, two_cpus};
use crate::proto::{self, BinderPoint, BulkPoint, Count, FirstTouch, Job, Line};
use crate::{server, wake};

/// Sizes and repetitions of one run.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Plan {
    /// Transfer sizes for P1, P1b and P2.
    pub sizes: Vec<usize>,
    /// Timed batches per size and method (P1, P2, P3, P7; fresh mappings, P1b).
    pub rounds: usize,
    /// Least duration of one timed batch, µs, and calls per batch in P3.
    pub min_round_us: u64,
    pub control_iters: u64,
    /// Client process counts (P4), and the increments each makes.
    pub processes: Vec<usize>,
    pub shm_increments: u64,
    pub binder_increments: u64,
    /// Daemon starts timed (P5).
    pub ready_starts: usize,
    /// Changes timed per wake-up path (P6), and with 100 ms polling.
    pub wake_rounds: usize,
    pub poll_rounds: usize,
    /// Updates timed per block of P8, and blocks of each system.
    pub update_rounds: usize,
    pub update_blocks: usize,
    /// The rows to measure (`--only`); all when empty.
    pub only: Vec<String>,
    /// The copy path forced in the clients (`--copy-path`).
    pub copy_path: Option<String>,
}

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;

impl Plan {
    fn full() -> Self {
        Self {
            sizes: (0..8).map(|i| (4 * KIB) << (2 * i)).collect(), // 4 KiB … 64 MiB
            rounds: 31,
            min_round_us: 10_000,
            control_iters: 500,
            processes: vec![1, 2, 4, 8, 16],
            shm_increments: 10_000_000,
            binder_increments: 3_000,
            ready_starts: 15,
            wake_rounds: 201,
            poll_rounds: 11,
            update_rounds: 20_000,
            update_blocks: 4,
            only: Vec::new(),
            copy_path: None,
        }
    }

    fn quick() -> Self {
        Self {
            sizes: vec![4 * KIB, 64 * KIB, MIB],
            rounds: 3,
            min_round_us: 500,
            control_iters: 20,
            shm_increments: 20_000,
            binder_increments: 20,
            ready_starts: 3,
            wake_rounds: 5,
            poll_rounds: 3,
            update_rounds: 50,
            update_blocks: 1,
            ..Self::full()
        }
    }

    /// Whether the run measures row `key` (`P1`, `P1b`, …).
    fn wants(&self, key: &str) -> bool {
        self.only.is_empty() || self.only.iter().any(|k| k == key)
    }
}

/// Everything one run measured.
#[derive(Clone, Debug, Default, Serialize)]
pub struct Results {
    /// A `--quick` run: its numbers are not measurements.
    pub quick: bool,
    /// Where and how it ran, as printed.
    pub machine: String,
    pub plan: Plan,
    pub bulk: Vec<BulkPoint>,
    pub first_touch: Vec<FirstTouch>,
    /// P2, binder as shipped (rsbinder + glibc malloc defaults) …
    pub binder: Vec<BinderPoint>,
    /// … and with glibc malloc tuned ([`TUNED_MALLOC`]) in both processes.
    pub binder_tuned: Vec<BinderPoint>,
    /// The rows measured as lines where they were measured (P3 … P7).
    pub lines: Vec<Line>,
}

/// glibc settings that stop rsbinder's per-call parcel buffers (≥ 128 KiB)
/// from being mmap'd, and so page-faulted, on every call: binder at its best.
const TUNED_MALLOC: &[(&str, &str)] = &[(
    "GLIBC_TUNABLES",
    "glibc.malloc.mmap_threshold=67108864:glibc.malloc.trim_threshold=268435456",
)];

/// Byte offsets in the region, past the control words: P4's counter, P6's
/// word and P7's record (a multiple of 8).
const COUNTER_OFFSET: usize = 64;
const WAKE_OFFSET: usize = 72;
const RECORD_OFFSET: usize = 128;
/// P7's record sizes: all fit, with the header, the region P1 maps (≥ 1 MiB).
const RECORD_SIZES: &[usize] = &[64, 256, 1024, 4096];

/// Runs the suite (output goes to `out`, created here).
pub fn run(
    quick: bool,
    only: Vec<String>,
    copy_path: Option<String>,
    out: &Path,
) -> Result<Results, String> {
    let daemon_bin = daemon_binary()?;
    std::fs::create_dir_all(out).map_err(|e| format!("{}: {e}", out.display()))?;
    let started = Instant::now();
    let load_start = loadavg();
    let plan = Plan {
        only,
        copy_path,
        ..if quick { Plan::quick() } else { Plan::full() }
    };
    let mut results = measure_all(&plan, &fresh_dir())?;
    results.quick = quick;
    results.machine = machine(&daemon_bin, started.elapsed(), &load_start);
    Ok(results)
}

/// The daemon binary, found as the tests' harness finds it: in
/// `ENEA_BIN_DIR`, else beside this binary (so built with its profile).
/// The bench never builds it: build it first.
fn daemon_binary() -> Result<PathBuf, String> {
    if std::env::var_os("ENEA_BIN_DIR").is_none() {
        let exe = std::env::current_exe().map_err(|e| e.to_string())?;
        std::env::set_var(
            "ENEA_BIN_DIR",
            exe.parent().ok_or("no executable directory")?,
        );
    }
    let dirs = std::env::var_os("ENEA_BIN_DIR").unwrap_or_default();
    std::env::split_paths(&dirs)
        .map(|d| d.join(bins::DAEMON))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            format!(
                "{} is not in {dirs:?} (ENEA_BIN_DIR, or the bench's own directory): build it \
                 first with the bench's profile: cargo build --release -p enea-buffer-service",
                bins::DAEMON
            )
        })
}

/// A daemon on a fresh socket, started by the tests' harness without its
/// access rules (it logs word 0 every 100 ms: ten short writes a second).
fn start_daemon(args: &[String]) -> Daemon {
    Daemon::start_with(DaemonOptions {
        args: args.to_vec(),
        bare: true,
        ..DaemonOptions::socket()
    })
}

fn step(name: &str) {
    eprintln!("bench: {name} …");
}

/// A job of `role` against `socket`, with the plan's timing parameters.
fn job(role: &str, socket: &Path, plan: &Plan) -> Job {
    Job {
        role: role.into(),
        socket: socket.to_path_buf(),
        sizes: plan.sizes.clone(),
        rounds: plan.rounds,
        min_round_us: plan.min_round_us,
        copy_path: plan.copy_path.clone(),
        ..Job::default()
    }
}

/// A process of this binary, started and `ready`.
fn peer(job: &Job, env: &[(&str, &str)]) -> Result<Interactive, String> {
    let mut p = proto::spawn(job, env)?;
    proto::ready(&mut p)?;
    Ok(p)
}

fn measure_all(plan: &Plan, work: &Path) -> Result<Results, String> {
    // P1 copies past the control words, at clients::BULK_OFFSET.
    let max =
        (plan.sizes.iter().max().ok_or("no sizes")? + crate::clients::BULK_OFFSET).to_string();
    let daemon = start_daemon(&["--size".into(), max]);
    let socket = &daemon.socket;
    let mut r = Results {
        plan: plan.clone(),
        ..Results::default()
    };

    if plan.wants("P1") || plan.wants("P2") {
        step("P1 bulk copy into and out of the region vs memcpy");
        r.bulk = proto::run(&job("bulk", socket, plan), &[])?;
    }

    if plan.wants("P1b") {
        step("P1b first touch, with and without pre-faulting");
        for &size in &plan.sizes {
            let d = start_daemon(&["--size".into(), size.to_string()]);
            r.first_touch
                .push(proto::run(&job("first-touch", &d.socket, plan), &[])?);
        }
    }
    if plan.wants("P2") {
        step("P2 the same bytes through binder calls, glibc malloc as shipped and tuned");
        for (name, env) in [("p2.sock", &[][..]), ("p2-tuned.sock", TUNED_MALLOC)] {
            let mut j = job("server", &work.join(name), plan);
            let server = peer(&j, env)?;
            j.role = "binder-bulk".into();
            j.rounds = plan.rounds.div_ceil(3);
            let points = proto::run(&j, env)?;
            proto::finish(server)?;
            if r.binder.is_empty() {
                r.binder = points
            } else {
                r.binder_tuned = points
            }
        }
    }
    if plan.wants("P3") {
        step("P3 control path vs a no-op call vs the socket floor");
        r.lines = p3(plan, socket, work)?;
    }
    if plan.wants("P4") {
        step("P4 shared counter vs one binder call per increment");
        r.lines
            .extend(counters(plan, socket, &work.join("bench.sock"))?);
    }
    if plan.wants("P7") || plan.wants("P4") {
        step("P7 snapshot vs read_at; P4's waiter check vs a plain atomic");
        let mut j = job("records", socket, plan);
        (j.offset, j.counter, j.sizes) = (RECORD_OFFSET, COUNTER_OFFSET, RECORD_SIZES.to_vec());
        r.lines.extend(proto::run::<Vec<Line>>(&j, &[])?);
    }
    if plan.wants("P6") {
        r.lines.extend(p6(plan, socket, work)?);
    }
    if plan.wants("P8") {
        step("P8 one 64-byte update to a spinning reader: the region vs iceoryx2");
        let (rounds, blocks) = (plan.update_rounds, plan.update_blocks);
        r.lines
            .extend(crate::iceoryx::lines(socket, rounds, blocks)?);
    }
    drop(daemon);
    if plan.wants("P5") {
        step("P5 daemon start time and footprint");
        r.lines.extend(footprint(plan)?);
    }
    Ok(r)
}

/// P3's lines.
fn p3(plan: &Plan, socket: &Path, work: &Path) -> Result<Vec<Line>, String> {
    let pong_job = job("pong", &work.join("pong.sock"), plan);
    let pong = peer(&pong_job, &[])?;
    let mut j = job("control", socket, plan);
    (j.pong, j.count) = (pong_job.socket, plan.control_iters);
    let lines = proto::run(&j, &[])?;
    proto::finish(pong)?;
    Ok(lines)
}

/// P6's lines.
fn p6(plan: &Plan, socket: &Path, work: &Path) -> Result<Vec<Line>, String> {
    let mut lines = Vec::new();
    step("P6 wake-up latency: futex vs a oneway binder callback vs 100 ms polling");
    let rounds = plan.wake_rounds;
    let futex = median(&wake_latencies(socket, rounds, How::Futex, None)?.us);
    let binder = median(&wake::callback_latencies(&work.join("wake.sock"), rounds)?);
    let poll = median(&wake_latencies(socket, plan.poll_rounds, How::Poll(100), None)?.us);
    let changes = |n| format!("median of {n} changes");
    lines.push(Line::new("P6", changes(rounds), futex, Some(binder), "µs"));
    let polled = changes(plan.poll_rounds);
    lines.push(Line::new("P6-poll", polled, futex, Some(poll), "µs"));
    step("P6-spin wake-up latency: spin, then futex vs futex, writer and waiter pinned");
    let cpus = two_cpus();
    let pinned = wake_latencies(socket, rounds, How::Futex, cpus)?;
    let spin = wake_latencies(socket, rounds, How::Spin, cpus)?;
    let us = |w: &Wakes, q| format!("{:.2}", quantile(&w.us, q));
    let pinning = cpus.map_or(
        "not pinned: this process may use one CPU only".into(),
        |c| format!("writer on CPU {}, waiter on CPU {}", c.0, c.1),
    );
    let what = format!(
        "p50 of {rounds} changes; p99 {} vs {} µs; waiter CPU per wake-up {:.1} vs {:.1} µs; {pinning}",
        us(&spin, 0.99),
        us(&pinned, 0.99),
        spin.cpu_us,
        pinned.cpu_us
    );
    let mut line = Line::new(
        "P6-spin",
        what,
        median(&spin.us),
        Some(median(&pinned.us)),
        "µs",
    );
    // Every change must have been seen spinning, never counted in.
    line.exact = spin.counted_in == 0;
    lines.push(line);
    Ok(lines)
}

/// How P6's waiter waits.
#[derive(Clone, Copy, PartialEq)]
enum How {
    Futex,
    Spin,
    Poll(u64),
}

/// P6's measurements of one waiter.
struct Wakes {
    /// Store → seen latencies, µs.
    us: Vec<f64>,
    /// The waiter's CPU time per change, µs.
    cpu_us: f64,
    /// Stores made while the waiter count was not 0 (a spinning waiter's must all be 0).
    counted_in: usize,
}

/// P6: this process changes the word `rounds` times, each once the waiter
/// process has counted itself in (futex), a moment after the last change
/// (spin), or at a random phase of its poll period, and pairs the time of
/// each store with the time the waiter saw it; writer and waiter are pinned
/// to `cpus` if given.
fn wake_latencies(
    socket: &Path,
    rounds: usize,
    how: How,
    cpus: Option<(usize, usize)>,
) -> Result<Wakes, String> {
    let conn = connect(socket)?;
    let shm = conn.map().map_err(|e| e.to_string())?;
    let waiters = shm.atomic_u32(WAITERS_OFFSET).map_err(|e| e.to_string())?;
    shm.store_u32(WAKE_OFFSET, 0).map_err(|e| e.to_string())?;
    let j = Job {
        role: "waiter".into(),
        socket: socket.to_path_buf(),
        rounds,
        offset: WAKE_OFFSET,
        poll_ms: if let How::Poll(ms) = how {
            Some(ms)
        } else {
            None
        },
        spin: how == How::Spin,
        cpu: cpus.map(|c| c.1),
        ..Job::default()
    };
    let mut waiter = peer(&j, &[])?;
    let all = rustix::thread::sched_getaffinity(None).map_err(|e| e.to_string())?;
    if let Some((writer, _)) = cpus {
        pin(Some(writer), &all)?;
    }
    waiter.send("go");
    let (mut stored_ns, mut counted_in) = (Vec::new(), 0);
    for round in 1..=rounds as u32 {
        match how {
            How::Futex => {
                // The waiter counts itself in just before FUTEX_WAIT; give it
                // a moment to get there, so the wake-up is measured from sleep.
                while waiters.load(std::sync::atomic::Ordering::SeqCst) == 0 {
                    std::thread::yield_now();
                }
                std::thread::sleep(wake::SETTLE);
            }
            How::Spin => std::thread::sleep(wake::SETTLE),
            How::Poll(_) => {
                std::thread::sleep(Duration::from_millis(37 + 61 * u64::from(round % 3)))
            }
        }
        if how == How::Spin && waiters.load(std::sync::atomic::Ordering::SeqCst) != 0 {
            counted_in += 1;
        }
        stored_ns.push(crate::measure::monotonic_ns());
        shm.store_u32(WAKE_OFFSET, round)
            .map_err(|e| e.to_string())?;
    }
    pin(None, &all)?;
    let (seen_ns, cpu_ns): (Vec<u64>, u64) = proto::result(waiter)?;
    let latency_us = |(a, b): (&u64, &u64)| b.saturating_sub(*a) as f64 / 1e3;
    Ok(Wakes {
        us: stored_ns.iter().zip(&seen_ns).map(latency_us).collect(),
        cpu_us: cpu_ns as f64 / 1e3 / rounds as f64,
        counted_in,
    })
}

/// Starts `n` counting processes, releases them together, returns the
/// total rate and the increments they report.
fn count_round(job: &Job, n: usize) -> Result<(f64, u64), String> {
    let mut peers = (0..n)
        .map(|_| peer(job, &[]))
        .collect::<Result<Vec<_>, _>>()?;
    for p in &mut peers {
        p.send("go");
    }
    let counts = peers
        .into_iter()
        .map(proto::result::<Count>)
        .collect::<Result<Vec<_>, _>>()?;
    let start = counts.iter().map(|c| c.start_ns).min().unwrap_or(0);
    let end = counts.iter().map(|c| c.end_ns).max().unwrap_or(0);
    let total: u64 = counts.iter().map(|c| c.count).sum();
    Ok((total as f64 / ((end - start).max(1) as f64 / 1e9), total))
}

/// P4 for every process count: the region's word against the bench server's counter.
fn counters(plan: &Plan, socket: &Path, bench_socket: &Path) -> Result<Vec<Line>, String> {
    let conn = connect(socket)?;
    let shm = conn
        .map_with(MapOptions { populate: false })
        .map_err(|e| e.to_string())?;
    let server_job = Job {
        role: "server".into(),
        socket: bench_socket.to_path_buf(),
        ..Job::default()
    };
    let server = peer(&server_job, &[])?;
    let bench = server::connect(bench_socket)?;
    let mut out = Vec::new();
    for &n in &plan.processes {
        shm.store_u32(COUNTER_OFFSET, 0)
            .map_err(|e| e.to_string())?;
        let mut j = Job {
            role: "count-shm".into(),
            socket: socket.to_path_buf(),
            offset: COUNTER_OFFSET,
            count: plan.shm_increments,
            ..Job::default()
        };
        let (shm_rate, shm_sent) = count_round(&j, n)?;
        let shm_final = u64::from(shm.load_u32(COUNTER_OFFSET).map_err(|e| e.to_string())?);
        bench.r#reset().map_err(|e| e.to_string())?;
        (j.role, j.socket, j.count) = (
            "count-binder".into(),
            bench_socket.into(),
            plan.binder_increments,
        );
        let (binder_rate, binder_sent) = count_round(&j, n)?;
        let binder_final = bench.r#get().map_err(|e| e.to_string())? as u64;
        let expected = |each: u64| n as u64 * each;
        let what = format!("{n} process{}", if n == 1 { "" } else { "es" });
        out.push(Line {
            exact: shm_final == expected(plan.shm_increments)
                && shm_sent == shm_final
                && binder_final == expected(plan.binder_increments)
                && binder_sent == binder_final,
            ..Line::new("P4", what, shm_rate / 1e6, Some(binder_rate / 1e6), "M/s")
        });
    }
    proto::finish(server)?;
    Ok(out)
}

/// P5: exec → first successful call over `ready_starts` starts (one daemon
/// at a time, as on a device), then the last one's resident set.
fn footprint(plan: &Plan) -> Result<Vec<Line>, String> {
    let mut ready_ms = Vec::new();
    let mut last = None;
    for _ in 0..plan.ready_starts {
        drop(last.take());
        let t = Instant::now();
        let d = start_daemon(&[]);
        connect(&d.socket)?;
        ready_ms.push(t.elapsed().as_secs_f64() * 1e3);
        last = Some(d);
    }
    let pid = last.as_ref().ok_or("no daemon started")?.pid();
    let field = |name| status_field(pid, name).ok_or(format!("no {name} for the daemon"));
    let mib = |bytes: u64| bytes as f64 / MIB as f64;
    let (anon, file) = (mib(field("RssAnon")?), mib(field("RssFile")?));
    let what = format!(
        "anon {anon:.2} + file {file:.2} MiB, {} threads",
        field("Threads")?
    );
    Ok(vec![
        Line::new("P5-rss", what, mib(field("VmRSS")?), None, "MiB"),
        Line::new(
            "P5-ready",
            format!("median of {}", plan.ready_starts),
            median(&ready_ms),
            None,
            "ms",
        ),
    ])
}
