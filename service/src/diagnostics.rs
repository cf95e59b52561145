//! What `dumpsys vendor.enea.buffer.IEneaBuffer/default` (Android) and
//! `eneabuf dump` (Linux) print: the binder dump transaction's text.
//!
//! The format is line-oriented `key: value`, one section per topic, and is
//! documented in docs/diagnostics.md; tools may parse it.

use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use crate::calls::CallTable;

/// How many recent errors the dump keeps.
const LAST_ERRORS: usize = 8;

/// What the dump shows beside the call table (which it reads at dump
/// time): uptime, transport, recent errors. Shared by every binder thread.
pub struct Diagnostics {
    started: Instant,
    transport: OnceLock<String>,
    errors: Mutex<VecDeque<(Instant, String)>>,
}

/// The region facts the dump shows (read at dump time).
pub struct RegionFacts {
    /// Size in bytes.
    pub len: usize,
    /// `st_dev` of the memfd.
    pub dev: u64,
    /// `st_ino` of the memfd.
    pub ino: u64,
    /// Word 0, now.
    pub word0: u32,
}

impl Default for Diagnostics {
    fn default() -> Self {
        Self::new()
    }
}

impl Diagnostics {
    /// Counters starting now.
    pub fn new() -> Self {
        Self {
            started: Instant::now(),
            transport: OnceLock::new(),
            errors: Mutex::new(VecDeque::new()),
        }
    }

    /// Records where the service is reachable (once serving started).
    pub fn set_transport(&self, description: String) {
        let _ = self.transport.set(description);
    }

    /// Remembers an error for the dump (the newest few are kept).
    pub fn error(&self, message: String) {
        let mut errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        if errors.len() == LAST_ERRORS {
            errors.pop_front();
        }
        errors.push_back((Instant::now(), message));
    }

    /// The dump text, with the callers from `calls`.
    pub fn render(
        &self,
        service: &str,
        version: i32,
        hash: &str,
        region: &RegionFacts,
        calls: &CallTable,
    ) -> String {
        let now = Instant::now();
        let mut out = String::new();
        let _ = writeln!(out, "service: {service}");
        let _ = writeln!(out, "interface version: {version}");
        let _ = writeln!(out, "interface hash: {hash}");
        let transport = self
            .transport
            .get()
            .map_or("(not serving yet)", String::as_str);
        let _ = writeln!(out, "transport: {transport}");
        let _ = writeln!(out, "uptime: {}", seconds(now - self.started));
        let _ = writeln!(
            out,
            "region: {} bytes, dev {:#x}, inode {}",
            region.len, region.dev, region.ino
        );
        let _ = writeln!(out, "word 0: {:#010x}", region.word0);
        let _ = writeln!(out, "callers:");
        let rows = calls.totals();
        if rows.is_empty() {
            let _ = writeln!(out, "  (none)");
        }
        for (who, c) in rows {
            let methods: Vec<String> = c
                .calls
                .iter()
                .map(|(call, n)| format!("{} {n}", call.name()))
                .collect();
            let _ = writeln!(
                out,
                "  {who}: calls [{}], fds handed out {}, refused {}",
                methods.join(", "),
                c.fds,
                c.refused
            );
        }
        let _ = writeln!(out, "last errors:");
        let errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        if errors.is_empty() {
            let _ = writeln!(out, "  (none)");
        }
        for (at, message) in errors.iter() {
            let _ = writeln!(out, "  {} ago: {message}", seconds(now - *at));
        }
        out
    }
}

/// `12.3 s`: enough precision for a human, stable to parse.
fn seconds(d: Duration) -> String {
    format!("{:.1} s", d.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::calls::{Call, MAX_UIDS};

    fn facts() -> RegionFacts {
        RegionFacts {
            len: 10240,
            dev: 0x1,
            ino: 42,
            word0: 0xdead_cafe,
        }
    }

    #[test]
    fn a_fresh_dump_names_every_section() {
        let d = Diagnostics::new();
        let calls = CallTable::default();
        let text = d.render("svc/default", 1, "abc", &facts(), &calls);
        let keys: Vec<&str> = text
            .lines()
            .filter(|l| !l.starts_with(' '))
            .map(|l| l.split(':').next().unwrap())
            .collect();
        assert_eq!(
            keys,
            [
                "service",
                "interface version",
                "interface hash",
                "transport",
                "uptime",
                "region",
                "word 0",
                "callers",
                "last errors"
            ]
        );
        assert!(text.contains("transport: (not serving yet)\n"));
        assert!(text.contains("region: 10240 bytes, dev 0x1, inode 42\n"));
        assert!(text.contains("word 0: 0xdeadcafe\n"));
        assert!(text.contains("callers:\n  (none)\nlast errors:\n  (none)\n"));
    }

    #[test]
    fn calls_fds_and_refusals_are_counted_per_uid() {
        let d = Diagnostics::new();
        let calls = CallTable::default();
        d.set_transport("unix:///s".into());
        calls.count(2000, Call::GetBuffer, true);
        calls.handed_out(2000);
        // The summary takes its period's counts; the dump's stay.
        assert!(calls.take_summary().is_some());
        calls.count(2000, Call::GetBuffer, true);
        calls.handed_out(2000);
        calls.count(2000, Call::GetBufferSize, true);
        calls.count(0, Call::GetReadOnlyBuffer, true);
        calls.handed_out(0);
        calls.count(2000, Call::GetRegion, false);
        let text = d.render("svc/default", 1, "abc", &facts(), &calls);
        assert!(text.contains("transport: unix:///s\n"), "{text}");
        assert!(
            text.contains("  uid 0: calls [getReadOnlyBuffer 1], fds handed out 1, refused 0\n"),
            "{text}"
        );
        assert!(
            text.contains(
                "  uid 2000: calls [getBuffer 2, getBufferSize 1], fds handed out 2, refused 1\n"
            ),
            "{text}"
        );
    }

    #[test]
    fn uids_past_the_cap_are_summed_up() {
        let d = Diagnostics::new();
        let calls = CallTable::default();
        for uid in 0..MAX_UIDS as u32 + 10 {
            calls.count(uid, Call::GetBufferSize, true);
        }
        let text = d.render("svc/default", 1, "abc", &facts(), &calls);
        assert_eq!(text.matches("  uid ").count(), MAX_UIDS, "{text}");
        assert!(
            text.contains("  other uids: calls [getBufferSize 10], fds handed out 0, refused 0\n"),
            "{text}"
        );
    }

    #[test]
    fn only_the_newest_errors_are_kept() {
        let d = Diagnostics::new();
        let calls = CallTable::default();
        for i in 0..LAST_ERRORS + 3 {
            d.error(format!("error {i}"));
        }
        let text = d.render("svc/default", 1, "abc", &facts(), &calls);
        assert!(!text.contains("error 2\n"), "{text}");
        assert!(text.contains(": error 3\n"), "{text}");
        assert!(
            text.contains(&format!(": error {}\n", LAST_ERRORS + 2)),
            "{text}"
        );
        assert_eq!(text.matches(" ago: error ").count(), LAST_ERRORS);
    }
}
