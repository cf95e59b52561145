//! Warnings about one caller's calls, rate-limited per uid, so that a
//! caller who keeps being refused cannot crowd another caller's warnings
//! out of the log.
//!
//! Each uid may have [`BURST`] such warnings logged per [`WINDOW`]; the
//! rest are counted per message class, and one line per uid says what was
//! dropped: when that uid's next window begins, or at the periodic summary
//! ([`take_dropped`]). Bounded like the call table: the first
//! [`MAX_UIDS`] uids have a budget of their own, every later uid shares
//! one. These lines carry the log target [`TARGET`], which the per-module
//! limit of `log_guard` lets through: this module bounds them.

use std::collections::BTreeMap;
use std::fmt::{self, Write as _};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use crate::calls::{Who, MAX_UIDS};

/// The log target of every line this module writes.
pub const TARGET: &str = "enea_buffer_service::callers";
/// Warnings about one uid's calls logged per [`WINDOW`].
pub const BURST: u32 = 5;
/// The rate limit's window.
pub const WINDOW: Duration = Duration::from_secs(10);

/// One uid's (or the other uids') window and what it dropped.
struct Budget {
    started: Instant,
    logged: u32,
    /// Dropped warnings per class since the last report.
    dropped: BTreeMap<&'static str, u64>,
}

impl Budget {
    fn new(now: Instant) -> Self {
        Self {
            started: now,
            logged: 0,
            dropped: BTreeMap::new(),
        }
    }

    /// "`who`: N warnings dropped (N class, ...)", and the
    /// counts reset; `None` if nothing was dropped.
    fn take_report(&mut self, who: Who) -> Option<String> {
        if self.dropped.is_empty() {
            return None;
        }
        let dropped = std::mem::take(&mut self.dropped);
        let total: u64 = dropped.values().sum();
        let mut line = format!("{who}: {total} warnings dropped (");
        for (i, (class, n)) in dropped.iter().enumerate() {
            let _ = write!(line, "{}{n} {class}", if i > 0 { ", " } else { "" });
        }
        line.push(')');
        Some(line)
    }
}

/// Per-uid budgets for warnings about callers.
pub struct CallerLog {
    budgets: Mutex<Budgets>,
}

struct Budgets {
    per_uid: BTreeMap<u32, Budget>,
    other_uids: Option<Budget>,
}

/// The daemon's one caller log.
static CALLERS: CallerLog = CallerLog::new();

/// Logs `message` at `warn` about a call from `uid`, unless this uid has
/// had its [`BURST`] for the window; `class` names it in the drop report.
pub fn warn(uid: u32, class: &'static str, message: fmt::Arguments<'_>) {
    for line in CALLERS.admit(uid, class, message, Instant::now()) {
        log::warn!(target: TARGET, "{line}");
    }
}

/// What every uid had dropped since its last report, as one line (the
/// counts reset); `None` if nothing was dropped.
pub fn take_dropped() -> Option<String> {
    CALLERS.take_dropped()
}

impl CallerLog {
    const fn new() -> Self {
        Self {
            budgets: Mutex::new(Budgets {
                per_uid: BTreeMap::new(),
                other_uids: None,
            }),
        }
    }

    /// The lines to log for a warning about `uid` at `now`: the report of
    /// what its last window dropped, if that window is over, and `message`
    /// if the budget allows it.
    fn admit(
        &self,
        uid: u32,
        class: &'static str,
        message: fmt::Arguments<'_>,
        now: Instant,
    ) -> Vec<String> {
        let mut budgets = self.budgets.lock().unwrap_or_else(|e| e.into_inner());
        let tracked = budgets.per_uid.len() < MAX_UIDS || budgets.per_uid.contains_key(&uid);
        let (who, budget) = if tracked {
            let budget = budgets
                .per_uid
                .entry(uid)
                .or_insert_with(|| Budget::new(now));
            (Who::Uid(uid), budget)
        } else {
            let budget = budgets.other_uids.get_or_insert_with(|| Budget::new(now));
            (Who::OtherUids, budget)
        };
        let mut lines = Vec::new();
        if now.duration_since(budget.started) >= WINDOW {
            lines.extend(budget.take_report(who));
            budget.started = now;
            budget.logged = 0;
        }
        if budget.logged < BURST {
            budget.logged += 1;
            lines.push(message.to_string());
        } else {
            *budget.dropped.entry(class).or_default() += 1;
        }
        lines
    }

    fn take_dropped(&self) -> Option<String> {
        let mut budgets = self.budgets.lock().unwrap_or_else(|e| e.into_inner());
        let Budgets {
            per_uid,
            other_uids,
        } = &mut *budgets;
        let reports: Vec<String> = per_uid
            .iter_mut()
            .filter_map(|(&uid, b)| b.take_report(Who::Uid(uid)))
            .chain(
                other_uids
                    .as_mut()
                    .and_then(|b| b.take_report(Who::OtherUids)),
            )
            .collect();
        (!reports.is_empty()).then(|| {
            format!(
                "warnings about callers dropped by the per-uid rate limit: {}",
                reports.join("; ")
            )
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn warn_at(log: &CallerLog, uid: u32, n: u32, now: Instant) -> Vec<String> {
        log.admit(
            uid,
            "dump refused",
            format_args!("dump refused to uid={uid} #{n}"),
            now,
        )
    }

    /// One uid past its burst loses its own warnings, not another uid's,
    /// and its next window opens with what it dropped.
    #[test]
    fn each_uid_has_its_own_budget_and_hears_what_it_dropped() {
        let log = CallerLog::new();
        let t0 = Instant::now();
        let mut logged = Vec::new();
        for n in 0..BURST + 7 {
            logged.extend(warn_at(&log, 2000, n, t0));
        }
        assert_eq!(logged.len(), BURST as usize, "{logged:?}");
        assert_eq!(warn_at(&log, 2001, 0, t0), ["dump refused to uid=2001 #0"]);
        assert_eq!(
            warn_at(&log, 2000, 99, t0 + WINDOW),
            [
                "uid 2000: 7 warnings dropped (7 dump refused)",
                "dump refused to uid=2000 #99"
            ]
        );
        // Reported once: nothing is left for the periodic line.
        assert_eq!(log.take_dropped(), None);
    }

    /// The periodic line reports every uid's drops and resets them.
    #[test]
    fn the_periodic_line_reports_and_resets_every_uids_drops() {
        let log = CallerLog::new();
        let t0 = Instant::now();
        for n in 0..BURST + 2 {
            warn_at(&log, 2000, n, t0);
            warn_at(&log, 2002, n, t0);
        }
        assert_eq!(
            log.take_dropped().as_deref(),
            Some(
                "warnings about callers dropped by the per-uid rate limit: \
                 uid 2000: 2 warnings dropped (2 dump refused); \
                 uid 2002: 2 warnings dropped (2 dump refused)"
            )
        );
        assert_eq!(log.take_dropped(), None);
    }

    /// Uids past the cap share one budget, so the state stays bounded.
    #[test]
    fn uids_past_the_cap_share_one_budget() {
        let log = CallerLog::new();
        let t0 = Instant::now();
        for uid in 0..MAX_UIDS as u32 {
            warn_at(&log, uid, 0, t0);
        }
        let mut logged = 0;
        for uid in 100_000..100_000 + 3 * BURST {
            logged += warn_at(&log, uid, 0, t0).len();
        }
        assert_eq!(logged, BURST as usize);
        assert_eq!(log.budgets.lock().unwrap().per_uid.len(), MAX_UIDS);
        assert!(log
            .take_dropped()
            .unwrap()
            .ends_with("other uids: 10 warnings dropped (10 dump refused)"));
    }
}
