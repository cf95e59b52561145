//! SELinux in the VM rig (tests/vm/run.sh boots enforcing; see
//! tests/vm/selinux/): the domains of processes, the labels of files,
//! running a client in a given domain, and the kernel log's AVC denials.

use std::path::Path;
use std::process::Command;

use crate::bins;

/// The rig's helper binary (tests/src/bin/selinux.rs).
pub const HELPER: &str = "enea-selinux";

/// The daemon's domain (sepolicy/hal_enea_buffer_default.te).
pub const DAEMON_DOMAIN: &str = "u:r:hal_enea_buffer_default:s0";
/// The label of the daemon's memfd (its tmpfs type_transition).
pub const REGION_LABEL: &str = "u:object_r:hal_enea_buffer_default_tmpfs:s0";
/// The service's service_contexts label (sepolicy/service_contexts).
pub const SERVICE_LABEL: &str = "u:object_r:hal_enea_buffer_service:s0";
/// The service manager's domain.
pub const SERVICEMANAGER_DOMAIN: &str = "u:r:servicemanager:s0";
/// A full (read-write) client: what /system/bin/eneabuf and the probe run
/// as when the runner starts them (tests/vm/selinux/vm_actors.te).
pub const CLIENT_DOMAIN: &str = "u:r:vm_buffer_client:s0";
/// A read-only client (hal_enea_buffer_readonly_client).
pub const READONLY_CLIENT_DOMAIN: &str = "u:r:vm_buffer_readonly_client:s0";
/// A domain with binder but no rights on the HAL.
pub const UNRELATED_DOMAIN: &str = "u:r:vm_unrelated:s0";

/// Is SELinux loaded and enforcing?
pub fn enforcing() -> bool {
    std::fs::read_to_string("/sys/fs/selinux/enforce").is_ok_and(|s| s.trim() == "1")
}

/// Panics unless SELinux is enforcing (the VM rig's SELinux tests mean
/// nothing otherwise).
pub fn require_enforcing() {
    assert!(
        enforcing(),
        "SELinux is not enforcing here (/sys/fs/selinux/enforce): these tests run in the VM rig, tests/vm/run.sh"
    );
}

fn trim_context(raw: &[u8]) -> String {
    String::from_utf8_lossy(raw)
        .trim_end_matches(['\0', '\n'])
        .to_owned()
}

/// The SELinux context process `pid` runs in.
pub fn context_of(pid: u32) -> String {
    let path = format!("/proc/{pid}/attr/current");
    trim_context(&std::fs::read(&path).unwrap_or_else(|e| panic!("{path}: {e}")))
}

/// The `security.selinux` label of the file `path` names (symlinks,
/// including /proc/<pid>/fd/<n>, are followed).
pub fn file_label(path: &Path) -> String {
    let mut buf = vec![0u8; 256];
    let n = rustix::fs::getxattr(path, "security.selinux", &mut buf[..])
        .unwrap_or_else(|e| panic!("getxattr {}: {e}", path.display()));
    trim_context(&buf[..n])
}

/// A command that runs `program` in the SELinux domain `context` (the
/// helper sets its exec context, then execs; the runner must be allowed to
/// transition there, and `program`'s label must be an entrypoint of it).
pub fn in_domain(context: &str, program: &Path) -> Command {
    let mut cmd = Command::new(bins::path(HELPER));
    cmd.arg("exec").arg(context).arg(program);
    cmd
}

/// A position in the kernel log (/dev/kmsg), to read what came after it.
pub struct Kmsg {
    after: u64,
}

/// The kernel log's records from the start of its buffer: (sequence, text).
fn kmsg_records() -> Vec<(u64, String)> {
    use rustix::fs::{Mode, OFlags};
    let fd = rustix::fs::open(
        "/dev/kmsg",
        OFlags::RDONLY | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::empty(),
    )
    .unwrap_or_else(|e| panic!("/dev/kmsg: {e}"));
    let mut out = Vec::new();
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        match rustix::io::read(&fd, &mut buf[..]) {
            Ok(n) => {
                // "<prio>,<seq>,<usec>,<flags>[,...];<text>\n[ continuation]"
                let rec = String::from_utf8_lossy(&buf[..n]);
                let (head, text) = rec.split_once(';').unwrap_or(("", &rec));
                let seq = head.split(',').nth(1).and_then(|s| s.parse().ok());
                let text = text.lines().next().unwrap_or("").to_owned();
                out.push((seq.unwrap_or(0), text));
            }
            // Records overwritten while we read: skip ahead.
            Err(rustix::io::Errno::PIPE) => continue,
            Err(rustix::io::Errno::AGAIN) => break,
            Err(e) => panic!("reading /dev/kmsg: {e}"),
        }
    }
    out
}

impl Kmsg {
    /// The end of the log as it is now.
    pub fn now() -> Kmsg {
        let after = kmsg_records().last().map_or(0, |(seq, _)| *seq);
        Kmsg { after }
    }

    /// AVC denials logged since [`Kmsg::now`], as [`denial_key`]s (the
    /// kernel's, and the service manager's userspace ones).
    pub fn denials(&self) -> Vec<String> {
        kmsg_records()
            .into_iter()
            .filter(|(seq, _)| *seq > self.after)
            .filter_map(|(_, text)| denial_key(&text))
            .collect()
    }
}

/// `{ perms } scontext=... tcontext=... tclass=...` of an AVC denial line
/// (kernel or userspace format); `None` for any other line. The same key
/// the rig compares with tests/vm/selinux/expected-denials.
pub fn denial_key(line: &str) -> Option<String> {
    let rest = &line[line.find("avc:")?..];
    let rest = rest["avc:".len()..].trim_start();
    if !rest.starts_with("denied") {
        return None;
    }
    let open = rest.find('{')?;
    let close = rest.find('}')?;
    let perms: Vec<&str> = rest[open + 1..close].split_whitespace().collect();
    let field = |name: &str| {
        rest.split_whitespace()
            .find_map(|w| w.strip_prefix(name).and_then(|v| v.strip_prefix('=')))
            .map(str::to_owned)
    };
    Some(format!(
        "{{ {} }} scontext={} tcontext={} tclass={}",
        perms.join(" "),
        field("scontext")?,
        field("tcontext")?,
        field("tclass")?
    ))
}

#[cfg(test)]
mod tests {
    use super::denial_key;

    #[test]
    fn denial_keys_from_kernel_and_userspace_lines() {
        let kernel = "audit: type=1400 audit(1.2:3): avc:  denied  { write } for  pid=7 comm=\"eneabuf\" path=\"/memfd:x (deleted)\" dev=\"tmpfs\" ino=9 scontext=u:r:a:s0 tcontext=u:object_r:b:s0 tclass=file permissive=0";
        assert_eq!(
            denial_key(kernel).as_deref(),
            Some("{ write } scontext=u:r:a:s0 tcontext=u:object_r:b:s0 tclass=file")
        );
        let user = "servicemanager: avc:  denied  { find } for pid=1 uid=0 name=x scontext=u:r:c:s0 tcontext=u:object_r:d:s0 tclass=service_manager permissive=0";
        assert_eq!(
            denial_key(user).as_deref(),
            Some("{ find } scontext=u:r:c:s0 tcontext=u:object_r:d:s0 tclass=service_manager")
        );
        assert_eq!(denial_key("avc:  granted  { read } for"), None);
        assert_eq!(denial_key("binder: 1:2 transaction failed"), None);
    }
}
