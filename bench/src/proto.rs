//! What a client process reports back to the suite: one JSON line on stdout.

use serde::{Deserialize, Serialize};

/// P1, one transfer size: steady-state copies in one client process.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BulkPoint {
    /// Bytes per copy.
    pub size: usize,
    /// Median seconds per `memcpy` between two private buffers.
    pub memcpy_s: f64,
    /// Median seconds per `SharedBuffer::write_at` into the mapped region.
    pub shm_s: f64,
    /// Copies per timed batch.
    pub iters: u64,
    /// Timed batches per method.
    pub rounds: usize,
}

/// P1b, one region size: copies into a freshly mapped region.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct FirstTouch {
    /// Bytes per copy (= the region's size).
    pub size: usize,
    /// Median seconds per warm `memcpy` between private buffers (baseline).
    pub memcpy_s: f64,
    /// Median seconds of `conn.map()` (getBuffer + fstat + lazy mmap).
    pub map_plain_s: f64,
    /// Median seconds of the first `write_at` on that mapping (page faults included).
    pub copy_plain_s: f64,
    /// Median seconds of `conn.map_with(populate)` (the same + pre-faulting).
    pub map_populate_s: f64,
    /// Median seconds of the first `write_at` on the pre-faulted mapping.
    pub copy_populate_s: f64,
    /// Fresh mappings timed per variant.
    pub rounds: usize,
}

/// P2, one transfer size: the same bytes through binder calls.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BinderBulkPoint {
    /// Bytes per transfer.
    pub size: usize,
    /// Bytes per `put` call.
    pub chunk: usize,
    /// Median seconds per transfer of `size` bytes.
    pub transfer_s: f64,
    /// Transfers per timed batch.
    pub iters: u64,
    /// Timed batches.
    pub rounds: usize,
}

/// P2: all sizes, plus the server's count of what arrived.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct BinderBulk {
    /// One entry per size.
    pub points: Vec<BinderBulkPoint>,
    /// Bytes the client sent.
    pub sent: u64,
    /// Bytes the server says it received (must equal `sent`).
    pub received: u64,
}

/// P3: the control path against a no-op call and the socket floor.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Control {
    /// Median seconds of `getBufferSize()` (no-argument call, same connection).
    pub noop_s: f64,
    /// Median seconds of `getBuffer()` and closing the fd, no mapping.
    pub get_buffer_s: f64,
    /// Median seconds of `map()` + drop: getBuffer + fstat + mmap + munmap + close.
    pub map_cycle_s: f64,
    /// Median seconds of a 1-byte Unix-socket ping-pong with another process.
    pub pingpong_s: f64,
    /// Calls per timed batch.
    pub iters: u64,
    /// Timed batches per operation.
    pub rounds: usize,
}

/// P4, one counting process.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Count {
    /// CLOCK_MONOTONIC ns when counting began.
    pub start_ns: u64,
    /// CLOCK_MONOTONIC ns when counting ended.
    pub end_ns: u64,
    /// Increments done.
    pub count: u64,
}

/// P7 at one record size: snapshot against read_at, same bytes.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct SnapshotPoint {
    /// Payload bytes.
    pub size: usize,
    /// Median seconds of one `snapshot` (consistent copy, no writer).
    pub snapshot_s: f64,
    /// Median seconds of one `read_at` of the same bytes (may tear).
    pub read_at_s: f64,
}

/// P7, and P4's no-waiter cost: what the V2 data path costs one process.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Records {
    /// Snapshot against read_at, per size.
    pub snapshots: Vec<SnapshotPoint>,
    /// Median seconds of the library's `fetch_add_u32` with nobody waiting
    /// (the atomic plus the waiter-count load).
    pub fetch_add_s: f64,
    /// Median seconds of a plain SeqCst `fetch_add` on the same word (V1's
    /// data path: no waiter count to look at).
    pub raw_fetch_add_s: f64,
}

/// P6, one waiting process: when it saw each change.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Wakes {
    /// CLOCK_MONOTONIC ns at which the waiter saw value `i + 1`.
    pub seen_ns: Vec<u64>,
}

/// P6's binder listener: every callback it got, in arrival order.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub struct Callbacks {
    /// The values it was called with (must be 1, 2, …).
    pub values: Vec<i32>,
    /// CLOCK_MONOTONIC ns the writer put in each call, just before sending it.
    pub sent_ns: Vec<u64>,
    /// CLOCK_MONOTONIC ns at which each call reached the listener's method.
    pub seen_ns: Vec<u64>,
}
