//! What /proc says about a process's memory, threads and CPU time (the daemon's
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

/// CPU time (clock ticks, user + system) the thread `tid` of `pid` used.
pub fn cpu_ticks(pid: u32, tid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/stat"))
        .expect("reading the thread's stat");
    // Fields 14 and 15 (utime, stime), counted after the command's ")".
    let fields: Vec<&str> = stat[stat.rfind(')').expect("a stat line") + 1..]
        .split_whitespace()
        .collect();
    fields[11].parse::<u64>().expect("utime") + fields[12].parse::<u64>().expect("stime")
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
        let _ = cpu_ticks(me, me);
    }
}
