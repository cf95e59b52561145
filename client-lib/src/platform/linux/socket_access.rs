//! Why this user may not connect to the daemon's socket (EACCES), in terms
//! the user can act on: what keeps it out (the socket's owner, group and
//! mode, a directory on the way, or a security module) and the way in.

use std::fs::Metadata;
use std::os::unix::fs::MetadataExt;
use std::path::Path;

use enea_buffer_common::etc_ids;

/// What keeps this user from connecting to `path`, and the way in.
pub fn why_denied(path: &Path) -> String {
    let Some(me) = Credentials::current() else {
        return "permission denied (this user's credentials are unreadable in /proc/self/status)"
            .into();
    };
    let dirs: Vec<&Path> = path
        .ancestors()
        .skip(1)
        .filter(|d| !d.as_os_str().is_empty())
        .collect();
    // Outermost first: the first directory this user cannot search is the one to open.
    for dir in dirs.into_iter().rev() {
        if let Ok(meta) = std::fs::metadata(dir) {
            if me.bits(&meta) & 0o1 == 0 {
                return format!(
                    "the directory {} ({}) does not let this user through (no search \
                     permission). To be let in: run as root, or have the daemon serve its \
                     socket where this user can reach it (`--socket PATH`)",
                    dir.display(),
                    describe(&meta)
                );
            }
        }
    }
    let Ok(meta) = std::fs::metadata(path) else {
        return "permission denied, and the socket cannot be inspected".into();
    };
    if me.bits(&meta) & 0o2 != 0 {
        return format!(
            "the socket ({}) lets this user in, so a security module (SELinux, AppArmor) \
             denied the connection: look for the denial in the audit log (`dmesg`)",
            describe(&meta)
        );
    }
    let group = meta.gid();
    let join = if me.in_group(group) {
        String::new()
    } else {
        format!(" (or add this user to group {group})")
    };
    format!(
        "the socket belongs to {}, and this user is {}. To be let in: run as root, or have \
         the daemon started with `--socket-group <group>` naming a group this user is in{join} \
         and with `--access uid:{}=ro` (or `=rw` to write)",
        describe(&meta),
        me.relation(&meta),
        me.uid
    )
}

/// `uid 0 (root), group 2000 (shell), mode 0660`: names where /etc knows them.
fn describe(meta: &Metadata) -> String {
    let named = |what: &str, id: u32, file: &str| match etc_ids::name_of(file, id) {
        Some(name) => format!("{what} {id} ({name})"),
        None => format!("{what} {id}"),
    };
    format!(
        "{}, {}, mode {:04o}",
        named("uid", meta.uid(), etc_ids::PASSWD),
        named("group", meta.gid(), etc_ids::GROUP),
        meta.mode() & 0o7777
    )
}

/// The ids the kernel checks file access against: the filesystem uid and
/// gid, and the supplementary groups.
struct Credentials {
    uid: u32,
    gid: u32,
    groups: Vec<u32>,
}

impl Credentials {
    /// This process's, from /proc/self/status (`Uid:`/`Gid:` list real,
    /// effective, saved and filesystem ids).
    fn current() -> Option<Credentials> {
        let status = std::fs::read_to_string("/proc/self/status").ok()?;
        let ids = |key: &str| -> Option<Vec<u32>> {
            let rest = status.lines().find_map(|l| l.strip_prefix(key))?;
            Some(
                rest.split_whitespace()
                    .filter_map(|n| n.parse().ok())
                    .collect(),
            )
        };
        Some(Credentials {
            uid: *ids("Uid:")?.get(3)?,
            gid: *ids("Gid:")?.get(3)?,
            groups: ids("Groups:").unwrap_or_default(),
        })
    }

    fn in_group(&self, gid: u32) -> bool {
        self.gid == gid || self.groups.contains(&gid)
    }

    /// The permission bits (`rwx` as 0..=7) a file's mode grants these ids;
    /// root's are all of them (CAP_DAC_OVERRIDE).
    fn bits(&self, meta: &Metadata) -> u32 {
        let mode = meta.mode();
        if self.uid == 0 {
            0o7
        } else if self.uid == meta.uid() {
            (mode >> 6) & 0o7
        } else if self.in_group(meta.gid()) {
            (mode >> 3) & 0o7
        } else {
            mode & 0o7
        }
    }

    /// Which of the mode's classes applies to these ids, in words.
    fn relation(&self, meta: &Metadata) -> &'static str {
        if self.uid == meta.uid() {
            "its owner, whom the mode gives no write permission"
        } else if self.in_group(meta.gid()) {
            "in its group, which the mode gives no write permission"
        } else {
            "neither its owner nor in its group"
        }
    }
}
