//! The client processes: each connects over the real transport, measures
//! its row against the baseline in the same process, and prints one JSON line.

use std::hint::black_box;
use std::io::{Read, Write};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::path::Path;
use std::time::{Duration, Instant};

use enea_buffer_client::{ConnectOptions, Connection, MapOptions, Transport, CONTROL_SIZE};

use crate::measure::{calibrate, median, monotonic_ns, per_call};
use crate::proto::{
    BinderBulk, BinderBulkPoint, BulkPoint, Control, Count, FirstTouch, Records, SnapshotPoint,
    Wakes,
};
use crate::server;

/// Result type of a client role; the error is printed and fails the process.
pub type Res<T> = Result<T, String>;

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

/// Prints `value` as the process's one JSON result line.
pub fn emit(value: &impl serde::Serialize) -> Res<()> {
    let line = serde_json::to_string(value).map_err(|e| e.to_string())?;
    let mut out = std::io::stdout().lock();
    writeln!(out, "{line}")
        .and_then(|()| out.flush())
        .map_err(|e| e.to_string())
}

/// A private buffer of `len` bytes, every page touched.
fn private_buffer(len: usize, fill: u8) -> Vec<u8> {
    (0..len).map(|i| (i as u8).wrapping_add(fill)).collect()
}

/// Where P1 copies into the region: the first page past the control words
/// (which the library keeps clients from overwriting), page-aligned like
/// the region's start.
pub const BULK_OFFSET: usize = 4096;

/// P1: steady-state copies of each size into the mapped region, against
/// memcpy between two private buffers, batches interleaved.
pub fn bulk(socket: &Path, sizes: &[usize], rounds: usize, min_round: Duration) -> Res<()> {
    let conn = connect(socket)?;
    let mut shm = conn
        .map_with(MapOptions { populate: true })
        .map_err(|e| e.to_string())?;
    let max = *sizes.iter().max().ok_or("no sizes")?;
    if max + BULK_OFFSET > shm.len() {
        return Err(format!(
            "region of {} bytes < {max} + {BULK_OFFSET}",
            shm.len()
        ));
    }
    let src = private_buffer(max, 1);
    let mut dst = private_buffer(max, 2);
    let mut points = Vec::new();
    for &size in sizes {
        let memcpy = |dst: &mut Vec<u8>| {
            dst[..size].copy_from_slice(black_box(&src[..size]));
            black_box(dst);
        };
        let mut product = || {
            shm.write_at(BULK_OFFSET, black_box(&src[..size]))
                .expect("write_at");
            black_box(&shm);
        };
        let iters = calibrate(min_round, || memcpy(&mut dst));
        calibrate(min_round, &mut product);
        let (mut base, mut ours) = (Vec::new(), Vec::new());
        for round in 0..rounds {
            // Alternate which goes first, so neither always follows the other's cache state.
            if round % 2 == 0 {
                base.push(per_call(iters, || memcpy(&mut dst)));
                ours.push(per_call(iters, &mut product));
            } else {
                ours.push(per_call(iters, &mut product));
                base.push(per_call(iters, || memcpy(&mut dst)));
            }
        }
        let mut check = vec![0u8; size];
        shm.read_at(BULK_OFFSET, &mut check)
            .map_err(|e| e.to_string())?;
        if check[..] != src[..size] {
            return Err(format!("region does not hold the {size} bytes written"));
        }
        points.push(BulkPoint {
            size,
            memcpy_s: median(&base),
            shm_s: median(&ours),
            iters,
            rounds,
        });
    }
    emit(&points)
}

/// P1b: copies into a freshly mapped region (the whole region past its
/// control words, one size), without and with pre-faulting, against warm
/// memcpy.
pub fn first_touch(socket: &Path, rounds: usize, min_round: Duration) -> Res<()> {
    let conn = connect(socket)?;
    let size = conn.size();
    let src = private_buffer(size, 3);
    let mut dst = private_buffer(size, 4);
    let sample = |populate: bool| -> Res<(f64, f64)> {
        let t0 = Instant::now();
        let mut shm = conn
            .map_with(MapOptions { populate })
            .map_err(|e| e.to_string())?;
        let t1 = Instant::now();
        let from = CONTROL_SIZE.min(size);
        shm.write_at(from, black_box(&src[from..]))
            .map_err(|e| e.to_string())?;
        let t2 = Instant::now();
        drop(black_box(shm));
        Ok(((t1 - t0).as_secs_f64(), (t2 - t1).as_secs_f64()))
    };
    // The very first write allocates the region's pages in the daemon's memfd,
    // once in its life: that is not what a later client pays, so it is not timed.
    sample(false)?;
    let (mut map_plain, mut copy_plain, mut map_pop, mut copy_pop) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for round in 0..rounds {
        let order = if round % 2 == 0 {
            [false, true]
        } else {
            [true, false]
        };
        for populate in order {
            let (m, c) = sample(populate)?;
            if populate {
                map_pop.push(m);
                copy_pop.push(c);
            } else {
                map_plain.push(m);
                copy_plain.push(c);
            }
        }
    }
    let memcpy = |dst: &mut Vec<u8>| {
        dst.copy_from_slice(black_box(&src));
        black_box(dst);
    };
    let iters = calibrate(min_round, || memcpy(&mut dst));
    let base: Vec<f64> = (0..rounds.max(3))
        .map(|_| per_call(iters, || memcpy(&mut dst)))
        .collect();
    emit(&FirstTouch {
        size,
        memcpy_s: median(&base),
        map_plain_s: median(&map_plain),
        copy_plain_s: median(&copy_plain),
        map_populate_s: median(&map_pop),
        copy_populate_s: median(&copy_pop),
        rounds,
    })
}

/// Largest `put` chunk: about the most one kernel-binder transaction can carry.
pub const BINDER_CHUNK: usize = 1 << 20;

/// P2: the same bytes moved through binder calls to the bench server.
pub fn binder_bulk(socket: &Path, sizes: &[usize], rounds: usize, min_round: Duration) -> Res<()> {
    let bench = server::connect(socket)?;
    bench.r#reset().map_err(|s| format!("reset: {s}"))?;
    let max = *sizes.iter().max().ok_or("no sizes")?;
    let src = private_buffer(max, 5);
    let mut sent = 0u64;
    let mut points = Vec::new();
    for &size in sizes {
        let chunk = size.min(BINDER_CHUNK);
        let mut transfer = || {
            for (i, piece) in src[..size].chunks(chunk).enumerate() {
                bench
                    .r#put((i * chunk) as i64, black_box(piece))
                    .expect("put");
            }
            sent += size as u64;
        };
        let iters = calibrate(min_round, &mut transfer);
        let times: Vec<f64> = (0..rounds)
            .map(|_| per_call(iters, &mut transfer))
            .collect();
        points.push(BinderBulkPoint {
            size,
            chunk,
            transfer_s: median(&times),
            iters,
            rounds,
        });
    }
    let received = bench.r#received().map_err(|s| format!("received: {s}"))? as u64;
    if received != sent {
        return Err(format!("sent {sent} bytes, the server received {received}"));
    }
    emit(&BinderBulk {
        points,
        sent,
        received,
    })
}

/// P3: map + unmap cycles against a no-argument call on the same connection
/// and a 1-byte ping-pong with the `pong` process on `pong_socket`.
pub fn control(socket: &Path, pong_socket: &Path, rounds: usize, iters: u64) -> Res<()> {
    let conn = connect(socket)?;
    let mut pong = UnixStream::connect(pong_socket).map_err(|e| format!("connect to pong: {e}"))?;
    let svc = conn.service();
    let mut noop = || {
        black_box(svc.r#getBufferSize().expect("getBufferSize"));
    };
    let mut get_buffer = || {
        let fd: OwnedFd = svc.r#getBuffer().expect("getBuffer").into();
        drop(black_box(fd));
    };
    let mut map_cycle = || {
        let shm = conn.map().expect("map");
        drop(black_box(shm));
    };
    let mut byte = [7u8; 1];
    let mut ping = || {
        pong.write_all(&byte).expect("ping");
        pong.read_exact(&mut byte).expect("pong");
    };
    // Warm every path (connections, allocator, page tables).
    for _ in 0..iters.min(50) {
        noop();
        get_buffer();
        map_cycle();
        ping();
    }
    let (mut a, mut b, mut c, mut d) = (Vec::new(), Vec::new(), Vec::new(), Vec::new());
    for _ in 0..rounds {
        a.push(per_call(iters, &mut noop));
        b.push(per_call(iters, &mut get_buffer));
        c.push(per_call(iters, &mut map_cycle));
        d.push(per_call(iters, &mut ping));
    }
    emit(&Control {
        noop_s: median(&a),
        get_buffer_s: median(&b),
        map_cycle_s: median(&c),
        pingpong_s: median(&d),
        iters,
        rounds,
    })
}

/// Prints `ready`, then waits for the suite's `go` line.
fn ready_then_go() -> Res<()> {
    println!("ready");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let go = server::read_line(&mut std::io::stdin().lock())?;
    if go != "go" {
        return Err(format!("expected `go`, got {go:?}"));
    }
    Ok(())
}

/// P4, shared memory: `count` atomic increments of the word at `offset`.
pub fn count_shm(socket: &Path, offset: usize, count: u64) -> Res<()> {
    let conn = connect(socket)?;
    let shm = conn
        .map_with(MapOptions { populate: true })
        .map_err(|e| e.to_string())?;
    ready_then_go()?;
    let start_ns = monotonic_ns();
    for _ in 0..count {
        shm.fetch_add_u32(offset, 1).map_err(|e| e.to_string())?;
    }
    let end_ns = monotonic_ns();
    emit(&Count {
        start_ns,
        end_ns,
        count,
    })
}

/// P4, binder: `count` increment() calls to the bench server.
pub fn count_binder(socket: &Path, count: u64) -> Res<()> {
    let bench = server::connect(socket)?;
    bench.r#ping().map_err(|s| format!("ping: {s}"))?;
    ready_then_go()?;
    let start_ns = monotonic_ns();
    for _ in 0..count {
        bench.r#increment().map_err(|s| format!("increment: {s}"))?;
    }
    let end_ns = monotonic_ns();
    emit(&Count {
        start_ns,
        end_ns,
        count,
    })
}

/// P5's client: connect, map, increment the word at `offset`, unmap, exit.
pub fn touch(socket: &Path, offset: usize) -> Res<()> {
    let conn = connect(socket)?;
    let shm = conn.map().map_err(|e| e.to_string())?;
    shm.fetch_add_u32(offset, 1).map_err(|e| e.to_string())?;
    Ok(())
}

/// P7 and P4's no-waiter cost, in one process: `snapshot` against `read_at`
/// of a record of each size at `offset`, and the library's `fetch_add_u32`
/// against a plain atomic `fetch_add` on the word at `counter`.
pub fn records(
    socket: &Path,
    offset: usize,
    counter: usize,
    sizes: &[usize],
    rounds: usize,
    min_round: Duration,
) -> Res<()> {
    let conn = connect(socket)?;
    let mut shm = conn
        .map_with(MapOptions { populate: true })
        .map_err(|e| e.to_string())?;
    let mut snapshots = Vec::new();
    for &size in sizes {
        let data: Vec<u8> = (0..size).map(|i| i as u8).collect();
        shm.publish(offset, &data, Duration::from_secs(5))
            .map_err(|e| format!("publish: {e}"))?;
        let mut out = vec![0u8; size];
        let payload = offset + enea_buffer_client::RECORD_HEADER_SIZE;
        let mut snap = || {
            shm.snapshot(offset, &mut out, Duration::from_secs(5))
                .expect("snapshot");
            black_box(&out);
        };
        let iters = calibrate(min_round, &mut snap);
        let snapshot_s = median(
            &(0..rounds)
                .map(|_| per_call(iters, &mut snap))
                .collect::<Vec<_>>(),
        );
        let mut read = || {
            shm.read_at(payload, &mut out).expect("read_at");
            black_box(&out);
        };
        let iters = calibrate(min_round, &mut read);
        let read_at_s = median(
            &(0..rounds)
                .map(|_| per_call(iters, &mut read))
                .collect::<Vec<_>>(),
        );
        snapshots.push(SnapshotPoint {
            size,
            snapshot_s,
            read_at_s,
        });
    }
    let word = shm.atomic_u32(counter).map_err(|e| e.to_string())?;
    let mut add = || {
        shm.fetch_add_u32(counter, 1).expect("fetch_add_u32");
    };
    let iters = calibrate(min_round, &mut add);
    let fetch_add_s = median(
        &(0..rounds)
            .map(|_| per_call(iters, &mut add))
            .collect::<Vec<_>>(),
    );
    let mut raw = || {
        black_box(word.fetch_add(1, std::sync::atomic::Ordering::SeqCst));
    };
    let iters = calibrate(min_round, &mut raw);
    let raw_fetch_add_s = median(
        &(0..rounds)
            .map(|_| per_call(iters, &mut raw))
            .collect::<Vec<_>>(),
    );
    emit(&Records {
        snapshots,
        fetch_add_s,
        raw_fetch_add_s,
    })
}

/// P6's waiter: sees the word at `offset` go 1, 2, … `rounds`, either
/// woken through the library's futex wait or polling every `poll_ms`.
pub fn waiter(socket: &Path, offset: usize, rounds: u32, poll_ms: Option<u64>) -> Res<()> {
    let conn = connect(socket)?;
    let shm = conn.map().map_err(|e| e.to_string())?;
    ready_then_go()?;
    let mut seen_ns = Vec::new();
    for round in 0..rounds {
        match poll_ms {
            Some(ms) => {
                while shm.load_u32(offset).map_err(|e| e.to_string())? == round {
                    std::thread::sleep(Duration::from_millis(ms));
                }
            }
            None => {
                shm.wait_u32_change(offset, round, Some(Duration::from_secs(30)))
                    .map_err(|e| e.to_string())?
                    .ok_or("no change within 30 s")?;
            }
        }
        seen_ns.push(monotonic_ns());
    }
    emit(&Wakes { seen_ns })
}
