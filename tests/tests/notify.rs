//! Change notification across processes, and the control-word layout the
//! AIDL documents: `eneabuf watch` (another process) blocks in FUTEX_WAIT,
//! counted in the waiter word at WAITERS_OFFSET, makes no wake-ups while
//! idle, and is woken by a write through the library in this process.

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use enea_buffer_client::{Connection, WAITERS_OFFSET};
use enea_buffer_tests::{bins, eventually, Daemon, Interactive, DEADCAFE, WAIT};

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

    let mut cmd = Command::new(bins::path(bins::ENEABUF));
    cmd.args(daemon.client_args())
        .args(["watch", "--changes", "1"])
        .stderr(Stdio::null());
    let mut watch = Interactive::spawn(cmd);
    assert_eq!(watch.reply(), format!("{DEADCAFE:#010x}"));

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
    // its main thread stays asleep: no periodic wake-ups at all.
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
    let before = sleeps(pid, pid);
    // A measurement window, not synchronisation: a 100 ms poller would wake
    // at least 3 times in it.
    std::thread::sleep(Duration::from_millis(350));
    assert_eq!(sleeps(pid, pid), before, "the idle watcher woke up");
    assert!(wchan(pid).contains("futex"), "{}", wchan(pid));

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
