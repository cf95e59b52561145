//! Whether a process exists: how a reader tells a record's live writer
//! from one that died mid-publish (which wakes nobody).

/// Whether process `pid` exists (it may belong to another user).
pub(crate) fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 sends nothing; it only checks the pid.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Whether a pid exists: this process does, a pid above every kernel's
    /// `pid_max` (at most 2^22) does not, nor one that is no `pid_t`. The
    /// ESRCH look comes first so that a stale `errno` would show.
    #[test]
    fn alive_tells_existing_pids_from_missing_ones() {
        assert!(!alive(i32::MAX as u32));
        assert!(alive(std::process::id()));
        assert!(!alive(i32::MAX as u32));
        assert!(!alive(u32::MAX));
    }
}
