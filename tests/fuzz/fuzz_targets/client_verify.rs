//! Fuzzes the client's checks of a region's fd before it maps it.
//!
//! Each input picks an fd of some kind, a reported size and a layout
//! version, and hands them to `enea_buffer_client::fuzzing`, which checks
//! and maps them as `Connection` does a region a V2 getter returned.
//!
//! Input layout (every byte optional; missing ones read as 0):
//!   [0] fd kind: sealable memfd, unsealable memfd, pipe read end, pipe
//!       write end, socket, /dev/null, regular file (unlinked)
//!   [1] seals added to a sealable memfd: bits SHRINK, GROW, WRITE,
//!       FUTURE_WRITE, SEAL
//!   [2] bit 0: map read-write; bits 1-2: the file's size is the reported
//!       size, the reported size plus an i8 delta ([15]), or a u32 ([15..19])
//!   [3..11] reported size, i64 LE
//!   [11..15] layout version, i32 LE
//!   [15..19] delta or file size
//!
//! Checked besides "no panic, no signal": the client maps the fd exactly
//! when it is a memfd sealed against shrinking and growing whose size is
//! the reported one, within 4..=MAX_SIZE (and not sealed against writes
//! when mapped read-write, which the kernel refuses); what it maps has that
//! size, the layout exactly when version 1 meets 64 bytes, and its last
//! byte and word read back.

#![no_main]

use std::os::fd::OwnedFd;
use std::sync::atomic::{AtomicU64, Ordering};

use enea_buffer_client::{fuzzing, CONTROL_SIZE, MAX_SIZE};
use libfuzzer_sys::fuzz_target;
use rustix::fs::{MemfdFlags, Mode, OFlags, SealFlags};

/// The seals an input can add, one per bit of byte 1.
const SEALS: [SealFlags; 5] = [
    SealFlags::SHRINK,
    SealFlags::GROW,
    SealFlags::WRITE,
    SealFlags::FUTURE_WRITE,
    SealFlags::SEAL,
];

/// The kinds of fd an input can pick.
#[derive(Clone, Copy, Debug, PartialEq)]
enum Kind {
    Memfd,
    UnsealableMemfd,
    PipeReader,
    PipeWriter,
    Socket,
    DevNull,
    RegularFile,
}

const KINDS: [Kind; 7] = [
    Kind::Memfd,
    Kind::UnsealableMemfd,
    Kind::PipeReader,
    Kind::PipeWriter,
    Kind::Socket,
    Kind::DevNull,
    Kind::RegularFile,
];

fn byte(data: &[u8], at: usize) -> u8 {
    data.get(at).copied().unwrap_or(0)
}

fn bytes<const N: usize>(data: &[u8], at: usize) -> [u8; N] {
    std::array::from_fn(|i| byte(data, at + i))
}

/// A sparse file size the target can afford: at most twice MAX_SIZE.
fn file_size(size: i128) -> u64 {
    size.clamp(0, 2 * MAX_SIZE as i128) as u64
}

/// An fd of `kind` holding `size` bytes where that means anything.
fn make_fd(kind: Kind, size: u64, seals: SealFlags) -> OwnedFd {
    match kind {
        Kind::Memfd | Kind::UnsealableMemfd => {
            let flags = if kind == Kind::Memfd {
                MemfdFlags::ALLOW_SEALING | MemfdFlags::CLOEXEC
            } else {
                MemfdFlags::CLOEXEC
            };
            let fd = rustix::fs::memfd_create("client_verify", flags).expect("memfd_create");
            rustix::fs::ftruncate(&fd, size).expect("ftruncate a memfd");
            if kind == Kind::Memfd && !seals.is_empty() {
                rustix::fs::fcntl_add_seals(&fd, seals).expect("add seals");
            }
            fd
        }
        Kind::PipeReader => rustix::pipe::pipe().expect("pipe").0,
        Kind::PipeWriter => rustix::pipe::pipe().expect("pipe").1,
        Kind::Socket => std::os::unix::net::UnixStream::pair()
            .expect("socketpair")
            .0
            .into(),
        Kind::DevNull => {
            rustix::fs::open("/dev/null", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty())
                .expect("open /dev/null")
        }
        Kind::RegularFile => {
            static NEXT: AtomicU64 = AtomicU64::new(0);
            let path = std::env::temp_dir().join(format!(
                "client_verify-{}-{}",
                std::process::id(),
                NEXT.fetch_add(1, Ordering::Relaxed)
            ));
            let file = std::fs::File::create(&path).expect("create a temporary file");
            std::fs::remove_file(&path).expect("unlink the temporary file");
            file.set_len(size).expect("size the temporary file");
            file.into()
        }
    }
}

fuzz_target!(|data: &[u8]| {
    let kind = KINDS[byte(data, 0) as usize % KINDS.len()];
    let seals = SEALS
        .iter()
        .enumerate()
        .filter(|(bit, _)| byte(data, 1) & (1 << bit) != 0)
        .fold(SealFlags::empty(), |all, (_, seal)| all | *seal);
    let writable = byte(data, 2) & 1 != 0;
    let reported = i64::from_le_bytes(bytes(data, 3));
    let layout_version = i32::from_le_bytes(bytes(data, 11));
    let size = match (byte(data, 2) >> 1) & 3 {
        1 => file_size(reported as i128 + byte(data, 15) as i8 as i128),
        2 => u32::from_le_bytes(bytes(data, 15)) as u64,
        _ => file_size(reported as i128),
    };

    let fd = make_fd(kind, size, seals);
    let sealed = kind == Kind::Memfd && seals.contains(SealFlags::SHRINK | SealFlags::GROW);
    let write_sealed =
        kind == Kind::Memfd && seals.intersects(SealFlags::WRITE | SealFlags::FUTURE_WRITE);
    let in_bounds = (4..=MAX_SIZE as i64).contains(&reported);
    let acceptable = sealed && in_bounds && size == reported as u64;
    let expected = acceptable && !(writable && write_sealed);
    let case = format!(
        "{kind:?} of {size} bytes, seals {seals:?}, reported {reported}, \
         layout version {layout_version}, writable {writable}"
    );

    let mapped = if writable {
        fuzzing::map_shared(fd, reported, layout_version).map(|mut buffer| {
            let (len, has_layout) = (buffer.len(), buffer.has_layout());
            let mut last = [0u8];
            buffer
                .read_at(len - 1, &mut last)
                .expect("read the last byte");
            buffer.load_u32((len - 4) & !3).expect("load the last word");
            (len, has_layout)
        })
    } else {
        fuzzing::map_read_only(fd, reported, layout_version).map(|buffer| {
            let (len, has_layout) = (buffer.len(), buffer.has_layout());
            let mut last = [0u8];
            buffer
                .read_at(len - 1, &mut last)
                .expect("read the last byte");
            buffer.load_u32((len - 4) & !3).expect("load the last word");
            (len, has_layout)
        })
    };
    match mapped {
        Ok((len, has_layout)) => {
            assert!(expected, "mapped what the client must refuse: {case}");
            assert_eq!(len as i64, reported, "{case}");
            assert_eq!(
                has_layout,
                layout_version == 1 && len >= CONTROL_SIZE,
                "{case}"
            );
        }
        Err(e) => {
            assert!(!expected, "refused a region it must map ({e}): {case}");
            assert!(!e.to_string().is_empty(), "{case}");
        }
    }
});
