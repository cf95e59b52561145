//! The client processes: each connects over the real transport, measures
//! its row against the baseline in the same process, and prints one JSON line.

use std::hint::black_box;
use std::io::{Read, Write};
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use enea_buffer_client::{
    ConnectOptions, Connection, MapOptions, SharedBuffer, Transport, WaitOptions, CONTROL_SIZE,
};

use crate::measure::{calibrate, gbps, median, monotonic_ns, per_call, thread_cpu_ns, timed};
use crate::proto::{BinderPoint, BulkPoint, Count, FirstTouch, Job, Line};
use crate::{iceoryx, server, wake};

/// Result of a role; the error is printed and fails the process.
pub type Res<T> = Result<T, String>;

/// Largest `put` chunk: about the most one kernel-binder transaction can carry.
pub const BINDER_CHUNK: usize = 1 << 20;

/// Runs the role `job` names.
pub fn run(job: &Job) -> Res<()> {
    let min_round = Duration::from_micros(job.min_round_us);
    if let Some(path) = &job.copy_path {
        enea_buffer_client::fuzzing::force_copy_path(Some(path))?;
    }
    match job.role.as_str() {
        "bulk" => emit(&bulk(job, min_round)?),
        "first-touch" => emit(&first_touch(job, min_round)?),
        "binder-bulk" => emit(&binder_bulk(job, min_round)?),
        "control" => emit(&control(job)?),
        "count-shm" => emit(&count_shm(job)?),
        "count-binder" => emit(&count_binder(job)?),
        "records" => emit(&records(job, min_round)?),
        "waiter" => emit(&waiter(job)?),
        "wake-listener" => emit(&wake::listen(&job.socket, job.rounds)?),
        "p8-writer" => emit(&iceoryx::write(job)?),
        "p8-reader" => emit(&iceoryx::read(job)?),
        "server" => server::serve(&job.socket),
        "pong" => server::pong(&job.socket),
        other => Err(format!("unknown role {other:?}")),
    }
}

/// Connects to the daemon on `socket` as any client would.
pub fn connect(socket: &Path) -> Res<Connection> {
    let options = ConnectOptions {
        transport: Transport::Socket,
        socket: socket.to_path_buf(),
        timeout: Duration::from_secs(30),
        ..ConnectOptions::default()
    };
    Connection::connect(&options).map_err(|e| format!("connect {}: {e}", socket.display()))
}

fn map(conn: &Connection, populate: bool) -> Res<SharedBuffer> {
    conn.map_with(MapOptions { populate })
        .map_err(|e| e.to_string())
}

/// Prints `value` as the process's one JSON result line.
fn emit(value: &impl serde::Serialize) -> Res<()> {
    let line = serde_json::to_string(value).map_err(|e| e.to_string())?;
    println!("{line}");
    std::io::stdout().flush().map_err(|e| e.to_string())
}

/// Prints `ready`, then waits for the suite's `go` line.
pub fn ready_then_go() -> Res<()> {
    println!("ready");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let mut go = String::new();
    std::io::stdin()
        .read_line(&mut go)
        .map_err(|e| e.to_string())?;
    match go.trim() {
        "go" => Ok(()),
        other => Err(format!("expected `go`, got {other:?}")),
    }
}

/// A private buffer of `len` bytes, every page touched.
fn private_buffer(len: usize, fill: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_add(fill)).collect()
}

/// Where P1 copies into the region: the first page past the control words
/// (which the library keeps clients from overwriting), page-aligned like
/// the region's start.
pub const BULK_OFFSET: usize = 4096;

/// P1: steady-state copies of each size into and out of the mapped region
/// against memcpy the same way between private buffers, batches interleaved.
fn bulk(job: &Job, min_round: Duration) -> Res<Vec<BulkPoint>> {
    let conn = connect(&job.socket)?;
    let mut shm = map(&conn, true)?;
    let max = job.sizes.iter().copied().max().ok_or("no sizes")?;
    if max + BULK_OFFSET > shm.len() {
        return Err(format!(
            "region of {} bytes < {max} + {BULK_OFFSET}",
            shm.len()
        ));
    }
    // memcpy's twin of the region: page-aligned as the region is, so that
    // it meets the caller's buffers (`src`, `back`, `out`, from malloc) at
    // the same relative alignment as `write_at` and `read_at` do.
    let (src, mut twin) = (private_buffer(max, 1), private_buffer(max + 4096, 2));
    let page = twin.as_ptr().align_offset(4096);
    let twin = &mut twin[page..page + max];
    let (mut back, mut out) = (vec![0u8; max], vec![0u8; max]);
    let mut points = Vec::new();
    for &size in &job.sizes {
        let copy = |to: &mut [u8], from: &[u8]| black_box(to).copy_from_slice(black_box(from));
        let iters = calibrate(min_round, || copy(&mut twin[..size], &src[..size]));
        calibrate(min_round, || {
            shm.write_at(BULK_OFFSET, &src[..size]).expect("write_at")
        });
        let mut took: [Vec<f64>; 4] = Default::default();
        for round in 0..job.rounds {
            // Alternate which goes first, so neither always inherits the other's cache state.
            let memcpy = |took: &mut [Vec<f64>; 4], twin: &mut [u8], out: &mut [u8]| {
                took[0].push(per_call(iters, || copy(&mut twin[..size], &src[..size])));
                took[1].push(per_call(iters, || copy(&mut out[..size], &twin[..size])));
            };
            if round % 2 == 0 {
                memcpy(&mut took, twin, &mut out);
            }
            took[2].push(per_call(iters, || {
                shm.write_at(BULK_OFFSET, black_box(&src[..size]))
                    .expect("write_at")
            }));
            took[3].push(per_call(iters, || {
                shm.read_at(BULK_OFFSET, black_box(&mut back[..size]))
                    .expect("read_at")
            }));
            if round % 2 == 1 {
                memcpy(&mut took, twin, &mut out);
            }
        }
        if back[..size] != src[..size] || out[..size] != src[..size] {
            return Err(format!("a copy does not hold the {size} bytes written"));
        }
        points.push(BulkPoint {
            size,
            memcpy_s: median(&took[0]),
            memcpy_out_s: median(&took[1]),
            shm_s: median(&took[2]),
            read_s: median(&took[3]),
        });
    }
    Ok(points)
}

/// P1b: copies of the whole region into a fresh mapping, without and with
/// pre-faulting, against warm memcpy.
fn first_touch(job: &Job, min_round: Duration) -> Res<FirstTouch> {
    let conn = connect(&job.socket)?;
    let size = conn.size();
    let (src, mut dst) = (private_buffer(size, 3), private_buffer(size, 4));
    let sample = |populate: bool| -> Res<(f64, f64)> {
        let t0 = Instant::now();
        let mut shm = map(&conn, populate)?;
        let t1 = Instant::now();
        let from = CONTROL_SIZE.min(size);
        shm.write_at(from, black_box(&src[from..]))
            .map_err(|e| e.to_string())?;
        Ok(((t1 - t0).as_secs_f64(), t1.elapsed().as_secs_f64()))
    };
    // The very first write allocates the memfd's pages, once in the region's
    // life: not what a later client pays, so not timed.
    sample(false)?;
    let mut times = [[Vec::new(), Vec::new()], [Vec::new(), Vec::new()]];
    for round in 0..job.rounds {
        for populate in [round % 2 == 1, round % 2 == 0] {
            let (m, c) = sample(populate)?;
            times[usize::from(populate)][0].push(m);
            times[usize::from(populate)][1].push(c);
        }
    }
    let memcpy = timed(job.rounds.max(3), min_round, || {
        black_box(&mut dst[..]).copy_from_slice(black_box(&src))
    });
    Ok(FirstTouch {
        size,
        memcpy_s: memcpy,
        map_plain_s: median(&times[0][0]),
        copy_plain_s: median(&times[0][1]),
        map_populate_s: median(&times[1][0]),
        copy_populate_s: median(&times[1][1]),
    })
}

/// P2: the same bytes moved through binder `put` calls to the bench server.
fn binder_bulk(job: &Job, min_round: Duration) -> Res<Vec<BinderPoint>> {
    let bench = server::connect(&job.socket)?;
    bench.r#reset().map_err(|s| format!("reset: {s}"))?;
    let src = private_buffer(job.sizes.iter().copied().max().ok_or("no sizes")?, 5);
    let mut sent = 0u64;
    let mut points = Vec::new();
    for &size in &job.sizes {
        let transfer_s = timed(job.rounds, min_round, || {
            for (i, piece) in src[..size].chunks(BINDER_CHUNK).enumerate() {
                let offset = (i * BINDER_CHUNK) as i64;
                bench.r#put(offset, black_box(piece)).expect("put");
            }
            sent += size as u64;
        });
        points.push(BinderPoint { size, transfer_s });
    }
    let received = bench.r#received().map_err(|s| format!("received: {s}"))? as u64;
    if received != sent {
        return Err(format!("sent {sent} bytes, the server received {received}"));
    }
    Ok(points)
}

/// P3: map + unmap cycles against a no-argument call on the same connection,
/// and that against a 1-byte ping-pong with the `pong` process (µs).
fn control(job: &Job) -> Res<Vec<Line>> {
    let conn = connect(&job.socket)?;
    let mut pong = UnixStream::connect(&job.pong).map_err(|e| format!("connect to pong: {e}"))?;
    let svc = conn.service();
    let mut noop = || {
        black_box(svc.r#getBufferSize().expect("getBufferSize"));
    };
    let mut map_cycle = || drop(black_box(conn.map().expect("map")));
    let mut byte = [7u8; 1];
    let mut ping = || {
        pong.write_all(&byte).expect("ping");
        pong.read_exact(&mut byte).expect("pong");
    };
    // Warm every path (connections, allocator, page tables).
    for _ in 0..job.count.min(50) {
        noop();
        map_cycle();
        ping();
    }
    let (mut a, mut b, mut c) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..job.rounds {
        a.push(per_call(job.count, &mut noop));
        b.push(per_call(job.count, &mut map_cycle));
        c.push(per_call(job.count, &mut ping));
    }
    let (noop, map_cycle, ping) = (median(&a) * 1e6, median(&b) * 1e6, median(&c) * 1e6);
    Ok(vec![
        Line::new("P3", String::new(), map_cycle, Some(noop), "µs"),
        Line::new("P3-floor", String::new(), noop, Some(ping), "µs"),
    ])
}

/// Times `count` calls of `f` from the suite's `go` on.
fn count(count: u64, mut f: impl FnMut() -> Res<()>) -> Res<Count> {
    ready_then_go()?;
    let start_ns = monotonic_ns();
    for _ in 0..count {
        f()?;
    }
    Ok(Count {
        start_ns,
        end_ns: monotonic_ns(),
        count,
    })
}

/// P4, shared memory: atomic increments of the word at `offset`.
fn count_shm(job: &Job) -> Res<Count> {
    let conn = connect(&job.socket)?;
    let shm = map(&conn, true)?;
    count(job.count, || {
        shm.fetch_add_u32(job.offset, 1)
            .map(drop)
            .map_err(|e| e.to_string())
    })
}

/// P4, binder: increment() calls to the bench server.
fn count_binder(job: &Job) -> Res<Count> {
    let bench = server::connect(&job.socket)?;
    bench.r#ping().map_err(|s| format!("ping: {s}"))?;
    count(job.count, || {
        bench.r#increment().map_err(|s| format!("increment: {s}"))
    })
}

/// P7 and P4's no-waiter cost: `snapshot` against `read_at` of a record of
/// each size at `offset`, and `fetch_add_u32` against a plain atomic
/// `fetch_add` on the word at `counter`.
fn records(job: &Job, min_round: Duration) -> Res<Vec<Line>> {
    let conn = connect(&job.socket)?;
    let mut shm = map(&conn, true)?;
    let wait = Duration::from_secs(5);
    let mut lines = Vec::new();
    for &size in &job.sizes {
        let data: Vec<u8> = (0..size).map(|i| i as u8).collect();
        shm.publish(job.offset, &data, wait)
            .map_err(|e| format!("publish: {e}"))?;
        let mut out = vec![0u8; size];
        let snapshot_s = timed(job.rounds, min_round, || {
            black_box(shm.snapshot(job.offset, black_box(&mut out), wait)).expect("snapshot");
        });
        if out != data {
            return Err(format!(
                "the snapshot of {size} bytes differs from what was published"
            ));
        }
        let payload = job.offset + enea_buffer_client::RECORD_HEADER_SIZE;
        let read_at_s = timed(job.rounds, min_round, || {
            shm.read_at(payload, black_box(&mut out)).expect("read_at")
        });
        let (snapshot, read_at) = (gbps(size, snapshot_s), gbps(size, read_at_s));
        lines.push(Line::new(
            if size >= 256 { "P7" } else { "P7-small" },
            format!("{size} B"),
            snapshot,
            Some(read_at),
            "GB/s",
        ));
    }
    let word = shm.atomic_u32(job.counter).map_err(|e| e.to_string())?;
    let ours = timed(job.rounds, min_round, || {
        black_box(shm.fetch_add_u32(job.counter, 1).expect("fetch_add_u32"));
    });
    let plain = timed(job.rounds, min_round, || {
        black_box(word.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
    });
    let rate = |secs: f64| 1e-6 / secs;
    lines.push(Line::new(
        "P4-no-waiter",
        String::new(),
        rate(ours),
        Some(rate(plain)),
        "M/s",
    ));
    Ok(lines)
}

/// P6's waiter: sees the word at `offset` go 1, 2, … `rounds`, woken
/// through the library's futex wait (after a spin, if `spin`) or polling
/// every `poll_ms`, pinned to `cpu` if given; returns when (CLOCK_MONOTONIC
/// ns) it saw each value, and the CPU time it used for all of them (ns).
fn waiter(job: &Job) -> Res<(Vec<u64>, u64)> {
    let conn = connect(&job.socket)?;
    let shm = map(&conn, false)?;
    if let Some(cpu) = job.cpu {
        crate::measure::pin(Some(cpu), &rustix::thread::CpuSet::new())?;
    }
    // A spin longer than any pause between two changes: every one is seen spinning.
    let spin = Duration::from_secs(job.spin as u64);
    let options = WaitOptions::default().with_spin(spin);
    ready_then_go()?;
    let (mut seen_ns, cpu) = (Vec::new(), thread_cpu_ns());
    for round in 0..job.rounds as u32 {
        if let Some(ms) = job.poll_ms {
            while shm.load_u32(job.offset).map_err(|e| e.to_string())? == round {
                std::thread::sleep(Duration::from_millis(ms));
            }
        } else {
            shm.wait_u32_change_with(job.offset, round, Some(Duration::from_secs(30)), &options)
                .map_err(|e| e.to_string())?
                .ok_or("no change within 30 s")?;
        }
        seen_ns.push(monotonic_ns());
    }
    Ok((seen_ns, thread_cpu_ns() - cpu))
}
