//! Consistent snapshots across processes (the AIDL's record layout):
//! writers and readers in separate processes over millions of reads see no
//! torn record, and a writer killed mid-publish makes readers fail with
//! `Abandoned` (never wait forever) until the next publish repairs it.

use std::process::Command;
use std::time::Duration;

use enea_buffer_client::{Connection, Error, SharedBuffer, WAITERS_OFFSET};
use enea_buffer_tests::probe::field;
use enea_buffer_tests::{
    bins, eventually, record, Daemon, DaemonOptions, Interactive, Mode, Probe, WAIT,
};

fn connect(daemon: &Daemon) -> Connection {
    Connection::connect(&daemon.connect_options()).expect("connect")
}

fn probe(daemon: &Daemon, args: &[&str]) -> Interactive {
    let mut cmd = Command::new(bins::path(bins::PROBE));
    cmd.args(daemon.client_args()).args(args);
    Interactive::spawn(cmd)
}

fn num(line: &str, key: &str) -> u64 {
    field(line, key).parse().expect("a number")
}

/// Two writers and two readers (one through a read-only mapping), each its
/// own process, start together at a barrier in the region; the writers
/// publish until both readers have made their reads. Every copy a reader
/// gets must be one whole publish, and the readers must have seen many
/// publishes of both writers (or the test proved nothing).
#[test]
fn concurrent_publishes_and_snapshots_in_four_processes_are_never_torn() {
    // A million reads per reader on the host; the VM rig (binder mode) runs
    // under qemu TCG, an order of magnitude slower, where a fifth of that
    // keeps the binary within the rig's time limit. The transport only hands
    // out the fd: the memory protocol under test is the same.
    let reads_each: u64 = match Mode::current() {
        Mode::Socket => 1_000_000,
        Mode::Binder => 200_000,
    };
    let daemon = Daemon::start();
    let conn = connect(&daemon);
    let buffer = conn.map().expect("map");
    buffer
        .publish(record::OFFSET, &record::pattern(0, 0, record::LEN), WAIT)
        .expect("first publish");

    let processes = "4";
    let reads = reads_each.to_string();
    let mut procs = vec![
        probe(
            &daemon,
            &[
                "publish",
                "--writer",
                "1",
                "--readers",
                "2",
                "--barrier",
                processes,
            ],
        ),
        probe(
            &daemon,
            &[
                "publish",
                "--writer",
                "2",
                "--readers",
                "2",
                "--barrier",
                processes,
            ],
        ),
        probe(
            &daemon,
            &["snapshot", "--reads", &reads, "--barrier", processes],
        ),
        probe(
            &daemon,
            &[
                "snapshot",
                "--reads",
                &reads,
                "--barrier",
                processes,
                "--read-only",
            ],
        ),
    ];
    for p in &mut procs {
        assert_eq!(p.reply(), "ready");
    }
    for p in &mut procs {
        p.send("go");
    }
    let lines: Vec<String> = procs.iter_mut().map(|p| p.reply()).collect();
    for line in &lines {
        eprintln!("{line}");
    }
    let publishes: u64 = lines[..2].iter().map(|l| num(l, "publishes")).sum();
    let mut total_reads = 0;
    for line in &lines[2..] {
        assert_eq!(num(line, "torn"), 0, "{line}");
        // Writer 0 is this process's first publish, which a reader may see
        // before the writers' first ones land.
        let writers = field(line, "writers");
        assert!(
            writers == "1,2" || writers == "0,1,2",
            "saw both writers: {line}"
        );
        assert!(
            num(line, "distinct") >= 100,
            "a reader saw too few publishes to prove anything: {line}"
        );
        total_reads += num(line, "reads");
    }
    assert_eq!(total_reads, 2 * reads_each);
    assert!(publishes >= 200, "{publishes} publishes");
    for p in procs {
        assert!(p.finish().success());
    }
    // Both writers and every reader let go of the record: the owner word is
    // free and the sequence is even, two per publish (and one first one).
    assert_eq!(buffer.load_u32(record::OFFSET + 4).unwrap(), 0, "owner");
    assert_eq!(
        u64::from(buffer.load_u32(record::OFFSET).unwrap()),
        2 * (publishes + 1),
        "sequence"
    );
}

/// What `peek` (another process) says about the record now.
fn peek(daemon: &Daemon, read_only: bool, timeout_ms: u64) -> String {
    let timeout = timeout_ms.to_string();
    let mut args = vec!["peek", "--timeout-ms", &timeout];
    if read_only {
        args.push("--read-only");
    }
    let out = Probe::run(daemon, &args, None);
    let stdout = String::from_utf8_lossy(&out.stdout).trim().to_string();
    assert!(out.status.success(), "{stdout}");
    stdout
}

fn snapshot(buffer: &SharedBuffer, timeout: Duration) -> enea_buffer_client::Result<(u32, u32)> {
    let mut out = vec![0u8; record::LEN];
    let seq = buffer.snapshot(record::OFFSET, &mut out, timeout)?;
    assert_eq!(seq % 2, 0);
    Ok(record::check(&out).expect("a whole record"))
}

/// A writer stopped after making the sequence odd and writing half the
/// payload: while it lives, readers wait for it and give up with `Busy`;
/// once it is SIGKILLed they fail at once with `Abandoned` (even with a
/// long timeout: they do not wait for a dead writer), in this process and
/// others, through read-write and read-only mappings; the next publish
/// takes the record over and repairs it.
#[test]
fn a_writer_killed_mid_publish_abandons_the_record_until_the_next_publish() {
    let daemon = Daemon::start();
    let conn = connect(&daemon);
    let buffer = conn.map().expect("map");
    let ro = conn.map_read_only().expect("map read-only");
    buffer
        .publish(record::OFFSET, &record::pattern(0, 1, record::LEN), WAIT)
        .expect("publish");
    assert_eq!(snapshot(&buffer, WAIT).unwrap(), (0, 1));

    let mut writer = probe(&daemon, &["stall", "--stage", "half"]);
    let stalled = writer.reply();
    let pid: u32 = num(&stalled, "pid") as u32;
    assert_eq!(num(&stalled, "seq") % 2, 1, "{stalled}");

    // Alive and holding the record: a bounded wait, then Busy naming it.
    let short = Duration::from_millis(100);
    match snapshot(&buffer, short) {
        Err(Error::Busy { pid: p, .. }) => assert_eq!(p, pid),
        other => panic!("expected Busy from a live writer, got {other:?}"),
    }
    let mut out = vec![0u8; record::LEN];
    assert!(matches!(
        ro.snapshot(record::OFFSET, &mut out, short),
        Err(Error::Busy { .. })
    ));
    assert_eq!(peek(&daemon, true, 100), format!("result=busy pid={pid}"));
    match buffer.publish(record::OFFSET, &record::pattern(0, 2, record::LEN), short) {
        Err(Error::Busy { pid: p, .. }) => assert_eq!(p, pid),
        other => panic!("a second writer must wait for a live one: {other:?}"),
    }

    writer.kill();
    // Dead: Abandoned, not Busy, although each reader would wait up to WAIT.
    match snapshot(&buffer, WAIT) {
        Err(Error::Abandoned { pid: p, offset }) => {
            assert_eq!((p, offset), (pid, record::OFFSET));
        }
        other => panic!("expected Abandoned, got {other:?}"),
    }
    assert!(matches!(
        ro.snapshot(record::OFFSET, &mut out, WAIT),
        Err(Error::Abandoned { .. })
    ));
    let waited = WAIT.as_secs() * 1000;
    assert_eq!(
        peek(&daemon, false, waited),
        format!("result=abandoned pid={pid}")
    );
    assert_eq!(
        peek(&daemon, true, waited),
        format!("result=abandoned pid={pid}")
    );

    // The next publish takes over from the dead owner and repairs it.
    buffer
        .publish(record::OFFSET, &record::pattern(0, 3, record::LEN), short)
        .expect("publish over an abandoned record");
    assert_eq!(snapshot(&buffer, WAIT).unwrap(), (0, 3));
    assert!(peek(&daemon, true, waited).starts_with("result=ok writer=0 counter=3 "));
    assert_eq!(buffer.load_u32(record::OFFSET + 4).unwrap(), 0, "owner");
}

/// A writer killed after taking the owner word but before touching the
/// sequence left a whole record: readers get it, and the next publish
/// takes the record over from the dead owner.
#[test]
fn a_writer_killed_before_its_first_store_leaves_the_record_readable() {
    let daemon = Daemon::start();
    let conn = connect(&daemon);
    let buffer = conn.map().expect("map");
    buffer
        .publish(record::OFFSET, &record::pattern(0, 1, record::LEN), WAIT)
        .expect("publish");
    let mut writer = probe(&daemon, &["stall", "--stage", "owned"]);
    let stalled = writer.reply();
    assert_eq!(num(&stalled, "seq") % 2, 0, "{stalled}");
    writer.kill();
    assert_eq!(snapshot(&buffer, WAIT).unwrap(), (0, 1));
    buffer
        .publish(
            record::OFFSET,
            &record::pattern(0, 2, record::LEN),
            Duration::from_millis(100),
        )
        .expect("publish over a dead owner");
    assert_eq!(snapshot(&buffer, WAIT).unwrap(), (0, 2));
}

/// A region too small for the control words has no layout (the service
/// reports layout version 0 for it; socket_daemon.rs checks the reply), and
/// the library would refuse it whatever version came with it: notification
/// and records are refused, blaming the region, rather than placed outside it.
#[test]
fn a_region_smaller_than_the_control_words_has_no_layout() {
    let daemon = Daemon::start_with(DaemonOptions {
        args: vec!["--size".into(), "16".into()],
        ..DaemonOptions::default()
    });
    let conn = connect(&daemon);
    assert_eq!((conn.interface_version(), conn.size()), (2, 16));
    let buffer = conn.map().expect("map");
    assert!(!buffer.has_layout());
    assert!(matches!(
        buffer.wait_u32_change(0, 0, Some(Duration::ZERO)),
        Err(Error::NoLayout { size: 16, .. })
    ));
    assert!(matches!(
        buffer.publish(8, b"x", WAIT),
        Err(Error::NoLayout { size: 16, .. })
    ));
}

/// A reader that finds a live writer mid-publish waits counted in the
/// waiter word (so that the writer's last store wakes it), and once the
/// writer is killed it reports the record abandoned.
#[test]
fn a_reader_waiting_for_a_live_writer_counts_itself_in() {
    let daemon = Daemon::start();
    let conn = connect(&daemon);
    let buffer = conn.map().expect("map");
    buffer
        .publish(record::OFFSET, &record::pattern(0, 1, record::LEN), WAIT)
        .expect("publish");
    let mut writer = probe(&daemon, &["stall", "--stage", "half"]);
    let pid = num(&writer.reply(), "pid") as u32;
    let got = std::thread::scope(|s| {
        let reader = s.spawn(|| {
            let mut out = vec![0u8; record::LEN];
            buffer.snapshot(record::OFFSET, &mut out, WAIT)
        });
        eventually("the reader counts itself in as a waiter", || {
            buffer.load_u32(WAITERS_OFFSET).unwrap() > 0
        });
        writer.kill();
        reader.join().unwrap()
    });
    match got {
        Err(Error::Abandoned { pid: p, .. }) => assert_eq!(p, pid),
        other => panic!("expected Abandoned, got {other:?}"),
    }
}
