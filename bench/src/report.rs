//! The report: one summary table (ratios against same-run baselines, with
//! targets), a per-size table, JSON, and an SVG plot of throughput vs size.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::measure::{gbps, median};
use crate::suite::Results;

const MIB: usize = 1 << 20;

/// One line of the summary table.
#[derive(Clone, Debug, Serialize)]
pub struct Row {
    /// P1 … P5.
    pub id: String,
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

/// The summary table's rows.
pub fn summary(r: &Results) -> Vec<Row> {
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
    let mut ratio_row = |id: &str,
                         measure: String,
                         product: String,
                         baseline: String,
                         ratio: f64,
                         unit: &str,
                         target: &str,
                         met: Option<bool>| {
        rows.push(Row {
            id: id.into(),
            measure,
            product,
            baseline,
            ratio: Some(ratio),
            ratio_text: format!("{ratio:.2}{unit}"),
            target: target.into(),
            met,
        })
    };

    if let Some((s, a, b)) = worst(&big, |s| Some((s.region, s.memcpy))) {
        ratio_row(
            "P1",
            format!(
                "bulk copy into the mapped region, steady state ({range}: {})",
                bytes(s.size)
            ),
            format!("{a:.2} GB/s"),
            format!("memcpy {b:.2} GB/s"),
            a / b,
            "",
            "≥ 0.90",
            Some(a / b >= 0.90),
        );
    }
    if let Some((s, a, b)) = worst(&big, |s| s.first_touch.zip(s.first_touch_memcpy)) {
        ratio_row(
            "P1b",
            format!(
                "first touch, page faults included ({range}: {})",
                bytes(s.size)
            ),
            format!("{a:.2} GB/s"),
            format!("memcpy {b:.2} GB/s"),
            a / b,
            "",
            "report",
            None,
        );
    }
    let costs = page_costs(r);
    if let Some((s, a, b)) = worst(&big, |s| s.first_touch_populated.zip(s.first_touch_memcpy)) {
        let ceiling = costs
            .iter()
            .find(|c| c.size == s.size)
            .map_or(f64::NAN, |c| c.populate_ceiling);
        ratio_row(
            "P1b",
            format!(
                "first touch, `MapOptions {{ populate: true }}`, pre-faulting counted \
                 ({range}: {}; ceiling set by the kernel's pre-fault cost: {ceiling:.2})",
                bytes(s.size)
            ),
            format!("{a:.2} GB/s"),
            format!("memcpy {b:.2} GB/s"),
            a / b,
            "",
            "≥ 0.70",
            Some(a / b >= 0.70),
        );
    }
    if let Some(s) = sizes
        .iter()
        .filter(|s| s.binder.is_some())
        .max_by_key(|s| s.size)
    {
        let b = s.binder.unwrap_or(f64::NAN);
        ratio_row(
            "P2",
            format!(
                "shared memory vs the same bytes as binder `byte[]` calls (S = {})",
                bytes(s.size)
            ),
            format!("region {:.2} GB/s", s.region),
            format!("binder {b:.3} GB/s"),
            s.region / b,
            "×",
            "≥ 20×",
            Some(s.region / b >= 20.0),
        );
        let t = s.binder_tuned.unwrap_or(f64::NAN);
        ratio_row(
            "P2",
            format!(
                "the same, binder at its best: glibc malloc tuned so rsbinder's \
                 per-call buffers stop page-faulting (S = {})",
                bytes(s.size)
            ),
            format!("region {:.2} GB/s", s.region),
            format!("binder {t:.3} GB/s"),
            s.region / t,
            "×",
            "report",
            None,
        );
    }
    let c = &r.control;
    ratio_row(
        "P3",
        "control path: getBuffer + map + unmap + close".into(),
        us(c.map_cycle_s),
        format!("getBufferSize() {}", us(c.noop_s)),
        c.map_cycle_s / c.noop_s,
        "×",
        "≤ 2.0×",
        Some(c.map_cycle_s / c.noop_s <= 2.0),
    );
    ratio_row(
        "P3",
        "no-op binder call vs the Unix-socket round-trip floor".into(),
        format!("getBufferSize() {}", us(c.noop_s)),
        format!("1-byte ping-pong {}", us(c.pingpong_s)),
        c.noop_s / c.pingpong_s,
        "×",
        "report",
        None,
    );
    for k in &r.counter {
        let exact = |e: bool| if e { "exact" } else { "WRONG" };
        ratio_row(
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
            k.shm_rate / k.binder_rate,
            "×",
            "≥ 100×, exact",
            Some(k.shm_rate / k.binder_rate >= 100.0 && k.shm_exact && k.binder_exact),
        );
    }
    let w = &r.wakeup;
    let (futex, poll) = (median(&w.futex_s), median(&w.poll_s));
    ratio_row(
        "P6",
        "wake-up latency writer → waiter: futex vs 100 ms polling (median)".into(),
        format!("futex {}", us(futex)),
        format!("polling {}", us(poll)),
        futex / poll,
        "×",
        "report (binder-callback baseline not built yet)",
        None,
    );
    let rec = &r.records;
    let per_s = |secs: f64| rate(1.0 / secs);
    ratio_row(
        "P4",
        "1 process, nobody waiting: fetch_add_u32 (atomic + waiter check) vs a plain atomic".into(),
        format!("{} fetch_add_u32", per_s(rec.fetch_add_s)),
        format!("{} fetch_add", per_s(rec.raw_fetch_add_s)),
        rec.raw_fetch_add_s / rec.fetch_add_s,
        "×",
        "≥ 0.80×",
        Some(rec.raw_fetch_add_s / rec.fetch_add_s >= 0.80),
    );
    for p in &rec.snapshots {
        ratio_row(
            "P7",
            format!("snapshot vs read_at, {}", bytes(p.size)),
            format!("snapshot {:.0} ns", p.snapshot_s * 1e9),
            format!("read_at {:.0} ns", p.read_at_s * 1e9),
            p.read_at_s / p.snapshot_s,
            "×",
            "report",
            None,
        );
    }
    let d = &r.daemon;
    let mib = |b: u64| b as f64 / MIB as f64;
    rows.push(Row {
        id: "P5".into(),
        measure: "daemon RSS after start (anon + file + shmem)".into(),
        product: format!(
            "{:.2} MiB ({:.2} + {:.2} + {:.2}; PSS {:.2}), {} threads",
            mib(d.start.rss),
            mib(d.start.rss_anon),
            mib(d.start.rss_file),
            mib(d.start.rss_shmem),
            mib(d.start.pss),
            d.start.threads
        ),
        baseline: "—".into(),
        ratio: None,
        ratio_text: "—".into(),
        target: "≤ 4 MiB".into(),
        met: Some(d.start.rss <= 4 * MIB as u64),
    });
    let growth = d.after.rss as f64 / d.start.rss as f64 - 1.0;
    rows.push(Row {
        id: "P5".into(),
        measure: format!("daemon RSS after {} clients came and went", d.clients),
        product: format!("{:.2} MiB, {} threads", mib(d.after.rss), d.after.threads),
        baseline: format!("{:.2} MiB after start", mib(d.start.rss)),
        ratio: Some(1.0 + growth),
        ratio_text: format!("{:+.1} %", growth * 100.0),
        target: "≤ +10 %".into(),
        met: Some(growth <= 0.10),
    });
    rows.push(Row {
        id: "P5".into(),
        measure: format!("daemon fds after {} clients came and went", d.clients),
        product: format!("{} fds", d.after.fds),
        baseline: format!("{} fds after start", d.start.fds),
        ratio: None,
        ratio_text: format!("{:+}", d.after.fds as i64 - d.start.fds as i64),
        target: "no growth".into(),
        met: Some(d.after.fds <= d.start.fds),
    });
    let ready = median(&d.ready_ms);
    rows.push(Row {
        id: "P5".into(),
        measure: format!(
            "exec → first successful client call (median of {})",
            d.ready_ms.len()
        ),
        product: format!("{ready:.1} ms"),
        baseline: "—".into(),
        ratio: None,
        ratio_text: "—".into(),
        target: "≤ 20 ms".into(),
        met: Some(ready <= 20.0),
    });
    rows
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

fn machine_line(r: &Results) -> String {
    let m = &r.machine;
    format!(
        "{} run on {} ({} CPUs), {:.0} GiB RAM, Linux {}, `{}` profile; {:.0} s wall.",
        r.mode,
        m.cpu,
        m.cpus,
        m.memory as f64 / (1u64 << 30) as f64,
        m.kernel,
        m.profile,
        r.elapsed_s
    )
}

/// The whole Markdown report.
pub fn markdown(r: &Results, rows: &[Row]) -> String {
    format!(
        "# vendor.enea.buffer benchmark\n\n{}\n\n## Summary\n\n{}\n\
         ## Throughput by transfer size (GB/s; ratio to memcpy in the same client process)\n\n{}\n\
         ## First touch: what a fresh mapping costs per page\n\n{}\n\
         ## Control path\n\n{}\n\
         Notes: every ratio compares numbers taken in the same run, most of them in the same \
         process and interleaved. First touch copies into a fresh mapping of a region of exactly \
         S bytes; with `populate` the pre-faulting (what `map_with(populate)` costs beyond `map()`) \
         is counted. Binder `put` moves {} `byte[]` chunks to a bench-only server configured as the \
         daemon is (tokio, 2 workers, RPC on a Unix socket, android-13+ wire).\n",
        machine_line(r),
        summary_table(rows),
        size_table(&size_rows(r)),
        page_table(&page_costs(r)),
        control_table(r),
        bytes(crate::clients::BINDER_CHUNK),
    )
}

/// Throughput against transfer size, log–log.
pub fn svg(r: &Results) -> String {
    let rows = size_rows(r);
    type Series = (
        &'static str,
        &'static str,
        Box<dyn Fn(&SizeRow) -> Option<f64>>,
    );
    let series: [Series; 6] = [
        (
            "memcpy, private buffers (baseline)",
            "#555555",
            Box::new(|s| Some(s.memcpy)),
        ),
        (
            "shared region, steady state (write_at)",
            "#1f77b4",
            Box::new(|s| Some(s.region)),
        ),
        (
            "shared region, first touch",
            "#ff7f0e",
            Box::new(|s| s.first_touch),
        ),
        (
            "shared region, first touch, populate",
            "#2ca02c",
            Box::new(|s| s.first_touch_populated),
        ),
        ("binder byte[] calls", "#d62728", Box::new(|s| s.binder)),
        (
            "binder byte[] calls, tuned malloc",
            "#9467bd",
            Box::new(|s| s.binder_tuned),
        ),
    ];
    let (w, h, left, right, top, bottom) = (820.0, 520.0, 70.0, 20.0, 40.0, 170.0);
    let (pw, ph) = (w - left - right, h - top - bottom);
    let values: Vec<f64> = rows
        .iter()
        .flat_map(|s| series.iter().filter_map(move |(_, _, f)| f(s)))
        .filter(|v| v.is_finite() && *v > 0.0)
        .collect();
    let ymin = values
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .log10()
        .floor();
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
    let x = |size: usize| left + ((size as f64).log2() - xmin) / (xmax - xmin) * pw;
    let y = |v: f64| top + (ymax - v.log10()) / (ymax - ymin) * ph;
    let mut o = String::new();
    let _ = writeln!(
        o,
        r#"<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" font-family="sans-serif" font-size="12">"#
    );
    let _ = writeln!(o, r#"<rect width="{w}" height="{h}" fill="white"/>"#);
    let _ = writeln!(
        o,
        r#"<text x="{}" y="22" text-anchor="middle" font-size="15">vendor.enea.buffer: throughput vs transfer size ({} run)</text>"#,
        w / 2.0,
        r.mode
    );
    let mut decade = ymin;
    while decade <= ymax {
        let yy = top + (ymax - decade) / (ymax - ymin) * ph;
        let _ = writeln!(
            o,
            r##"<line x1="{left}" y1="{yy:.1}" x2="{:.1}" y2="{yy:.1}" stroke="#dddddd"/><text x="{:.1}" y="{:.1}" text-anchor="end">{}</text>"##,
            left + pw,
            left - 6.0,
            yy + 4.0,
            10f64.powf(decade)
        );
        decade += 1.0;
    }
    for s in &rows {
        let xx = x(s.size);
        let _ = writeln!(
            o,
            r##"<line x1="{xx:.1}" y1="{top}" x2="{xx:.1}" y2="{:.1}" stroke="#eeeeee"/><text x="{xx:.1}" y="{:.1}" text-anchor="middle">{}</text>"##,
            top + ph,
            top + ph + 16.0,
            bytes(s.size)
        );
    }
    let _ = writeln!(
        o,
        r##"<rect x="{left}" y="{top}" width="{pw}" height="{ph}" fill="none" stroke="#333333"/>"##
    );
    let _ = writeln!(
        o,
        r#"<text x="{:.1}" y="{:.1}" text-anchor="middle">transfer size S (bytes, log scale)</text>"#,
        left + pw / 2.0,
        top + ph + 36.0
    );
    let _ = writeln!(
        o,
        r#"<text transform="translate(18 {:.1}) rotate(-90)" text-anchor="middle">GB/s (log scale)</text>"#,
        top + ph / 2.0
    );
    for (i, (name, color, f)) in series.iter().enumerate() {
        let pts: Vec<String> = rows
            .iter()
            .filter_map(|s| {
                f(s).filter(|v| *v > 0.0)
                    .map(|v| format!("{:.1},{:.1}", x(s.size), y(v)))
            })
            .collect();
        if pts.is_empty() {
            continue;
        }
        let _ = writeln!(
            o,
            r#"<polyline fill="none" stroke="{color}" stroke-width="2" points="{}"/>"#,
            pts.join(" ")
        );
        for p in &pts {
            let (px, py) = p.split_once(',').unwrap_or(("0", "0"));
            let _ = writeln!(o, r#"<circle cx="{px}" cy="{py}" r="3" fill="{color}"/>"#);
        }
        let ly = top + ph + 56.0 + i as f64 * 17.0;
        let _ = writeln!(
            o,
            r#"<line x1="{left}" y1="{ly:.1}" x2="{:.1}" y2="{ly:.1}" stroke="{color}" stroke-width="3"/><text x="{:.1}" y="{:.1}">{name}</text>"#,
            left + 24.0,
            left + 30.0,
            ly + 4.0
        );
    }
    o.push_str("</svg>\n");
    o
}

/// Writes table.md, results.json and throughput.svg to `out` and prints the tables.
pub fn write(r: &Results, out: &Path) -> Result<(), String> {
    let rows = summary(r);
    let md = markdown(r, &rows);
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
    put("throughput.svg", &svg(r))?;
    println!("{md}");
    println!(
        "wrote {}, {} and {}",
        out.join("table.md").display(),
        out.join("results.json").display(),
        out.join("throughput.svg").display()
    );
    Ok(())
}
