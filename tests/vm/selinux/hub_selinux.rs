// SELinux access checks for rsb_hub, added by the VM rig (tests/vm/run.sh
// copies this file into rsbinder-tools' src/bin/ and applies
// rsb_hub-selinux.patch). rsb_hub only checks uids; on Android the service
// manager also asks SELinux, per call, whether the caller's domain may `add`,
// `find` or `list` the name's service_contexts label. This follows AOSP's
// frameworks/native/cmds/servicemanager/Access.cpp (Android 14):
//   - the caller's context comes from the binder driver (the context manager
//     is registered with FLAT_BINDER_FLAG_TXN_SECURITY_CTX), else getpidcon;
//   - the target is the name's label in plat_service_contexts /
//     vendor_service_contexts (exact name, else `*`), or for `list` the
//     service manager's own context;
//   - the decision is the kernel's (selinuxfs `access`, what libselinux's
//     security_compute_av does), honouring permissive mode and permissive
//     domains; a denial is logged like libselinux's AVC message, to the
//     kernel log (/dev/kmsg) so that one collector sees every denial.

use std::ffi::CStr;
use std::io::{Read, Write};
use std::sync::OnceLock;

const CONTEXT_FILES: &[&str] = &[
    "/system/etc/selinux/plat_service_contexts",
    "/vendor/etc/selinux/vendor_service_contexts",
];
const SELINUXFS: &str = "/sys/fs/selinux";

struct Selinux {
    /// (name, label) in file order; the first exact match wins, then `*`.
    contexts: Vec<(String, String)>,
    /// service_manager's class number in the loaded policy.
    class: u16,
    /// The service manager's own context (target of `list`).
    own: String,
}

fn read_trimmed(path: &str) -> Option<String> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(text.trim_end_matches(['\0', '\n']).to_owned())
}

fn load() -> Option<Selinux> {
    if !std::path::Path::new(&format!("{SELINUXFS}/enforce")).exists() {
        eprintln!("rsb_hub: SELinux: not available, no service_manager checks");
        return None;
    }
    let mut contexts = Vec::new();
    for file in CONTEXT_FILES {
        let text = std::fs::read_to_string(file)
            .unwrap_or_else(|e| panic!("rsb_hub: SELinux is on but {file} is unreadable: {e}"));
        for line in text.lines() {
            let line = line.split('#').next().unwrap_or("").trim();
            let words: Vec<&str> = line.split_whitespace().collect();
            if let [name, label] = words[..] {
                contexts.push((name.to_owned(), label.to_owned()));
            }
        }
    }
    let class = read_trimmed(&format!("{SELINUXFS}/class/service_manager/index"))
        .and_then(|s| s.parse().ok())
        .expect("rsb_hub: the loaded policy has no service_manager class");
    let own = read_trimmed("/proc/self/attr/current").expect("rsb_hub: /proc/self/attr/current");
    eprintln!(
        "rsb_hub: SELinux: checking service_manager permissions as {own} ({} service_contexts entries)",
        contexts.len()
    );
    Some(Selinux {
        contexts,
        class,
        own,
    })
}

fn selinux() -> Option<&'static Selinux> {
    static STATE: OnceLock<Option<Selinux>> = OnceLock::new();
    STATE.get_or_init(load).as_ref()
}

impl Selinux {
    fn label(&self, name: &str) -> Option<&str> {
        let exact = self.contexts.iter().find(|(n, _)| n == name);
        exact
            .or_else(|| self.contexts.iter().find(|(n, _)| n == "*"))
            .map(|(_, l)| l.as_str())
    }

    fn perm_bit(&self, perm: &str) -> Option<u32> {
        let n: u32 = read_trimmed(&format!("{SELINUXFS}/class/service_manager/perms/{perm}"))?
            .parse()
            .ok()?;
        Some(1 << (n - 1))
    }

    /// (allowed, decided, auditallow, auditdeny, seqno, flags) from selinuxfs.
    fn compute_av(&self, scon: &str, tcon: &str) -> Option<(u32, u32, u32)> {
        let mut f = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .open(format!("{SELINUXFS}/access"))
            .ok()?;
        f.write_all(format!("{scon} {tcon} {}", self.class).as_bytes())
            .ok()?;
        let mut out = String::new();
        f.read_to_string(&mut out).ok()?;
        let v: Vec<u32> = out
            .split_whitespace()
            .filter_map(|w| u32::from_str_radix(w, 16).ok())
            .collect();
        match v[..] {
            [allowed, _decided, _auditallow, auditdeny, _seqno, flags] => {
                Some((allowed, auditdeny, flags))
            }
            _ => None,
        }
    }
}

fn log_kmsg(line: &str) {
    eprintln!("rsb_hub: {line}");
    if let Ok(mut k) = std::fs::OpenOptions::new().write(true).open("/dev/kmsg") {
        let _ = k.write_all(format!("servicemanager: {line}\n").as_bytes());
    }
}

/// May the caller (uid/pid, context `sid` if the driver sent one) do `perm`
/// ("add", "find" or "list") on `name`? Always true without SELinux.
pub fn allows(perm: &str, name: &str, uid: u32, pid: i32, sid: Option<&CStr>) -> bool {
    let Some(se) = selinux() else {
        return true;
    };
    let scon = match sid {
        Some(s) => s.to_string_lossy().trim_end_matches('\0').to_owned(),
        None => match read_trimmed(&format!("/proc/{pid}/attr/current")) {
            Some(s) => s,
            None => {
                log_kmsg(&format!("SELinux: no context for pid={pid} uid={uid}: {perm} {name} denied"));
                return false;
            }
        },
    };
    let tcon = if perm == "list" {
        se.own.as_str()
    } else {
        match se.label(name) {
            Some(l) => l,
            None => {
                log_kmsg(&format!("SELinux: no service_contexts label for {name}: {perm} denied"));
                return false;
            }
        }
    };
    let (Some(bit), Some((allowed, auditdeny, flags))) = (se.perm_bit(perm), se.compute_av(&scon, tcon))
    else {
        log_kmsg(&format!("SELinux: cannot compute {scon} -> {tcon} service_manager {perm}: denied"));
        return false;
    };
    if allowed & bit != 0 {
        return true;
    }
    let enforcing = read_trimmed(&format!("{SELINUXFS}/enforce")).as_deref() == Some("1");
    let permissive = !enforcing || flags & 1 != 0;
    if auditdeny & bit != 0 {
        log_kmsg(&format!(
            "avc:  denied  {{ {perm} }} for pid={pid} uid={uid} name={name} scontext={scon} tcontext={tcon} tclass=service_manager permissive={}",
            u8::from(permissive)
        ));
    }
    permissive
}
