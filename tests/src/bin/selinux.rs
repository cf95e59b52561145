//! `enea-selinux`: the SELinux steps the VM rig needs and Debian's static
//! busybox lacks (it has no load_policy, setfiles, chcon or runcon applets).
//!
//! - `load <policy>`: load a binary policy (one write to selinuxfs `load`).
//! - `label <list>`: set the `security.selinux` label of each path in a file
//!   of `<context> <path>` lines, without following symlinks (as setfiles).
//! - `exec <context> <program> [args...]`: run a program in a domain (as
//!   runcon): set this process's exec context, then exec.
//! - `start <rc> <service> [extra args...]`: init's part of starting a
//!   service on demand, for rsb_hub's `start = { exec = [...] }`: read the
//!   `service` block of the .rc, take its `user` and `group`s (through
//!   /etc/passwd and /etc/group) and exec its path with its arguments (plus
//!   the extra ones). The executable's label moves it into its domain, as
//!   init_daemon_domain() does when init starts it.

use std::os::unix::process::CommandExt;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.iter().map(String::as_str).collect::<Vec<_>>()[..] {
        ["load", policy] => load(policy),
        ["label", list] => label(list),
        ["exec", context, program, ..] => exec(context, program, &args[3..]),
        ["start", rc, service, ..] => start(rc, service, &args[3..]),
        _ => Err("usage: enea-selinux load <policy> | label <list> | \
             exec <context> <program> [args...] | start <rc> <service> [extra args...]"
            .into()),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("enea-selinux: {e}");
            ExitCode::FAILURE
        }
    }
}

fn load(policy: &str) -> Result<(), String> {
    let bytes = std::fs::read(policy).map_err(|e| format!("{policy}: {e}"))?;
    // selinuxfs takes the whole policy in one write at offset 0.
    let load = "/sys/fs/selinux/load";
    let written = rustix::fs::open(load, rustix::fs::OFlags::WRONLY, rustix::fs::Mode::empty())
        .and_then(|fd| rustix::io::write(&fd, &bytes))
        .map_err(|e| format!("loading {policy} into {load}: {e}"))?;
    if written != bytes.len() {
        return Err(format!(
            "{load} took {written} of {} bytes of {policy}",
            bytes.len()
        ));
    }
    Ok(())
}

fn label(list: &str) -> Result<(), String> {
    let text = std::fs::read_to_string(list).map_err(|e| format!("{list}: {e}"))?;
    for (n, line) in text.lines().enumerate() {
        let Some((context, path)) = line.split_once(' ') else {
            return Err(format!("{list}:{}: expected `<context> <path>`", n + 1));
        };
        // With the trailing NUL, as libselinux's lsetfilecon writes it.
        let value = format!("{context}\0");
        rustix::fs::lsetxattr(
            path,
            "security.selinux",
            value.as_bytes(),
            rustix::fs::XattrFlags::empty(),
        )
        .map_err(|e| format!("labelling {path} {context}: {e}"))?;
    }
    Ok(())
}

fn exec(context: &str, program: &str, args: &[String]) -> Result<(), String> {
    // setexeccon(): applies to the next execve of this (single) thread.
    std::fs::write("/proc/thread-self/attr/exec", context)
        .map_err(|e| format!("setting the exec context {context}: {e}"))?;
    let e = std::process::Command::new(program).args(args).exec();
    Err(format!("exec {program} in {context}: {e}"))
}

fn start(rc: &str, service: &str, extra: &[String]) -> Result<(), String> {
    use enea_buffer_tests::initrc;
    use rustix::process::{Gid, Uid};
    use std::path::Path;
    let def = initrc::load_service(Path::new(rc), service)?;
    let uid = initrc::lookup_id(Path::new("/etc/passwd"), &def.user)?;
    // init: the first `group` is the primary one, the rest supplementary;
    // without a `group` line, the user's own.
    let groups = if def.groups.is_empty() {
        vec![def.user.clone()]
    } else {
        def.groups.clone()
    };
    let gids = groups
        .iter()
        .map(|g| initrc::lookup_id(Path::new("/etc/group"), g).map(Gid::from_raw))
        .collect::<Result<Vec<_>, _>>()?;
    // Groups first, the uid last: after setuid nothing else may change.
    // This process has one thread, so the per-thread calls cover it.
    rustix::thread::set_thread_groups(&gids[1..])
        .and_then(|()| rustix::thread::set_thread_gid(gids[0]))
        .and_then(|()| rustix::thread::set_thread_uid(Uid::from_raw(uid)))
        .map_err(|e| {
            format!(
                "becoming {} ({}) for {service}: {e}",
                def.user,
                groups.join(" ")
            )
        })?;
    let e = std::process::Command::new(&def.path)
        .args(&def.args)
        .args(extra)
        .exec();
    Err(format!("exec {} for {service}: {e}", def.path))
}
