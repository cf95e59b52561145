//! Enough file descriptors for the worst the connection caps allow.
//!
//! Root and the daemon's uid can make the daemon hold the fds they pass
//! while it reads the rest of a frame (up to 64 per frame; other callers'
//! fds are never received), and every connection holds its socket. The
//! daemon raises its soft limit to the hard one at start and says when even
//! that is below the worst case of its connection caps, counted as if every
//! connection passed fds.

/// Fds one connection can make the daemon hold at worst: its socket, a
/// callback connection, and one frame's 64 passed fds.
pub const FDS_PER_CONNECTION: u64 = 66;
/// Fds the daemon needs besides its connections (region, log, runtime).
pub const BASE_FDS: u64 = 256;

/// The open-file limit after [`raise`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct FdBudget {
    /// The soft limit now in force.
    pub soft: u64,
    /// The worst case of the connection caps.
    pub needed: u64,
}

impl FdBudget {
    /// Whether the worst case fits.
    pub fn suffices(&self) -> bool {
        self.soft >= self.needed
    }
}

/// Raises the soft `RLIMIT_NOFILE` to the hard limit and reports it against
/// what `connections` connections can hold at worst.
pub fn raise(connections: usize) -> std::io::Result<FdBudget> {
    let mut limit = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes one rlimit into the struct it is given.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } != 0 {
        return Err(std::io::Error::last_os_error());
    }
    if limit.rlim_cur < limit.rlim_max {
        limit.rlim_cur = limit.rlim_max;
        // SAFETY: setrlimit reads the rlimit it is given; the new soft limit
        // is the hard one, which an unprivileged process may set.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &limit) } != 0 {
            return Err(std::io::Error::last_os_error());
        }
    }
    // rlim_t is 32 bits wide on 32-bit glibc.
    #[allow(clippy::useless_conversion)]
    Ok(FdBudget {
        soft: u64::from(limit.rlim_cur),
        needed: BASE_FDS + FDS_PER_CONNECTION * connections as u64,
    })
}
