//! What /proc says about a process's memory and threads (the daemon's
//! footprint: leak tests bound it, the bench reports it).

/// Field `name` of `/proc/<pid>/status` (e.g. `VmRSS`, `Threads`): kB
/// fields in bytes, counts as they are; `None` if the process or field is gone.
pub fn status_field(pid: u32, name: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    let line = status
        .lines()
        .find_map(|l| l.strip_prefix(name)?.strip_prefix(':'))?;
    let mut words = line.split_whitespace();
    let value: u64 = words.next()?.parse().ok()?;
    Some(if words.next() == Some("kB") {
        value * 1024
    } else {
        value
    })
}

/// Resident set size of process `pid`, bytes; panics if it cannot be read.
pub fn rss(pid: u32) -> u64 {
    status_field(pid, "VmRSS").unwrap_or_else(|| panic!("no VmRSS in /proc/{pid}/status"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn this_process_has_a_resident_set_and_threads() {
        let me = std::process::id();
        assert!(rss(me) > 0);
        assert!(status_field(me, "Threads").is_some_and(|n| n >= 1));
        assert_eq!(status_field(me, "NoSuchField"), None);
    }
}
