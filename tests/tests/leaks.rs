//! The daemon gives back what its clients take: after a thousand client
//! processes have connected, mapped, incremented a word and exited, its fd
//! count is back where it started and its memory has not grown with them.

use std::sync::atomic::{AtomicU32, Ordering};

use enea_buffer_client::Connection;
use enea_buffer_tests::footprint::rss;
use enea_buffer_tests::{eventually, fd_count, Daemon, DaemonOptions, Probe, DEADCAFE};

/// Clients whose traces are checked.
const CLIENTS: u32 = 1000;
/// Clients before the memory baseline: first-use growth (allocator arenas,
/// runtime buffers) is not a leak.
const WARM_UP: u32 = 50;
/// Resident growth allowed over the [`CLIENTS`]: a leak of 1 KiB per client
/// (a session's bookkeeping) exceeds it about twice over.
const RSS_GROWTH_BOUND: u64 = 512 << 10;

/// Runs `n` client processes, a few at a time: each connects, maps the
/// region, adds one to word 0 and exits.
fn run_clients(daemon: &Daemon, n: u32) {
    let next = AtomicU32::new(0);
    std::thread::scope(|scope| {
        for _ in 0..4 {
            scope.spawn(|| {
                while next.fetch_add(1, Ordering::Relaxed) < n {
                    let out = Probe::run(daemon, &["increment", "--count", "1"], None);
                    assert!(
                        out.status.success(),
                        "client failed: {}",
                        String::from_utf8_lossy(&out.stderr)
                    );
                }
            });
        }
    });
}

#[test]
fn a_thousand_clients_leave_no_fds_and_no_memory_behind() {
    let daemon = Daemon::start_with(DaemonOptions::socket());
    let pid = daemon.pid();
    let fds = fd_count(pid);

    run_clients(&daemon, WARM_UP);
    // Sessions end asynchronously once a client's socket closes.
    let back = format!("the daemon's fds back to {fds}, their count at start");
    eventually(&back, || fd_count(pid) <= fds);
    let before = rss(pid);

    run_clients(&daemon, CLIENTS);
    let back = format!("the daemon's fds back to {fds}, their count at start");
    eventually(&back, || fd_count(pid) <= fds);
    let after = rss(pid);
    eprintln!(
        "daemon: {fds} fds; RSS {} KiB after warm-up, {} KiB after {CLIENTS} clients",
        before >> 10,
        after >> 10
    );
    assert!(
        after <= before + RSS_GROWTH_BOUND,
        "the daemon's RSS grew by {} KiB over {CLIENTS} clients ({} KiB → {} KiB; bound {} KiB)",
        (after.saturating_sub(before)) >> 10,
        before >> 10,
        after >> 10,
        RSS_GROWTH_BOUND >> 10
    );

    // Every client really came: each added exactly one.
    let conn = Connection::connect(&daemon.connect_options()).expect("connect");
    let word = conn.map().and_then(|b| b.load_u32(0)).expect("read word 0");
    assert_eq!(word, DEADCAFE.wrapping_add(WARM_UP + CLIENTS));
}
