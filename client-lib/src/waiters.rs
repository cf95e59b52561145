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

/// The first sleep of an [`Uncounted`] waiter: a publish holds a record
/// for microseconds, unless its writer was descheduled or stopped.
const FIRST_SLEEP: Duration = Duration::from_micros(100);

/// How many times a waiter for a record first yields instead of sleeping:
/// a publish usually ends within a few, cheaper than a sleep and a wake-up.
const YIELDS: u32 = 16;

/// A few yields before the sleeps of a wait for a record, never more.
pub(crate) struct Patience {
    yields_left: u32,
}

impl Patience {
    /// A wait that has not yielded yet.
    pub(crate) fn new() -> Self {
        Self {
            yields_left: YIELDS,
        }
    }

    /// Yields the processor and returns true while yields are left.
    pub(crate) fn yielded(&mut self) -> bool {
        if self.yields_left == 0 {
            return false;
        }
        self.yields_left -= 1;
        std::thread::yield_now();
        true
    }
}

/// The sleeps of a waiter that cannot count itself in (a read-only mapping
/// cannot write the count), which writers therefore do not wake: each sleep
/// is bounded, the first short, each next twice as long.
pub(crate) struct Uncounted {
    patience: Patience,
    next: Duration,
}

impl Uncounted {
    /// A waiter that yields a few times, then sleeps, the first time briefly.
    pub(crate) fn new() -> Self {
        Self {
            patience: Patience::new(),
            next: FIRST_SLEEP,
        }
    }

    /// Yields, or sleeps on `word` while it holds `old` for at most `bound`.
    /// FUTEX_WAIT only reads the word, which a read-only mapping allows.
    pub(crate) fn wait(&mut self, word: &AtomicU32, old: u32, bound: Duration) {
        if self.patience.yielded() {
            return;
        }
        futex::wait(word, old, Some(self.next.min(bound)));
        self.next = self.next.saturating_mul(2);
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

    /// An uncounted waiter's sleeps grow from short to the caller's bound,
    /// never past it, without overflowing.
    #[test]
    fn uncounted_sleeps_double_up_to_the_bound() {
        let word = AtomicU32::new(1);
        let mut waiter = Uncounted::new();
        for _ in 0..YIELDS {
            waiter.wait(&word, 1, Duration::MAX);
        }
        assert_eq!(waiter.next, FIRST_SLEEP);
        // The word differs: the kernel returns at once, the backoff still grows.
        waiter.wait(&word, 0, Duration::MAX);
        assert_eq!(waiter.next, 2 * FIRST_SLEEP);
        waiter.next = Duration::MAX;
        waiter.wait(&word, 0, Duration::ZERO);
        assert_eq!(waiter.next, Duration::MAX);
    }

    /// FUTEX_WAIT works on a read-only mapping (it only reads the word):
    /// the kernel compares the word and times out, it does not refuse the
    /// address (EFAULT would look like a wake-up and turn sleeps into spins).
    #[test]
    fn futex_wait_works_on_a_read_only_mapping() {
        use crate::futex::{self, Wait};
        use crate::mapping::testing::{rw, second};
        let map = rw(4096);
        let ro = second(&map, false);
        let p = ro.atomic::<AtomicU32>(64).unwrap();
        // SAFETY: aligned, in bounds and mapped while `ro` lives; only
        // FUTEX_WAIT reads it, nothing writes through it.
        let word = unsafe { &*p.cast_const() };
        let short = Some(Duration::from_millis(1));
        assert_eq!(futex::wait(word, 0, short), Wait::TimedOut);
        assert_eq!(futex::wait(word, 1, short), Wait::Changed);
    }
}
