//! The orchestrator: starts the daemon, the bench server and the client
//! processes, runs every row against its baseline and writes the report.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use enea_buffer_client::MapOptions;
use serde::Serialize;

use crate::clients;
use crate::procs::{self, footprint, DaemonProc, Footprint, Peer};
use crate::proto::{BinderBulk, BulkPoint, Control, Count, FirstTouch, Records, Wakes};
use crate::report;
use crate::server;
use crate::wake;

/// What the command line asked for.
pub struct Settings {
    /// Tiny run of every row.
    pub quick: bool,
    /// Output directory.
    pub out: PathBuf,
    /// Where the daemon binary is (else built beside this one).
    pub bin_dir: Option<PathBuf>,
}

/// Sizes and repetitions of one run.
#[derive(Clone, Debug, Serialize)]
pub struct Plan {
    /// Transfer sizes for P1, P1b and P2.
    pub sizes: Vec<usize>,
    /// Timed batches per size and method (P1, P2).
    pub rounds: usize,
    /// Least duration of one timed batch, µs.
    pub min_round_us: u64,
    /// Fresh mappings timed per size and variant (P1b).
    pub first_touch_rounds: usize,
    /// Timed batches (P3).
    pub control_rounds: usize,
    /// Calls per P3 batch.
    pub control_iters: u64,
    /// Client process counts (P4).
    pub processes: Vec<usize>,
    /// Atomic increments per process (P4, shared memory).
    pub shm_increments: u64,
    /// increment() calls per process (P4, binder).
    pub binder_increments: u64,
    /// Clients that come and go (P5).
    pub clients: usize,
    /// Daemon starts timed (P5).
    pub ready_starts: usize,
    /// Changes timed per wake-up path, futex and binder callback alike (P6).
    pub wake_rounds: usize,
    /// Changes timed with 100 ms polling (P6).
    pub poll_rounds: usize,
}

const KIB: usize = 1 << 10;
const MIB: usize = 1 << 20;

impl Plan {
    pub(crate) fn full() -> Self {
        Self {
            sizes: (0..8).map(|i| (4 * KIB) << (2 * i)).collect(), // 4 KiB … 64 MiB
            rounds: 31,
            min_round_us: 10_000,
            first_touch_rounds: 41,
            control_rounds: 31,
            control_iters: 500,
            processes: vec![1, 2, 4, 8, 16],
            shm_increments: 10_000_000,
            binder_increments: 3_000,
            clients: 1_000,
            ready_starts: 15,
            wake_rounds: 201,
            poll_rounds: 11,
        }
    }

    pub(crate) fn quick() -> Self {
        Self {
            sizes: vec![4 * KIB, 64 * KIB, MIB],
            rounds: 3,
            min_round_us: 500,
            first_touch_rounds: 3,
            control_rounds: 3,
            control_iters: 20,
            processes: vec![1, 2, 4, 8, 16],
            shm_increments: 20_000,
            binder_increments: 20,
            clients: 50,
            ready_starts: 3,
            wake_rounds: 5,
            poll_rounds: 3,
        }
    }
}

/// P4 for one process count.
#[derive(Clone, Debug, Serialize)]
pub struct Counter {
    /// Client processes.
    pub processes: usize,
    /// Increments per second, all processes, shared memory.
    pub shm_rate: f64,
    /// Final word value minus the start value.
    pub shm_final: u64,
    /// Whether it equals processes × increments.
    pub shm_exact: bool,
    /// Increments per second, all processes, one binder call each.
    pub binder_rate: f64,
    /// The server's final count.
    pub binder_final: u64,
    /// Whether it equals processes × calls.
    pub binder_exact: bool,
}

/// P6: writer → waiter latency, seconds, one per change.
#[derive(Clone, Debug, Serialize)]
pub struct Wakeup {
    /// Woken through the futex (`wait_u32_change`).
    pub futex_s: Vec<f64>,
    /// Called back: a oneway binder call to a listener that registered
    /// itself with the writer (the binder way of saying "changed").
    pub binder_s: Vec<f64>,
    /// Polling every 100 ms (what `eneabuf watch` did before V2).
    pub poll_s: Vec<f64>,
}

/// P5.
#[derive(Clone, Debug, Serialize)]
pub struct Daemon {
    /// Exec → first successful client call, ms, one per start.
    pub ready_ms: Vec<f64>,
    /// After start (and the readiness probe's call).
    pub start: Footprint,
    /// After every client has connected, mapped, unmapped and gone.
    pub after: Footprint,
    /// Clients that came and went.
    pub clients: usize,
    /// The word they incremented (must equal `clients`).
    pub touched: u64,
}

/// The host the numbers come from.
#[derive(Clone, Debug, Serialize)]
pub struct Machine {
    /// CPU model.
    pub cpu: String,
    /// Online CPUs.
    pub cpus: usize,
    /// MemTotal, bytes.
    pub memory: u64,
    /// Kernel release.
    pub kernel: String,
    /// Build profile of the bench and daemon.
    pub profile: String,
}

/// Everything one run measured.
#[derive(Clone, Debug, Serialize)]
pub struct Results {
    /// `full` or `quick`.
    pub mode: String,
    /// Where it ran.
    pub machine: Machine,
    /// Sizes and repetitions.
    pub plan: Plan,
    /// P1.
    pub bulk: Vec<BulkPoint>,
    /// P1b.
    pub first_touch: Vec<FirstTouch>,
    /// P2, binder as shipped (rsbinder + glibc malloc defaults).
    pub binder_bulk: BinderBulk,
    /// P2 again with glibc malloc tuned ([`TUNED_MALLOC`]) in both binder processes.
    pub binder_bulk_tuned: BinderBulk,
    /// P3.
    pub control: Control,
    /// P4.
    pub counter: Vec<Counter>,
    /// P7, and P4's cost of the waiter check when nobody waits.
    pub records: Records,
    /// P6.
    pub wakeup: Wakeup,
    /// P5.
    pub daemon: Daemon,
    /// Wall time of the run, seconds.
    pub elapsed_s: f64,
    /// /proc/loadavg (1, 5, 15 min) when the run began.
    pub load_start: [f64; 3],
    /// /proc/loadavg when the measuring ended.
    pub load_end: [f64; 3],
}

fn step(name: &str) -> Instant {
    eprintln!("bench: {name} …");
    Instant::now()
}

fn done(t: Instant) {
    eprintln!("bench:   done in {:.1} s", t.elapsed().as_secs_f64());
}

/// Runs the suite and writes the report.
pub fn run(settings: &Settings) -> Result<(), String> {
    let started = Instant::now();
    let load_start = loadavg();
    let plan = if settings.quick {
        Plan::quick()
    } else {
        Plan::full()
    };
    let daemon_bin = procs::daemon_binary(settings.bin_dir.as_deref())?;
    std::fs::create_dir_all(&settings.out)
        .map_err(|e| format!("{}: {e}", settings.out.display()))?;
    let work = std::env::temp_dir().join(format!("enea-bench-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).map_err(|e| format!("{}: {e}", work.display()))?;
    let log = work.join("daemon.log");
    let result = measure_all(&plan, &daemon_bin, &work, &log);
    let mut results = match result {
        Ok(results) => results,
        Err(e) => return Err(format!("{e} (daemon logs kept in {})", log.display())),
    };
    let _ = std::fs::remove_dir_all(&work);
    results.mode = if settings.quick { "quick" } else { "full" }.into();
    results.elapsed_s = started.elapsed().as_secs_f64();
    results.load_start = load_start;
    results.load_end = loadavg();
    report::write(&results, &settings.out)
}

fn s(v: impl ToString) -> String {
    v.to_string()
}

fn list(sizes: &[usize]) -> String {
    sizes
        .iter()
        .map(usize::to_string)
        .collect::<Vec<_>>()
        .join(",")
}

fn measure_all(plan: &Plan, bin: &Path, work: &Path, log: &Path) -> Result<Results, String> {
    let max = *plan.sizes.iter().max().ok_or("no sizes")?;
    let socket = work.join("buffer.sock");
    let size = max + clients::BULK_OFFSET;
    let mut daemon = DaemonProc::spawn(bin, &socket, &["--size", &s(size)], log)?;
    daemon.wait_ready()?;
    let sock = || socket.display().to_string();

    let t = step("P1 bulk copy into the region vs memcpy");
    let bulk: Vec<BulkPoint> = procs::run_client(&[
        s("bulk"),
        s("--socket"),
        sock(),
        s("--sizes"),
        list(&plan.sizes),
        s("--rounds"),
        s(plan.rounds),
        s("--min-round-us"),
        s(plan.min_round_us),
    ])?;
    done(t);

    let t = step("P1b first touch, with and without pre-faulting");
    let mut first_touch = Vec::new();
    for &size in &plan.sizes {
        let sock_n = work.join(format!("ft-{size}.sock"));
        let mut d = DaemonProc::spawn(bin, &sock_n, &["--size", &s(size)], log)?;
        d.wait_ready()?;
        first_touch.push(procs::run_client::<FirstTouch>(&[
            s("first-touch"),
            s("--socket"),
            sock_n.display().to_string(),
            s("--rounds"),
            s(plan.first_touch_rounds),
            s("--min-round-us"),
            s(plan.min_round_us),
        ])?);
    }
    done(t);

    let t = step("P2 the same bytes through binder calls");
    let binder_bulk = run_binder_bulk(plan, work, "bench-p2.sock", &[])?;
    done(t);
    let t = step("P2 again, glibc malloc tuned in both binder processes");
    let binder_bulk_tuned = run_binder_bulk(plan, work, "bench-tuned.sock", TUNED_MALLOC)?;
    done(t);

    let bench_socket = work.join("bench.sock");
    let mut bench_server = Peer::spawn(&[
        s("server"),
        s("--socket"),
        bench_socket.display().to_string(),
    ])?;
    bench_server.ready()?;

    let t = step("P3 control path vs a no-op call vs the socket floor");
    let pong_socket = work.join("pong.sock");
    let mut pong = Peer::spawn(&[s("pong"), s("--socket"), pong_socket.display().to_string()])?;
    pong.ready()?;
    let control: Control = procs::run_client(&[
        s("control"),
        s("--socket"),
        sock(),
        s("--pong"),
        pong_socket.display().to_string(),
        s("--rounds"),
        s(plan.control_rounds),
        s("--iters"),
        s(plan.control_iters),
    ])?;
    pong.finish()?;
    done(t);

    let t = step("P4 shared counter vs one binder call per increment");
    let counter = counters(plan, &socket, &bench_socket)?;
    bench_server.finish()?;
    done(t);

    let t = step("P7 snapshot vs read_at; P4's waiter check vs a plain atomic");
    let records: Records = procs::run_client(&[
        s("records"),
        s("--socket"),
        sock(),
        s("--offset"),
        s(RECORD_OFFSET),
        s("--counter"),
        s(COUNTER_OFFSET),
        s("--sizes"),
        list(RECORD_SIZES),
        s("--rounds"),
        s(plan.rounds),
        s("--min-round-us"),
        s(plan.min_round_us),
    ])?;
    done(t);

    let t = step("P6 wake-up latency: futex vs a oneway binder callback vs 100 ms polling");
    let rounds = plan.wake_rounds as u32;
    let futex_s = wake_latencies(&socket, rounds, None)?;
    let binder_s = wake::callback_latencies(&work.join("wake.sock"), rounds)?;
    let poll_s = wake_latencies(&socket, plan.poll_rounds as u32, Some(100))?;
    let wakeup = Wakeup {
        futex_s,
        binder_s,
        poll_s,
    };
    drop(daemon);
    done(t);

    let t = step("P5 daemon footprint and start time");
    let daemon = footprint_row(plan, bin, work, log)?;
    done(t);

    Ok(Results {
        mode: String::new(),
        machine: machine(bin),
        plan: plan.clone(),
        bulk,
        first_touch,
        binder_bulk,
        binder_bulk_tuned,
        control,
        counter,
        records,
        wakeup,
        daemon,
        elapsed_s: 0.0,
        load_start: [0.0; 3],
        load_end: [0.0; 3],
    })
}

/// glibc settings that stop rsbinder's per-call parcel buffers (≥ 128 KiB)
/// from being mmap'd and unmapped, and so page-faulted, on every call: the
/// binder path at its best on this machine.
pub const TUNED_MALLOC: &[(&str, &str)] = &[(
    "GLIBC_TUNABLES",
    "glibc.malloc.mmap_threshold=67108864:glibc.malloc.trim_threshold=268435456",
)];

/// P2 against a fresh bench server on `name` in `work`, with `env` in both processes.
fn run_binder_bulk(
    plan: &Plan,
    work: &Path,
    name: &str,
    env: &[(&str, &str)],
) -> Result<BinderBulk, String> {
    let socket = work.join(name).display().to_string();
    let mut server = Peer::spawn_env(&[s("server"), s("--socket"), socket.clone()], env)?;
    server.ready()?;
    let result = procs::run_client_env(
        &[
            s("binder-bulk"),
            s("--socket"),
            socket,
            s("--sizes"),
            list(&plan.sizes),
            s("--rounds"),
            s(plan.rounds.div_ceil(3)),
            s("--min-round-us"),
            s(plan.min_round_us),
        ],
        env,
    )?;
    server.finish()?;
    Ok(result)
}

/// Byte offset of P4's counter word (word 0 belongs to the seed's 0xdeadcafe).
const COUNTER_OFFSET: usize = 64;

/// Byte offset of P7's record (past the counter, a multiple of 8).
const RECORD_OFFSET: usize = 128;

/// P7's record sizes: all fit the smallest region a plan maps (4 KiB + the
/// record header + RECORD_OFFSET < 64 KiB).
const RECORD_SIZES: &[usize] = &[64, 256, 1024, 4096];
/// Byte offset of the word P5's clients increment.
const TOUCH_OFFSET: usize = 8;

/// Byte offset of P6's word.
const WAKE_OFFSET: usize = 72;

/// P6: this process changes the word `rounds` times, each once the waiter
/// process has counted itself in (futex) or at a random phase (polling), and pairs
/// the time of each store with the time the waiter saw it.
fn wake_latencies(socket: &Path, rounds: u32, poll_ms: Option<u64>) -> Result<Vec<f64>, String> {
    let conn = clients::connect(socket)?;
    let shm = conn.map().map_err(|e| e.to_string())?;
    shm.store_u32(WAKE_OFFSET, 0).map_err(|e| e.to_string())?;
    let mut args = vec![
        s("waiter"),
        s("--socket"),
        socket.display().to_string(),
        s("--offset"),
        s(WAKE_OFFSET),
        s("--rounds"),
        s(rounds),
    ];
    if let Some(ms) = poll_ms {
        args.extend([s("--poll-ms"), s(ms)]);
    }
    let mut peer = Peer::spawn(&args)?;
    peer.ready()?;
    peer.send("go")?;
    let waiters = |shm: &enea_buffer_client::SharedBuffer| {
        shm.load_u32(enea_buffer_client::WAITERS_OFFSET)
            .unwrap_or(0)
    };
    let mut stored_ns = Vec::new();
    for round in 0..rounds {
        if poll_ms.is_none() {
            // The waiter counts itself in just before FUTEX_WAIT; give it
            // a moment to get there (and a previous round's count time to
            // go) so the wake-up is measured from sleep.
            while waiters(&shm) == 0 {
                std::thread::yield_now();
            }
            std::thread::sleep(wake::SETTLE);
        } else {
            // A change at a random phase of the poll period.
            std::thread::sleep(Duration::from_millis(37 + 61 * u64::from(round % 3)));
        }
        stored_ns.push(crate::measure::monotonic_ns());
        shm.store_u32(WAKE_OFFSET, round + 1)
            .map_err(|e| e.to_string())?;
    }
    let wakes: Wakes = peer.result()?;
    Ok(stored_ns
        .iter()
        .zip(&wakes.seen_ns)
        .map(|(a, b)| b.saturating_sub(*a) as f64 / 1e9)
        .collect())
}

/// Starts `n` counting peers, releases them together, returns the total rate.
fn count_round(args: &[String], n: usize) -> Result<f64, String> {
    let mut peers = (0..n)
        .map(|_| Peer::spawn(args))
        .collect::<Result<Vec<_>, _>>()?;
    for p in &mut peers {
        p.ready()?;
    }
    for p in &mut peers {
        p.send("go")?;
    }
    let counts = peers
        .into_iter()
        .map(Peer::result::<Count>)
        .collect::<Result<Vec<_>, _>>()?;
    let start = counts.iter().map(|c| c.start_ns).min().unwrap_or(0);
    let end = counts.iter().map(|c| c.end_ns).max().unwrap_or(0);
    let total: u64 = counts.iter().map(|c| c.count).sum();
    Ok(total as f64 / ((end - start).max(1) as f64 / 1e9))
}

fn counters(plan: &Plan, socket: &Path, bench_socket: &Path) -> Result<Vec<Counter>, String> {
    let conn = clients::connect(socket)?;
    let shm = conn
        .map_with(MapOptions { populate: false })
        .map_err(|e| e.to_string())?;
    let bench = server::connect(bench_socket)?;
    let mut out = Vec::new();
    for &n in &plan.processes {
        shm.store_u32(COUNTER_OFFSET, 0)
            .map_err(|e| e.to_string())?;
        let shm_rate = count_round(
            &[
                s("count-shm"),
                s("--socket"),
                socket.display().to_string(),
                s("--offset"),
                s(COUNTER_OFFSET),
                s("--count"),
                s(plan.shm_increments),
            ],
            n,
        )?;
        let shm_final = u64::from(shm.load_u32(COUNTER_OFFSET).map_err(|e| e.to_string())?);
        bench.r#reset().map_err(|e| e.to_string())?;
        let binder_rate = count_round(
            &[
                s("count-binder"),
                s("--socket"),
                bench_socket.display().to_string(),
                s("--count"),
                s(plan.binder_increments),
            ],
            n,
        )?;
        let binder_final = bench.r#get().map_err(|e| e.to_string())? as u64;
        let c = Counter {
            processes: n,
            shm_rate,
            shm_final,
            shm_exact: shm_final == n as u64 * plan.shm_increments,
            binder_rate,
            binder_final,
            binder_exact: binder_final == n as u64 * plan.binder_increments,
        };
        if !c.shm_exact || !c.binder_exact {
            return Err(format!("P4 lost increments: {c:?}"));
        }
        out.push(c);
    }
    Ok(out)
}

fn footprint_row(plan: &Plan, bin: &Path, work: &Path, log: &Path) -> Result<Daemon, String> {
    let mut ready_ms = Vec::new();
    let socket = work.join("p5.sock");
    let mut last: Option<DaemonProc> = None;
    for _ in 0..plan.ready_starts {
        // Stop the previous daemon first: one at a time, as on a device.
        drop(last.take());
        let mut d = DaemonProc::spawn(bin, &socket, &[], log)?;
        ready_ms.push(d.wait_ready()?.as_secs_f64() * 1e3);
        last = Some(d);
    }
    let d = last.ok_or("no daemon started")?;
    settle(d.pid(), None)?;
    let start = footprint(d.pid())?;

    let next = AtomicUsize::new(0);
    let workers = std::thread::available_parallelism().map_or(2, |n| n.get()) * 2;
    let sock = socket.display().to_string();
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let failures = AtomicUsize::new(0);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                while next.fetch_add(1, Ordering::Relaxed) < plan.clients {
                    let ok = std::process::Command::new(&exe)
                        .args(["touch", "--socket", &sock, "--offset", &s(TOUCH_OFFSET)])
                        .status()
                        .is_ok_and(|st| st.success());
                    if !ok {
                        failures.fetch_add(1, Ordering::Relaxed);
                    }
                }
            });
        }
    });
    if failures.load(Ordering::Relaxed) > 0 {
        return Err(format!(
            "P5: {} of {} clients failed",
            failures.load(Ordering::Relaxed),
            plan.clients
        ));
    }
    settle(d.pid(), Some(start.fds))?;
    let after = footprint(d.pid())?;
    let conn = clients::connect(&socket)?;
    let touched = u64::from(
        conn.map()
            .and_then(|b| b.load_u32(TOUCH_OFFSET))
            .map_err(|e| e.to_string())?,
    );
    if touched != plan.clients as u64 {
        return Err(format!(
            "P5: {} clients incremented the word {touched} times",
            plan.clients
        ));
    }
    Ok(Daemon {
        ready_ms,
        start,
        after,
        clients: plan.clients,
        touched,
    })
}

/// Waits (bounded) until the daemon has closed departed clients' sessions:
/// its fd count is back to `fds` (when given) and stable.
fn settle(pid: u32, fds: Option<u64>) -> Result<(), String> {
    let deadline = Instant::now() + Duration::from_secs(5);
    let mut prev = footprint(pid)?.fds;
    loop {
        std::thread::sleep(Duration::from_millis(100));
        let now = footprint(pid)?.fds;
        let back = fds.map_or(true, |f| now <= f);
        if (now == prev && back) || Instant::now() > deadline {
            return Ok(());
        }
        prev = now;
    }
}

/// /proc/loadavg's 1, 5 and 15 minute averages (zeros if unreadable).
fn loadavg() -> [f64; 3] {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let mut out = [0.0; 3];
    for (o, v) in out.iter_mut().zip(text.split_whitespace()) {
        *o = v.parse().unwrap_or(0.0);
    }
    out
}

fn machine(bin: &Path) -> Machine {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .map(|v| v.trim_start_matches([' ', '\t', ':']).to_owned())
        .unwrap_or_default();
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let memory = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.split_whitespace().next())
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(0)
        * 1024;
    let profile = bin
        .parent()
        .and_then(Path::file_name)
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Machine {
        cpu,
        cpus: std::thread::available_parallelism().map_or(0, |n| n.get()),
        memory,
        kernel: rustix::system::uname()
            .release()
            .to_string_lossy()
            .into_owned(),
        profile,
    }
}
