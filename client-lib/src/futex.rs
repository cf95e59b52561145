//! `futex(2)` on a 32-bit word, shared between processes.
//!
//! The words live in a `MAP_SHARED` mapping of the region's file, so the
//! kernel keys the futex by (file, offset) and a FUTEX_WAKE in one process
//! wakes a FUTEX_WAIT in another: no `FUTEX_PRIVATE_FLAG`. AOSP's rustix is
//! built without its `thread` feature (which has `rustix::thread::futex`),
//! so this calls the system call through `libc`, which every platform has.

use std::sync::atomic::AtomicU32;
use std::time::Duration;

/// How a [`wait`] ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Wait {
    /// Woken by a FUTEX_WAKE, by a signal, or spuriously: re-check the word.
    Woken,
    /// The word did not hold `expected` when the kernel looked.
    Changed,
    /// The timeout passed.
    TimedOut,
}

/// Blocks while `word` holds `expected`, for at most `timeout` (forever if
/// `None`). The kernel compares and sleeps atomically with respect to
/// [`wake`] on the same word, so a wake after the word changed is never lost.
pub(crate) fn wait(word: &AtomicU32, expected: u32, timeout: Option<Duration>) -> Wait {
    let ts = timeout.map(|t| libc::timespec {
        // Saturate: a timeout of centuries is "forever" for us.
        tv_sec: libc::time_t::try_from(t.as_secs()).unwrap_or(libc::time_t::MAX),
        // Below 10^9, so it fits the 32-bit `c_long` of 32-bit ARM too
        // (where `From<u32>` does not exist for it).
        tv_nsec: t.subsec_nanos() as libc::c_long,
    });
    let ts_ptr = ts
        .as_ref()
        .map_or(std::ptr::null(), |t| t as *const libc::timespec);
    // SAFETY: FUTEX_WAIT only reads the 4 aligned bytes of `word` (a live
    // reference) and the timespec (a live local or null); it writes nothing
    // in this process. The other arguments are ignored by FUTEX_WAIT.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            ts_ptr,
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    if rc == 0 {
        return Wait::Woken;
    }
    match std::io::Error::last_os_error().raw_os_error() {
        Some(libc::EAGAIN) => Wait::Changed,
        Some(libc::ETIMEDOUT) => Wait::TimedOut,
        // EINTR, or anything unexpected: the caller re-checks and decides.
        _ => Wait::Woken,
    }
}

/// Wakes every thread (in any process) blocked in [`wait`] on `word`;
/// returns how many were woken.
pub(crate) fn wake(word: &AtomicU32) -> usize {
    // SAFETY: FUTEX_WAKE only uses the address of `word` (a live reference)
    // as a key; it neither reads nor writes memory of this process.
    let rc = unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAKE,
            i32::MAX,
            std::ptr::null::<libc::timespec>(),
            std::ptr::null::<u32>(),
            0u32,
        )
    };
    usize::try_from(rc).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;
    use std::sync::Arc;
    use std::time::Instant;

    #[test]
    fn a_word_that_differs_does_not_block() {
        let word = AtomicU32::new(5);
        assert_eq!(wait(&word, 4, None), Wait::Changed);
    }

    #[test]
    fn a_timeout_ends_the_wait() {
        let word = AtomicU32::new(5);
        let start = Instant::now();
        assert_eq!(
            wait(&word, 5, Some(Duration::from_millis(20))),
            Wait::TimedOut
        );
        assert!(start.elapsed() >= Duration::from_millis(20));
        assert_eq!(wait(&word, 5, Some(Duration::ZERO)), Wait::TimedOut);
    }

    #[test]
    fn wake_with_nobody_waiting_wakes_nobody() {
        assert_eq!(wake(&AtomicU32::new(0)), 0);
    }

    /// A waiter blocked on the word is woken by `wake`: the main thread
    /// retries `wake` until the kernel reports it woke the sleeping waiter
    /// (which then sleeps again, the word being unchanged), then changes
    /// the word and wakes it for good. No timing assumptions.
    #[test]
    fn wake_wakes_a_blocked_waiter() {
        let word = Arc::new(AtomicU32::new(0));
        let waiter = {
            let word = word.clone();
            std::thread::spawn(move || {
                while word.load(Ordering::SeqCst) == 0 {
                    wait(&word, 0, None);
                }
            })
        };
        // Until the waiter sleeps, wake finds nobody: wait for it to be there.
        let mut woken = 0;
        while woken == 0 {
            woken = wake(&word);
            std::thread::yield_now();
        }
        word.store(1, Ordering::SeqCst);
        wake(&word);
        waiter.join().unwrap();
        assert_eq!(woken, 1);
    }
}
