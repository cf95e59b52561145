//! A peer with write access that skips the layout's protocols (a probe
//! process storing raw words) must not wedge or blind other clients:
//! snapshots end at their timeout whatever the sequence does, a record
//! wedged by two stores is reported as such and can be taken back, and a
//! waiter whose count a peer corrupted still sees a writer's change.

use std::process::Command;
use std::sync::mpsc::channel;
use std::time::Duration;

use enea_buffer_client::{
    Connection, Error, SharedBuffer, CONTROL_SIZE, RECORD_HEADER_SIZE, WAITERS_OFFSET,
};
use enea_buffer_tests::probe::field;
use enea_buffer_tests::{
    bins, eventually, record, Daemon, DaemonOptions, Interactive, Probe, DEADCAFE, WAIT,
};

/// How much longer than its timeout a call may take here: a liveness
/// bound (a call that ignores its timeout runs until the peer stops),
/// generous so that a loaded machine does not flake.
const GRACE: Duration = Duration::from_secs(2);

/// Snapshots tried against the flipping peer before one must meet it.
const ATTEMPTS: u32 = 1000;

/// Snapshots with `snapshot` until one does not succeed (or [`ATTEMPTS`]
/// have), returning that one's result.
fn until_unsettled<T, E>(mut snapshot: impl FnMut() -> Result<T, E>) -> Result<T, E> {
    let mut got = snapshot();
    for _ in 1..ATTEMPTS {
        if got.is_err() {
            break;
        }
        got = snapshot();
    }
    got
}

fn connect(daemon: &Daemon) -> Connection {
    Connection::connect(&daemon.connect_options()).expect("connect")
}

/// A `peer` probe: raw stores and a sequence flipper, in its own process.
fn peer(daemon: &Daemon) -> Interactive {
    let mut peer = Probe::interactive(daemon, &["peer"], None);
    assert_eq!(peer.reply(), "ready");
    peer
}

/// The wait channel of thread `tid` of process `pid`: "futex_wait_queue"
/// (or similar) while it sleeps in FUTEX_WAIT.
fn wchan(pid: u32, tid: u32) -> String {
    std::fs::read_to_string(format!("/proc/{pid}/task/{tid}/wchan")).unwrap_or_default()
}

/// A 16 MiB record whose sequence a peer changes (even values only, so
/// never "mid-write") as fast as it can. A snapshot, read-write or
/// read-only, gives up at its timeout (plus one copy) instead of retrying
/// until the peer stops. A copy takes about a millisecond, so on a loaded
/// machine the peer may not run during one and the snapshot succeeds
/// (rightly): each side tries up to [`ATTEMPTS`] times for one that meets
/// the flipping.
#[test]
fn a_snapshot_ends_at_its_timeout_while_a_peer_flips_the_sequence() {
    let size: usize = 16 << 20;
    let daemon = Daemon::start_with(DaemonOptions {
        args: vec!["--size".into(), size.to_string()],
        ..DaemonOptions::socket()
    });
    let conn = connect(&daemon);
    let buffer = conn.map().expect("map");
    let ro = conn.map_read_only().expect("map read-only");
    let len = size - CONTROL_SIZE - RECORD_HEADER_SIZE;
    let data: Vec<u8> = (0..len).map(|i| i as u8).collect();
    buffer.publish(CONTROL_SIZE, &data, WAIT).expect("publish");

    let mut peer = peer(&daemon);
    assert_eq!(peer.ask(&format!("flip {CONTROL_SIZE}")), "flipping");
    let timeout = Duration::from_millis(100);
    let results = std::thread::scope(|s| {
        let (tx, rx) = channel();
        let (buffer, ro) = (&buffer, &ro);
        let rw_tx = tx.clone();
        s.spawn(move || {
            let mut out = vec![0u8; len];
            let got = until_unsettled(|| buffer.snapshot(CONTROL_SIZE, &mut out, timeout));
            let _ = rw_tx.send(("read-write", got));
        });
        s.spawn(move || {
            let mut out = vec![0u8; len];
            let got = until_unsettled(|| ro.snapshot(CONTROL_SIZE, &mut out, timeout));
            let _ = tx.send(("read-only", got));
        });
        // Each attempt that meets no flip ends after one copy.
        let bound = timeout + GRACE + ATTEMPTS * Duration::from_millis(10);
        let got: Vec<_> = (0..2).map(|_| rx.recv_timeout(bound).ok()).collect();
        // Let a snapshot that ignores its timeout end, then judge.
        let stopped = peer.ask("stop");
        assert!(field(&stopped, "flips").parse::<u64>().unwrap() > 0);
        got
    });
    for got in results {
        let Some((which, got)) = got else {
            panic!("a snapshot with a {timeout:?} timeout was still running {GRACE:?} later");
        };
        match got {
            Err(Error::Unsettled {
                offset: CONTROL_SIZE,
                copies,
                ..
            }) => assert!(copies >= 1, "{which}: {copies}"),
            other => panic!("{which}: expected Unsettled, got {other:?}"),
        }
    }
    // Once the peer stops, the record reads whole again.
    let mut out = vec![0u8; len];
    buffer
        .snapshot(CONTROL_SIZE, &mut out, WAIT)
        .expect("snapshot");
    assert!(out == data, "the payload changed");
    peer.finish();
}

/// Two stores wedge a record: an odd sequence and owner pid 1 (init, which
/// never dies). Readers and publishers report it as wedged once they have
/// seen it held unchanged for WEDGED_AFTER (as busy before that), in this
/// process and through a read-only mapping; `take_over` from pid 1 takes
/// it back, and the next snapshots read the new payload.
#[test]
fn a_record_wedged_by_two_stores_is_reported_and_taken_back() {
    let daemon = Daemon::start();
    let conn = connect(&daemon);
    let buffer = conn.map().expect("map");
    let ro = conn.map_read_only().expect("map read-only");
    buffer
        .publish(record::OFFSET, &record::pattern(0, 1, record::LEN), WAIT)
        .expect("publish");
    let seq = buffer.load_u32(record::OFFSET).unwrap();
    let mut peer = peer(&daemon);
    let odd = seq | 1;
    assert_eq!(peer.ask(&format!("store {} {odd:x}", record::OFFSET)), "ok");
    assert_eq!(peer.ask(&format!("store {} 1", record::OFFSET + 4)), "ok");

    let mut out = vec![0u8; record::LEN];
    // A short look cannot tell a wedge from a writer that is slow.
    match buffer.snapshot(record::OFFSET, &mut out, Duration::from_millis(50)) {
        Err(Error::Busy { pid: 1, .. }) => {}
        other => panic!("expected Busy after 50 ms, got {other:?}"),
    }
    let long = enea_buffer_client::SharedBuffer::WEDGED_AFTER + Duration::from_millis(200);
    let wedged = |got: enea_buffer_client::Result<()>, who: &str| match got {
        Err(Error::Wedged {
            offset,
            pid: 1,
            held_for,
        }) => {
            assert_eq!(offset, record::OFFSET, "{who}");
            assert!(
                held_for >= enea_buffer_client::SharedBuffer::WEDGED_AFTER,
                "{who}: {held_for:?}"
            );
        }
        other => panic!("{who}: expected Wedged by pid 1, got {other:?}"),
    };
    wedged(
        buffer.snapshot(record::OFFSET, &mut out, long).map(drop),
        "snapshot",
    );
    wedged(
        ro.snapshot(record::OFFSET, &mut out, long).map(drop),
        "read-only snapshot",
    );
    wedged(
        buffer.publish(record::OFFSET, &record::pattern(0, 2, record::LEN), long),
        "publish",
    );
    // Taking it from another pid than the one that holds it is a publish.
    assert!(matches!(
        buffer.take_over(
            record::OFFSET,
            &record::pattern(0, 2, record::LEN),
            2,
            Duration::from_millis(50)
        ),
        Err(Error::Busy { pid: 1, .. })
    ));

    buffer
        .take_over(record::OFFSET, &record::pattern(0, 2, record::LEN), 1, WAIT)
        .expect("take over from pid 1");
    let seq = buffer
        .snapshot(record::OFFSET, &mut out, WAIT)
        .expect("snapshot");
    assert_eq!(record::check(&out), Ok((0, 2)));
    assert_eq!(
        (seq % 2, buffer.load_u32(record::OFFSET + 4).unwrap()),
        (0, 0)
    );
    ro.snapshot(record::OFFSET, &mut out, WAIT)
        .expect("read-only snapshot");
    assert_eq!(record::check(&out), Ok((0, 2)));
    buffer
        .publish(record::OFFSET, &record::pattern(0, 3, record::LEN), WAIT)
        .expect("publish after the takeover");
    peer.finish();
}

/// A waiter without a timeout, counted in and asleep; a peer stores 0 into
/// the waiter count, so the writer's store (through the library, here)
/// wakes nobody. The waiter still returns the new value, found at its next
/// bounded re-check.
#[test]
fn a_waiter_whose_count_a_peer_zeroed_still_sees_the_change() {
    let daemon = Daemon::start_with(DaemonOptions::socket());
    let conn = connect(&daemon);
    let buffer = conn.map().expect("map");
    let word = CONTROL_SIZE;
    buffer.store_u32(word, 0).unwrap();
    let mut peer = peer(&daemon);
    let got = std::thread::scope(|s| {
        let (tid_tx, tid_rx) = channel();
        let (tx, rx) = channel();
        let buffer = &buffer;
        s.spawn(move || {
            let _ = tid_tx.send(rustix::thread::gettid().as_raw_nonzero().get() as u32);
            let _ = tx.send(buffer.wait_u32_change(word, 0, None));
        });
        let tid = tid_rx.recv().unwrap();
        let me = std::process::id();
        eventually("the waiter sleeps counted in", || {
            buffer.load_u32(WAITERS_OFFSET).unwrap() == 1 && wchan(me, tid).contains("futex")
        });
        assert_eq!(peer.ask(&format!("store {WAITERS_OFFSET} 0")), "ok");
        buffer.store_u32(word, 5).unwrap();
        let got = rx.recv_timeout(SharedBuffer::WAIT_RECHECK + GRACE);
        if got.is_err() {
            // Count it in again and write once more: this wakes it, so the
            // scope can end and the test fail.
            assert_eq!(peer.ask(&format!("store {WAITERS_OFFSET} 1")), "ok");
            buffer.store_u32(word, 6).unwrap();
        }
        got
    });
    let Ok(got) = got else {
        panic!(
            "the waiter missed the change for {:?}",
            SharedBuffer::WAIT_RECHECK + GRACE
        );
    };
    assert_eq!(got.expect("wait"), Some(5));
    peer.finish();
}

/// A peer stores 0xffffffff into the waiter count: a waiter counting itself
/// in wraps it to 0, which tells writers nobody waits. `eneabuf watch`
/// still reports every change, each written while the watcher sleeps in
/// FUTEX_WAIT, and the count is back to 0 when it is done.
#[test]
fn watch_reports_every_change_although_a_peer_wrapped_the_waiter_count() {
    let daemon = Daemon::start_with(DaemonOptions::socket());
    let conn = connect(&daemon);
    let buffer = conn.map().expect("map");
    let mut peer = peer(&daemon);
    assert_eq!(peer.ask(&format!("store {WAITERS_OFFSET} ffffffff")), "ok");
    let mut cmd = Command::new(bins::path(bins::ENEABUF));
    cmd.args(daemon.client_args())
        .args(["watch", "--changes", "3"]);
    let mut watch = Interactive::spawn(cmd);
    assert_eq!(watch.reply(), format!("{DEADCAFE:#010x}"));
    let pid = watch.pid();
    for i in 1..=3u32 {
        eventually("the watcher sleeps in FUTEX_WAIT", || {
            wchan(pid, pid).contains("futex")
        });
        buffer.fetch_add_u32(0, 1).expect("write");
        assert_eq!(
            watch.reply_within(Duration::from_secs(5)),
            Ok(format!("{:#010x}", DEADCAFE.wrapping_add(i))),
            "change {i}"
        );
    }
    assert!(watch.finish().success());
    assert_eq!(buffer.load_u32(WAITERS_OFFSET).unwrap(), 0, "waiter count");
    peer.finish();
}
