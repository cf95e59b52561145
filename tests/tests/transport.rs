//! The product's behaviour through whichever transport `ENEA_TEST_TRANSPORT`
//! selects: rsbinder RPC on a Unix socket here, kernel binder in the VM rig.
//! Every test starts the real daemon and talks to it from separate processes.

use std::collections::BTreeMap;
use std::path::Path;

use enea_buffer_tests::probe::field;
use enea_buffer_tests::{
    eneabuf, eventually, fd_count, require_root, Daemon, DaemonOptions, Mode, Probe, DEADCAFE,
    OTHER_UID, WAIT,
};

fn stdout(o: &std::process::Output) -> String {
    String::from_utf8_lossy(&o.stdout).into_owned()
}

fn assert_ok(o: &std::process::Output, what: &str) {
    assert!(
        o.status.success(),
        "{what} failed: {}\nstdout: {}\nstderr: {}",
        o.status,
        stdout(o),
        String::from_utf8_lossy(&o.stderr)
    );
}

/// The seed: a separate client increments word 0, the daemon's own periodic
/// log then reports 0xdeadcaff.
#[test]
fn seed_scenario_increment_shows_in_the_daemon_log() {
    let daemon = Daemon::start();
    assert!(daemon
        .wait_log(|l| l.contains("Data=0xdeadcafe"), WAIT)
        .is_some());
    let out = eneabuf(&daemon, &["increment"]);
    assert_ok(&out, "eneabuf increment");
    let lines: Vec<String> = stdout(&out).lines().map(str::to_owned).collect();
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines[0].ends_with("Data=0xdeadcafe"), "{lines:?}");
    assert!(lines[1].ends_with("Data=0xdeadcaff"), "{lines:?}");
    let seen = daemon.wait_log(|l| l.contains("Data=0xdeadcaff"), WAIT);
    assert!(
        seen.is_some(),
        "daemon never logged 0xdeadcaff:\n{}",
        daemon.log_text()
    );
}

/// The daemon's memfd fds, from /proc/<pid>/fd: (fd number, dev, ino).
fn daemon_memfds(pid: u32) -> Vec<(i32, u64, u64)> {
    use std::os::unix::fs::MetadataExt;
    let dir = format!("/proc/{pid}/fd");
    std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{dir}: {e}"))
        .filter_map(Result::ok)
        .filter(|e| {
            std::fs::read_link(e.path())
                .is_ok_and(|t| t.to_string_lossy().starts_with("/memfd:vendor.enea.buffer"))
        })
        .filter_map(|e| {
            let fd = e.file_name().to_str()?.parse().ok()?;
            let meta = std::fs::metadata(e.path()).ok()?;
            Some((fd, meta.dev(), meta.ino()))
        })
        .collect()
}

/// The second seed: the fd the client receives lives in another process's
/// fd table (its number may or may not coincide with the daemon's; numbers
/// mean nothing across processes), yet names the same file; writes cross
/// both ways.
#[test]
fn client_fd_differs_but_names_the_same_file_and_writes_cross_both_ways() {
    let daemon = Daemon::start();
    let mut a = Probe::hold(&daemon, false, None);
    let theirs = daemon_memfds(daemon.pid());
    assert!(!theirs.is_empty(), "no memfd in /proc/{}/fd", daemon.pid());
    for (fd, dev, ino) in &theirs {
        assert_eq!(
            (*dev, *ino),
            (a.dev, a.ino),
            "daemon fd {fd} is another file"
        );
    }
    // Daemon -> client: the daemon's initial write is what the client reads.
    assert_eq!(a.get(), DEADCAFE);
    // Client -> daemon: the daemon's own mapping shows the client's store.
    a.set(0x1234_5678);
    let seen = daemon.wait_log(|l| l.contains("Data=0x12345678"), WAIT);
    assert!(
        seen.is_some(),
        "daemon never saw the client's write:\n{}",
        daemon.log_text()
    );
    // Client -> client, through two different processes' mappings.
    let mut b = Probe::hold(&daemon, false, None);
    assert_eq!((b.dev, b.ino), (a.dev, a.ino));
    assert_eq!(b.get(), 0x1234_5678);
    b.add(1);
    assert_eq!(a.get(), 0x1234_5679);
    a.quit();
    b.quit();
}

/// Reference counting: the region outlives the daemon while a client maps
/// it; a restarted daemon starts a fresh region.
#[test]
fn mapping_outlives_the_daemon_and_a_restart_hands_out_a_fresh_region() {
    let daemon = Daemon::start();
    let dir = daemon.dir.clone();
    let mut held = Probe::hold(&daemon, false, None);
    let old_file = (held.dev, held.ino);
    held.add(1);
    let status = daemon.terminate();
    assert!(status.success(), "daemon exit: {status}");
    // The daemon is gone; its region is not.
    assert_eq!(held.add(1), 0xdead_caff);
    assert_eq!(held.get(), 0xdead_cb00);

    let restarted = Daemon::start_with(DaemonOptions {
        dir: Some(dir),
        ..Default::default()
    });
    let mut fresh = Probe::hold(&restarted, false, None);
    assert_ne!(
        (fresh.dev, fresh.ino),
        old_file,
        "restart reused the old file"
    );
    assert_eq!(fresh.get(), DEADCAFE);
    assert_eq!(
        held.get(),
        0xdead_cb00,
        "the old region changed under its last client"
    );
    held.quit();
    fresh.quit();
}

/// 16 processes x 200,000 increments through the library's `fetch_add_u32`
/// lose none. Every worker maps the region first and waits; once all are
/// ready each gets a line, and they then meet at a barrier in the region
/// (word 1) so that none starts counting before all run: their increments
/// overlap, and a load-then-store increment loses counts here on
/// essentially every run.
#[test]
fn sixteen_clients_incrementing_concurrently_lose_nothing() {
    const WORKERS: u32 = 16;
    const COUNT: u32 = 200_000;
    let daemon = Daemon::start();
    let (count, workers) = (COUNT.to_string(), WORKERS.to_string());
    let mut workers: Vec<_> = (0..WORKERS)
        .map(|_| {
            Probe::interactive(
                &daemon,
                &["increment", "--count", &count, "--barrier", &workers],
                None,
            )
        })
        .collect();
    for w in &mut workers {
        assert_eq!(w.reply(), "ready");
    }
    // Nobody has incremented yet: all are mapped and waiting.
    assert_eq!(stdout(&eneabuf(&daemon, &["get"])).trim(), "0xdeadcafe");
    for w in &mut workers {
        w.send("go");
    }
    for w in workers {
        let mut w = w;
        assert_eq!(w.reply(), "done");
        assert!(w.finish().success(), "probe increment failed");
    }
    let out = eneabuf(&daemon, &["get"]);
    assert_ok(&out, "eneabuf get");
    let expected = DEADCAFE.wrapping_add(WORKERS * COUNT);
    assert_eq!(stdout(&out).trim(), format!("{expected:#010x}"));
    // Every worker passed the barrier (at CONTROL_SIZE, past the V2 control words).
    let mut check = Probe::hold(&daemon, true, None);
    assert_eq!(
        check.command("read 64 4"),
        format!("bytes={}", hex(&WORKERS.to_ne_bytes()))
    );
    check.quit();
}

/// Byte ranges cross processes through the library's copies: unaligned and
/// aligned, into a read-write and out of read-only and read-write mappings;
/// 64-bit atomics reach 8-aligned words only; out-of-range and misaligned
/// requests are refused, never performed.
#[test]
fn byte_ranges_and_64_bit_words_cross_processes_and_stay_in_bounds() {
    let daemon = Daemon::start();
    let mut writer = Probe::hold(&daemon, false, None);
    let mut reader = Probe::hold(&daemon, true, None);
    let mut other = Probe::hold(&daemon, false, None);
    // Unaligned, crossing word boundaries (past the control words, which
    // are the layout's).
    assert_eq!(writer.command("write 69 0102030405060708090a0b"), "ok");
    assert_eq!(reader.command("read 69 11"), "bytes=0102030405060708090a0b");
    assert_eq!(
        other.command("read 68 13"),
        "bytes=000102030405060708090a0b00"
    );
    // Word 0 read as bytes is the word the daemon stored (native endian).
    assert_eq!(
        reader.command("read 0 4"),
        format!("bytes={}", hex(&DEADCAFE.to_ne_bytes()))
    );
    // The last bytes of the region, and nothing past them.
    assert_eq!(writer.command("write 10238 abcd"), "ok");
    assert_eq!(reader.command("read 10236 4"), "bytes=0000abcd");
    assert_eq!(
        reader.command("read 10237 4"),
        "refused 4 bytes at offset 10237 do not fit in the 10240-byte region"
    );
    assert_eq!(
        writer.command("write 10240 00"),
        "refused 1 bytes at offset 10240 do not fit in the 10240-byte region"
    );
    assert_eq!(reader.command("read 10236 4"), "bytes=0000abcd");
    // 64-bit atomics: 8-aligned only, visible to every other mapping.
    assert_eq!(
        writer.command("add64 4 1"),
        "refused offset 4 is not aligned to 8 bytes"
    );
    assert_eq!(
        writer.command("add64 10240 1"),
        "refused 8 bytes at offset 10240 do not fit in the 10240-byte region"
    );
    assert_eq!(writer.command("add64 88 258"), "old=0x0000000000000000");
    assert_eq!(other.command("add64 88 1"), "old=0x0000000000000102");
    assert_eq!(
        reader.command("read 88 8"),
        format!("bytes={}", hex(&0x103u64.to_ne_bytes()))
    );
    // Word 0 was never part of any of it.
    assert_eq!(reader.get(), DEADCAFE);
    writer.quit();
    reader.quit();
    other.quit();
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// `(route, result)` pairs as the map `routes` returns.
fn table(pairs: &[(&str, &str)]) -> BTreeMap<String, String> {
    pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

fn routes(out: &std::process::Output) -> BTreeMap<String, String> {
    stdout(out)
        .lines()
        .filter(|l| l.starts_with("route="))
        .map(|l| (field(l, "route").to_owned(), field(l, "result").to_owned()))
        .collect()
}

/// A read-write client still cannot change the file's size or seals.
#[test]
fn read_write_client_cannot_truncate_grow_or_reseal() {
    let daemon = Daemon::start();
    let out = Probe::run(&daemon, &["attack-rw"], None);
    assert_ok(&out, "probe attack-rw");
    let got = routes(&out);
    let expected = table(&[
        ("ftruncate_shrink", "EPERM"),
        ("ftruncate_grow", "EPERM"),
        ("fallocate_grow", "EPERM"),
        ("pwrite_past_end", "EPERM"),
        ("add_seal_write", "EPERM"),
        ("add_seal_future_write", "EPERM"),
        ("pwrite_inside", "ok"),
    ]);
    assert_eq!(got, expected);
    // The daemon keeps serving, and the region kept its size.
    let info = eneabuf(&daemon, &["info"]);
    assert_ok(&info, "eneabuf info after the attack");
    assert!(
        stdout(&info).contains("size:      10240 bytes"),
        "{}",
        stdout(&info)
    );
}

/// The read-only fd, held by a process of another uid, cannot be made to
/// write the region by any route a Linux process has.
#[test]
fn read_only_buffer_resists_every_write_route_from_another_uid() {
    require_root("the attacking client must run under a different uid than the daemon");
    let daemon = Daemon::start();
    let out = Probe::run(&daemon, &["attack-ro"], Some(OTHER_UID));
    assert_ok(&out, "probe attack-ro");
    let got = routes(&out);
    let expected = table(&[
        ("mmap_shared_write", "EACCES"),
        ("mprotect_write", "EACCES"),
        ("write", "EBADF"),
        ("pwrite", "EBADF"),
        ("ftruncate", "EINVAL"),
        ("fallocate", "EBADF"),
        ("add_seals", "EPERM"),
        ("reopen_rdwr", "EACCES"),
        ("reopen_wronly", "EACCES"),
        // Under SELinux (the VM rig) the client's domain has no setattr on
        // the region, checked before the owner: EACCES instead of EPERM.
        (
            "fchmod",
            if enea_buffer_tests::selinux::enforcing() {
                "EACCES"
            } else {
                "EPERM"
            },
        ),
        ("setfl_rdwr", "still-read-only"),
        ("mmap_private_write", "ok"),
    ]);
    assert_eq!(got, expected);
    // The private mapping's write stayed private.
    let value = stdout(&out)
        .lines()
        .find(|l| l.starts_with("value="))
        .map(|l| field(l, "value").to_owned());
    assert_eq!(value.as_deref(), Some("0xdeadcafe"));
    let get = eneabuf(&daemon, &["get"]);
    assert_eq!(stdout(&get).trim(), "0xdeadcafe");
}

/// The daemon sees the real caller: kernel-vouched uid and pid.
#[test]
fn daemon_sees_the_calling_clients_uid() {
    require_root("the client must run under a different uid than the daemon");
    let daemon = Daemon::start();
    let mut held = Probe::hold(&daemon, true, Some(OTHER_UID));
    // A V2 client fetches the read-only view with getReadOnlyRegion.
    let line = format!("getReadOnlyRegion from uid={OTHER_UID} ");
    let seen = daemon.wait_log(|l| l.contains(&line), WAIT);
    assert!(
        seen.is_some(),
        "no `{line}` in the daemon log:\n{}",
        daemon.log_text()
    );
    assert_eq!(held.get(), DEADCAFE);
}

/// Clients that crash while holding a mapping, or come and go by the
/// hundred, leave the daemon serving and holding no extra fds.
#[test]
fn crashing_and_departing_clients_leak_nothing() {
    let daemon = Daemon::start();
    let pid = daemon.pid();
    assert_ok(&eneabuf(&daemon, &["get"]), "warm-up client");
    let baseline = fd_count(pid);
    let held: Vec<_> = (0..8).map(|_| Probe::hold(&daemon, false, None)).collect();
    for h in held {
        h.crash();
    }
    for _ in 0..50 {
        assert_ok(&eneabuf(&daemon, &["get"]), "eneabuf get");
    }
    eventually("daemon fd count back to baseline", || {
        fd_count(pid) <= baseline
    });
    assert_eq!(stdout(&eneabuf(&daemon, &["get"])).trim(), "0xdeadcafe");
    assert!(Path::new(&format!("/proc/{pid}")).exists(), "daemon died");
    assert_eq!(Mode::current(), daemon.mode);
}

/// Death notification: a client linked to death hears of the daemon's
/// death, gets ServiceGone instead of a hang, and reconnects to a restarted
/// daemon's fresh region.
#[test]
fn death_is_notified_and_the_client_reconnects_after_a_restart() {
    let daemon = Daemon::start();
    let dir = daemon.dir.clone();
    let mut watcher = Probe::interactive(&daemon, &["death-watch"], None);
    let ready = watcher.reply();
    assert_eq!(field(&ready, "value"), "0xdeadcafe");
    assert_eq!(field(&ready, "alive"), "true");
    let status = daemon.stop_with(rustix::process::Signal::KILL);
    assert!(!status.success());
    let died = watcher.reply();
    assert!(died.starts_with("died "), "{died}");
    assert_eq!(watcher.reply(), "call result=ServiceGone alive=false");
    assert_eq!(watcher.reply(), "old value=0xdeadcafe");

    let _restarted = Daemon::start_with(DaemonOptions {
        dir: Some(dir),
        ..Default::default()
    });
    assert_eq!(
        watcher.ask("reconnect"),
        "reconnected value=0xdeadcafe same_file=false"
    );
    assert!(watcher.finish().success());
}

/// `eneabuf watch` prints word 0, then each change another process makes.
#[test]
fn eneabuf_watch_reports_changes_made_by_another_process() {
    let daemon = Daemon::start();
    let mut cmd = std::process::Command::new(enea_buffer_tests::bins::path(
        enea_buffer_tests::bins::ENEABUF,
    ));
    cmd.args(daemon.client_args())
        .args(["watch", "--interval", "10ms", "--changes", "1"]);
    let mut watch = enea_buffer_tests::Interactive::spawn(cmd);
    assert_eq!(watch.reply(), "0xdeadcafe");
    assert_ok(&eneabuf(&daemon, &["increment", "--by", "2"]), "increment");
    assert_eq!(watch.reply(), "0xdeadcb00");
    assert!(watch.finish().success());
}
