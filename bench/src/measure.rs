//! Timing primitives (calibrated batches, medians, a shared monotonic clock,
//! CPU pinning) and the description of the machine a run was made on.

use std::path::Path;
use std::time::{Duration, Instant};

/// Seconds per call of `f`, timed over one batch of `iters` calls.
pub fn per_call(iters: u64, mut f: impl FnMut()) -> f64 {
    let t = Instant::now();
    for _ in 0..iters {
        f();
    }
    t.elapsed().as_secs_f64() / iters as f64
}

/// How many calls of `f` make a batch of at least `min` (doubling; at least one).
pub fn calibrate(min: Duration, mut f: impl FnMut()) -> u64 {
    let mut iters = 1u64;
    while per_call(iters, &mut f) * (iters as f64) < min.as_secs_f64() && iters < 1 << 30 {
        iters *= 2;
    }
    iters
}

/// Median seconds per call of `f` over `rounds` calibrated batches.
pub fn timed(rounds: usize, min: Duration, mut f: impl FnMut()) -> f64 {
    let iters = calibrate(min, &mut f);
    median(
        &(0..rounds)
            .map(|_| per_call(iters, &mut f))
            .collect::<Vec<_>>(),
    )
}

/// The median of `v`, the lower one of an even count (NaN when empty).
pub fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    s.get(s.len().saturating_sub(1) / 2)
        .copied()
        .unwrap_or(f64::NAN)
}

/// The `q` quantile of `v` (nearest rank; `q` = 0.99: p99; NaN when empty).
pub fn quantile(v: &[f64], q: f64) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    let rank = (q * s.len() as f64).ceil() as usize;
    s.get(rank.saturating_sub(1)).copied().unwrap_or(f64::NAN)
}

/// CPU time of the calling thread, ns.
pub fn thread_cpu_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::ThreadCPUTime);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Two CPUs this process may run on, if it may run on two.
pub fn two_cpus() -> Option<(usize, usize)> {
    let set = rustix::thread::sched_getaffinity(None).ok()?;
    let mut cpus = (0..rustix::thread::CpuSet::MAX_CPU).filter(|&c| set.is_set(c));
    Some((cpus.next()?, cpus.next()?))
}

/// Pins the calling thread to `cpu` (`None`: to every CPU in `all`).
pub fn pin(cpu: Option<usize>, all: &rustix::thread::CpuSet) -> Result<(), String> {
    let set = cpu.map_or(*all, |c| {
        let mut one = rustix::thread::CpuSet::new();
        one.set(c);
        one
    });
    rustix::thread::sched_setaffinity(None, &set).map_err(|e| format!("pinning to {cpu:?}: {e}"))
}

/// CLOCK_MONOTONIC in nanoseconds: comparable across processes on one machine.
pub fn monotonic_ns() -> u64 {
    let t = rustix::time::clock_gettime(rustix::time::ClockId::Monotonic);
    t.tv_sec as u64 * 1_000_000_000 + t.tv_nsec as u64
}

/// Bytes per second as decimal GB/s.
pub fn gbps(bytes: usize, secs: f64) -> f64 {
    bytes as f64 / secs / 1e9
}

/// /proc/loadavg's 1, 5 and 15 minute averages, as printed.
pub fn loadavg() -> String {
    let text = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    text.split_whitespace()
        .take(3)
        .collect::<Vec<_>>()
        .join(" ")
}

/// The host, the build and the run, in one line.
pub fn machine(daemon: &Path, elapsed: Duration, load_start: &str) -> String {
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let cpu = cpuinfo.lines().find_map(|l| l.strip_prefix("model name"));
    let profile = daemon
        .parent()
        .and_then(Path::file_name)
        .unwrap_or_default();
    format!(
        "{} ({} CPUs), Linux {}, daemon from `{}`; {:.0} s wall; load average (1, 5, 15 min) \
         {load_start} at the start, {} at the end",
        cpu.map_or("unknown CPU", |v| v.trim_start_matches([' ', '\t', ':'])),
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        rustix::system::uname().release().to_string_lossy(),
        profile.to_string_lossy(),
        elapsed.as_secs_f64(),
        loadavg(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians() {
        let v: Vec<f64> = (1..=100).rev().map(f64::from).collect();
        assert_eq!(median(&v), 50.0);
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert!(median(&[]).is_nan());
        assert_eq!(quantile(&v, 0.99), 99.0);
        assert_eq!(quantile(&[3.0, 1.0, 2.0], 0.99), 3.0);
        assert!(quantile(&[], 0.5).is_nan());
    }
}
