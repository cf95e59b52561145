//! Fuzzes record snapshots, publishes and change waits against a region
//! whose bytes are the input: odd sequences, owner pids (this process,
//! dead or absent ones), waiter counts, anything a peer could write.
//!
//! The region is a sealed memfd mapped through `enea_buffer_client::fuzzing`
//! as `Connection` maps one (read-write, and read-only for the read-only
//! snapshots), so the calls run on a real shared mapping.
//!
//! Input layout (every byte optional; missing ones read as 0):
//!   [0..2] region size: 64 + u16 LE, at most 64 KiB
//!   [2] layout version: 1 below 240, else the byte minus 240
//!   [3] number of calls (0..=4), then 6 bytes per call:
//!       kind (snapshot, read-only snapshot, publish, wait), u16 LE offset,
//!       u16 LE length (payload bytes; for a wait, bit 0 says "wait for the
//!       word's current value to change"), timeout in ms (0..=5)
//!   rest: the region's bytes from offset 0
//!
//! Checked besides "no panic, no signal": each call returns within its
//! timeout plus a second (liveness, not speed).

#![no_main]

use std::os::fd::OwnedFd;
use std::time::{Duration, Instant};

use enea_buffer_client::fuzzing;
use libfuzzer_sys::fuzz_target;
use rustix::fs::{MemfdFlags, SealFlags};

const MAX_CALLS: usize = 4;
const CALL_BYTES: usize = 6;
/// What a call may take past its timeout before it counts as hung.
const SLACK: Duration = Duration::from_secs(1);

fn byte(data: &[u8], at: usize) -> u8 {
    data.get(at).copied().unwrap_or(0)
}

fn u16_at(data: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([byte(data, at), byte(data, at + 1)])
}

/// A memfd of `size` bytes holding `content` from offset 0, sealed as the
/// daemon seals its region.
fn region(size: usize, content: &[u8]) -> OwnedFd {
    let fd = rustix::fs::memfd_create(
        "snapshot_reader",
        MemfdFlags::ALLOW_SEALING | MemfdFlags::CLOEXEC,
    )
    .expect("memfd_create");
    rustix::fs::ftruncate(&fd, size as u64).expect("ftruncate");
    let content = &content[..content.len().min(size)];
    let mut written = 0;
    while written < content.len() {
        written += rustix::io::pwrite(&fd, &content[written..], written as u64).expect("pwrite");
    }
    rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)
        .expect("seal");
    fd
}

fuzz_target!(|data: &[u8]| {
    let size = (64 + u16_at(data, 0) as usize).min(64 << 10);
    let layout_version = match byte(data, 2) {
        b if b < 240 => 1,
        b => i32::from(b - 240),
    };
    let calls = (byte(data, 3) as usize).min(MAX_CALLS);
    let content = data.get(4 + calls * CALL_BYTES..).unwrap_or(&[]);

    let fd = region(size, content);
    let ro_fd = fd.try_clone().expect("dup the region's fd");
    let buffer = fuzzing::map_shared(fd, size as i64, layout_version)
        .expect("a sealed memfd of the reported size maps read-write");
    let ro = fuzzing::map_read_only(ro_fd, size as i64, layout_version)
        .expect("a sealed memfd of the reported size maps read-only");

    for call in 0..calls {
        let at = 4 + call * CALL_BYTES;
        let offset = u16_at(data, at + 1) as usize;
        let len = u16_at(data, at + 3) as usize;
        let timeout = Duration::from_millis(u64::from(byte(data, at + 5) % 6));
        let what = byte(data, at) % 4;
        let start = Instant::now();
        match what {
            0 => {
                let _ = buffer.snapshot(offset, &mut vec![0; len], timeout);
            }
            1 => {
                let _ = ro.snapshot(offset, &mut vec![0; len], timeout);
            }
            2 => {
                let payload: Vec<u8> = (0..len).map(|i| i as u8).collect();
                let _ = buffer.publish(offset, &payload, timeout);
            }
            _ => {
                let old = if len & 1 == 1 {
                    buffer.load_u32(offset).unwrap_or(0)
                } else {
                    len as u32
                };
                let _ = buffer.wait_u32_change(offset, old, Some(timeout));
            }
        }
        let took = start.elapsed();
        assert!(
            took <= timeout + SLACK,
            "call {what} at offset {offset} ({len} bytes) took {took:?} with a timeout of {timeout:?}"
        );
    }
});
