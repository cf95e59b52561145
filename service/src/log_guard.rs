//! A guard in front of the daemon's logger: no caller can forge a log line
//! or flood the log.
//!
//! Callers control some of what gets logged (rsbinder logs a mismatched
//! interface token verbatim, before any access policy runs), so every
//! message is escaped to one printable line and cut at [`MAX_MESSAGE`], and
//! warnings and errors are rate-limited per source module: at most
//! [`BURST`] in each [`WINDOW`], with one line counting what was dropped.
//! Warnings about one caller's calls are limited per uid instead
//! (`caller_log`), so that one caller cannot use up a module's budget.

use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use log::{Level, Log, Metadata, Record};

use crate::caller_log;

/// Longest message kept, in bytes; the rest is replaced by a count.
pub const MAX_MESSAGE: usize = 1024;
/// Warnings and errors one module may log in a [`WINDOW`].
pub const BURST: u32 = 20;
/// The rate limit's window.
pub const WINDOW: Duration = Duration::from_secs(10);

/// Wraps `inner`: escapes and cuts every message, rate-limits warnings and
/// errors per module.
pub struct LogGuard<L> {
    inner: L,
    windows: Mutex<HashMap<String, Window>>,
}

struct Window {
    started: Instant,
    logged: u32,
    dropped: u64,
}

impl<L: Log> LogGuard<L> {
    /// A guard in front of `inner`.
    pub fn new(inner: L) -> Self {
        Self {
            inner,
            windows: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a warning or error from `target` may be logged now, and how
    /// many were dropped before it in the window that just ended.
    fn admit(&self, target: &str, now: Instant) -> (bool, u64) {
        let mut windows = self.windows.lock().unwrap_or_else(|e| e.into_inner());
        // Targets are module paths (a fixed set), so the map stays small.
        let w = windows.entry(target.to_owned()).or_insert(Window {
            started: now,
            logged: 0,
            dropped: 0,
        });
        let mut reported = 0;
        if now.duration_since(w.started) >= WINDOW {
            reported = std::mem::take(&mut w.dropped);
            w.started = now;
            w.logged = 0;
        }
        if w.logged < BURST {
            w.logged += 1;
            (true, reported)
        } else {
            w.dropped += 1;
            (false, reported)
        }
    }
}

impl<L: Log> Log for LogGuard<L> {
    fn enabled(&self, metadata: &Metadata<'_>) -> bool {
        self.inner.enabled(metadata)
    }

    fn log(&self, record: &Record<'_>) {
        if !self.inner.enabled(record.metadata()) {
            return;
        }
        let mut dropped = 0;
        // Warnings about callers are rate-limited per uid where they are made.
        if record.level() <= Level::Warn && record.target() != caller_log::TARGET {
            let (admitted, before) = self.admit(record.target(), Instant::now());
            dropped = before;
            if !admitted {
                return;
            }
        }
        if dropped > 0 {
            self.emit(
                record,
                Level::Warn,
                &format!(
                    "log rate limit: {dropped} more messages from {} dropped",
                    record.target()
                ),
            );
        }
        self.emit(
            record,
            record.level(),
            &one_line(&record.args().to_string()),
        );
    }

    fn flush(&self) {
        self.inner.flush();
    }
}

impl<L: Log> LogGuard<L> {
    fn emit(&self, like: &Record<'_>, level: Level, message: &str) {
        self.inner.log(
            &Record::builder()
                .args(format_args!("{message}"))
                .level(level)
                .target(like.target())
                .module_path(like.module_path())
                .file(like.file())
                .line(like.line())
                .build(),
        );
    }
}

/// `text` as one printable line of at most [`MAX_MESSAGE`] bytes: control
/// characters (newlines among them) are escaped, the rest is counted.
pub fn one_line(text: &str) -> String {
    let mut out = String::with_capacity(text.len().min(MAX_MESSAGE + 32));
    for (i, c) in text.char_indices() {
        if out.len() >= MAX_MESSAGE {
            let _ = write!(out, "… ({} more bytes)", text.len() - i);
            break;
        }
        if c.is_control() {
            let _ = write!(out, "{}", c.escape_default());
        } else {
            out.push(c);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[derive(Default, Clone)]
    struct Lines(Arc<Mutex<Vec<String>>>);

    impl Log for Lines {
        fn enabled(&self, _: &Metadata<'_>) -> bool {
            true
        }
        fn log(&self, record: &Record<'_>) {
            self.0
                .lock()
                .unwrap()
                .push(format!("{} {}", record.level(), record.args()));
        }
        fn flush(&self) {}
    }

    fn log(guard: &LogGuard<Lines>, level: Level, target: &str, message: &str) {
        guard.log(
            &Record::builder()
                .args(format_args!("{message}"))
                .level(level)
                .target(target)
                .build(),
        );
    }

    #[test]
    fn a_message_is_one_printable_line() {
        assert_eq!(
            one_line("token 'x'\n[INFO] getBuffer from uid=1000 granted\r\x1b[2J"),
            "token 'x'\\n[INFO] getBuffer from uid=1000 granted\\r\\u{1b}[2J"
        );
        let long = "é".repeat(MAX_MESSAGE);
        let cut = one_line(&long);
        assert!(cut.len() < MAX_MESSAGE + 32, "{}", cut.len());
        assert!(
            cut.ends_with(&format!("… ({} more bytes)", long.len() - MAX_MESSAGE)),
            "{cut}"
        );
    }

    #[test]
    fn warnings_past_the_burst_are_dropped_and_counted_per_module() {
        let lines = Lines::default();
        let guard = LogGuard::new(lines.clone());
        for i in 0..BURST + 5 {
            log(
                &guard,
                Level::Error,
                "rsbinder::rpc::session",
                &format!("bad token {i}"),
            );
        }
        // Another module and lower levels are not held back.
        log(&guard, Level::Warn, "enea_buffer_service", "ours");
        log(&guard, Level::Info, "rsbinder::rpc::session", "info");
        let got = lines.0.lock().unwrap().clone();
        assert_eq!(got.len(), BURST as usize + 2, "{got:?}");
        assert_eq!(
            got[BURST as usize - 1],
            format!("ERROR bad token {}", BURST - 1)
        );
        assert_eq!(got[BURST as usize], "WARN ours");
        // The next window reports what the last one dropped.
        guard
            .windows
            .lock()
            .unwrap()
            .get_mut("rsbinder::rpc::session")
            .unwrap()
            .started -= WINDOW;
        log(&guard, Level::Error, "rsbinder::rpc::session", "again");
        let got = lines.0.lock().unwrap().clone();
        assert_eq!(
            &got[got.len() - 2..],
            [
                "WARN log rate limit: 5 more messages from rsbinder::rpc::session dropped"
                    .to_owned(),
                "ERROR again".to_owned()
            ]
        );
    }
}
