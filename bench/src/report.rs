//! The report: one summary table (ratios against same-run baselines, judged
//! by the targets of `bench/targets.toml`), per-size and per-row tables,
//! JSON, and an SVG plot of throughput vs size (plotters).

use std::fmt::Write as _;
use std::path::Path;

use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};
use serde::Serialize;

use crate::measure::{gbps, median, percentile};
use crate::suite::Results;
use crate::targets::{row_id, Targets};

const MIB: usize = 1 << 20;

/// One line of the summary table.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// P1 … P7.
    pub id: String,
    /// The key of its target in `bench/targets.toml`.
    pub key: String,
    /// What is measured.
    pub measure: String,
    /// The product's number.
    pub product: String,
    /// The baseline's number (same run).
    pub baseline: String,
    /// product / baseline as the target states it.
    pub ratio: Option<f64>,
    /// The ratio as printed.
    pub ratio_text: String,
    /// The target.
    pub target: String,
    /// Whether the target is met (`None`: reported only).
    pub met: Option<bool>,
}

/// Throughputs of one transfer size, GB/s.
#[derive(Clone, Debug, Serialize)]
pub struct SizeRow {
    /// Bytes.
    pub size: usize,
    /// memcpy between private buffers.
    pub memcpy: f64,
    /// `write_at` into the mapped region, steady state.
    pub region: f64,
    /// First write into a fresh mapping (page faults included).
    pub first_touch: Option<f64>,
    /// The same, mapped with `populate` (pre-faulting counted).
    pub first_touch_populated: Option<f64>,
    /// memcpy at this size in the first-touch client (its baseline).
    pub first_touch_memcpy: Option<f64>,
    /// The same bytes through binder `put` calls.
    pub binder: Option<f64>,
    /// The same, glibc malloc tuned in both binder processes.
    pub binder_tuned: Option<f64>,
}

/// What a fresh mapping costs per 4 KiB page, from P1b (ns).
#[derive(Clone, Debug, Serialize)]
pub struct PageCost {
    /// Bytes (= region size).
    pub size: usize,
    /// Warm memcpy of one page's worth of bytes at this size.
    pub memcpy_ns: f64,
    /// Extra cost of a page faulted in by the first write (no populate).
    pub fault_ns: f64,
    /// Extra cost of pre-faulting a page (`populate`), paid in `map_with`.
    pub prefault_ns: f64,
    /// Copy into the pre-faulted fresh mapping, pre-faulting excluded, as a ratio to memcpy.
    pub copy_after_populate_ratio: f64,
    /// The best first-touch ratio pre-faulting allows even if the copy itself
    /// ran at memcpy speed: memcpy / (memcpy + pre-fault).
    pub populate_ceiling: f64,
}

/// Per-page costs of first touch, from P1b.
pub fn page_costs(r: &Results) -> Vec<PageCost> {
    r.first_touch
        .iter()
        .map(|f| {
            let pages = (f.size as f64 / 4096.0).max(1.0);
            let memcpy_ns = f.memcpy_s / pages * 1e9;
            let prefault_ns = (f.map_populate_s - f.map_plain_s).max(0.0) / pages * 1e9;
            PageCost {
                size: f.size,
                memcpy_ns,
                fault_ns: (f.copy_plain_s - f.memcpy_s).max(0.0) / pages * 1e9,
                prefault_ns,
                copy_after_populate_ratio: f.memcpy_s / f.copy_populate_s,
                populate_ceiling: memcpy_ns / (memcpy_ns + prefault_ns),
            }
        })
        .collect()
}

fn bytes(n: usize) -> String {
    if n >= MIB && n % MIB == 0 {
        format!("{} MiB", n / MIB)
    } else if n >= 1024 && n % 1024 == 0 {
        format!("{} KiB", n / 1024)
    } else {
        format!("{n} B")
    }
}

fn us(secs: f64) -> String {
    format!("{:.1} µs", secs * 1e6)
}

/// A latency in µs, or in ms from 1 ms up.
fn latency(secs: f64) -> String {
    if secs >= 1e-3 {
        format!("{:.1} ms", secs * 1e3)
    } else {
        us(secs)
    }
}

fn rate(per_sec: f64) -> String {
    if per_sec >= 1e6 {
        format!("{:.1} M/s", per_sec / 1e6)
    } else {
        format!("{:.1} k/s", per_sec / 1e3)
    }
}

fn check(met: Option<bool>) -> &'static str {
    match met {
        Some(true) => "✅ met",
        Some(false) => "❌ missed",
        None => "report",
    }
}

/// Per-size throughputs from P1, P1b and P2.
pub fn size_rows(r: &Results) -> Vec<SizeRow> {
    r.bulk
        .iter()
        .map(|p| {
            let ft = r.first_touch.iter().find(|f| f.size == p.size);
            let bb = r.binder_bulk.points.iter().find(|b| b.size == p.size);
            let bt = r.binder_bulk_tuned.points.iter().find(|b| b.size == p.size);
            SizeRow {
                size: p.size,
                memcpy: gbps(p.size, p.memcpy_s),
                region: gbps(p.size, p.shm_s),
                first_touch: ft.map(|f| gbps(f.size, f.copy_plain_s)),
                // Pre-faulting is what map_with(populate) costs beyond map().
                first_touch_populated: ft.map(|f| {
                    let prefault = (f.map_populate_s - f.map_plain_s).max(0.0);
                    gbps(f.size, f.copy_populate_s + prefault)
                }),
                first_touch_memcpy: ft.map(|f| gbps(f.size, f.memcpy_s)),
                binder: bb.map(|b| gbps(b.size, b.transfer_s)),
                binder_tuned: bt.map(|b| gbps(b.size, b.transfer_s)),
            }
        })
        .collect()
}

/// The rows a target speaks of: sizes ≥ 1 MiB (or the largest, if none is).
fn large(rows: &[SizeRow]) -> Vec<&SizeRow> {
    let big: Vec<&SizeRow> = rows.iter().filter(|s| s.size >= MIB).collect();
    if big.is_empty() {
        rows.iter().max_by_key(|s| s.size).into_iter().collect()
    } else {
        big
    }
}

/// The worst (lowest) ratio over `rows`, with its row.
fn worst<'a>(
    rows: &[&'a SizeRow],
    f: impl Fn(&SizeRow) -> Option<(f64, f64)>,
) -> Option<(&'a SizeRow, f64, f64)> {
    rows.iter()
        .filter_map(|s| f(s).map(|(a, b)| (*s, a, b)))
        .min_by(|x, y| (x.1 / x.2).total_cmp(&(y.1 / y.2)))
}

/// A row before its target is applied.
struct Draft {
    key: &'static str,
    measure: String,
    product: String,
    baseline: String,
    ratio: Option<f64>,
    ratio_text: String,
}

impl Draft {
    fn new(key: &'static str, measure: String, product: String, baseline: String) -> Self {
        Self {
            key,
            measure,
            product,
            baseline,
            ratio: None,
            ratio_text: "—".into(),
        }
    }

    /// Sets the ratio, printed with two decimals (two significant digits
    /// below 0.01) and `unit`.
    fn ratio(mut self, ratio: f64, unit: &str) -> Self {
        self.ratio = Some(ratio);
        self.ratio_text = if ratio.abs() >= 0.01 || ratio == 0.0 || !ratio.is_finite() {
            format!("{ratio:.2}{unit}")
        } else {
            let decimals = (1.0 - ratio.abs().log10().floor()) as usize;
            format!("{ratio:.decimals$}{unit}")
        };
        self
    }

    /// Applies the target of the row's key to `value` (and `exact`).
    fn judge(self, targets: &Targets, value: f64, exact: bool) -> Result<Row, String> {
        let target = targets.get(self.key)?;
        Ok(Row {
            id: row_id(self.key).into(),
            key: self.key.into(),
            measure: self.measure,
            product: self.product,
            baseline: self.baseline,
            ratio: self.ratio,
            ratio_text: self.ratio_text,
            target: target.text.clone(),
            met: target.check(value, exact),
        })
    }

    /// [`judge`](Self::judge) on the ratio.
    fn judge_ratio(self, targets: &Targets, exact: bool) -> Result<Row, String> {
        let value = self.ratio.unwrap_or(f64::NAN);
        self.judge(targets, value, exact)
    }
}

/// The summary table's rows, each judged by its target in `targets`.
pub fn summary(r: &Results, targets: &Targets) -> Result<Vec<Row>, String> {
    let sizes = size_rows(r);
    let big = large(&sizes);
    let range = if big.len() > 1 {
        "worst of S ≥ 1 MiB".to_owned()
    } else {
        format!(
            "S = {}",
            big.first().map_or(String::new(), |s| bytes(s.size))
        )
    };
    let mut rows = Vec::new();

    if let Some((s, a, b)) = worst(&big, |s| Some((s.region, s.memcpy))) {
        rows.push(
            Draft::new(
                "P1",
                format!(
                    "bulk copy into the mapped region, steady state ({range}: {})",
                    bytes(s.size)
                ),
                format!("{a:.2} GB/s"),
                format!("memcpy {b:.2} GB/s"),
            )
            .ratio(a / b, "")
            .judge_ratio(targets, true)?,
        );
    }
    if let Some((s, a, b)) = worst(&big, |s| s.first_touch.zip(s.first_touch_memcpy)) {
        rows.push(
            Draft::new(
                "P1b-fault",
                format!(
                    "first touch, page faults included ({range}: {})",
                    bytes(s.size)
                ),
                format!("{a:.2} GB/s"),
                format!("memcpy {b:.2} GB/s"),
            )
            .ratio(a / b, "")
            .judge_ratio(targets, true)?,
        );
    }
    let costs = page_costs(r);
    if let Some((s, a, b)) = worst(&big, |s| s.first_touch_populated.zip(s.first_touch_memcpy)) {
        let ceiling = costs
            .iter()
            .find(|c| c.size == s.size)
            .map_or(f64::NAN, |c| c.populate_ceiling);
        rows.push(
            Draft::new(
                "P1b-populate",
                format!(
                    "first touch, `MapOptions {{ populate: true }}`, pre-faulting counted \
                     ({range}: {}; ceiling set by the kernel's pre-fault cost: {ceiling:.2})",
                    bytes(s.size)
                ),
                format!("{a:.2} GB/s"),
                format!("memcpy {b:.2} GB/s"),
            )
            .ratio(a / b, "")
            .judge_ratio(targets, true)?,
        );
    }
    if let Some(s) = sizes
        .iter()
        .filter(|s| s.binder.is_some())
        .max_by_key(|s| s.size)
    {
        let b = s.binder.unwrap_or(f64::NAN);
        rows.push(
            Draft::new(
                "P2",
                format!(
                    "shared memory vs the same bytes as binder `byte[]` calls (S = {})",
                    bytes(s.size)
                ),
                format!("region {:.2} GB/s", s.region),
                format!("binder {b:.3} GB/s"),
            )
            .ratio(s.region / b, "×")
            .judge_ratio(targets, true)?,
        );
        let t = s.binder_tuned.unwrap_or(f64::NAN);
        rows.push(
            Draft::new(
                "P2-tuned",
                format!(
                    "the same, binder at its best: glibc malloc tuned so rsbinder's \
                     per-call buffers stop page-faulting (S = {})",
                    bytes(s.size)
                ),
                format!("region {:.2} GB/s", s.region),
                format!("binder {t:.3} GB/s"),
            )
            .ratio(s.region / t, "×")
            .judge_ratio(targets, true)?,
        );
    }
    let c = &r.control;
    rows.push(
        Draft::new(
            "P3",
            "control path: getBuffer + map + unmap + close".into(),
            us(c.map_cycle_s),
            format!("getBufferSize() {}", us(c.noop_s)),
        )
        .ratio(c.map_cycle_s / c.noop_s, "×")
        .judge_ratio(targets, true)?,
    );
    rows.push(
        Draft::new(
            "P3-floor",
            "no-op binder call vs the Unix-socket round-trip floor".into(),
            format!("getBufferSize() {}", us(c.noop_s)),
            format!("1-byte ping-pong {}", us(c.pingpong_s)),
        )
        .ratio(c.noop_s / c.pingpong_s, "×")
        .judge_ratio(targets, true)?,
    );
    for k in &r.counter {
        let exact = |e: bool| if e { "exact" } else { "WRONG" };
        rows.push(
            Draft::new(
                "P4",
                format!(
                    "shared counter, {} process{}",
                    k.processes,
                    if k.processes == 1 { "" } else { "es" }
                ),
                format!("{} atomic, {}", rate(k.shm_rate), exact(k.shm_exact)),
                format!(
                    "{} binder calls, {}",
                    rate(k.binder_rate),
                    exact(k.binder_exact)
                ),
            )
            .ratio(k.shm_rate / k.binder_rate, "×")
            .judge_ratio(targets, k.shm_exact && k.binder_exact)?,
        );
    }
    let rec = &r.records;
    let per_s = |secs: f64| rate(1.0 / secs);
    rows.push(
        Draft::new(
            "P4-no-waiter",
            "1 process, nobody waiting: fetch_add_u32 (atomic + waiter check) vs a plain atomic"
                .into(),
            format!("{} fetch_add_u32", per_s(rec.fetch_add_s)),
            format!("{} fetch_add", per_s(rec.raw_fetch_add_s)),
        )
        .ratio(rec.raw_fetch_add_s / rec.fetch_add_s, "×")
        .judge_ratio(targets, true)?,
    );
    let d = &r.daemon;
    let mib = |b: u64| b as f64 / MIB as f64;
    rows.push(
        Draft::new(
            "P5-rss",
            "daemon RSS after start (anon + file + shmem)".into(),
            format!(
                "{:.2} MiB ({:.2} + {:.2} + {:.2}; PSS {:.2}), {} threads",
                mib(d.start.rss),
                mib(d.start.rss_anon),
                mib(d.start.rss_file),
                mib(d.start.rss_shmem),
                mib(d.start.pss),
                d.start.threads
            ),
            "—".into(),
        )
        .judge(targets, mib(d.start.rss), true)?,
    );
    let growth = d.after.rss as f64 / d.start.rss as f64 - 1.0;
    let mut grown = Draft::new(
        "P5-rss-growth",
        format!("daemon RSS after {} clients came and went", d.clients),
        format!("{:.2} MiB, {} threads", mib(d.after.rss), d.after.threads),
        format!("{:.2} MiB after start", mib(d.start.rss)),
    );
    grown.ratio = Some(1.0 + growth);
    grown.ratio_text = format!("{:+.1} %", growth * 100.0);
    rows.push(grown.judge(targets, growth * 100.0, true)?);
    let fd_growth = d.after.fds as i64 - d.start.fds as i64;
    let mut fds = Draft::new(
        "P5-fds",
        format!("daemon fds after {} clients came and went", d.clients),
        format!("{} fds", d.after.fds),
        format!("{} fds after start", d.start.fds),
    );
    fds.ratio_text = format!("{fd_growth:+}");
    rows.push(fds.judge(targets, fd_growth as f64, true)?);
    let ready = median(&d.ready_ms);
    rows.push(
        Draft::new(
            "P5-ready",
            format!(
                "exec → first successful client call (median of {})",
                d.ready_ms.len()
            ),
            format!("{ready:.1} ms"),
            "—".into(),
        )
        .judge(targets, ready, true)?,
    );
    let w = &r.wakeup;
    let (futex, binder, poll) = (median(&w.futex_s), median(&w.binder_s), median(&w.poll_s));
    rows.push(
        Draft::new(
            "P6",
            format!(
                "wake-up latency writer → waiter (median of {}): futex vs a oneway binder \
                 callback to a registered listener",
                w.futex_s.len()
            ),
            format!("futex {}", latency(futex)),
            format!("binder callback {}", latency(binder)),
        )
        .ratio(futex / binder, "×")
        .judge_ratio(targets, true)?,
    );
    rows.push(
        Draft::new(
            "P6-poll",
            format!(
                "wake-up latency writer → waiter: futex vs 100 ms polling (median of {})",
                w.poll_s.len()
            ),
            format!("futex {}", latency(futex)),
            format!("polling {}", latency(poll)),
        )
        .ratio(futex / poll, "×")
        .judge_ratio(targets, true)?,
    );
    for p in &rec.snapshots {
        rows.push(
            Draft::new(
                "P7",
                format!(
                    "snapshot vs read_at, {} (throughput of snapshot relative to read_at)",
                    bytes(p.size)
                ),
                format!(
                    "snapshot {:.0} ns ({:.2} GB/s)",
                    p.snapshot_s * 1e9,
                    gbps(p.size, p.snapshot_s)
                ),
                format!(
                    "read_at {:.0} ns ({:.2} GB/s)",
                    p.read_at_s * 1e9,
                    gbps(p.size, p.read_at_s)
                ),
            )
            .ratio(p.read_at_s / p.snapshot_s, "×")
            .judge_ratio(targets, true)?,
        );
    }
    Ok(rows)
}

fn summary_table(rows: &[Row]) -> String {
    let mut t = String::from(
        "| Row | Measure | Product | Baseline (same run) | Ratio | Target | Status |\n\
         |---|---|---|---|---|---|---|\n",
    );
    for r in rows {
        let _ = writeln!(
            t,
            "| {} | {} | {} | {} | {} | {} | {} |",
            r.id,
            r.measure,
            r.product,
            r.baseline,
            r.ratio_text,
            r.target,
            check(r.met)
        );
    }
    t
}

fn size_table(rows: &[SizeRow]) -> String {
    let opt = |v: Option<f64>, base: Option<f64>| match (v, base) {
        (Some(v), Some(b)) => format!("{v:.2} ({:.2})", v / b),
        (Some(v), None) => format!("{v:.3}"),
        _ => "—".into(),
    };
    let mut t = String::from(
        "| S | memcpy GB/s | region, steady GB/s (ratio) | first touch GB/s (ratio) | \
         first touch, populate GB/s (ratio) | binder put GB/s | region / binder | \
         binder put, tuned malloc GB/s | region / tuned binder |\n\
         |---:|---:|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    for s in rows {
        let _ = writeln!(
            t,
            "| {} | {:.2} | {:.2} ({:.2}) | {} | {} | {} | {} | {} | {} |",
            bytes(s.size),
            s.memcpy,
            s.region,
            s.region / s.memcpy,
            opt(s.first_touch, s.first_touch_memcpy),
            opt(s.first_touch_populated, s.first_touch_memcpy),
            opt(s.binder, None),
            s.binder
                .map_or("—".into(), |b| format!("{:.0}×", s.region / b)),
            opt(s.binder_tuned, None),
            s.binder_tuned
                .map_or("—".into(), |b| format!("{:.1}×", s.region / b)),
        );
    }
    t
}

fn page_table(costs: &[PageCost]) -> String {
    let mut t = String::from(
        "| S | memcpy ns per 4 KiB | fault ns per page (no populate) | pre-fault ns per page \
         (populate) | copy after populate / memcpy | ceiling with pre-fault |\n\
         |---:|---:|---:|---:|---:|---:|\n",
    );
    for c in costs {
        let _ = writeln!(
            t,
            "| {} | {:.0} | {:.0} | {:.0} | {:.2} | {:.2} |",
            bytes(c.size),
            c.memcpy_ns,
            c.fault_ns,
            c.prefault_ns,
            c.copy_after_populate_ratio,
            c.populate_ceiling
        );
    }
    t
}

fn control_table(r: &Results) -> String {
    let c = &r.control;
    format!(
        "| Operation (median per call) | µs | × no-op call |\n|---|---:|---:|\n\
         | 1-byte Unix-socket ping-pong (floor) | {:.1} | {:.2} |\n\
         | `getBufferSize()` (no-op call) | {:.1} | 1.00 |\n\
         | `getBuffer()` + close | {:.1} | {:.2} |\n\
         | `map()` + drop (getBuffer + fstat + mmap + munmap + close) | {:.1} | {:.2} |\n",
        c.pingpong_s * 1e6,
        c.pingpong_s / c.noop_s,
        c.noop_s * 1e6,
        c.get_buffer_s * 1e6,
        c.get_buffer_s / c.noop_s,
        c.map_cycle_s * 1e6,
        c.map_cycle_s / c.noop_s,
    )
}

fn wake_table(r: &Results) -> String {
    let w = &r.wakeup;
    let mut t = String::from(
        "| Path | samples | p50 µs | p90 µs | p99 µs | max µs |\n|---|---:|---:|---:|---:|---:|\n",
    );
    for (name, v) in [
        ("futex (`wait_u32_change`)", &w.futex_s),
        (
            "oneway binder callback to a registered listener",
            &w.binder_s,
        ),
        ("polling every 100 ms", &w.poll_s),
    ] {
        let _ = writeln!(
            t,
            "| {name} | {} | {:.1} | {:.1} | {:.1} | {:.1} |",
            v.len(),
            percentile(v, 50.0) * 1e6,
            percentile(v, 90.0) * 1e6,
            percentile(v, 99.0) * 1e6,
            percentile(v, 100.0) * 1e6,
        );
    }
    t
}

fn targets_table(targets: &Targets) -> Result<String, String> {
    let mut t = String::from("| Row key | Value judged | Target |\n|---|---|---|\n");
    for key in targets.keys() {
        let target = targets.get(key)?;
        let _ = writeln!(t, "| {key} | {} | {} |", target.value, target.text);
    }
    Ok(t)
}

fn load(l: &[f64; 3]) -> String {
    format!("{:.2} {:.2} {:.2}", l[0], l[1], l[2])
}

fn machine_line(r: &Results) -> String {
    let m = &r.machine;
    format!(
        "{} run on {} ({} CPUs), {:.0} GiB RAM, Linux {}, `{}` profile; {:.0} s wall; \
         load average (1, 5, 15 min) {} at the start, {} at the end.",
        r.mode,
        m.cpu,
        m.cpus,
        m.memory as f64 / (1u64 << 30) as f64,
        m.kernel,
        m.profile,
        r.elapsed_s,
        load(&r.load_start),
        load(&r.load_end),
    )
}

/// The whole Markdown report.
pub fn markdown(r: &Results, rows: &[Row], targets: &Targets) -> Result<String, String> {
    Ok(format!(
        "# vendor.enea.buffer benchmark\n\n{}\n\n## Summary\n\n{}\n\
         ## Throughput by transfer size (GB/s; ratio to memcpy in the same client process)\n\n{}\n\
         ## First touch: what a fresh mapping costs per page\n\n{}\n\
         ## Control path\n\n{}\n\
         ## Wake-up latency, writer → waiter (P6)\n\n{}\n\
         ## Targets (bench/targets.toml)\n\n{}\n\
         Notes: every ratio compares numbers taken in the same run, most of them in the same \
         process and interleaved. First touch copies into a fresh mapping of a region of exactly \
         S bytes; with `populate` the pre-faulting (what `map_with(populate)` costs beyond `map()`) \
         is counted. Binder `put` moves {} `byte[]` chunks to a bench-only server configured as the \
         daemon is (tokio, 2 workers, RPC on a Unix socket, android-13+ wire). Wake-up latency \
         is CLOCK_MONOTONIC in the writer just before the store (futex, polling) or the oneway \
         call (binder) to CLOCK_MONOTONIC in the waiter once it sees the value; the binder \
         listener registered itself with the writer over RPC on a Unix socket and is called back \
         on its incoming connection.\n",
        machine_line(r),
        summary_table(rows),
        size_table(&size_rows(r)),
        page_table(&page_costs(r)),
        control_table(r),
        wake_table(r),
        targets_table(targets)?,
        bytes(crate::clients::BINDER_CHUNK),
    ))
}

/// One line of the throughput chart: its legend, colour and value per size.
type Series = (&'static str, RGBColor, fn(&SizeRow) -> Option<f64>);

/// The throughput chart's lines.
const SERIES: [Series; 6] = [
    (
        "memcpy, private buffers (baseline)",
        RGBColor(0x55, 0x55, 0x55),
        |s| Some(s.memcpy),
    ),
    (
        "shared region, steady state (write_at)",
        RGBColor(0x1f, 0x77, 0xb4),
        |s| Some(s.region),
    ),
    (
        "shared region, first touch",
        RGBColor(0xff, 0x7f, 0x0e),
        |s| s.first_touch,
    ),
    (
        "shared region, first touch, populate",
        RGBColor(0x2c, 0xa0, 0x2c),
        |s| s.first_touch_populated,
    ),
    ("binder byte[] calls", RGBColor(0xd6, 0x27, 0x28), |s| {
        s.binder
    }),
    (
        "binder byte[] calls, tuned malloc",
        RGBColor(0x94, 0x67, 0xbd),
        |s| s.binder_tuned,
    ),
];

/// A decade label: 0.1, 1, 10, 100 …
fn decade(exponent: f64) -> String {
    let e = exponent.round() as i32;
    if (exponent - f64::from(e)).abs() > 1e-6 {
        return String::new();
    }
    format!("{}", 10f64.powi(e))
}

/// A size label at log2(S) = `exponent`, on whole powers of two only.
fn power_of_two(exponent: f64) -> String {
    let e = exponent.round();
    if (exponent - e).abs() > 1e-6 || !(0.0..63.0).contains(&e) {
        return String::new();
    }
    bytes(1usize << e as u32)
}

/// Throughput against transfer size, log–log, drawn with plotters' SVG
/// backend (text stays `<text>`: no font is needed to draw it).
pub fn svg(r: &Results) -> Result<String, String> {
    let rows = size_rows(r);
    let values: Vec<f64> = rows
        .iter()
        .flat_map(|s| SERIES.iter().filter_map(move |(_, _, f)| f(s)))
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    let ymin = values
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .log10()
        .floor();
    let ymin = if ymin.is_finite() { ymin } else { 0.0 };
    let ymax = values
        .iter()
        .copied()
        .fold(0.0, f64::max)
        .log10()
        .ceil()
        .max(ymin + 1.0);
    let xmin = (rows.first().map_or(1, |s| s.size) as f64).log2();
    let xmax = (rows.last().map_or(2, |s| s.size) as f64)
        .log2()
        .max(xmin + 1.0);
    let err = |e: DrawingAreaErrorKind<std::io::Error>| e.to_string();
    let mut out = String::new();
    {
        let root = SVGBackend::with_string(&mut out, (820, 560)).into_drawing_area();
        root.fill(&WHITE).map_err(err)?;
        let (top, legend) = root.split_vertically(440);
        let mut chart = ChartBuilder::on(&top)
            .caption(
                format!(
                    "vendor.enea.buffer: throughput vs transfer size ({} run)",
                    r.mode
                ),
                ("sans-serif", 16),
            )
            .margin(12)
            .margin_right(36) // room for the last size label, centred on the edge
            .x_label_area_size(44)
            .y_label_area_size(56)
            .build_cartesian_2d(xmin..xmax, ymin..ymax)
            .map_err(err)?;
        chart
            .configure_mesh()
            .x_labels(((xmax - xmin) as usize + 1).min(16))
            .y_labels((ymax - ymin) as usize + 1)
            .x_label_formatter(&|v| power_of_two(*v))
            .y_label_formatter(&|v| decade(*v))
            .x_desc("transfer size S (log scale)")
            .y_desc("GB/s (log scale)")
            .max_light_lines(0)
            .bold_line_style(RGBColor(0xdd, 0xdd, 0xdd))
            .label_style(("sans-serif", 12))
            .draw()
            .map_err(err)?;
        for (i, (name, color, f)) in SERIES.iter().enumerate() {
            let points: Vec<(f64, f64)> = rows
                .iter()
                .filter_map(|s| {
                    f(s).filter(|v| v.is_finite() && *v > 0.0)
                        .map(|v| ((s.size as f64).log2(), v.log10()))
                })
                .collect();
            if points.is_empty() {
                continue;
            }
            chart
                .draw_series(LineSeries::new(points, color.filled().stroke_width(2)).point_size(3))
                .map_err(err)?;
            let y = 14 + 18 * i as i32;
            legend
                .draw(&PathElement::new(
                    vec![(70, y), (94, y)],
                    color.stroke_width(3),
                ))
                .map_err(err)?;
            legend
                .draw(&Text::new(
                    *name,
                    (100, y),
                    ("sans-serif", 12)
                        .into_font()
                        .color(&BLACK)
                        .pos(Pos::new(HPos::Left, VPos::Center)),
                ))
                .map_err(err)?;
        }
        root.present().map_err(err)?;
    }
    Ok(out)
}

/// Writes table.md, results.json and throughput.svg to `out` and prints the tables.
pub fn write(r: &Results, out: &Path) -> Result<(), String> {
    let targets = Targets::builtin()?;
    let rows = summary(r, &targets)?;
    let md = markdown(r, &rows, &targets)?;
    let json = serde_json::to_string_pretty(&serde_json::json!({
        "summary": rows,
        "by_size": size_rows(r),
        "first_touch_per_page": page_costs(r),
        "results": r,
    }))
    .map_err(|e| e.to_string())?;
    let put = |name: &str, text: &str| {
        let p = out.join(name);
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))
    };
    put("table.md", &md)?;
    put("results.json", &json)?;
    put("throughput.svg", &svg(r)?)?;
    println!("{md}");
    println!(
        "wrote {}, {} and {}",
        out.join("table.md").display(),
        out.join("results.json").display(),
        out.join("throughput.svg").display()
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    use super::*;
    use crate::procs::Footprint;
    use crate::proto::{
        BinderBulk, BinderBulkPoint, BulkPoint, Control, FirstTouch, Records, SnapshotPoint,
    };
    use crate::suite::{Counter, Daemon, Machine, Plan, Wakeup};

    /// A run's results with made-up numbers (the quick plan's shape).
    fn sample() -> Results {
        let plan = Plan::quick();
        let secs = |size: usize, gbps: f64| size as f64 / (gbps * 1e9);
        let binder = |gbps: f64| BinderBulk {
            points: plan
                .sizes
                .iter()
                .map(|&size| BinderBulkPoint {
                    size,
                    chunk: size,
                    transfer_s: secs(size, gbps),
                    iters: 1,
                    rounds: 1,
                })
                .collect(),
            sent: 1,
            received: 1,
        };
        let footprint = Footprint {
            rss: 3 << 20,
            fds: 15,
            ..Footprint::default()
        };
        Results {
            mode: "test".into(),
            machine: Machine {
                cpu: "cpu".into(),
                cpus: 2,
                memory: 1 << 30,
                kernel: "6.0".into(),
                profile: "release".into(),
            },
            bulk: plan
                .sizes
                .iter()
                .map(|&size| BulkPoint {
                    size,
                    memcpy_s: secs(size, 30.0),
                    shm_s: secs(size, 29.0),
                    iters: 1,
                    rounds: 1,
                })
                .collect(),
            first_touch: plan
                .sizes
                .iter()
                .map(|&size| FirstTouch {
                    size,
                    memcpy_s: secs(size, 30.0),
                    map_plain_s: 1e-5,
                    copy_plain_s: secs(size, 8.0),
                    map_populate_s: 2e-5,
                    copy_populate_s: secs(size, 25.0),
                    rounds: 1,
                })
                .collect(),
            binder_bulk: binder(0.7),
            binder_bulk_tuned: binder(1.5),
            control: Control {
                noop_s: 11e-6,
                get_buffer_s: 13e-6,
                map_cycle_s: 14e-6,
                pingpong_s: 4.5e-6,
                iters: 1,
                rounds: 1,
            },
            counter: plan
                .processes
                .iter()
                .map(|&processes| Counter {
                    processes,
                    shm_rate: 1.5e8,
                    shm_final: 1,
                    shm_exact: true,
                    binder_rate: 1e5,
                    binder_final: 1,
                    binder_exact: true,
                })
                .collect(),
            records: Records {
                snapshots: vec![SnapshotPoint {
                    size: 64,
                    snapshot_s: 20e-9,
                    read_at_s: 10e-9,
                }],
                fetch_add_s: 6e-9,
                raw_fetch_add_s: 5e-9,
            },
            wakeup: Wakeup {
                futex_s: vec![20e-6, 30e-6, 25e-6],
                binder_s: vec![100e-6, 120e-6, 110e-6],
                poll_s: vec![0.05, 0.02, 0.09],
            },
            daemon: Daemon {
                ready_ms: vec![6.0, 7.0, 5.0],
                start: footprint,
                after: footprint,
                clients: 50,
                touched: 50,
            },
            elapsed_s: 1.0,
            load_start: [0.5, 0.4, 0.3],
            load_end: [0.6, 0.4, 0.3],
            plan,
        }
    }

    #[test]
    fn every_row_has_a_target_and_every_target_a_row() {
        let targets = Targets::builtin().unwrap();
        let rows = summary(&sample(), &targets).unwrap();
        let used: BTreeSet<&str> = rows.iter().map(|r| r.key.as_str()).collect();
        let listed: BTreeSet<&str> = targets.keys().collect();
        assert_eq!(used, listed);
        for row in &rows {
            assert_eq!(row.id, row_id(&row.key));
            assert_eq!(row.target, targets.get(&row.key).unwrap().text);
        }
    }

    #[test]
    fn a_row_without_a_target_fails_the_report() {
        let targets = Targets::parse("[P1]\nvalue = \"x\"\ntext = \"report\"\n").unwrap();
        assert!(summary(&sample(), &targets).is_err());
    }

    #[test]
    fn the_targets_judge_the_rows() {
        let targets = Targets::builtin().unwrap();
        let met = |r: &Results, key: &str| -> Vec<Option<bool>> {
            summary(r, &targets)
                .unwrap()
                .into_iter()
                .filter(|row| row.key == key)
                .map(|row| row.met)
                .collect()
        };
        let mut r = sample();
        // futex 25 µs against a 110 µs callback: 0.23 ≤ 0.25.
        assert_eq!(met(&r, "P6"), [Some(true)]);
        assert_eq!(met(&r, "P6-poll"), [None]);
        r.wakeup.futex_s = vec![30e-6];
        assert_eq!(met(&r, "P6"), [Some(false)]);
        assert!(met(&r, "P4").iter().all(|m| *m == Some(true)));
        r.counter[1].binder_exact = false;
        assert_eq!(met(&r, "P4")[1], Some(false));
        assert_eq!(met(&r, "P5-fds"), [Some(true)]);
        r.daemon.after.fds += 1;
        assert_eq!(met(&r, "P5-fds"), [Some(false)]);
    }

    #[test]
    fn small_ratios_keep_two_significant_digits() {
        let d = || Draft::new("P1", String::new(), String::new(), String::new());
        assert_eq!(d().ratio(0.254, "×").ratio_text, "0.25×");
        assert_eq!(d().ratio(0.000183, "×").ratio_text, "0.00018×");
        assert_eq!(d().ratio(0.0123, "").ratio_text, "0.01");
        assert_eq!(d().ratio(2568.5, "×").ratio_text, "2568.50×");
        assert_eq!(latency(63.0e-3), "63.0 ms");
        assert_eq!(latency(11.5e-6), "11.5 µs");
    }

    #[test]
    fn the_report_has_the_wake_up_table_and_the_load() {
        let r = sample();
        let targets = Targets::builtin().unwrap();
        let md = markdown(&r, &summary(&r, &targets).unwrap(), &targets).unwrap();
        assert!(md.contains("| oneway binder callback to a registered listener | 3 | 110.0 |"));
        assert!(md.contains("load average (1, 5, 15 min) 0.50 0.40 0.30 at the start"));
        assert!(md
            .contains("| P6 | futex wake-up / oneway binder callback, median latency | ≤ 0.25× |"));
    }

    #[test]
    fn the_chart_is_svg_with_text_not_glyphs() {
        let svg = svg(&sample()).unwrap();
        assert!(svg.contains("<svg"));
        assert!(svg.contains("<text"));
        for (name, _, _) in SERIES {
            assert!(svg.contains(name), "no legend for {name}");
        }
        for label in ["4 KiB", "64 KiB", "1 MiB", "GB/s (log scale)"] {
            assert!(svg.contains(label), "no {label}");
        }
    }
}
