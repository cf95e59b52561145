//! Safe handles over a region that other processes write concurrently.
//!
//! # Access model
//!
//! The mapped bytes are never exposed as `&[u8]` / `&mut [u8]`: another
//! process may change them at any time, which Rust references forbid. Every
//! access is one of two kinds, and no safe API lets the two meet on the same
//! bytes at the same time in this process:
//!
//! - **Atomics** on naturally aligned words (`load_u32`, `fetch_add_u32`,
//!   `atomic_u32`, `atomic_u64`): the only way to synchronise with other
//!   processes (a `Release` store there, an `Acquire` load here).
//! - **Volatile copies** of byte ranges (`read_at`, `write_at`): the
//!   compiler must perform each access exactly as written, so it can neither
//!   assume the bytes stay put (a polling loop re-reads them) nor invent or
//!   merge accesses. A copy may observe a range half-updated by a racing
//!   writer, exactly like `memcpy` in C; it carries no ordering, so pair it
//!   with an atomic flag. Copies are split at the region side into the
//!   widest naturally aligned accesses (up to the machine word): a copy of
//!   an aligned word is one load or store of that word, so a peer's aligned
//!   word store is seen whole or not at all; a bulk copy is a loop of
//!   aligned word accesses with a few narrower ones at its ends.
//!
//! Rust's memory model makes a data race of a non-atomic (volatile included)
//! access racing a write to the same bytes, and of racing atomic accesses
//! that partially overlap (a 64-bit one against a 32-bit one). Within one
//! handle the borrow checker rules both out: 32-bit atomics take `&self`
//! (all the same size and alignment, so they overlap exactly or not at all),
//! while byte copies and 64-bit atomics on a [`SharedBuffer`] take
//! `&mut self`. A [`ReadOnlyBuffer`] only ever reads, and reads never race.
//! Other processes, and other mappings of the same file in this process,
//! are at addresses the compiler knows nothing about: for them the volatile
//! and atomic accesses above are what the hardware executes, nothing more is
//! assumed.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use rustix::mm::{MapFlags, ProtFlags};

use crate::error::{Error, Result};
use crate::futex;
use crate::platform::Keepalive;
use crate::verify::VerifiedFd;
use vendor_enea_buffer::aidl::vendor::enea::buffer::IEneaBuffer;

/// How to map a region.
#[derive(Clone, Copy, Debug, Default)]
pub struct MapOptions {
    /// Pre-fault every page at map time (`MAP_POPULATE`), so the first
    /// access costs no page faults.
    pub populate: bool,
}

/// Identity of the file behind an fd: equal in every process that maps the
/// same region, whatever the fd numbers are.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct FileIdentity {
    /// `st_dev`.
    pub dev: u64,
    /// `st_ino`.
    pub ino: u64,
}

impl FileIdentity {
    /// The identity of the file `fd` refers to.
    pub fn of(fd: BorrowedFd<'_>) -> Result<Self> {
        let st = rustix::fs::fstat(fd).map_err(Error::Stat)?;
        Ok(Self {
            dev: st.st_dev,
            ino: st.st_ino,
        })
    }
}

/// Where a mapping lives: the only part of a buffer that is `Send`/`Sync`
/// by assertion; every other field must be so on its own.
struct MappedRange {
    base: NonNull<u8>,
    len: usize,
}

// SAFETY: an address range of a shared mapping belongs to the process, not
// to a thread; moving it to another thread moves no access along with it.
unsafe impl Send for MappedRange {}
// SAFETY: `&MappedRange` only yields addresses. Accesses through them are
// made by `Mapping`, whose unsafe copy methods state what the caller must
// exclude, and by the buffers' atomics; see the module docs.
unsafe impl Sync for MappedRange {}

/// A shared mapping of a verified region, and the fd it came from.
pub(crate) struct Mapping {
    range: MappedRange,
    fd: OwnedFd,
}

impl Mapping {
    /// Maps `region` shared, read-write or read-only.
    pub(crate) fn new(region: VerifiedFd, writable: bool, options: MapOptions) -> Result<Self> {
        let prot = if writable {
            ProtFlags::READ | ProtFlags::WRITE
        } else {
            ProtFlags::READ
        };
        let mut flags = MapFlags::SHARED;
        if options.populate {
            flags |= MapFlags::POPULATE;
        }
        let len = region.len();
        let fd = region.fd();
        // SAFETY: a new mapping at a kernel-chosen address aliases no Rust
        // object. It cannot fault: `verify` checked that the file holds
        // exactly `len` bytes and that nobody can change its size while it
        // is mapped (memfd sealed against shrinking and growing, or ashmem).
        let mapped = unsafe { rustix::mm::mmap(std::ptr::null_mut(), len, prot, flags, fd, 0) };
        let base = mapped.map_err(Error::Map)?;
        let base = NonNull::new(base.cast::<u8>()).ok_or(Error::Map(rustix::io::Errno::FAULT))?;
        Ok(Self {
            range: MappedRange { base, len },
            fd: region.into_fd(),
        })
    }

    fn len(&self) -> usize {
        self.range.len
    }

    /// The address of `len` bytes at `offset`, if they are inside the mapping.
    fn span(&self, offset: usize, len: usize) -> Result<*mut u8> {
        match offset.checked_add(len) {
            Some(end) if end <= self.range.len => {}
            _ => {
                return Err(Error::OutOfBounds {
                    offset,
                    len,
                    size: self.range.len,
                })
            }
        }
        // SAFETY: offset + len <= len of the mapping, so the pointer stays
        // inside it (or one past its end when len is 0).
        Ok(unsafe { self.range.base.as_ptr().add(offset) })
    }

    /// The address of an `A` at `offset`, if it is inside the mapping and
    /// aligned as `A` requires. `A` is the atomic type itself: `AtomicU64`
    /// needs 8 bytes even where `u64` needs only 4 (32-bit x86 and ARM).
    fn atomic<A>(&self, offset: usize) -> Result<*mut A> {
        let align = std::mem::align_of::<A>();
        if offset % align != 0 {
            return Err(Error::Misaligned { offset, align });
        }
        // The mapping is page-aligned, so an aligned offset is an aligned address.
        Ok(self.span(offset, std::mem::size_of::<A>())?.cast::<A>())
    }

    /// Copies `out.len()` bytes at `offset` out of the region.
    ///
    /// # Safety
    /// Nothing in this process may write those bytes through this mapping
    /// while the copy runs (the caller's borrow ensures it).
    unsafe fn read_into(&self, offset: usize, out: &mut [u8]) -> Result<()> {
        let src = self.span(offset, out.len())?;
        // SAFETY: `src..src+out.len()` is inside the live mapping (checked
        // above), which is readable; `out` is private memory of the caller,
        // distinct from the mapping; the caller excludes racing writes from
        // this process, other writers are outside the compiler's view.
        unsafe { copy_volatile(src, out.as_mut_ptr(), out.len(), Direction::FromRegion) };
        Ok(())
    }

    /// Copies `data` into the region at `offset`.
    ///
    /// # Safety
    /// The mapping must be writable, and nothing else in this process may
    /// access those bytes through this mapping while the copy runs.
    unsafe fn write_from(&self, offset: usize, data: &[u8]) -> Result<()> {
        let dst = self.span(offset, data.len())?;
        // SAFETY: `dst..dst+data.len()` is inside the live mapping (checked
        // above), writable by the caller's promise; `data` is distinct
        // private memory; the caller excludes racing accesses from this process.
        unsafe {
            copy_volatile(
                dst,
                data.as_ptr().cast_mut(),
                data.len(),
                Direction::IntoRegion,
            )
        };
        Ok(())
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping made in `new`; every borrow handed out
        // (`&AtomicU32` etc.) is tied to a borrow of its owner, so none
        // outlives it.
        let _ = unsafe { rustix::mm::munmap(self.range.base.as_ptr().cast(), self.range.len) };
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    FromRegion,
    IntoRegion,
}

/// The widest access (1, 2, 4 or 8 bytes, at most the machine word) that is
/// naturally aligned at `addr` and fits in `left` bytes.
fn access_width(addr: usize, left: usize) -> usize {
    [8, 4, 2]
        .into_iter()
        .filter(|width| *width <= std::mem::size_of::<usize>())
        .find(|width| addr % width == 0 && *width <= left)
        .unwrap_or(1)
}

/// Copies `len` bytes between `region` (shared memory, accessed volatile,
/// in naturally aligned pieces) and `private` (the caller's own buffer,
/// accessed plainly and unaligned), in `direction`.
///
/// # Safety
/// `region..region+len` must be inside a live mapping, readable and, for
/// `IntoRegion`, writable; `private..private+len` must be valid for reads
/// (`IntoRegion`) or writes (`FromRegion`) and not overlap the region; no
/// access in this process may race the region's bytes except reads, and
/// only when `direction` is `FromRegion`.
unsafe fn copy_volatile(region: *mut u8, private: *mut u8, len: usize, direction: Direction) {
    const WORD: usize = std::mem::size_of::<usize>();
    let mut done = 0;
    // Head: narrower pieces until the region side is word-aligned.
    while done < len && (region as usize + done) % WORD != 0 {
        // SAFETY: done < len, within both ranges (this function's contract).
        done += unsafe { copy_piece(region.add(done), private.add(done), len - done, direction) };
    }
    // Body: whole machine words, one volatile access each (the hot loop,
    // kept free of per-piece width choices).
    while len - done >= WORD {
        // SAFETY: `done + WORD <= len`, so both sides are in range; the
        // region side is word-aligned (the head ended there and every step
        // adds WORD); the private side may be unaligned, hence _unaligned.
        unsafe {
            let (r, p) = (
                region.add(done).cast::<usize>(),
                private.add(done).cast::<usize>(),
            );
            match direction {
                Direction::FromRegion => p.write_unaligned(r.read_volatile()),
                Direction::IntoRegion => r.write_volatile(p.read_unaligned()),
            }
        }
        done += WORD;
    }
    // Tail: what is left, narrower than a word.
    while done < len {
        // SAFETY: as for the head.
        done += unsafe { copy_piece(region.add(done), private.add(done), len - done, direction) };
    }
}

/// Copies one naturally aligned piece (the widest that fits, see
/// [`access_width`]) at `r`/`p`, of at most `left` bytes; returns its width.
///
/// # Safety
/// As [`copy_volatile`], for the `left` bytes from `r` and `p`.
unsafe fn copy_piece(r: *mut u8, p: *mut u8, left: usize, direction: Direction) -> usize {
    let width = access_width(r as usize, left);
    // SAFETY: `r` is aligned to `width` (access_width) and `width` bytes
    // fit in what is left of both ranges; the region side is volatile so
    // the access happens exactly once, at this width; the private side may
    // be unaligned, hence read/write_unaligned.
    unsafe {
        match (width, direction) {
            (8, Direction::FromRegion) => p
                .cast::<u64>()
                .write_unaligned(r.cast::<u64>().read_volatile()),
            (8, Direction::IntoRegion) => r
                .cast::<u64>()
                .write_volatile(p.cast::<u64>().read_unaligned()),
            (4, Direction::FromRegion) => p
                .cast::<u32>()
                .write_unaligned(r.cast::<u32>().read_volatile()),
            (4, Direction::IntoRegion) => r
                .cast::<u32>()
                .write_volatile(p.cast::<u32>().read_unaligned()),
            (2, Direction::FromRegion) => p
                .cast::<u16>()
                .write_unaligned(r.cast::<u16>().read_volatile()),
            (2, Direction::IntoRegion) => r
                .cast::<u16>()
                .write_volatile(p.cast::<u16>().read_unaligned()),
            (_, Direction::FromRegion) => p.write(r.read_volatile()),
            (_, Direction::IntoRegion) => r.write_volatile(p.read()),
        }
    }
    width
}

/// What the service said about the region's control words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// The service keeps layout version 1 (`IEneaBuffer.LAYOUT_VERSION`):
    /// a waiter count, records. Only for regions of at least CONTROL_SIZE.
    V1,
    /// No layout: a V1 service (interface version given), or a region too
    /// small for the control words. Notification and records are refused.
    None(i32),
}

/// Byte offset of the waiter count (`IEneaBuffer.WAITERS_OFFSET`).
pub const WAITERS_OFFSET: usize = IEneaBuffer::WAITERS_OFFSET as usize;
/// Bytes reserved at the start of the region (`IEneaBuffer.CONTROL_SIZE`).
pub const CONTROL_SIZE: usize = IEneaBuffer::CONTROL_SIZE as usize;
/// Bytes of a record's header (`IEneaBuffer.RECORD_HEADER_SIZE`).
pub const RECORD_HEADER_SIZE: usize = IEneaBuffer::RECORD_HEADER_SIZE as usize;

/// How long a snapshot waits between looks at a record a writer holds, to
/// notice that the writer died (which wakes nobody).
const OWNER_CHECK: Duration = Duration::from_millis(20);

/// Whether process `pid` exists (it may belong to another user).
fn alive(pid: u32) -> bool {
    let Ok(pid) = libc::pid_t::try_from(pid) else {
        return false;
    };
    // SAFETY: kill with signal 0 sends nothing; it only checks the pid.
    let rc = unsafe { libc::kill(pid, 0) };
    rc == 0 || std::io::Error::last_os_error().raw_os_error() != Some(libc::ESRCH)
}

/// A read-write mapping of the shared region. Unmaps and closes on drop.
///
/// Other processes write the same bytes at any time, so they are never
/// handed out as a slice. Access is either
/// - **atomic** on aligned words: [`Self::load_u32`], [`Self::store_u32`],
///   [`Self::fetch_add_u32`], [`Self::atomic_u32`] (`&self`, usable from
///   many threads at once) and [`Self::atomic_u64`] (`&mut self`), or
/// - a **volatile copy** of a byte range: [`Self::read_at`],
///   [`Self::write_at`] (`&mut self`). Each aligned word in the range is one
///   load or store, so a peer's aligned word store is seen whole or not at
///   all; a range as a whole may be seen half-updated, and a copy carries no
///   ordering: publish with an atomic flag.
///
/// Rust forbids a non-atomic access racing a write to the same bytes, and
/// racing atomics that partially overlap; the `&mut self` methods make both
/// impossible within one handle. For concurrent byte copies and 32-bit
/// atomics in one process, map the region once per user.
pub struct SharedBuffer {
    map: Mapping,
    layout: Layout,
    // Held so the service (and, over RPC, the session) lives as long as the mapping.
    _keepalive: Keepalive,
}

/// A read-only mapping of the shared region: it has no way to write.
/// Loads are `Relaxed` followed by an `Acquire` fence (what the standard
/// library allows on read-only memory); copies are volatile, as for
/// [`SharedBuffer`]. All of it takes `&self`: reads never race reads.
pub struct ReadOnlyBuffer {
    map: Mapping,
    layout: Layout,
    _keepalive: Keepalive,
}

impl Mapping {
    /// The record at `offset` holding `len` payload bytes: its sequence and
    /// owner words and the payload's first word offset and word count.
    fn record(&self, layout: Layout, offset: usize, len: usize) -> Result<Record<'_>> {
        if let Layout::None(version) = layout {
            return Err(Error::Unsupported {
                what: "a record snapshot or publish",
                version,
            });
        }
        if offset % 8 != 0 {
            return Err(Error::Misaligned { offset, align: 8 });
        }
        if offset < CONTROL_SIZE {
            return Err(Error::OutOfBounds {
                offset,
                len,
                size: self.len(),
            });
        }
        let words = len.div_ceil(4);
        let total = words
            .checked_mul(4)
            .and_then(|w| w.checked_add(RECORD_HEADER_SIZE))
            .ok_or(Error::OutOfBounds {
                offset,
                len,
                size: self.len(),
            })?;
        self.span(offset, total).map_err(|_| Error::OutOfBounds {
            offset,
            len: total,
            size: self.len(),
        })?;
        let word = |at: usize| -> Result<&AtomicU32> {
            let p = self.atomic::<AtomicU32>(at)?;
            // SAFETY: aligned and in bounds (checked), mapped for as long as
            // `self`; used only for 4-byte atomic accesses (loads only on a
            // read-only mapping, where `record` is used for snapshots, whose
            // accesses are all Relaxed/Acquire loads: sound on read-only
            // memory), which overlap the handle's other 32-bit atomics
            // exactly or not at all.
            Ok(unsafe { &*p.cast_const() })
        };
        Ok(Record {
            seq: word(offset)?,
            owner: word(offset + 4)?,
            payload: (0..words)
                .map(|i| word(offset + RECORD_HEADER_SIZE + 4 * i))
                .collect::<Result<Vec<_>>>()?,
            offset,
        })
    }
}

/// The words of one record (see the AIDL's layout).
struct Record<'a> {
    seq: &'a AtomicU32,
    owner: &'a AtomicU32,
    payload: Vec<&'a AtomicU32>,
    offset: usize,
}

impl Record<'_> {
    /// Copies a consistent payload into `out`: one that no writer changed
    /// while it was copied. Waits (up to `timeout`) while a live writer
    /// holds the record; fails at once when its writer died mid-publish.
    /// `wait` blocks until the sequence changes or the given time passes.
    fn snapshot(
        &self,
        out: &mut [u8],
        timeout: Duration,
        wait: impl Fn(&AtomicU32, u32, Duration),
    ) -> Result<u32> {
        let start = Instant::now();
        loop {
            // Ordering (see `SharedBuffer::publish` for the writer's half):
            // Relaxed + fence is the Acquire load that also works on
            // read-only memory. An even `s1` written by a publish's last
            // store makes that publish's payload visible to the copy below.
            let s1 = self.seq.load(Ordering::Relaxed);
            fence(Ordering::Acquire);
            if s1 % 2 == 1 {
                let pid = self.owner.load(Ordering::Relaxed);
                if pid != 0 && !alive(pid) {
                    return Err(Error::Abandoned {
                        offset: self.offset,
                        pid,
                    });
                }
                let waited = start.elapsed();
                if waited >= timeout {
                    return Err(Error::Busy {
                        offset: self.offset,
                        pid,
                        waited,
                    });
                }
                wait(self.seq, s1, (timeout - waited).min(OWNER_CHECK));
                continue;
            }
            for (chunk, word) in out.chunks_mut(4).zip(&self.payload) {
                let bytes = word.load(Ordering::Relaxed).to_ne_bytes();
                chunk.copy_from_slice(&bytes[..chunk.len()]);
            }
            // If any word copied above came from a publish that started
            // after `s1`, this fence synchronises with that publish's Release
            // fence, so the load below sees its odd sequence (or later) and
            // the copy is discarded. Equal means no publish overlapped it
            // (short of 2^31 publishes wrapping the sequence meanwhile).
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == s1 {
                return Ok(s1);
            }
        }
    }
}

macro_rules! common_accessors {
    () => {
        /// The region's size in bytes.
        pub fn len(&self) -> usize {
            self.map.len()
        }

        /// Always false: the client never maps an empty region.
        pub fn is_empty(&self) -> bool {
            self.map.len() == 0
        }

        /// The fd this mapping came from (owned by the handle).
        pub fn fd(&self) -> BorrowedFd<'_> {
            self.map.fd.as_fd()
        }

        /// The fd number in this process.
        pub fn raw_fd(&self) -> i32 {
            self.map.fd.as_raw_fd()
        }

        /// Where the region is mapped in this process (differs per process).
        pub fn base_addr(&self) -> usize {
            self.map.range.base.as_ptr() as usize
        }

        /// `st_dev`/`st_ino` of the region's file.
        pub fn identity(&self) -> Result<FileIdentity> {
            FileIdentity::of(self.fd())
        }
    };
}

impl SharedBuffer {
    pub(crate) fn new(map: Mapping, layout: Layout, keepalive: Keepalive) -> Self {
        Self {
            map,
            layout,
            _keepalive: keepalive,
        }
    }

    /// The waiter count, if the service keeps the layout.
    fn waiters(&self, what: &'static str) -> Result<&AtomicU32> {
        match self.layout {
            Layout::V1 => self.atomic_u32(WAITERS_OFFSET),
            Layout::None(version) => Err(Error::Unsupported { what, version }),
        }
    }

    /// Wakes the waiters of `word` if anybody waits on the region (the
    /// layout's protocol: the caller stored `word` SeqCst just before).
    fn notify(&self, word: &AtomicU32) {
        if let Layout::V1 = self.layout {
            if let Ok(waiters) = self.atomic_u32(WAITERS_OFFSET) {
                if waiters.load(Ordering::SeqCst) != 0 {
                    futex::wake(word);
                }
            }
        }
    }

    /// Whether the service keeps the region layout that change notification
    /// and records need (interface version 2 or later).
    pub fn has_layout(&self) -> bool {
        self.layout == Layout::V1
    }

    /// Waits until the aligned 32-bit word at `offset` holds something else
    /// than `old`, for at most `timeout` (`None`: for as long as it takes).
    /// Returns the new value, or `None` if the time ran out. Woken by
    /// writers of the word through this library (any process), without
    /// polling: a waiting thread makes no wake-ups of its own.
    ///
    /// Against a V1 service, which keeps no waiter count, this fails with
    /// [`Error::Unsupported`]: poll [`Self::load_u32`] instead.
    pub fn wait_u32_change(
        &self,
        offset: usize,
        old: u32,
        timeout: Option<Duration>,
    ) -> Result<Option<u32>> {
        let waiters = self.waiters("change notification")?;
        let word = self.atomic_u32(offset)?;
        let deadline = timeout.map(|t| Instant::now() + t);
        loop {
            let now = word.load(Ordering::SeqCst);
            if now != old {
                return Ok(Some(now));
            }
            let remaining = deadline.map(|d| d.saturating_duration_since(Instant::now()));
            if remaining == Some(Duration::ZERO) {
                return Ok(None);
            }
            // Count ourselves in before the last look: a writer that stores
            // after this look sees the count and wakes us (both SeqCst).
            waiters.fetch_add(1, Ordering::SeqCst);
            if word.load(Ordering::SeqCst) == old {
                futex::wait(word, old, remaining);
            }
            waiters.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Publishes `data` as the record at `offset` (a multiple of 8, at least
    /// CONTROL_SIZE; the record takes RECORD_HEADER_SIZE + `data.len()`
    /// rounded up to 4 bytes), so that readers see all of it or none of it,
    /// and wakes the record's waiters. Waits up to `timeout` for another
    /// live writer of the record; takes over from a dead one.
    pub fn publish(&self, offset: usize, data: &[u8], timeout: Duration) -> Result<()> {
        let record = self.map.record(self.layout, offset, data.len())?;
        let me = std::process::id();
        let start = Instant::now();
        loop {
            match record
                .owner
                .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
            {
                Ok(_) => break,
                Err(pid) if pid != 0 && !alive(pid) => {
                    if record
                        .owner
                        .compare_exchange(pid, me, Ordering::Acquire, Ordering::Relaxed)
                        .is_ok()
                    {
                        break;
                    }
                }
                Err(pid) => {
                    let waited = start.elapsed();
                    if waited >= timeout {
                        return Err(Error::Busy {
                            offset,
                            pid,
                            waited,
                        });
                    }
                    std::thread::yield_now();
                }
            }
        }
        // Ordering (the seqlock argument; `Record::snapshot` is the reader):
        // 1. Make the sequence odd with a read-modify-write, which reads the
        //    latest value even after taking over from a dead writer we never
        //    synchronised with (it may have left it odd already: `| 1`).
        //    Release: a reader that sees this odd value also sees our owner
        //    word, so it reports a live writer as busy, never as abandoned.
        let odd = record.seq.fetch_or(1, Ordering::Release) | 1;
        // 2. This Release fence orders the odd sequence before every payload
        //    store below: a reader that loads any of them and then runs its
        //    Acquire fence synchronises with this fence, so its second look
        //    at the sequence sees `odd` or later and it retries.
        fence(Ordering::Release);
        for (i, word) in record.payload.iter().enumerate() {
            let mut bytes = [0u8; 4];
            let chunk = &data[4 * i..data.len().min(4 * i + 4)];
            bytes[..chunk.len()].copy_from_slice(chunk);
            word.store(u32::from_ne_bytes(bytes), Ordering::Relaxed);
        }
        // 3. Release (SeqCst, for the waiter protocol of `notify`): a reader
        //    whose first look sees this even value sees all of the payload.
        record.seq.store(odd.wrapping_add(1), Ordering::SeqCst);
        // 4. Release: the next writer's Acquire on the owner word sees the
        //    even sequence (and payload) we leave.
        record.owner.store(0, Ordering::Release);
        self.notify(record.seq);
        Ok(())
    }

    /// Copies the record at `offset` (as [`Self::publish`] wrote it) into
    /// `out`, never half-written: retries while a writer is in the middle of
    /// publishing, waiting up to `timeout` for it ([`Error::Busy`]). If the
    /// writer died mid-publish, fails at once with [`Error::Abandoned`]
    /// until the next publish repairs the record. Returns the record's
    /// sequence number (even; it grows by 2 per publish).
    pub fn snapshot(&self, offset: usize, out: &mut [u8], timeout: Duration) -> Result<u32> {
        let record = self.map.record(self.layout, offset, out.len())?;
        record.snapshot(out, timeout, |seq, old, t| {
            let _ = self.wait_on(seq, old, t);
        })
    }

    /// One bounded wait on `word` while it holds `old`, counted as a waiter.
    fn wait_on(&self, word: &AtomicU32, old: u32, timeout: Duration) -> Result<()> {
        let waiters = self.waiters("change notification")?;
        waiters.fetch_add(1, Ordering::SeqCst);
        if word.load(Ordering::SeqCst) == old {
            futex::wait(word, old, Some(timeout));
        }
        waiters.fetch_sub(1, Ordering::SeqCst);
        Ok(())
    }

    common_accessors!();

    /// The aligned 32-bit word at byte `offset`, for any atomic operation.
    /// Any number of these may be used at once, from any thread.
    pub fn atomic_u32(&self, offset: usize) -> Result<&AtomicU32> {
        let p = self.map.atomic::<AtomicU32>(offset)?;
        // SAFETY: aligned for AtomicU32, in bounds, and mapped read-write for
        // as long as the returned borrow of `self`. While `&self` is borrowed
        // this handle only makes 4-byte atomic accesses at 4-aligned
        // offsets, which overlap exactly or not at all; copies and 64-bit
        // atomics need `&mut self`. Other processes change the word only
        // through the hardware, which atomics are made to share.
        Ok(unsafe { AtomicU32::from_ptr(p.cast()) })
    }

    /// The aligned 64-bit word at byte `offset` (a multiple of 8), for any
    /// atomic operation. Takes the handle exclusively: a 64-bit atomic must
    /// not race the 32-bit atomics of [`Self::atomic_u32`] on the same
    /// bytes. Share the returned reference to use it from several threads.
    pub fn atomic_u64(&mut self, offset: usize) -> Result<&AtomicU64> {
        let p = self.map.atomic::<AtomicU64>(offset)?;
        // SAFETY: aligned for AtomicU64 (8 bytes, checked against the atomic
        // type, not u64), in bounds and mapped read-write while `self` is
        // borrowed; the exclusive borrow keeps every other access of this
        // handle away while the reference lives, so all in-process accesses
        // through it are this one 64-bit atomic.
        Ok(unsafe { AtomicU64::from_ptr(p.cast()) })
    }

    /// Atomically loads the aligned 32-bit word at byte `offset` (`SeqCst`).
    pub fn load_u32(&self, offset: usize) -> Result<u32> {
        Ok(self.atomic_u32(offset)?.load(Ordering::SeqCst))
    }

    /// Atomically adds `value` (wrapping) to the word at `offset`; returns the old value.
    /// Wakes the word's waiters (without a system call when nobody waits).
    pub fn fetch_add_u32(&self, offset: usize, value: u32) -> Result<u32> {
        let word = self.atomic_u32(offset)?;
        let old = word.fetch_add(value, Ordering::SeqCst);
        self.notify(word);
        Ok(old)
    }

    /// Atomically stores `value` into the word at `offset` (`SeqCst`), and
    /// wakes the word's waiters (without a system call when nobody waits).
    pub fn store_u32(&self, offset: usize, value: u32) -> Result<()> {
        let word = self.atomic_u32(offset)?;
        word.store(value, Ordering::SeqCst);
        self.notify(word);
        Ok(())
    }

    /// Copies `out.len()` bytes at `offset` out of the region (volatile; see
    /// the module docs). Takes the handle exclusively so that no atomic of
    /// this handle writes the bytes meanwhile.
    pub fn read_at(&mut self, offset: usize, out: &mut [u8]) -> Result<()> {
        // SAFETY: `&mut self`: no other access through this mapping runs
        // meanwhile, and no borrow of its atomics is alive.
        unsafe { self.map.read_into(offset, out) }
    }

    /// Copies `data` into the region at `offset` (volatile; see the module
    /// docs). Takes the handle exclusively so that no atomic of this handle
    /// touches the bytes meanwhile.
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> Result<()> {
        // SAFETY: a SharedBuffer's mapping is always read-write (made by
        // `Connection::map_with`), and `&mut self` keeps every other access
        // through it away while the copy runs.
        unsafe { self.map.write_from(offset, data) }
    }
}

impl ReadOnlyBuffer {
    pub(crate) fn new(map: Mapping, layout: Layout, keepalive: Keepalive) -> Self {
        Self {
            map,
            layout,
            _keepalive: keepalive,
        }
    }

    /// As [`SharedBuffer::snapshot`]. A read-only mapping cannot count
    /// itself as a waiter, so while a writer holds the record it looks
    /// again after yielding instead of sleeping on the futex.
    pub fn snapshot(&self, offset: usize, out: &mut [u8], timeout: Duration) -> Result<u32> {
        let record = self.map.record(self.layout, offset, out.len())?;
        record.snapshot(out, timeout, |_, _, _| std::thread::yield_now())
    }

    common_accessors!();

    /// Loads the aligned 32-bit word at byte `offset` with acquire
    /// semantics: a `Relaxed` load followed by an `Acquire` fence, the form
    /// the standard library allows on read-only memory.
    pub fn load_u32(&self, offset: usize) -> Result<u32> {
        let p = self.map.atomic::<AtomicU32>(offset)?;
        // SAFETY: aligned for AtomicU32, in bounds and mapped (read-only) for
        // as long as `self`. The reference is only used for one `Relaxed`
        // load of 4 bytes, which std documents as sound on read-only memory
        // on every target (unlike `from_ptr`, which requires writable
        // memory, or any other ordering). Nothing in this process writes
        // through a read-only mapping.
        let word = unsafe { &*p.cast_const() };
        let value = word.load(Ordering::Relaxed);
        fence(Ordering::Acquire);
        Ok(value)
    }

    /// Copies `out.len()` bytes at `offset` out of the region (volatile; see
    /// the module docs).
    pub fn read_at(&self, offset: usize, out: &mut [u8]) -> Result<()> {
        // SAFETY: this mapping is read-only: nothing in this process writes
        // through it, and reads do not race reads.
        unsafe { self.map.read_into(offset, out) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::verify::verify;
    use rustix::fs::{MemfdFlags, SealFlags};
    use std::sync::{Arc, Barrier};

    /// A sealed memfd of `len` bytes, checked as a client would.
    fn region(len: usize) -> VerifiedFd {
        let fd = rustix::fs::memfd_create("mapping-test", MemfdFlags::ALLOW_SEALING).unwrap();
        rustix::fs::ftruncate(&fd, len as u64).unwrap();
        rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW).unwrap();
        verify(fd, len).unwrap()
    }

    /// A second mapping of the same file (another fd of it).
    fn second(map: &Mapping, writable: bool) -> Mapping {
        let fd = rustix::io::fcntl_dupfd_cloexec(&map.fd, 0).unwrap();
        Mapping::new(
            verify(fd, map.len()).unwrap(),
            writable,
            MapOptions::default(),
        )
        .unwrap()
    }

    fn rw(len: usize) -> Mapping {
        Mapping::new(region(len), true, MapOptions::default()).unwrap()
    }

    fn read(map: &Mapping, offset: usize, len: usize) -> Result<Vec<u8>> {
        let mut out = vec![0xAA; len];
        // SAFETY: single-threaded test; nothing writes the mapping meanwhile.
        unsafe { map.read_into(offset, &mut out) }.map(|()| out)
    }

    fn write(map: &Mapping, offset: usize, data: &[u8]) -> Result<()> {
        // SAFETY: `map` is read-write; single-threaded test.
        unsafe { map.write_from(offset, data) }
    }

    #[test]
    fn every_range_round_trips_at_every_alignment() {
        let map = rw(64);
        let other = second(&map, false);
        for offset in 0..24 {
            for len in 0..=40 {
                let data: Vec<u8> = (0..len).map(|i| (offset * 41 + i * 7 + 1) as u8).collect();
                write(&map, offset, &data).unwrap();
                assert_eq!(read(&map, offset, len).unwrap(), data, "{offset}+{len}");
                // Through another mapping of the file: the bytes really are there.
                assert_eq!(read(&other, offset, len).unwrap(), data, "{offset}+{len}");
            }
        }
        // Neighbours are untouched.
        write(&map, 0, &[0; 64]).unwrap();
        write(&map, 13, &[0xFF; 7]).unwrap();
        let all = read(&other, 0, 64).unwrap();
        assert!(all[..13].iter().all(|b| *b == 0), "{all:?}");
        assert!(all[13..20].iter().all(|b| *b == 0xFF), "{all:?}");
        assert!(all[20..].iter().all(|b| *b == 0), "{all:?}");
    }

    #[test]
    fn ranges_outside_the_region_are_refused_with_their_bounds() {
        let map = rw(100);
        let out_of_bounds = |offset: usize, len: usize| {
            matches!(
                read(&map, offset, len),
                Err(Error::OutOfBounds { offset: o, len: l, size: 100 }) if o == offset && l == len
            ) && matches!(
                write(&map, offset, &vec![0; len]),
                Err(Error::OutOfBounds { offset: o, len: l, size: 100 }) if o == offset && l == len
            )
        };
        assert!(out_of_bounds(0, 101));
        assert!(out_of_bounds(99, 2));
        assert!(out_of_bounds(100, 1));
        assert!(out_of_bounds(101, 0));
        // offset + len overflows usize.
        assert!(matches!(
            map.span(usize::MAX, 2),
            Err(Error::OutOfBounds {
                offset: usize::MAX,
                len: 2,
                size: 100
            })
        ));
        // The last byte, and the empty range at the end, are inside.
        assert_eq!(read(&map, 99, 1).unwrap().len(), 1);
        assert_eq!(read(&map, 100, 0).unwrap().len(), 0);
        assert_eq!(read(&map, 0, 100).unwrap().len(), 100);
        assert_eq!(
            Error::OutOfBounds {
                offset: 99,
                len: 2,
                size: 100
            }
            .to_string(),
            "2 bytes at offset 99 do not fit in the 100-byte region"
        );
    }

    #[test]
    fn atomics_must_be_aligned_to_their_atomic_type_and_inside() {
        let map = rw(64);
        for offset in [1, 2, 3, 5, 6, 7, 61] {
            assert!(matches!(
                map.atomic::<AtomicU32>(offset),
                Err(Error::Misaligned { offset: o, align: 4 }) if o == offset
            ));
        }
        // The 8-byte rule holds on every target, 32-bit ones included.
        for offset in [4, 12, 1, 60] {
            assert!(matches!(
                map.atomic::<AtomicU64>(offset),
                Err(Error::Misaligned { offset: o, align: 8 }) if o == offset
            ));
        }
        assert!(map.atomic::<AtomicU32>(60).is_ok());
        assert!(map.atomic::<AtomicU64>(56).is_ok());
        assert!(matches!(
            map.atomic::<AtomicU32>(64),
            Err(Error::OutOfBounds {
                offset: 64,
                len: 4,
                size: 64
            })
        ));
        assert!(matches!(
            map.atomic::<AtomicU64>(64),
            Err(Error::OutOfBounds {
                offset: 64,
                len: 8,
                size: 64
            })
        ));
        // The address handed out is the one asked for.
        let base = map.range.base.as_ptr() as usize;
        assert_eq!(map.atomic::<AtomicU64>(56).unwrap() as usize, base + 56);
        assert_eq!(map.atomic::<AtomicU32>(60).unwrap() as usize, base + 60);
        assert_eq!(
            Error::Misaligned {
                offset: 4,
                align: 8
            }
            .to_string(),
            "offset 4 is not aligned to 8 bytes"
        );
    }

    #[test]
    fn access_width_is_the_widest_aligned_piece_that_fits() {
        let word = std::mem::size_of::<usize>();
        assert_eq!(access_width(0x1000, 64), word);
        assert_eq!(access_width(0x1000, 4), 4);
        assert_eq!(access_width(0x1004, 64), 4);
        assert_eq!(access_width(0x1002, 64), 2);
        assert_eq!(access_width(0x1002, 1), 1);
        assert_eq!(access_width(0x1001, 64), 1);
        assert_eq!(access_width(0x1000, 3), 2);
        assert_eq!(access_width(0x1000, 1), 1);
    }

    /// Bytes in resident memory of the mapping at `base`, from /proc/self/smaps.
    fn resident(base: usize) -> usize {
        let smaps = std::fs::read_to_string("/proc/self/smaps").unwrap();
        let start = format!("{base:x}-");
        let mut lines = smaps.lines().skip_while(|l| !l.starts_with(&start));
        lines.next().expect("mapping not in smaps");
        let rss = lines
            .find_map(|l| l.strip_prefix("Rss:"))
            .expect("no Rss line");
        rss.trim()
            .trim_end_matches("kB")
            .trim()
            .parse::<usize>()
            .unwrap()
            * 1024
    }

    #[test]
    fn populate_faults_every_page_in_at_map_time() {
        let len = 64 * 4096;
        let lazy = Mapping::new(region(len), true, MapOptions { populate: false }).unwrap();
        assert_eq!(resident(lazy.range.base.as_ptr() as usize), 0);
        let eager = Mapping::new(region(len), true, MapOptions { populate: true }).unwrap();
        assert_eq!(resident(eager.range.base.as_ptr() as usize), len);
        let eager_ro = Mapping::new(region(len), false, MapOptions { populate: true }).unwrap();
        assert_eq!(resident(eager_ro.range.base.as_ptr() as usize), len);
    }

    #[test]
    fn a_read_only_mapping_is_mapped_without_write_permission() {
        let ro = Mapping::new(region(4096), false, MapOptions::default()).unwrap();
        let base = ro.range.base.as_ptr() as usize;
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let line = maps
            .lines()
            .find(|l| l.starts_with(&format!("{base:x}-")))
            .unwrap();
        assert_eq!(
            &line.split_whitespace().nth(1).unwrap()[..4],
            "r--s",
            "{line}"
        );
        let rw = rw(4096);
        let base = rw.range.base.as_ptr() as usize;
        let maps = std::fs::read_to_string("/proc/self/maps").unwrap();
        let line = maps
            .lines()
            .find(|l| l.starts_with(&format!("{base:x}-")))
            .unwrap();
        assert_eq!(
            &line.split_whitespace().nth(1).unwrap()[..4],
            "rw-s",
            "{line}"
        );
    }

    /// A writer on another mapping flips aligned words between two
    /// patterns; every aligned word-sized copy must see one of them whole,
    /// never a mix (a byte-wise copy tears within a few thousand tries).
    #[test]
    fn aligned_word_copies_never_tear() {
        const ROUNDS: usize = 1_000_000;
        let map = rw(4096);
        let writer_map = second(&map, true);
        // Addresses are taken here, so a failure cannot leave the barrier waiting.
        let word = writer_map.atomic::<AtomicU64>(8).unwrap() as usize;
        let half = writer_map.atomic::<AtomicU32>(32).unwrap() as usize;
        let start = Arc::new(Barrier::new(2));
        let done = Arc::new(AtomicU32::new(0));
        let writer = {
            let (start, done) = (start.clone(), done.clone());
            std::thread::spawn(move || {
                // SAFETY: aligned, in bounds, mapped read-write until the join
                // below; only this thread uses this mapping.
                let word = unsafe { AtomicU64::from_ptr(word as *mut u64) };
                // SAFETY: as above.
                let half = unsafe { AtomicU32::from_ptr(half as *mut u32) };
                start.wait();
                while done.load(Ordering::Relaxed) == 0 {
                    for v in [0, u64::MAX] {
                        word.store(v, Ordering::Relaxed);
                        half.store(v as u32, Ordering::Relaxed);
                    }
                }
            })
        };
        start.wait();
        let width = std::mem::size_of::<usize>();
        let mut torn = Vec::new();
        // The writer stops however the reads end.
        let reads = (0..ROUNDS).try_for_each(|_| {
            let got = read(&map, 32, 4)?;
            if got != [0; 4] && got != [0xFF; 4] {
                torn.push(got);
            }
            let got = read(&map, 8, width)?;
            if got.iter().any(|x| *x != got[0]) || (got[0] != 0 && got[0] != 0xFF) {
                torn.push(got);
            }
            Ok::<(), Error>(())
        });
        done.store(1, Ordering::Relaxed);
        writer.join().unwrap();
        drop(writer_map);
        reads.unwrap();
        assert!(
            torn.is_empty(),
            "{} torn reads, e.g. {:x?}",
            torn.len(),
            torn[0]
        );
    }

    /// The same from the other side: word-sized writes land whole.
    #[test]
    fn aligned_word_writes_never_tear() {
        const ROUNDS: usize = 200_000;
        let map = rw(4096);
        let reader_map = second(&map, false);
        let word = reader_map.atomic::<AtomicU32>(16).unwrap() as usize;
        let start = Arc::new(Barrier::new(2));
        let done = Arc::new(AtomicU32::new(0));
        let reader = {
            let (start, done) = (start.clone(), done.clone());
            std::thread::spawn(move || {
                // SAFETY: aligned, in bounds, mapped until the join below; only
                // loaded, Relaxed, 4 bytes.
                let word = unsafe { &*(word as *const AtomicU32) };
                let mut torn = 0usize;
                start.wait();
                while done.load(Ordering::Relaxed) == 0 {
                    let v = word.load(Ordering::Relaxed);
                    torn += usize::from(v != 0 && v != u32::MAX);
                }
                torn
            })
        };
        start.wait();
        // The reader stops however the writes end.
        let writes = (0..ROUNDS).try_for_each(|_| {
            write(&map, 16, &[0xFF; 4])?;
            write(&map, 16, &[0; 4])
        });
        done.store(1, Ordering::Relaxed);
        let torn = reader.join().unwrap();
        drop(reader_map);
        writes.unwrap();
        assert_eq!(torn, 0, "torn values seen");
    }

    #[test]
    fn the_mapping_has_the_regions_length_and_is_gone_after_drop() {
        let map = rw(3 * 4096 + 100);
        assert_eq!(map.len(), 3 * 4096 + 100);
        let start = format!("{:x}-", map.range.base.as_ptr() as usize);
        let mapped = || {
            std::fs::read_to_string("/proc/self/maps")
                .unwrap()
                .lines()
                .any(|l| l.starts_with(&start))
        };
        assert!(mapped());
        drop(map);
        assert!(!mapped(), "munmap did not happen");
    }

    #[test]
    fn buffers_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<SharedBuffer>();
        send_sync::<ReadOnlyBuffer>();
    }

    /// Whether a pid exists: this process does, a pid above every kernel's
    /// `pid_max` (at most 2^22) does not, nor one that is no `pid_t`. The
    /// ESRCH look comes first so that a stale `errno` would show.
    #[test]
    fn alive_tells_existing_pids_from_missing_ones() {
        assert!(!alive(i32::MAX as u32));
        assert!(alive(std::process::id()));
        assert!(!alive(i32::MAX as u32));
        assert!(!alive(u32::MAX));
    }

    /// A mapping big enough for the control words and one record of up to
    /// 56 payload bytes at CONTROL_SIZE.
    fn records(len: usize) -> Mapping {
        rw(CONTROL_SIZE + len)
    }

    #[test]
    fn records_are_8_aligned_past_the_control_words_and_inside() {
        let map = records(64);
        let size = map.len();
        assert!(matches!(
            map.record(Layout::None(1), CONTROL_SIZE, 4),
            Err(Error::Unsupported { version: 1, .. })
        ));
        for offset in [CONTROL_SIZE + 1, CONTROL_SIZE + 4] {
            assert!(matches!(
                map.record(Layout::V1, offset, 4),
                Err(Error::Misaligned { offset: o, align: 8 }) if o == offset
            ));
        }
        for offset in [0, 8, CONTROL_SIZE - 8] {
            assert!(matches!(
                map.record(Layout::V1, offset, 4),
                Err(Error::OutOfBounds { offset: o, len: 4, size: s }) if o == offset && s == size
            ));
        }
        // Header and payload (rounded up to words) must fit.
        assert!(matches!(
            map.record(Layout::V1, CONTROL_SIZE, 57),
            Err(Error::OutOfBounds { offset: CONTROL_SIZE, len: 68, size: s }) if s == size
        ));
        assert!(matches!(
            map.record(Layout::V1, CONTROL_SIZE, usize::MAX),
            Err(Error::OutOfBounds {
                offset: CONTROL_SIZE,
                len: usize::MAX,
                ..
            })
        ));
        // The words are where the layout puts them.
        let base = map.range.base.as_ptr() as usize;
        let addr = |w: &AtomicU32| w as *const AtomicU32 as usize;
        let record = map.record(Layout::V1, CONTROL_SIZE, 56).unwrap();
        assert_eq!(record.offset, CONTROL_SIZE);
        assert_eq!(addr(record.seq), base + CONTROL_SIZE);
        assert_eq!(addr(record.owner), base + CONTROL_SIZE + 4);
        assert_eq!(record.payload.len(), 14);
        for (i, word) in record.payload.iter().enumerate() {
            assert_eq!(addr(word), base + CONTROL_SIZE + RECORD_HEADER_SIZE + 4 * i);
        }
        assert_eq!(
            map.record(Layout::V1, CONTROL_SIZE, 5)
                .unwrap()
                .payload
                .len(),
            2
        );
    }

    /// Never called: the snapshot must not wait.
    fn no_wait(_: &AtomicU32, _: u32, _: Duration) {
        panic!("the snapshot waited");
    }

    #[test]
    fn a_snapshot_of_a_settled_record_is_its_payload_and_sequence() {
        let map = records(64);
        let record = map.record(Layout::V1, CONTROL_SIZE, 6).unwrap();
        for seq in [2, 6] {
            record.seq.store(seq, Ordering::SeqCst);
            record.payload[0].store(u32::from_ne_bytes(*b"abcd"), Ordering::SeqCst);
            record.payload[1].store(
                u32::from_ne_bytes([b'e', b'f', seq as u8, 0]),
                Ordering::SeqCst,
            );
            let mut out = [0u8; 6];
            assert_eq!(
                record.snapshot(&mut out, Duration::ZERO, no_wait).unwrap(),
                seq
            );
            assert_eq!(&out, b"abcdef");
        }
    }

    #[test]
    fn a_record_a_dead_writer_left_odd_is_abandoned_at_once() {
        let map = records(64);
        let record = map.record(Layout::V1, CONTROL_SIZE, 4).unwrap();
        let dead = i32::MAX as u32;
        record.seq.store(7, Ordering::SeqCst);
        record.owner.store(dead, Ordering::SeqCst);
        let mut out = [0u8; 4];
        assert!(matches!(
            record.snapshot(&mut out, Duration::from_secs(60), no_wait),
            Err(Error::Abandoned { offset: CONTROL_SIZE, pid }) if pid == dead
        ));
    }

    /// An odd sequence whose writer lives (or is not known yet: owner 0)
    /// is waited out for at most the timeout, then reported busy.
    #[test]
    fn a_record_a_live_writer_holds_is_busy_after_the_timeout() {
        let map = records(64);
        let record = map.record(Layout::V1, CONTROL_SIZE, 4).unwrap();
        let me = std::process::id();
        for owner in [me, 0] {
            record.seq.store(3, Ordering::SeqCst);
            record.owner.store(owner, Ordering::SeqCst);
            let mut out = [0u8; 4];
            assert!(matches!(
                record.snapshot(&mut out, Duration::ZERO, no_wait),
                Err(Error::Busy { offset: CONTROL_SIZE, pid, .. }) if pid == owner
            ));
        }
    }

    /// While a live writer holds the record, the snapshot waits on the
    /// sequence word for what is left of the timeout (never longer), and
    /// copies the record once the writer is done.
    #[test]
    fn a_snapshot_waits_for_a_live_writer_within_the_timeout() {
        let map = records(64);
        let record = map.record(Layout::V1, CONTROL_SIZE, 4).unwrap();
        let timeout = Duration::from_millis(15);
        assert!(timeout < OWNER_CHECK);
        record.seq.store(9, Ordering::SeqCst);
        record.owner.store(std::process::id(), Ordering::SeqCst);
        record.payload[0].store(u32::from_ne_bytes(*b"wxyz"), Ordering::SeqCst);
        let waits = std::cell::Cell::new(0);
        let mut out = [0u8; 4];
        let seq = record
            .snapshot(&mut out, timeout, |word, old, left| {
                assert_eq!(word as *const AtomicU32, record.seq as *const AtomicU32);
                assert_eq!(old, 9);
                // Some time passed since the snapshot began (a kill(2) at least).
                assert!(left < timeout, "{left:?}");
                waits.set(waits.get() + 1);
                // The writer finishes.
                record.owner.store(0, Ordering::SeqCst);
                record.seq.store(10, Ordering::SeqCst);
            })
            .unwrap();
        assert_eq!((seq, waits.get(), &out), (10, 1, b"wxyz"));
    }
}
