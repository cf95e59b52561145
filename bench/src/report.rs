//! The report: one generic line per measured value of each row of
//! `bench/targets.toml` (value, target, met / missed / reported),
//! throughput by size, the results as JSON, and an SVG of throughput
//! against transfer size.

use std::fmt::Write as _;
use std::path::Path;

use serde::Serialize;

use crate::clients::BINDER_CHUNK;
use crate::measure::gbps;
use crate::proto::{BinderPoint, FirstTouch, Line};
use crate::suite::Results;
use crate::targets::Targets;

const MIB: usize = 1 << 20;

/// A line as judged by its row's target.
#[derive(Debug, Serialize)]
pub struct Row<'a> {
    #[serde(flatten)]
    pub line: &'a Line,
    pub value: f64,
    pub target: &'a str,
    pub status: &'static str,
}

fn bytes(n: usize) -> String {
    match n {
        _ if n >= MIB && n % MIB == 0 => format!("{} MiB", n / MIB),
        _ if n >= 1024 && n % 1024 == 0 => format!("{} KiB", n / 1024),
        _ => format!("{n} B"),
    }
}

/// Two decimals, or two significant digits below 1.
fn num(x: f64) -> String {
    if x.abs() >= 1.0 || x == 0.0 || !x.is_finite() {
        format!("{x:.2}")
    } else {
        format!("{x:.*}", (1.0 - x.abs().log10().floor()) as usize)
    }
}

/// Pre-faulting: what `map_with(populate)` costs beyond `map()`.
fn prefault(f: &FirstTouch) -> f64 {
    (f.map_populate_s - f.map_plain_s).max(0.0)
}

/// The line of `key` for the worst (lowest) product / baseline among
/// (size, product, baseline) at S ≥ 1 MiB, or at the largest S if none is.
fn worst(key: &str, points: impl Iterator<Item = (usize, f64, f64)>) -> Option<Line> {
    let all: Vec<_> = points.collect();
    let largest = all.iter().map(|p| p.0).max()?;
    let (s, a, b) = all
        .into_iter()
        .filter(|p| p.0 >= MIB.min(largest))
        .min_by(|x, y| (x.1 / x.2).total_cmp(&(y.1 / y.2)))?;
    Some(Line::new(
        key,
        format!("S = {}", bytes(s)),
        a,
        Some(b),
        "GB/s",
    ))
}

/// P1, P1b and P2, from the measurements by size (the other rows come as lines).
fn size_lines(r: &Results) -> Vec<Line> {
    let ft = |f: &FirstTouch, copy_s| (f.size, gbps(f.size, copy_s), gbps(f.size, f.memcpy_s));
    let mut out: Vec<Line> = r
        .bulk
        .iter()
        .flat_map(|p| {
            [
                ("write", p.shm_s, p.memcpy_s),
                ("read", p.read_s, p.memcpy_out_s),
            ]
            .map(|(how, s, base)| (p, how, s, base))
        })
        .map(|(p, how, s, base)| {
            let what = format!("{how}, S = {}", bytes(p.size));
            Line::new(
                "P1",
                what,
                gbps(p.size, s),
                Some(gbps(p.size, base)),
                "GB/s",
            )
        })
        .collect();
    out.extend(
        [
            worst(
                "P1b-fault",
                r.first_touch.iter().map(|f| ft(f, f.copy_plain_s)),
            ),
            worst(
                "P1b-populate",
                r.first_touch
                    .iter()
                    .map(|f| ft(f, f.copy_populate_s + prefault(f))),
            ),
        ]
        .into_iter()
        .flatten(),
    );
    // Even a copy at memcpy speed reaches only memcpy / (memcpy + pre-fault).
    if let Some(l) = out.iter_mut().find(|l| l.key == "P1b-populate") {
        if let Some(f) = r
            .first_touch
            .iter()
            .find(|f| l.what.ends_with(&bytes(f.size)))
        {
            let ceiling = f.memcpy_s / (f.memcpy_s + prefault(f));
            l.what += &format!("; pre-faulting caps it at {ceiling:.2}");
        }
    }
    for (key, points) in [("P2", &r.binder), ("P2-tuned", &r.binder_tuned)] {
        let p = points.iter().max_by_key(|p| p.size);
        if let Some((p, region)) =
            p.and_then(|p| Some((p, r.bulk.iter().find(|b| b.size == p.size)?)))
        {
            let (a, b) = (gbps(p.size, region.shm_s), gbps(p.size, p.transfer_s));
            out.push(Line::new(
                key,
                format!("S = {}", bytes(p.size)),
                a,
                Some(b),
                "GB/s",
            ));
        }
    }
    out
}

/// Every line in targets.toml's order, judged by its row's target (not in
/// a quick run); an error if a row has no line (unless `partial`: a run of
/// some rows) or a line no row.
pub fn judge<'a>(
    lines: &'a [Line],
    targets: &'a Targets,
    quick: bool,
    partial: bool,
) -> Result<Vec<Row<'a>>, String> {
    if let Some(stray) = lines
        .iter()
        .find(|l| !targets.iter().any(|(k, _)| k == l.key))
    {
        return Err(format!("targets.toml has no row {}", stray.key));
    }
    let mut rows = Vec::new();
    for (key, target) in targets.iter() {
        let before = rows.len();
        for line in lines.iter().filter(|l| l.key == key) {
            let value = line.value();
            let status = match (line.exact, quick, target.check(value, line.exact)) {
                (false, ..) => "counts WRONG",
                (true, true, _) => "not judged (quick run)",
                (true, false, Some(true)) => "✅ met",
                (true, false, Some(false)) => "❌ missed",
                (true, false, None) => "reported",
            };
            rows.push(Row {
                line,
                value,
                target: &target.text,
                status,
            });
        }
        if rows.len() == before && !partial {
            return Err(format!("row {key} of targets.toml was not measured"));
        }
    }
    Ok(rows)
}

/// The rows as a Markdown table.
fn summary(rows: &[Row], targets: &Targets) -> String {
    let mut t = String::from(
        "| Row | Value | Measured | Target | Status | Product vs baseline (same run) |\n\
         |---|---|---:|---|---|---|\n",
    );
    for Row {
        line: l,
        value,
        target,
        status,
    } in rows
    {
        let t_ = targets.iter().find(|(k, _)| *k == l.key).map(|(_, t)| t);
        let (what, unit) = t_.map_or(("", ""), |t| (t.value.as_str(), t.unit.as_str()));
        let instance = if l.what.is_empty() {
            String::new()
        } else {
            format!(" ({})", l.what)
        };
        let numbers = match l.baseline {
            Some(b) => format!("{} vs {} {}", num(l.product), num(b), l.unit),
            None => format!("{} {}", num(l.product), l.unit),
        };
        let _ = writeln!(
            t,
            "| {} | {what}{instance} | {}{unit} | {target} | {status} | {numbers} |",
            l.key,
            num(*value)
        );
    }
    t
}

/// The throughput series by size: legend and colour.
const SERIES: [(&str, &str); 6] = [
    ("memcpy, private buffers (baseline)", "#555555"),
    ("shared region, steady state (write_at)", "#1f77b4"),
    ("shared region, first touch", "#ff7f0e"),
    ("shared region, first touch, populate", "#2ca02c"),
    ("binder byte[] calls", "#d62728"),
    ("binder byte[] calls, tuned malloc", "#9467bd"),
];

/// GB/s of each [`SERIES`] at each transfer size of P1.
fn by_size(r: &Results) -> Vec<(usize, [Option<f64>; 6])> {
    let binder = |v: &[BinderPoint], s| {
        v.iter()
            .find(|b| b.size == s)
            .map(|b| gbps(s, b.transfer_s))
    };
    let rows = r.bulk.iter().map(|p| {
        let (s, ft) = (p.size, r.first_touch.iter().find(|f| f.size == p.size));
        let values = [
            Some(gbps(s, p.memcpy_s)),
            Some(gbps(s, p.shm_s)),
            ft.map(|f| gbps(s, f.copy_plain_s)),
            ft.map(|f| gbps(s, f.copy_populate_s + prefault(f))),
            binder(&r.binder, s),
            binder(&r.binder_tuned, s),
        ];
        (s, values)
    });
    rows.collect()
}

fn size_table(rows: &[(usize, [Option<f64>; 6])]) -> String {
    let mut t = format!(
        "| S | {} |\n|---:|{}\n",
        SERIES.map(|s| s.0).join(" | "),
        "---:|".repeat(6)
    );
    for (size, values) in rows {
        let cells = values.map(|v| v.map_or("—".into(), |v| format!("{v:.3}")));
        let _ = writeln!(t, "| {} | {} |", bytes(*size), cells.join(" | "));
    }
    t
}

/// Throughput against transfer size, log–log, as a self-contained SVG.
pub fn svg(r: &Results) -> String {
    let rows = by_size(r);
    let plotted = |v: &Option<f64>| v.filter(|v| v.is_finite() && *v > 0.0);
    let values: Vec<f64> = rows
        .iter()
        .flat_map(|(_, v)| v.iter().filter_map(plotted))
        .collect();
    let ylo = values
        .iter()
        .copied()
        .fold(f64::INFINITY, f64::min)
        .log10()
        .floor();
    let ylo = if ylo.is_finite() { ylo } else { 0.0 };
    let yhi = values
        .iter()
        .copied()
        .fold(0.0, f64::max)
        .log10()
        .ceil()
        .max(ylo + 1.0);
    let xlo = (rows.first().map_or(1, |r| r.0) as f64).log2();
    let xhi = (rows.last().map_or(2, |r| r.0) as f64)
        .log2()
        .max(xlo + 1.0);
    let x = |size: usize| 80.0 + ((size as f64).log2() - xlo) / (xhi - xlo) * 690.0;
    let y = |v: f64| 400.0 - (v.log10() - ylo) / (yhi - ylo) * 350.0;
    let mut s = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"820\" height=\"580\" \
         font-family=\"sans-serif\" font-size=\"12\">\n<rect width=\"820\" height=\"580\" fill=\"white\"/>\n\
         <text x=\"410\" y=\"24\" text-anchor=\"middle\" font-size=\"16\">vendor.enea.buffer: \
         throughput vs transfer size ({} run)</text>\n\
         <text x=\"425\" y=\"445\" text-anchor=\"middle\">transfer size S (log scale)</text>\n\
         <text x=\"20\" y=\"225\" text-anchor=\"middle\" transform=\"rotate(-90 20 225)\">GB/s (log scale)</text>\n",
        if r.quick { "quick, not a measurement" } else { "full" }
    );
    for e in ylo as i32..=yhi as i32 {
        let (yy, label) = (y(10f64.powi(e)), 10f64.powi(e));
        let _ = writeln!(
            s,
            "<line x1=\"80\" x2=\"770\" y1=\"{yy:.1}\" y2=\"{yy:.1}\" stroke=\"#ddd\"/>"
        );
        let _ = writeln!(
            s,
            "<text x=\"74\" y=\"{:.1}\" text-anchor=\"end\">{label}</text>",
            yy + 4.0
        );
    }
    for (size, _) in &rows {
        let (xx, label) = (x(*size), bytes(*size));
        let _ = writeln!(
            s,
            "<line x1=\"{xx:.1}\" x2=\"{xx:.1}\" y1=\"50\" y2=\"400\" stroke=\"#ddd\"/>"
        );
        let _ = writeln!(
            s,
            "<text x=\"{xx:.1}\" y=\"418\" text-anchor=\"middle\">{label}</text>"
        );
    }
    for (i, (name, colour)) in SERIES.iter().enumerate() {
        let point = |(size, v): &(usize, [Option<f64>; 6])| {
            plotted(&v[i]).map(|v| format!("{:.1},{:.1}", x(*size), y(v)))
        };
        let points: Vec<String> = rows.iter().filter_map(point).collect();
        let (ly, stroke) = (470 + 18 * i, format!("stroke=\"{colour}\""));
        let _ = writeln!(
            s,
            "<polyline points=\"{}\" fill=\"none\" {stroke} stroke-width=\"2\"/>",
            points.join(" ")
        );
        let _ = writeln!(
            s,
            "<line x1=\"80\" x2=\"104\" y1=\"{ly}\" y2=\"{ly}\" {stroke} stroke-width=\"3\"/>"
        );
        let _ = writeln!(s, "<text x=\"110\" y=\"{}\">{name}</text>", ly + 4);
    }
    s + "</svg>\n"
}

/// The whole Markdown report.
fn markdown(r: &Results, rows: &[Row], targets: &Targets) -> String {
    let banner = match r.quick {
        true => {
            "**Quick run: these numbers are not measurements.** Every row ran with tiny sizes \
                 and few iterations, to show that it runs and that its counts are exact; no target \
                 is judged. Run without `--quick` to measure.\n\n"
        }
        false => "",
    };
    format!(
        "# vendor.enea.buffer benchmark\n\n{banner}{} run on {}.\n\n## Rows\n\n{}\n\
         ## Throughput by transfer size (GB/s)\n\n{}\n![throughput vs transfer size](throughput.svg)\n\n\
         Every ratio compares numbers taken in the same run, most in the same process and \
         interleaved. First touch copies into a fresh mapping of a region of exactly S bytes; with \
         `populate` the pre-faulting is counted. Binder `put` moves {} `byte[]` chunks to a \
         bench-only server configured as the daemon is (its tokio workers and connection cap, RPC on a \
         Unix socket, android-13+ wire). Wake-up latency runs from CLOCK_MONOTONIC in the writer just before the \
         store (futex, spin, polling) or the oneway call to a listener registered with the writer \
         (binder) to CLOCK_MONOTONIC in the waiter once it sees the value; P8 runs from just before \
         the publish or send to once the reader holds the payload.\n",
        if r.quick { "Quick" } else { "Full" },
        r.machine,
        summary(rows, targets),
        size_table(&by_size(r)),
        bytes(BINDER_CHUNK),
    )
}

/// Writes table.md, results.json and throughput.svg to `out` and prints the
/// report; an error if any row's counts were wrong.
pub fn write(r: &Results, out: &Path) -> Result<(), String> {
    let targets = Targets::builtin()?;
    let lines: Vec<Line> = r.lines.iter().cloned().chain(size_lines(r)).collect();
    let rows = judge(&lines, &targets, r.quick, !r.plan.only.is_empty())?;
    let md = markdown(r, &rows, &targets);
    let json = serde_json::to_string_pretty(&serde_json::json!({ "rows": rows, "results": r }))
        .map_err(|e| e.to_string())?;
    for (name, text) in [
        ("table.md", &md),
        ("results.json", &json),
        ("throughput.svg", &svg(r)),
    ] {
        let p = out.join(name);
        std::fs::write(&p, text).map_err(|e| format!("{}: {e}", p.display()))?;
    }
    println!(
        "{md}\nwrote table.md, results.json and throughput.svg to {}",
        out.display()
    );
    let mut wrong: Vec<&str> = lines
        .iter()
        .filter(|l| !l.exact)
        .map(|l| l.key.as_str())
        .collect();
    wrong.dedup();
    match wrong.is_empty() {
        true => Ok(()),
        false => Err(format!("wrong counts in rows {}", wrong.join(", "))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::proto::BulkPoint;

    /// Results with made-up numbers: one size, one line per other row.
    fn sample() -> Results {
        let (size, memcpy_s) = (MIB, 1e-4);
        let (map_plain_s, map_populate_s, copy_plain_s, copy_populate_s) = (1e-5, 2e-5, 4e-4, 2e-4);
        let ft = FirstTouch {
            size,
            memcpy_s,
            map_plain_s,
            copy_plain_s,
            map_populate_s,
            copy_populate_s,
        };
        let binder = vec![BinderPoint {
            size,
            transfer_s: 1e-2,
        }];
        let mut lines = vec![Line::new("P4", String::new(), 100.0, Some(0.1), "M/s")];
        for key in [
            "P3",
            "P3-floor",
            "P4-no-waiter",
            "P5-rss",
            "P5-ready",
            "P6",
            "P6-spin",
            "P6-poll",
            "P7",
            "P7-small",
            "P8",
        ] {
            lines.push(Line::new(key, String::new(), 1.0, Some(10.0), "x"));
        }
        Results {
            bulk: vec![BulkPoint {
                size,
                memcpy_s,
                memcpy_out_s: memcpy_s,
                shm_s: 2e-4,
                read_s: 1e-4,
            }],
            first_touch: vec![ft],
            binder_tuned: binder.clone(),
            binder,
            lines,
            ..Results::default()
        }
    }

    #[test]
    fn every_row_is_measured_and_judged_by_its_target() {
        let (r, targets) = (sample(), Targets::builtin().unwrap());
        let lines: Vec<Line> = r.lines.iter().cloned().chain(size_lines(&r)).collect();
        let rows = judge(&lines, &targets, false, false).unwrap();
        assert_eq!(
            (rows[0].line.key.as_str(), rows[0].line.what.as_str()),
            ("P1", "write, S = 1 MiB")
        );
        assert_eq!((rows[0].value, rows[0].status), (0.5, "❌ missed"));
        assert_eq!(
            (rows[1].line.what.as_str(), rows[1].status),
            ("read, S = 1 MiB", "✅ met")
        );
        let status = |key: &str| rows.iter().find(|r| r.line.key == key).unwrap().status;
        assert_eq!(
            (status("P4"), status("P6"), status("P6-poll")),
            ("✅ met", "✅ met", "reported")
        );
        let partial = Targets::parse("[P1]\nvalue = \"x\"\ntext = \"t\"\n").unwrap();
        assert!(judge(&lines, &partial, false, false).is_err());
        assert!(judge(&lines[..3], &targets, false, false).is_err());
        // A run of some rows judges those and leaves the others out.
        let p1 = judge(&lines[lines.len() - 5..], &targets, false, true).unwrap();
        assert!(p1
            .iter()
            .all(|r| r.line.key.starts_with("P1") || r.line.key.starts_with("P2")));
    }

    #[test]
    fn a_quick_run_judges_nothing_but_the_counts() {
        let mut r = sample();
        r.quick = true;
        r.lines[0].exact = false;
        let dir = std::env::temp_dir().join(format!("enea-bench-report-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        assert!(write(&r, &dir).is_err(), "a wrong count must fail the run");
        let md = std::fs::read_to_string(dir.join("table.md")).unwrap();
        assert!(md.contains("these numbers are not measurements"));
        assert!(!md.contains('❌') && !md.contains("missed") && md.contains("counts WRONG"));
        let svg = std::fs::read_to_string(dir.join("throughput.svg")).unwrap();
        assert!(svg.contains("<polyline") && svg.contains("1 MiB") && svg.contains(SERIES[5].0));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
