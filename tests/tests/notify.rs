//! Change notification across processes, and the control-word layout the
//! AIDL documents: `eneabuf watch` (another process) blocks in FUTEX_WAIT,
//! counted in the waiter word at WAITERS_OFFSET, makes no wake-ups while
//! idle, and is woken by a write through the library in this process.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use enea_buffer_client::{Connection, Error, SharedBuffer, CONTROL_SIZE, WAITERS_OFFSET};
use enea_buffer_tests::footprint::cpu_ticks;
use enea_buffer_tests::{
    bins, eventually, Daemon, DaemonOptions, Interactive, Probe, DEADCAFE, WAIT,
};

fn connect(daemon: &Daemon) -> Connection {
    Connection::connect(&daemon.connect_options()).expect("connect")
}

/// `voluntary_ctxt_switches` of the thread `tid` of `pid`: how often it
/// went to sleep; a poller adds one per period.
fn sleeps(pid: u32, tid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/status"))
        .expect("reading the watcher's status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("voluntary_ctxt_switches:"))
        .expect("voluntary_ctxt_switches")
        .trim()
        .parse()
        .expect("a number")
}

#[test]
fn watch_sleeps_on_the_futex_counted_in_the_waiter_word_and_wakes_on_a_write() {
    let daemon = Daemon::start();
    let conn = connect(&daemon);
    assert_eq!(conn.interface_version(), 2);
    let buffer = conn.map().expect("map");
    assert!(buffer.has_layout());
    assert_eq!(WAITERS_OFFSET, 4, "the AIDL's WAITERS_OFFSET");
    assert_eq!(
        buffer.load_u32(WAITERS_OFFSET).unwrap(),
        0,
        "nobody waits yet"
    );

    let mut watch = watch_from_deadcafe(&daemon, &["watch", "--changes", "1"]);

    // The documented layout: a waiter counts itself in word 1 before it sleeps.
    let deadline = Instant::now() + WAIT;
    while buffer.load_u32(WAITERS_OFFSET).unwrap() != 1 {
        assert!(
            Instant::now() < deadline,
            "the watcher never counted itself in"
        );
        std::thread::yield_now();
    }
    // Counted in means it is at, or about to enter, FUTEX_WAIT; once it sleeps
    // its main thread wakes only to re-check the word every WAIT_RECHECK.
    let pid = watch.pid();
    let wchan = |pid: u32| {
        std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/wchan")).unwrap_or_default()
    };
    while !wchan(pid).contains("futex") {
        assert!(
            Instant::now() < deadline,
            "the watcher never slept on a futex: {}",
            wchan(pid)
        );
        std::thread::yield_now();
    }
    let (before, start) = (sleeps(pid, pid), Instant::now());
    // A measurement window, not synchronisation: each sleep of the idle
    // watcher is one FUTEX_WAIT that lasts WAIT_RECHECK (timers never fire
    // early), so it wakes at most once per WAIT_RECHECK of the window, as
    // long as it takes; a 1 ms poller would wake hundreds of times.
    std::thread::sleep(Duration::from_millis(350));
    let (woke, window) = (sleeps(pid, pid) - before, start.elapsed());
    let most = window.as_millis() / SharedBuffer::WAIT_RECHECK.as_millis() + 2;
    assert!(
        u128::from(woke) <= most,
        "the idle watcher woke {woke} times in {window:?}"
    );
    while !wchan(pid).contains("futex") {
        assert!(
            Instant::now() < deadline + WAIT,
            "the watcher left the futex: {}",
            wchan(pid)
        );
        std::thread::yield_now();
    }

    buffer.fetch_add_u32(0, 1).expect("write");
    assert_eq!(watch.reply(), format!("{:#010x}", DEADCAFE + 1));
    assert!(watch.finish().success());
    assert_eq!(
        buffer.load_u32(WAITERS_OFFSET).unwrap(),
        0,
        "the watcher counted itself out"
    );
}

/// A waiter with a timeout and nothing written returns `None` in time, and
/// leaves the waiter count as it found it.
#[test]
fn a_wait_times_out_and_counts_itself_out() {
    let daemon = Daemon::start();
    let conn = connect(&daemon);
    let buffer = conn.map().expect("map");
    let got = buffer
        .wait_u32_change(64, 0, Some(Duration::from_millis(50)))
        .expect("wait");
    assert_eq!(got, None);
    assert_eq!(buffer.load_u32(WAITERS_OFFSET).unwrap(), 0);
    buffer.store_u32(64, 9).unwrap();
    assert_eq!(buffer.wait_u32_change(64, 0, None).unwrap(), Some(9));
}

/// A waiter with a timeout sleeps until a write wakes it, well within the
/// timeout: it does not give up before anything was written. The write is
/// made once the waiter counted itself in (or, if it wrongly gave up,
/// once it returned), so the outcome does not depend on timing.
#[test]
fn a_wait_with_a_timeout_returns_the_write_that_woke_it() {
    let daemon = Daemon::start();
    let conn = connect(&daemon);
    let buffer = conn.map().expect("map");
    buffer.store_u32(64, 0).unwrap();
    let got = std::thread::scope(|s| {
        let waiter = s.spawn(|| buffer.wait_u32_change(64, 0, Some(WAIT)));
        eventually("the waiter counts itself in", || {
            waiter.is_finished() || buffer.load_u32(WAITERS_OFFSET).unwrap() > 0
        });
        buffer.store_u32(64, 5).unwrap();
        waiter.join().unwrap()
    });
    assert_eq!(got.expect("wait"), Some(5));
}

/// The control words belong to the layout: on the daemon's region the
/// library refuses a client's writes to the waiter count and the reserved
/// words (and 64-bit atomics over any control word), before anything is
/// written, so another process's waiter still sees a count of 0 and zero
/// reserved words; word 0 and the bytes past CONTROL_SIZE stay writable.
#[test]
fn writes_to_the_control_words_are_refused_on_a_region_with_the_layout() {
    let daemon = Daemon::start_with(DaemonOptions::socket());
    let conn = connect(&daemon);
    let mut buffer = conn.map().expect("map");
    assert!(buffer.has_layout());
    let refused = |r: enea_buffer_client::Result<()>, offset: usize, len: usize| match r {
        Err(Error::ControlWords { offset: o, len: l }) => (o, l) == (offset, len),
        other => panic!("expected ControlWords for {len} bytes at {offset}, got {other:?}"),
    };
    assert!(refused(buffer.store_u32(WAITERS_OFFSET, 1), 4, 4));
    assert!(refused(
        buffer.fetch_add_u32(WAITERS_OFFSET, 1).map(drop),
        4,
        4
    ));
    assert!(refused(buffer.store_u32(CONTROL_SIZE - 4, 1), 60, 4));
    assert!(refused(buffer.write_at(0, &[0xFF; 16]), 0, 16));
    assert!(refused(buffer.atomic_u64(0).map(drop), 0, 8));
    assert!(refused(buffer.atomic_u64(8).map(drop), 8, 8));
    let err = buffer.store_u32(WAITERS_OFFSET, 1).unwrap_err().to_string();
    assert!(err.contains("control words"), "{err}");
    // Another process sees the control words untouched.
    let mut other = Probe::hold(&daemon, true, None);
    assert_eq!(
        other.command(&format!("read 4 {}", CONTROL_SIZE - 4)),
        format!("bytes={}", "00".repeat(CONTROL_SIZE - 4)),
        "the control words changed"
    );
    // Word 0 and the bytes past the control words are the client's.
    assert_eq!(buffer.fetch_add_u32(0, 1).unwrap(), DEADCAFE);
    buffer.write_at(CONTROL_SIZE, &[1, 2, 3, 4]).unwrap();
    let wide = 0x0102_0304_0506_0708u64;
    buffer
        .atomic_u64(CONTROL_SIZE + 8)
        .unwrap()
        .store(wide, std::sync::atomic::Ordering::SeqCst);
    let bytes = |b: &[u8]| {
        format!(
            "bytes={}",
            b.iter().map(|x| format!("{x:02x}")).collect::<String>()
        )
    };
    assert_eq!(
        other.command("read 0 4"),
        bytes(&(DEADCAFE + 1).to_ne_bytes())
    );
    assert_eq!(
        other.command(&format!("read {CONTROL_SIZE} 16")),
        bytes(&[&[1, 2, 3, 4, 0, 0, 0, 0][..], &wide.to_ne_bytes()].concat())
    );
    other.quit();
}

/// A region smaller than CONTROL_SIZE has no control words: writes go
/// anywhere in it, as on a V1 service, and notification is refused with an
/// error that blames the region, not the interface version.
#[test]
fn a_region_too_small_for_the_control_words_takes_writes_anywhere() {
    let daemon = Daemon::start_with(DaemonOptions {
        args: vec!["--size".into(), "32".into()],
        ..DaemonOptions::socket()
    });
    let conn = connect(&daemon);
    assert_eq!((conn.interface_version(), conn.size()), (2, 32));
    let mut buffer = conn.map().expect("map");
    assert!(!buffer.has_layout());
    buffer.store_u32(WAITERS_OFFSET, 7).expect("store");
    assert_eq!(buffer.fetch_add_u32(WAITERS_OFFSET, 1).expect("add"), 7);
    buffer.write_at(8, &[1; 8]).expect("write");
    buffer.atomic_u64(0).expect("64-bit atomic");
    let refused = buffer
        .wait_u32_change(0, 0, Some(Duration::ZERO))
        .expect_err("no notification without the layout");
    assert!(
        matches!(refused, Error::NoLayout { size: 32, .. }),
        "{refused:?}"
    );
    let text = refused.to_string();
    assert!(
        text.contains("this region has none") && !text.contains("interface version"),
        "{text}"
    );
}

/// The longest timeout there is, everywhere a timeout goes: the connection
/// (and so the transport and the dump), a wait woken by a write, a publish
/// and snapshots. Nothing overflows a deadline or panics, and nothing waits
/// for the timeout when the answer is there.
#[test]
fn the_longest_timeouts_connect_wait_and_publish() {
    let daemon = Daemon::start_with(DaemonOptions::socket());
    let options = enea_buffer_client::ConnectOptions {
        timeout: Duration::MAX,
        ..daemon.connect_options()
    };
    let conn = Connection::connect(&options).expect("connect");
    let dump = conn.dump().expect("dump");
    assert!(dump.contains("word 0: 0xdeadcafe"), "{dump}");
    let buffer = conn.map().expect("map");
    buffer.store_u32(CONTROL_SIZE, 0).unwrap();
    let got = std::thread::scope(|s| {
        let waiter = s.spawn(|| buffer.wait_u32_change(CONTROL_SIZE, 0, Some(Duration::MAX)));
        eventually("the waiter counts itself in", || {
            waiter.is_finished() || buffer.load_u32(WAITERS_OFFSET).unwrap() > 0
        });
        buffer.store_u32(CONTROL_SIZE, 1).unwrap();
        waiter.join().unwrap()
    });
    assert_eq!(got.expect("wait"), Some(1));
    let record = CONTROL_SIZE + 8;
    buffer
        .publish(record, b"longest", Duration::MAX)
        .expect("publish");
    let mut out = [0u8; 7];
    buffer
        .snapshot(record, &mut out, Duration::MAX)
        .expect("snapshot");
    assert_eq!(&out, b"longest");
    let ro = conn.map_read_only().expect("map read-only");
    let mut out = [0u8; 7];
    ro.snapshot(record, &mut out, Duration::MAX)
        .expect("read-only snapshot");
    assert_eq!(&out, b"longest");
}

/// `eneabuf watch --spin` polls word 0 without counting itself in: while
/// it burns CPU (well past what a sleeping watcher uses), every look at
/// the waiter word finds 0, so writers make no system call; a store from
/// this process is then seen by the spinning watcher.
#[test]
fn a_spinning_watcher_stays_uncounted_and_sees_another_process_store() {
    let daemon = Daemon::start_with(DaemonOptions::socket());
    let buffer = connect(&daemon).map().expect("map");
    let mut watch = watch_from_deadcafe(&daemon, &["watch", "--changes", "1", "--spin", "1h"]);
    // 30 ticks (300 ms at USER_HZ 100) of CPU after its first line: the
    // watcher is spinning; a sleeping one uses microseconds per 100 ms.
    let pid = watch.pid();
    let start = cpu_ticks(pid, pid);
    let mut looks = 0u64;
    let deadline = Instant::now() + WAIT;
    while cpu_ticks(pid, pid) < start + 30 {
        assert_eq!(
            buffer.load_u32(WAITERS_OFFSET).unwrap(),
            0,
            "the spinning watcher counted itself in"
        );
        looks += 1;
        assert!(
            Instant::now() < deadline,
            "the watcher did not spin: {} ticks of CPU in {WAIT:?}",
            cpu_ticks(pid, pid) - start
        );
        // Leaves the CPUs to the watcher (a look every millisecond suffices).
        std::thread::sleep(Duration::from_millis(1));
    }
    assert!(looks > 0);
    buffer.fetch_add_u32(0, 1).expect("write");
    assert_eq!(watch.reply(), format!("{:#010x}", DEADCAFE + 1));
    assert!(watch.finish().success());
    assert_eq!(buffer.load_u32(WAITERS_OFFSET).unwrap(), 0);
}

/// Once its spin budget is spent (here across two of its bounded waits),
/// `eneabuf watch --spin` counts itself in and sleeps in FUTEX_WAIT, and a
/// write from this process wakes it.
#[test]
fn a_spinning_watcher_counts_itself_in_and_sleeps_after_its_spin() {
    let daemon = Daemon::start_with(DaemonOptions::socket());
    let buffer = connect(&daemon).map().expect("map");
    let mut watch = watch_from_deadcafe(&daemon, &["watch", "--changes", "1", "--spin", "250ms"]);
    let pid = watch.pid();
    let wchan = || std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/wchan"));
    eventually(
        "the watcher counts itself in and sleeps on the futex",
        || {
            buffer.load_u32(WAITERS_OFFSET).unwrap() == 1
                && wchan().unwrap_or_default().contains("futex")
        },
    );
    buffer.fetch_add_u32(0, 1).expect("write");
    assert_eq!(watch.reply(), format!("{:#010x}", DEADCAFE + 1));
    assert!(watch.finish().success());
    assert_eq!(buffer.load_u32(WAITERS_OFFSET).unwrap(), 0);
}

/// `eneabuf watch --read-only --spin` spins on the polled view too: with an
/// hour between polls, only the spin can see this process's store.
#[test]
fn a_read_only_watcher_spins_before_its_poll_interval() {
    let daemon = Daemon::start_with(DaemonOptions::socket());
    let buffer = connect(&daemon).map().expect("map");
    let mut watch = watch_from_deadcafe(
        &daemon,
        &[
            "watch",
            "--read-only",
            "--interval",
            "1h",
            "--spin",
            "1h",
            "--changes",
            "1",
        ],
    );
    // Past its first look at the word: burning CPU, spinning (not asleep).
    let pid = watch.pid();
    let start = cpu_ticks(pid, pid);
    eventually("the read-only watcher spins", || {
        cpu_ticks(pid, pid) >= start + 10
    });
    buffer.fetch_add_u32(0, 1).expect("write");
    assert_eq!(watch.reply(), format!("{:#010x}", DEADCAFE + 1));
    assert!(watch.finish().success());
}

/// `eneabuf <args>` (a `watch`) against `daemon`, past its first line: word 0
/// as the daemon set it.
fn watch_from_deadcafe(daemon: &Daemon, args: &[&str]) -> Interactive {
    let mut cmd = Command::new(bins::path(bins::ENEABUF));
    cmd.args(daemon.client_args())
        .args(args)
        .stderr(Stdio::null());
    let mut watch = Interactive::spawn(cmd);
    assert_eq!(watch.reply(), format!("{DEADCAFE:#010x}"));
    watch
}
