//! Telling a process out of file descriptors from a service that is gone.
//!
//! A received fd needs a free slot in this process's fd table. When there
//! is none, the step that receives it fails in a way that does not say so:
//! over the socket the kernel truncates the `SCM_RIGHTS` message
//! (`MSG_CTRUNC`), and rsbinder reports a protocol error and drops the
//! connection, which reads as a dead service; over kernel binder the driver
//! fails the reply. Only a step that makes an fd itself (`socket`, `dup`)
//! gets `EMFILE`/`ENFILE`. So when a step fails, the process's fd usage is
//! compared with its soft `RLIMIT_NOFILE`: that is the one reliable signal.

use rustix::io::Errno;

use crate::error::{Error, FdUsage};

/// Free slots below the soft limit that still count as "out of fds" after a
/// failed step: by the time it is checked, that step may have closed its
/// own fds (the connection, its callback connection, a truncated frame's).
const SLACK: u64 = 3;

/// The error for a failed `step` if this process is out of fds: `errno` is
/// the step's own error where it has one (`EMFILE`, `ENFILE`); without one,
/// or with another, the fd table is counted. `None`: fds are not the cause.
pub(crate) fn explain(step: &str, errno: Option<Errno>) -> Option<Error> {
    if errno == Some(Errno::NFILE) {
        return Some(Error::FileTableFull(step.to_owned()));
    }
    let usage = usage()?;
    let out = errno == Some(Errno::MFILE) || usage.soft.saturating_sub(usage.open) <= SLACK;
    out.then(|| Error::FdLimit {
        step: step.to_owned(),
        usage,
    })
}

/// The current usage, or `None` if the limit cannot be read.
fn usage() -> Option<FdUsage> {
    let (soft, hard) = nofile()?;
    let soft = soft?;
    Some(FdUsage {
        open: open_below(soft),
        soft,
        hard,
    })
}

/// The soft and hard `RLIMIT_NOFILE` (`None` in either: unlimited).
fn nofile() -> Option<(Option<u64>, Option<u64>)> {
    // rustix's `process` feature is not in AOSP's build of it; libc is.
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one `rlimit` into the local it is given and
    // keeps no pointer to it.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return None;
    }
    // `rlim_t` is 32 bits wide on 32-bit Android.
    #[allow(clippy::unnecessary_cast)]
    let finite = |v: libc::rlim_t| (v != libc::RLIM_INFINITY).then_some(v as u64);
    Some((finite(limit.rlim_cur), finite(limit.rlim_max)))
}

/// How many fds numbered below `soft` this process holds. Listing
/// `/proc/self/fd` takes an fd itself: that one is not counted, and if
/// there is none to take, every slot is in use.
fn open_below(soft: u64) -> u64 {
    let entries = match std::fs::read_dir("/proc/self/fd") {
        Ok(entries) => entries,
        Err(e) if e.raw_os_error() == Some(Errno::MFILE.raw_os_error()) => return soft,
        // Without /proc, probe each slot (bounded: the fallback is rare).
        Err(_) => return probe_below(soft.min(1 << 16)),
    };
    let below = entries
        .filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u64>().ok())
        .filter(|&fd| fd < soft)
        .count() as u64;
    // One of them is the directory being read.
    below.saturating_sub(1)
}

/// Open fds below `n`, found slot by slot with `F_GETFD`.
fn probe_below(n: u64) -> u64 {
    (0..n)
        .filter(|&fd| {
            let Ok(fd) = i32::try_from(fd) else {
                return false;
            };
            // A raw number, not a `BorrowedFd`: the slot may be closed.
            // SAFETY: F_GETFD only reads the slot's flags (EBADF if empty);
            // no memory is passed.
            unsafe { libc::fcntl(fd, libc::F_GETFD) != -1 }
        })
        .count() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The count follows fds this process opens, whichever way it is made.
    #[test]
    fn usage_counts_the_fds_this_process_opens() {
        let before = usage().expect("a finite soft limit").open;
        let held: Vec<_> = (0..5)
            .map(|_| std::fs::File::open("/dev/null").unwrap())
            .collect();
        let after = usage().unwrap().open;
        // Other test threads may open fds meanwhile; ours are counted.
        assert!(after >= before + 5, "{before} then {after}");
        let probed = probe_below(usage().unwrap().soft.min(1 << 16));
        assert!(probed >= 5, "{probed}");
        drop(held);
    }

    /// Errno first: ENFILE is the system's table, EMFILE this process's.
    #[test]
    fn enfile_and_emfile_are_named_apart() {
        assert!(matches!(
            explain("connect", Some(Errno::NFILE)),
            Some(Error::FileTableFull(step)) if step == "connect"
        ));
        assert!(matches!(
            explain("connect", Some(Errno::MFILE)),
            Some(Error::FdLimit { .. })
        ));
        // Far from the limit, another error is not blamed on fds.
        assert!(explain("connect", Some(Errno::CONNREFUSED)).is_none());
        assert!(explain("getRegion", None).is_none());
    }
}
