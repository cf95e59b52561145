//! The waiter protocol of layout version 1 (see the AIDL): a thread about
//! to sleep on a word counts itself in the region's waiter count first, and
//! a writer wakes the word's sleepers only when that count is not 0, so a
//! write costs no system call while nobody waits.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::futex;

/// Wakes the sleepers of `word`, which the caller just stored (`SeqCst`),
/// if the waiter count `count` says anybody sleeps on the region.
pub(crate) fn wake(count: &AtomicU32, word: &AtomicU32) {
    if count.load(Ordering::SeqCst) != 0 {
        futex::wake(word);
    }
}

/// Sleeps once on `word` while it holds `old`, counted in `count`, for at
/// most `timeout` (`None`: until woken).
pub(crate) fn wait_once(count: &AtomicU32, word: &AtomicU32, old: u32, timeout: Option<Duration>) {
    // Count ourselves in before the last look: a writer that stores after
    // this look sees the count and wakes us (both SeqCst).
    count.fetch_add(1, Ordering::SeqCst);
    if word.load(Ordering::SeqCst) == old {
        futex::wait(word, old, timeout);
    }
    count.fetch_sub(1, Ordering::SeqCst);
}

/// Waits until `word` holds something else than `old`, for at most
/// `timeout` (`None`, or one too long to have a deadline: for as long as it
/// takes); the new value, or `None` when the time ran out.
pub(crate) fn wait_change(
    count: &AtomicU32,
    word: &AtomicU32,
    old: u32,
    timeout: Option<Duration>,
) -> Option<u32> {
    // Saturates: a deadline past what an Instant holds is centuries away.
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    loop {
        let now = word.load(Ordering::SeqCst);
        if now != old {
            return Some(now);
        }
        let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
        if remaining == Some(Duration::ZERO) {
            return None;
        }
        wait_once(count, word, old, remaining);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A timeout too long for a deadline (`Instant + Duration` overflows)
    /// is no deadline at all: the wait neither panics nor ends early.
    #[test]
    fn the_longest_timeout_is_no_deadline() {
        let (count, word) = (AtomicU32::new(0), AtomicU32::new(5));
        assert_eq!(wait_change(&count, &word, 4, Some(Duration::MAX)), Some(5));
        assert_eq!(count.load(Ordering::SeqCst), 0);
    }
}
