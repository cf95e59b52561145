//! The one per-uid call table, with two views: counts since the daemon
//! started (the dump) and counts since the last summary (the periodic log
//! line, which replaces one info line per call).
//!
//! Bounded: the first [`MAX_UIDS`] distinct uids are counted apart for the
//! daemon's life; calls of any later uid are summed up under "other uids"
//! in both views, and logged at debug only. So no caller cycling through
//! uids can grow the table, the dump or the log line.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;
use std::sync::Mutex;

/// Distinct uids counted apart (both views); see the module doc.
pub const MAX_UIDS: usize = 64;

/// A service method, as counted per caller.
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

/// Whose counts a row holds.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Who {
    /// One uid, counted apart.
    Uid(u32),
    /// Every uid past [`MAX_UIDS`], summed up.
    OtherUids,
}

impl fmt::Display for Who {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Who::Uid(uid) => write!(f, "uid {uid}"),
            Who::OtherUids => f.write_str("other uids"),
        }
    }
}

/// The counts of one row in one view.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Counts {
    /// Calls let through, per method.
    pub calls: BTreeMap<Call, u64>,
    /// Region fds handed out.
    pub fds: u64,
    /// Calls refused (no right, or a dump the caller may not read).
    pub refused: u64,
}

impl Counts {
    fn is_empty(&self) -> bool {
        self.calls.is_empty() && self.fds == 0 && self.refused == 0
    }
}

/// One row: both views, and the methods this uid has called at all.
#[derive(Default)]
struct Row {
    total: Counts,
    period: Counts,
    seen: BTreeSet<Call>,
}

#[derive(Default)]
struct Table {
    per_uid: BTreeMap<u32, Row>,
    other_uids: Row,
    /// Connections a transport limit turned away since the last summary.
    connections_refused: u64,
}

impl Table {
    /// The row of `uid`, or the other uids' once [`MAX_UIDS`] are taken.
    fn row(&mut self, uid: u32) -> (&mut Row, bool) {
        if self.per_uid.len() < MAX_UIDS || self.per_uid.contains_key(&uid) {
            (self.per_uid.entry(uid).or_default(), true)
        } else {
            (&mut self.other_uids, false)
        }
    }
}

/// Calls per uid; shared by every binder thread.
#[derive(Default)]
pub struct CallTable {
    table: Mutex<Table>,
}

impl CallTable {
    fn lock(&self) -> std::sync::MutexGuard<'_, Table> {
        self.table.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Counts a call of `uid`, let through or refused; true if it is the
    /// first call of this method by this uid (never for the other uids).
    pub fn count(&self, uid: u32, call: Call, granted: bool) -> bool {
        let mut t = self.lock();
        let (row, apart) = t.row(uid);
        for c in [&mut row.total, &mut row.period] {
            if granted {
                *c.calls.entry(call).or_default() += 1;
            } else {
                c.refused += 1;
            }
        }
        apart && row.seen.insert(call)
    }

    /// Counts a region fd handed out to `uid`.
    pub fn handed_out(&self, uid: u32) {
        let mut t = self.lock();
        let (row, _) = t.row(uid);
        row.total.fds += 1;
        row.period.fds += 1;
    }

    /// Counts a connection a transport limit turned away (summary only:
    /// no call was made on it).
    pub fn connection_refused(&self) {
        self.lock().connections_refused += 1;
    }

    /// The dump's view: every row's counts since the daemon started, uids
    /// in order, the other uids last (if any called).
    pub fn totals(&self) -> Vec<(Who, Counts)> {
        let t = self.lock();
        let mut rows: Vec<(Who, Counts)> = t
            .per_uid
            .iter()
            .map(|(&uid, row)| (Who::Uid(uid), row.total.clone()))
            .collect();
        if !t.other_uids.total.is_empty() {
            rows.push((Who::OtherUids, t.other_uids.total.clone()));
        }
        rows
    }

    /// The log's view: the summary of the period now ending (and starts a
    /// new one), or `None` if nothing happened in it.
    pub fn take_summary(&self) -> Option<String> {
        let mut guard = self.lock();
        let t = &mut *guard;
        let mut lines: Vec<String> = Vec::new();
        let rows = t
            .per_uid
            .iter_mut()
            .map(|(&uid, row)| (Who::Uid(uid), row))
            .chain(std::iter::once((Who::OtherUids, &mut t.other_uids)));
        for (who, row) in rows {
            let c = std::mem::take(&mut row.period);
            if c.calls.is_empty() && c.refused == 0 {
                continue;
            }
            let mut parts: Vec<String> = c
                .calls
                .iter()
                .map(|(call, n)| format!("{n} {}", call.name()))
                .collect();
            if c.refused > 0 {
                parts.push(format!("{} refused", c.refused));
            }
            lines.push(format!("{who}: {}", parts.join(", ")));
        }
        let refused = std::mem::take(&mut t.connections_refused);
        if refused > 0 {
            lines.push(format!("{refused} connections refused by limits"));
        }
        (!lines.is_empty()).then(|| lines.join("; "))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn summary_counts_per_uid_and_resets() {
        let s = CallTable::default();
        assert_eq!(s.take_summary(), None);
        assert!(s.count(0, Call::GetBuffer, true), "first call of uid 0");
        assert!(!s.count(0, Call::GetBuffer, true), "second call of uid 0");
        assert!(s.count(0, Call::GetBufferSize, false), "another method");
        assert!(s.count(2000, Call::GetBufferSize, false));
        s.connection_refused();
        assert_eq!(
            s.take_summary().as_deref(),
            Some(
                "uid 0: 2 getBuffer, 1 refused; uid 2000: 1 refused; \
                 1 connections refused by limits"
            )
        );
        assert_eq!(s.take_summary(), None);
        // A new period starts from zero; the first-call marks do not.
        assert!(!s.count(0, Call::GetBuffer, true));
        assert_eq!(s.take_summary().as_deref(), Some("uid 0: 1 getBuffer"));
    }

    #[test]
    fn the_dump_view_keeps_counting_across_summaries() {
        let s = CallTable::default();
        s.count(2000, Call::GetBuffer, true);
        s.handed_out(2000);
        s.take_summary();
        s.count(2000, Call::GetBuffer, true);
        s.handed_out(2000);
        s.count(2000, Call::GetBufferSize, true);
        s.count(2000, Call::Dump, false);
        s.count(0, Call::GetReadOnlyBuffer, true);
        s.handed_out(0);
        let rows = s.totals();
        assert_eq!(rows.len(), 2);
        assert_eq!(rows[0].0, Who::Uid(0));
        assert_eq!(rows[1].0, Who::Uid(2000));
        assert_eq!(
            rows[1].1,
            Counts {
                calls: [(Call::GetBuffer, 2), (Call::GetBufferSize, 1)].into(),
                fds: 2,
                refused: 1,
            }
        );
    }

    #[test]
    fn uids_past_the_cap_are_summed_up_in_both_views() {
        let s = CallTable::default();
        for uid in 0..1000 {
            s.count(uid, Call::GetReadOnlyBuffer, true);
        }
        // Past the cap no uid's call is a "first": they are not logged at info.
        assert!(!s.count(5000, Call::GetBuffer, true));
        let line = s.take_summary().unwrap();
        assert_eq!(line.matches("uid ").count(), MAX_UIDS, "{line}");
        assert!(
            line.ends_with("other uids: 1 getBuffer, 936 getReadOnlyBuffer"),
            "{line}"
        );
        let rows = s.totals();
        assert_eq!(rows.len(), MAX_UIDS + 1);
        assert_eq!(rows[MAX_UIDS].0, Who::OtherUids);
        assert_eq!(rows[MAX_UIDS].1.calls[&Call::GetReadOnlyBuffer], 936);
        // A uid counted apart stays apart.
        assert!(s.count(3, Call::GetBuffer, true));
    }
}
