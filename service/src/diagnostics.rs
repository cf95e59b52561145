//! What `dumpsys vendor.enea.buffer.IEneaBuffer/default` (Android) and
//! `eneabuf dump` (Linux) print: the binder dump transaction's text.
//!
//! The format is line-oriented `key: value`, one section per topic, and is
//! documented in docs/diagnostics.md; tools may parse it.

use std::collections::BTreeMap;
use std::collections::VecDeque;
use std::fmt::Write as _;
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How many recent errors the dump keeps.
const LAST_ERRORS: usize = 8;
/// Distinct uids the dump counts apart; the rest are summed up, so no
/// caller cycling through uids can grow the table.
const MAX_UIDS: usize = 64;
/// Where the uids beyond [`MAX_UIDS`] are counted.
const OTHER_UIDS: u32 = u32::MAX;

/// A service method, as counted per caller (the dump and the log summary).
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Call {
    /// `getBuffer()`.
    GetBuffer,
    /// `getBufferSize()`.
    GetBufferSize,
    /// `getReadOnlyBuffer()`.
    GetReadOnlyBuffer,
    /// `getRegion()` (V2).
    GetRegion,
    /// `getReadOnlyRegion()` (V2).
    GetReadOnlyRegion,
    /// The dump transaction itself.
    Dump,
}

impl Call {
    /// The AIDL method name.
    pub fn name(self) -> &'static str {
        match self {
            Call::GetBuffer => "getBuffer",
            Call::GetBufferSize => "getBufferSize",
            Call::GetReadOnlyBuffer => "getReadOnlyBuffer",
            Call::GetRegion => "getRegion",
            Call::GetReadOnlyRegion => "getReadOnlyRegion",
            Call::Dump => "dump",
        }
    }
}

/// Counts for one calling uid.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
struct PerUid {
    calls: BTreeMap<Call, u64>,
    fds: u64,
    refused: u64,
}

/// Everything the daemon counts for its dump; shared by every binder thread.
pub struct Diagnostics {
    started: Instant,
    transport: OnceLock<String>,
    per_uid: Mutex<BTreeMap<u32, PerUid>>,
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
            per_uid: Mutex::new(BTreeMap::new()),
            errors: Mutex::new(VecDeque::new()),
        }
    }

    /// Records where the service is reachable (once serving started).
    pub fn set_transport(&self, description: String) {
        let _ = self.transport.set(description);
    }

    /// Applies `f` to the counts of `uid` (or of the other uids, past [`MAX_UIDS`]).
    fn with_uid(&self, uid: u32, f: impl FnOnce(&mut PerUid)) {
        let mut map = self.per_uid.lock().unwrap_or_else(|e| e.into_inner());
        let key = if map.contains_key(&uid) || map.len() < MAX_UIDS {
            uid
        } else {
            OTHER_UIDS
        };
        f(map.entry(key).or_default());
    }

    /// Counts a call from `uid` that was let through.
    pub fn count(&self, uid: u32, call: Call) {
        self.with_uid(uid, |c| *c.calls.entry(call).or_default() += 1);
    }

    /// Counts a region fd handed out to `uid`.
    pub fn handed_out(&self, uid: u32) {
        self.with_uid(uid, |c| c.fds += 1);
    }

    /// Counts a call from `uid` that was refused.
    pub fn refused(&self, uid: u32) {
        self.with_uid(uid, |c| c.refused += 1);
    }

    /// Remembers an error for the dump (the newest few are kept).
    pub fn error(&self, message: String) {
        let mut errors = self.errors.lock().unwrap_or_else(|e| e.into_inner());
        if errors.len() == LAST_ERRORS {
            errors.pop_front();
        }
        errors.push_back((Instant::now(), message));
    }

    /// The dump text.
    pub fn render(&self, service: &str, version: i32, hash: &str, region: &RegionFacts) -> String {
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
        let map = self.per_uid.lock().unwrap_or_else(|e| e.into_inner());
        if map.is_empty() {
            let _ = writeln!(out, "  (none)");
        }
        for (uid, c) in map.iter() {
            let who = if *uid == OTHER_UIDS {
                "other uids".to_owned()
            } else {
                format!("uid {uid}")
            };
            let calls: Vec<String> = c
                .calls
                .iter()
                .map(|(call, n)| format!("{} {n}", call.name()))
                .collect();
            let _ = writeln!(
                out,
                "  {who}: calls [{}], fds handed out {}, refused {}",
                calls.join(", "),
                c.fds,
                c.refused
            );
        }
        drop(map);
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
        let text = d.render("svc/default", 1, "abc", &facts());
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
        d.set_transport("unix:///s".into());
        d.count(2000, Call::GetBuffer);
        d.handed_out(2000);
        d.count(2000, Call::GetBuffer);
        d.handed_out(2000);
        d.count(2000, Call::GetBufferSize);
        d.count(0, Call::GetReadOnlyBuffer);
        d.handed_out(0);
        d.refused(2000);
        let text = d.render("svc/default", 1, "abc", &facts());
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
        for uid in 0..MAX_UIDS as u32 + 10 {
            d.count(uid, Call::GetBufferSize);
        }
        let text = d.render("svc/default", 1, "abc", &facts());
        assert_eq!(text.matches("  uid ").count(), MAX_UIDS, "{text}");
        assert!(
            text.contains("  other uids: calls [getBufferSize 10], fds handed out 0, refused 0\n"),
            "{text}"
        );
    }

    #[test]
    fn only_the_newest_errors_are_kept() {
        let d = Diagnostics::new();
        for i in 0..LAST_ERRORS + 3 {
            d.error(format!("error {i}"));
        }
        let text = d.render("svc/default", 1, "abc", &facts());
        assert!(!text.contains("error 2\n"), "{text}");
        assert!(text.contains(": error 3\n"), "{text}");
        assert!(
            text.contains(&format!(": error {}\n", LAST_ERRORS + 2)),
            "{text}"
        );
        assert_eq!(text.matches(" ago: error ").count(), LAST_ERRORS);
    }
}
