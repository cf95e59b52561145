//! The waiter protocol of layout version 1 (see the AIDL): a thread about
//! to sleep on a word counts itself in the region's waiter count first, and
//! a writer wakes the word's sleepers only when that count is not 0, so a
//! write costs no system call while nobody waits.
//!
//! Any peer with write access can store into the count, and a single store
//! (0 while a waiter sleeps, or 0xffffffff, which the next count-in wraps
//! to 0) tells writers that nobody waits. No layout a writer checks without
//! a system call can stop that, so a counted waiter never sleeps longer
//! than [`RECHECK`] before it looks at its word again: a wake-up a peer
//! suppressed costs at most that.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::futex;

/// The longest one FUTEX_WAIT of a counted waiter lasts: what a wake-up
/// lost to a corrupted count costs at most, and how often an idle waiter
/// wakes to re-check its word.
pub(crate) const RECHECK: Duration = Duration::from_millis(100);

/// Wakes the sleepers of `word`, which the caller just stored (`SeqCst`),
/// if the waiter count `count` says anybody sleeps on the region.
pub(crate) fn wake(count: &AtomicU32, word: &AtomicU32) {
    if count.load(Ordering::SeqCst) != 0 {
        futex::wake(word);
    }
}

/// Counts a waiter in. An add that wraps the count to 0 (a peer stored
/// 0xffffffff) is made again, so that writers see a waiter.
fn count_in(count: &AtomicU32) {
    if count.fetch_add(1, Ordering::SeqCst) == u32::MAX {
        count.fetch_add(1, Ordering::SeqCst);
    }
}

/// Counts a waiter out. A subtract from 0 (a peer stored 0 while we were
/// counted in) is undone, so that the count does not wrap to 0xffffffff,
/// where the next waiter's add would wrap it to 0 again.
fn count_out(count: &AtomicU32) {
    if count.fetch_sub(1, Ordering::SeqCst) == 0 {
        count.fetch_add(1, Ordering::SeqCst);
    }
}

/// Sleeps once on `word` while it holds `old`, counted in `count`, for at
/// most `timeout` (`None`: until woken) and never longer than [`RECHECK`].
pub(crate) fn wait_once(count: &AtomicU32, word: &AtomicU32, old: u32, timeout: Option<Duration>) {
    let bound = timeout.map_or(RECHECK, |t| t.min(RECHECK));
    // Count ourselves in before the last look: a writer that stores after
    // this look sees the count and wakes us (both SeqCst).
    count_in(count);
    if word.load(Ordering::SeqCst) == old {
        futex::wait(word, old, Some(bound));
    }
    count_out(count);
}

/// How a wait for a word's change spends its time before it sleeps.
/// The default does not spin: it sleeps in `FUTEX_WAIT` at once.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct WaitOptions {
    /// How long to poll the word before sleeping (never past the wait's
    /// timeout): a CPU kept busy for up to this long per wait, uncounted,
    /// so writers make no system call meanwhile.
    pub spin: Duration,
}

impl WaitOptions {
    /// These options, polling the word for up to `spin` before sleeping.
    pub fn with_spin(self, spin: Duration) -> Self {
        Self { spin }
    }
}

/// How many polls of the word a spin makes between two looks at the clock
/// (a clock read costs about as much as a few dozen polls).
const POLLS_PER_CLOCK: u32 = 64;

/// Polls `word` while it holds `old`, for at most `budget`, without counting
/// in: the new value, or `None` when the budget ran out.
fn spin(word: &AtomicU32, old: u32, budget: Duration) -> Option<u32> {
    if budget.is_zero() {
        return None;
    }
    // Compares elapsed time with the budget: no deadline to overflow.
    let start = Instant::now();
    loop {
        for _ in 0..POLLS_PER_CLOCK {
            let now = word.load(Ordering::Acquire);
            if now != old {
                return Some(now);
            }
            std::hint::spin_loop();
        }
        if start.elapsed() >= budget {
            return None;
        }
    }
}

/// Waits until `word` holds something else than `old`, for at most
/// `timeout` (`None`, or one too long to have a deadline: for as long as it
/// takes); the new value, or `None` when the time ran out. First polls the
/// word for `options.spin` (within the timeout), uncounted; then sleeps,
/// counted in, looking at the word at least every [`RECHECK`], woken or not.
pub(crate) fn wait_change(
    count: &AtomicU32,
    word: &AtomicU32,
    old: u32,
    timeout: Option<Duration>,
    options: &WaitOptions,
) -> Option<u32> {
    // Saturates: a deadline past what an Instant holds is centuries away.
    let deadline = timeout.and_then(|t| Instant::now().checked_add(t));
    let budget = timeout.map_or(options.spin, |t| t.min(options.spin));
    if let Some(now) = spin(word, old, budget) {
        return Some(now);
    }
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
        let spin = WaitOptions::default().with_spin(Duration::MAX);
        for options in [WaitOptions::default(), spin] {
            let got = wait_change(&count, &word, 4, Some(Duration::MAX), &options);
            assert_eq!(got, Some(5));
        }
        assert_eq!(count.load(Ordering::SeqCst), 0);
    }

    /// A spin never outlasts the wait's timeout: a waiter told to spin for
    /// an hour with a 1 ms timeout gives up (with a generous bound for a
    /// loaded machine), never counted in. The words are leaked so that a
    /// waiter spinning on wrongly does not hold the test up.
    #[test]
    fn a_spin_ends_at_the_timeout() {
        let words: &'static [AtomicU32; 2] =
            Box::leak(Box::new([AtomicU32::new(0), AtomicU32::new(0)]));
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let options = WaitOptions::default().with_spin(Duration::from_secs(3600));
            let timeout = Some(Duration::from_millis(1));
            tx.send(wait_change(&words[0], &words[1], 0, timeout, &options))
        });
        assert_eq!(rx.recv_timeout(Duration::from_secs(10)), Ok(None));
        assert_eq!(words[0].load(Ordering::SeqCst), 0);
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

    /// A single store can wrap the count to 0 under a waiter's add (a peer
    /// stored 0xffffffff) or under its subtract (a peer stored 0): the
    /// waiter counts itself in as 1 and leaves the count at 0.
    #[test]
    fn a_count_a_peer_wrapped_is_counted_in_and_out_unwrapped() {
        let count = AtomicU32::new(u32::MAX);
        count_in(&count);
        assert_eq!(count.load(Ordering::SeqCst), 1);
        count_out(&count);
        assert_eq!(count.load(Ordering::SeqCst), 0);
        count_out(&count);
        assert_eq!(count.load(Ordering::SeqCst), 0);
        count_in(&count);
        assert_eq!(count.load(Ordering::SeqCst), 1);
    }

    /// A change made without a wake-up (the count said nobody waits) is
    /// seen at the next re-check by a wait without a timeout, which
    /// returns within RECHECK (and a generous bound for a loaded machine).
    #[test]
    fn a_wait_without_a_timeout_sees_a_change_nobody_woke_it_for() {
        let (count, word) = (AtomicU32::new(0), AtomicU32::new(0));
        let got = std::thread::scope(|s| {
            let (tx, rx) = std::sync::mpsc::channel();
            let (count, word) = (&count, &word);
            s.spawn(move || tx.send(wait_change(count, word, 0, None, &WaitOptions::default())));
            while count.load(Ordering::SeqCst) == 0 {
                std::thread::yield_now();
            }
            // Hidden from writers, as after a peer's store, then changed
            // without a wake-up.
            count.store(0, Ordering::SeqCst);
            word.store(7, Ordering::SeqCst);
            let got = rx.recv_timeout(RECHECK + Duration::from_secs(2));
            // Unblock the waiter if it sleeps for good, so the scope ends.
            futex::wake(word);
            got
        });
        assert_eq!(got, Ok(Some(7)));
    }
}
