//! The SELinux permissions the code needs on the shared region, checked
//! against sepolicy/ on the host: a table from every system call the daemon
//! and the client library make (read from their source) to the file
//! permissions the kernel checks for it, and each needed permission must be
//! granted by an `allow` rule -- and nothing the table does not need may be
//! granted to clients. The kernel-binder VM rig proves the same policy
//! enforcing; this catches the mistake before anything boots (the daemon's
//! fchmod once went without `setattr`).

use std::collections::BTreeSet;

use enea_buffer_platform_checks::{files_under, read, repo_root, sepolicy};

/// Who makes the call.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Who {
    /// The daemon, in its own domain (hal_server_domain).
    Daemon,
    /// Any client: hal_client_domain(<domain>, hal_enea_buffer).
    Client,
    /// A client that also maps the region read-write (the rw attribute).
    RwClient,
}

/// A system call on the region and the permissions the kernel checks for
/// it on the region's type (class `file`), with the kernel path that does.
struct Op {
    who: Who,
    /// `rustix::<module>::<function>` as the source calls it, or a binder
    /// method whose reply carries the region's fd.
    call: &'static str,
    perms: &'static [&'static str],
    why: &'static str,
}

const OPS: &[Op] = &[
    Op { who: Who::Daemon, call: "rustix::fs::memfd_create", perms: &[], why: "a new shmem file: labelled by type_transition, no permission check" },
    Op { who: Who::Daemon, call: "rustix::fs::ftruncate", perms: &["write"], why: "notify_change(ATTR_SIZE|ATTR_FILE) -> selinux_inode_setattr: FILE__WRITE" },
    Op { who: Who::Daemon, call: "rustix::fs::fcntl_add_seals", perms: &[], why: "selinux_file_fcntl default: fd use, own fd (same domain)" },
    Op { who: Who::Daemon, call: "rustix::fs::open", perms: &["open", "read"], why: "the read-only view reopens /proc/self/fd/<memfd> O_RDONLY: selinux_inode_permission + file_open (open_perms)" },
    Op { who: Who::Daemon, call: "rustix::fs::fchmod", perms: &["setattr"], why: "notify_change(ATTR_MODE) -> selinux_inode_setattr: FILE__SETATTR, checked before the owner" },
    Op { who: Who::Daemon, call: "rustix::mm::mmap", perms: &["map", "read", "write"], why: "selinux_mmap_file: map, and read+write for PROT_READ|PROT_WRITE MAP_SHARED" },
    Op { who: Who::Daemon, call: "rustix::mm::munmap", perms: &[], why: "no check" },
    Op { who: Who::Daemon, call: "rustix::io::fcntl_dupfd_cloexec", perms: &[], why: "F_DUPFD: no file permission" },
    Op { who: Who::Daemon, call: "rustix::fs::fstat", perms: &["getattr"], why: "the dump's region identity (dev/inode): selinux_inode_getattr" },
    Op { who: Who::Client, call: "getReadOnlyBuffer", perms: &["read"], why: "binder fd transfer: selinux_binder_transfer_file checks the receiver: fd use on the sender + file_to_av(O_RDONLY) = read" },
    Op { who: Who::Client, call: "rustix::fs::fstat", perms: &["getattr"], why: "selinux_inode_getattr" },
    Op { who: Who::Client, call: "rustix::mm::mmap", perms: &["map", "read"], why: "selinux_mmap_file: map + read for PROT_READ MAP_SHARED (the read-only mapping)" },
    Op { who: Who::Client, call: "rustix::mm::munmap", perms: &[], why: "no check" },
    Op { who: Who::Client, call: "rustix::fs::fcntl_get_seals", perms: &[], why: "F_GET_SEALS before mapping: selinux_file_fcntl default, fd use only (granted with binder_call)" },
    Op { who: Who::Client, call: "rustix::fs::major", perms: &[], why: "not a system call: splits st_rdev" },
    Op { who: Who::Client, call: "rustix::fs::readlink", perms: &[], why: "not on the region: /proc/self/fd/<n> (the ashmem check), a proc lnk_file" },
    Op { who: Who::Client, call: "rustix::fs::open", perms: &[], why: "not on the region: /dev/random, for the Linux RNG wait before an RPC session (platform/linux.rs)" },
    Op { who: Who::Client, call: "rustix::io::read", perms: &[], why: "not on the region: the one byte of /dev/random above" },
    Op { who: Who::RwClient, call: "getBuffer", perms: &["read", "write"], why: "binder fd transfer: file_to_av(O_RDWR) = read write on the receiver" },
    Op { who: Who::RwClient, call: "rustix::mm::mmap", perms: &["map", "read", "write"], why: "selinux_mmap_file: PROT_WRITE on a MAP_SHARED mapping adds write" },
];

/// `rustix::<module>::<function>(` calls in `text` (before any `#[cfg(test)]`
/// module: unit tests run on the host, not in the domain).
fn rustix_calls(text: &str) -> BTreeSet<String> {
    let code = text.split("#[cfg(test)]").next().unwrap_or("");
    let re = regex::Regex::new(r"rustix::(\w+)::(\w+)\s*\(").unwrap();
    re.captures_iter(code)
        .map(|c| format!("rustix::{}::{}", &c[1], &c[2]))
        .collect()
}

fn daemon_source() -> (String, BTreeSet<String>) {
    let file = "service/src/region.rs";
    (file.to_owned(), rustix_calls(&read(file)))
}

fn client_sources() -> (String, BTreeSet<String>, String) {
    let dir = repo_root().join("client-lib/src");
    let mut calls = BTreeSet::new();
    let mut all = String::new();
    for rel in files_under(&dir) {
        if rel.ends_with(".rs") {
            let text = read(&format!("client-lib/src/{rel}"));
            calls.extend(rustix_calls(&text));
            all.push_str(&text);
        }
    }
    ("client-lib/src/".to_owned(), calls, all)
}

struct Subjects {
    policy: sepolicy::Policy,
    tmpfs: String,
    daemon: BTreeSet<String>,
    client: BTreeSet<String>,
    rw_client: BTreeSet<String>,
}

fn subjects() -> Subjects {
    let policy = sepolicy::load("sepolicy");
    let (daemon_type, hal) = policy
        .macros
        .iter()
        .find(|(n, _, _)| n == "hal_server_domain")
        .map(|(_, a, _)| (a[0].clone(), a[1].clone()))
        .expect("sepolicy/: hal_server_domain(<daemon>, <hal>)");
    let tmpfs = policy
        .transitions
        .iter()
        .find(|(s, t, c, _)| *s == daemon_type && t == "tmpfs" && c == "file")
        .map(|(_, _, _, new)| new.clone())
        .expect("sepolicy/: type_transition <daemon> tmpfs:file <type>");
    let mut daemon: BTreeSet<String> = [
        daemon_type.clone(),
        format!("{hal}_server"),
        hal.clone(),
        "domain".into(),
        "halserverdomain".into(),
    ]
    .into();
    daemon.extend(policy.types.get(&daemon_type).cloned().unwrap_or_default());
    let client: BTreeSet<String> = [
        format!("{hal}_client"),
        "halclientdomain".into(),
        "domain".into(),
    ]
    .into();
    let rw_attr = format!("{hal}_rw_client");
    assert!(
        policy.attributes.contains(&rw_attr),
        "sepolicy/attributes: no {rw_attr} (the grant for clients that map the region read-write)"
    );
    let mut rw_client = client.clone();
    rw_client.insert(rw_attr);
    Subjects {
        policy,
        tmpfs,
        daemon,
        client,
        rw_client,
    }
}

impl Subjects {
    fn names(&self, who: Who) -> &BTreeSet<String> {
        match who {
            Who::Daemon => &self.daemon,
            Who::Client => &self.client,
            Who::RwClient => &self.rw_client,
        }
    }

    /// The permissions `allow` rules give `who` on the region's type.
    fn granted(&self, who: Who) -> BTreeSet<String> {
        let names = self.names(who);
        self.policy
            .allows
            .iter()
            .filter(|a| a.source.iter().any(|s| names.contains(s)))
            .filter(|a| a.target.contains(&self.tmpfs))
            .filter(|a| a.classes.iter().any(|c| c == "file"))
            .flat_map(|a| a.perms.iter().cloned())
            .collect()
    }
}

/// Every region system call in the daemon's and the client library's
/// source is in the table: a new one must be added with its permission.
#[test]
fn every_region_call_in_the_source_is_in_the_table() {
    let in_table = |who: &[Who]| -> BTreeSet<String> {
        OPS.iter()
            .filter(|o| who.contains(&o.who) && o.call.starts_with("rustix::"))
            .map(|o| o.call.to_owned())
            .collect()
    };
    let (file, calls) = daemon_source();
    let known = in_table(&[Who::Daemon]);
    let missing: Vec<&String> = calls.difference(&known).collect();
    assert!(
        missing.is_empty(),
        "{file} makes system calls the SELinux table in this test does not know: {missing:?}; \
         add each with the permission the kernel checks for it on the region"
    );
    let (dir, calls, text) = client_sources();
    let known = in_table(&[Who::Client, Who::RwClient]);
    let missing: Vec<&String> = calls.difference(&known).collect();
    assert!(
        missing.is_empty(),
        "{dir} makes system calls the SELinux table in this test does not know: {missing:?}; \
         add each with the permission the kernel checks for it on the region"
    );
    for call in ["getBuffer", "getReadOnlyBuffer"] {
        assert!(
            text.contains(&format!("r#{call}(")),
            "{dir} no longer calls {call}(): update the table in this test"
        );
    }
}

/// Each party has every permission the table says its calls need.
#[test]
fn the_policy_grants_every_permission_the_calls_need() {
    let s = subjects();
    let mut lacking = Vec::new();
    for op in OPS {
        let granted = s.granted(op.who);
        for perm in op.perms {
            if !granted.contains(*perm) {
                lacking.push(format!(
                    "{:?} {} needs `{perm}` on {} ({}), but sepolicy/ grants only {granted:?}",
                    op.who, op.call, s.tmpfs, op.why
                ));
            }
        }
    }
    assert!(lacking.is_empty(), "{lacking:#?}");
    // The fd crosses from the daemon's domain: clients need `fd use` on it.
    assert!(
        s.policy.macros.iter().any(|(n, a, _)| n == "binder_call"
            && a[0] == "hal_enea_buffer_client"
            && a[1] == "hal_enea_buffer_server"),
        "sepolicy/: no binder_call(hal_enea_buffer_client, hal_enea_buffer_server) (calls and fd use)"
    );
}

/// Nobody gets more than the table needs: read-only is the default for
/// clients, and only the rw attribute adds `write`.
#[test]
fn nothing_is_granted_that_the_calls_do_not_need() {
    let s = subjects();
    for who in [Who::Daemon, Who::Client, Who::RwClient] {
        let needed: BTreeSet<String> = OPS
            .iter()
            .filter(|o| o.who == who || (who == Who::RwClient && o.who == Who::Client))
            .flat_map(|o| o.perms.iter().map(|p| p.to_string()))
            .collect();
        let extra: Vec<String> = s.granted(who).difference(&needed).cloned().collect();
        assert!(
            extra.is_empty(),
            "sepolicy/ grants {who:?} {extra:?} on {}, which no call in the table needs",
            s.tmpfs
        );
    }
    assert!(
        !s.granted(Who::Client).contains("write"),
        "every hal_enea_buffer client may write the region: read-only must be the default"
    );
}
