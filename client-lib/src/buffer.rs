//! The public handles over a region that other processes write concurrently.
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

use std::any::Any;
use std::os::fd::{AsRawFd, BorrowedFd};
use std::sync::atomic::{fence, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use crate::copy;
use crate::error::{Error, Result};
use crate::layout::{Layout, WAITERS_OFFSET};
use crate::mapping::Mapping;
use crate::record::{Record, WEDGED_AFTER};
use crate::waiters::{self, WaitOptions};

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

/// Whatever must outlive a mapping (the service proxy and, over RPC, its
/// session), held without knowing what it is.
pub(crate) struct KeepAlive {
    _held: Box<dyn Any + Send + Sync>,
}

impl KeepAlive {
    /// Holds `what` for as long as the buffer lives.
    pub(crate) fn new(what: impl Any + Send + Sync) -> Self {
        Self {
            _held: Box::new(what),
        }
    }
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
    _keepalive: KeepAlive,
}

/// A read-only mapping of the shared region: it has no way to write.
/// Loads are `Relaxed` followed by an `Acquire` fence (what the standard
/// library allows on read-only memory); copies are volatile, as for
/// [`SharedBuffer`]. All of it takes `&self`: reads never race reads.
pub struct ReadOnlyBuffer {
    map: Mapping,
    layout: Layout,
    _keepalive: KeepAlive,
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
            self.map.fd()
        }

        /// The fd number in this process.
        pub fn raw_fd(&self) -> i32 {
            self.map.fd().as_raw_fd()
        }

        /// Where the region is mapped in this process (differs per process).
        pub fn base_addr(&self) -> usize {
            self.map.base_addr()
        }

        /// Whether the service keeps the region layout that change
        /// notification and records need (interface version 2 or later).
        pub fn has_layout(&self) -> bool {
            self.layout == Layout::V1
        }

        /// `st_dev`/`st_ino` of the region's file.
        pub fn identity(&self) -> Result<FileIdentity> {
            FileIdentity::of(self.fd())
        }
    };
}

impl SharedBuffer {
    pub(crate) fn new(map: Mapping, layout: Layout, keepalive: KeepAlive) -> Self {
        Self {
            map,
            layout,
            _keepalive: keepalive,
        }
    }

    /// The waiter count, if the service keeps the layout.
    fn waiters(&self, what: &'static str) -> Result<&AtomicU32> {
        self.layout.require(what)?;
        self.atomic_u32(WAITERS_OFFSET)
    }

    /// Wakes the waiters of `word` if anybody waits on the region (the
    /// layout's protocol: the caller stored `word` SeqCst just before).
    fn notify(&self, word: &AtomicU32) {
        if let Ok(count) = self.waiters("change notification") {
            waiters::wake(count, word);
        }
    }

    /// How long one holder must keep a record unchanged, as a snapshot or
    /// publish sees it, before that call reports it [`Error::Wedged`]
    /// rather than [`Error::Busy`] at its timeout (1 s).
    pub const WEDGED_AFTER: Duration = WEDGED_AFTER;

    /// The longest a waiter sleeps before it looks at its word again,
    /// woken or not (100 ms): what a wake-up a peer suppressed costs.
    pub const WAIT_RECHECK: Duration = waiters::RECHECK;

    /// Waits until the aligned 32-bit word at `offset` holds something else
    /// than `old`, for at most `timeout` (`None`, or a timeout too long to
    /// have a deadline such as `Duration::MAX`: for as long as it takes).
    /// Returns the new value, or `None` if the time ran out. Woken by
    /// writers of the word through this library (any process); besides,
    /// it looks at the word every [`Self::WAIT_RECHECK`], so a peer that
    /// corrupts the waiter count delays it by at most that, never hides it.
    ///
    /// Against a V1 service, which keeps no waiter count, this fails with
    /// [`Error::Unsupported`]: poll [`Self::load_u32`] instead.
    pub fn wait_u32_change(
        &self,
        offset: usize,
        old: u32,
        timeout: Option<Duration>,
    ) -> Result<Option<u32>> {
        self.wait_u32_change_with(offset, old, timeout, &WaitOptions::default())
    }

    /// [`Self::wait_u32_change`] as `options` say: with a `spin`, it first
    /// polls the word for up to that long (never past `timeout`), keeping a
    /// CPU busy and not counted in, so a change is seen without a wake-up
    /// and writers make no system call meanwhile; then it sleeps as usual.
    pub fn wait_u32_change_with(
        &self,
        offset: usize,
        old: u32,
        timeout: Option<Duration>,
        options: &WaitOptions,
    ) -> Result<Option<u32>> {
        let count = self.waiters("change notification")?;
        let word = self.atomic_u32(offset)?;
        Ok(waiters::wait_change(count, word, old, timeout, options))
    }

    /// Publishes `data` as the record at `offset` (a multiple of 8, at least
    /// CONTROL_SIZE; the record takes RECORD_HEADER_SIZE + `data.len()`
    /// rounded up to 4 bytes), so that readers see all of it or none of it,
    /// and wakes the record's waiters. Waits up to `timeout` for another
    /// live writer of the record ([`Error::Busy`], or [`Error::Wedged`]
    /// when one holder kept it unchanged for [`Self::WEDGED_AFTER`]);
    /// takes over from a dead one.
    pub fn publish(&self, offset: usize, data: &[u8], timeout: Duration) -> Result<()> {
        self.publish_from(offset, data, timeout, None)
    }

    /// Takes the record at `offset` back from process `pid` and publishes
    /// `data` into it, as [`Self::publish`] does for a dead holder: the way
    /// out of a record that [`Error::Wedged`] named `pid` for. If another
    /// process holds the record by now, this waits for it as `publish`
    /// does. Rules:
    ///
    /// - Pass only the pid a `Wedged` error named (0 included), never one
    ///   that [`Error::Busy`] named: taking the record from a writer that
    ///   is still publishing (say, stopped in a debugger) lets readers
    ///   accept a copy mixing its payload with yours, until the next
    ///   publish.
    /// - It cures a record, not the peer: one that wedged it can do so
    ///   again, as it can write any bytes (records guard against writers
    ///   that crash, not against malicious ones).
    pub fn take_over(&self, offset: usize, data: &[u8], pid: u32, timeout: Duration) -> Result<()> {
        self.publish_from(offset, data, timeout, Some(pid))
    }

    /// [`Self::publish`], taking the record from `take_from` if it holds it.
    fn publish_from(
        &self,
        offset: usize,
        data: &[u8],
        timeout: Duration,
        take_from: Option<u32>,
    ) -> Result<()> {
        let record = Record::at(&self.map, self.layout, offset, data.len())?;
        // The record exists, so the layout does: so does the waiter count.
        let count = self.atomic_u32(WAITERS_OFFSET)?;
        let mut patience = waiters::Patience::new();
        record.publish(data, timeout, take_from, |seq, old, t| {
            if !patience.yielded() {
                waiters::wait_once(count, seq, old, Some(t));
            }
        })?;
        self.notify(record.seq);
        Ok(())
    }

    /// Copies the record at `offset` (as [`Self::publish`] wrote it) into
    /// `out`, never half-written: retries while a writer is in the middle of
    /// publishing, waiting up to `timeout` for it ([`Error::Busy`], or
    /// [`Error::Wedged`] when one holder kept it mid-write unchanged for
    /// [`Self::WEDGED_AFTER`]), and while publishes change it during each
    /// copy ([`Error::Unsettled`]). Returns within `timeout` plus two copies
    /// of the record, whatever peers write. If the writer died mid-publish,
    /// fails at once with [`Error::Abandoned`] until the next publish
    /// repairs the record. Returns the record's sequence number (even; it
    /// grows by 2 per publish).
    pub fn snapshot(&self, offset: usize, out: &mut [u8], timeout: Duration) -> Result<u32> {
        let record = Record::at(&self.map, self.layout, offset, out.len())?;
        // The record exists, so the layout does: so does the waiter count.
        let count = self.atomic_u32(WAITERS_OFFSET)?;
        record.snapshot(out, timeout, |seq, old, t| {
            waiters::wait_once(count, seq, old, Some(t));
        })
    }

    common_accessors!();

    /// The aligned 32-bit word at byte `offset`, for any atomic operation.
    /// Any number of these may be used at once, from any thread. This is
    /// the raw word: unlike [`Self::store_u32`] it lets a caller write the
    /// control words, which breaks change notification for every process.
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
    ///
    /// On a region with the layout, `offset` must be at least CONTROL_SIZE
    /// ([`Error::ControlWords`]): peers use the control words, word 0
    /// included, with 32-bit atomics.
    pub fn atomic_u64(&mut self, offset: usize) -> Result<&AtomicU64> {
        let p = self.map.atomic::<AtomicU64>(offset)?;
        self.layout.check_atomic_u64(offset)?;
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
    /// Refuses the control words past word 0 ([`Error::ControlWords`]).
    pub fn fetch_add_u32(&self, offset: usize, value: u32) -> Result<u32> {
        let word = self.atomic_u32(offset)?;
        self.layout.check_write(offset, 4)?;
        let old = word.fetch_add(value, Ordering::SeqCst);
        self.notify(word);
        Ok(old)
    }

    /// Atomically stores `value` into the word at `offset` (`SeqCst`), and
    /// wakes the word's waiters (without a system call when nobody waits).
    /// Refuses the control words past word 0 ([`Error::ControlWords`]).
    pub fn store_u32(&self, offset: usize, value: u32) -> Result<()> {
        let word = self.atomic_u32(offset)?;
        self.layout.check_write(offset, 4)?;
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
        unsafe { copy::read_into(&self.map, offset, out) }
    }

    /// Copies `data` into the region at `offset` (volatile; see the module
    /// docs). Takes the handle exclusively so that no atomic of this handle
    /// touches the bytes meanwhile. Refuses the control words past word 0
    /// ([`Error::ControlWords`]).
    pub fn write_at(&mut self, offset: usize, data: &[u8]) -> Result<()> {
        self.map.span(offset, data.len())?;
        self.layout.check_write(offset, data.len())?;
        // SAFETY: a SharedBuffer's mapping is always read-write (made by
        // `Connection::map_with`), and `&mut self` keeps every other access
        // through it away while the copy runs.
        unsafe { copy::write_from(&self.map, offset, data) }
    }
}

impl ReadOnlyBuffer {
    pub(crate) fn new(map: Mapping, layout: Layout, keepalive: KeepAlive) -> Self {
        Self {
            map,
            layout,
            _keepalive: keepalive,
        }
    }

    /// As [`SharedBuffer::snapshot`]. A read-only mapping cannot count
    /// itself as a waiter, so writers do not wake it: while a writer holds
    /// the record it yields a few times, then sleeps on the sequence word in
    /// bounded, growing steps (from 100 µs), within the timeout.
    pub fn snapshot(&self, offset: usize, out: &mut [u8], timeout: Duration) -> Result<u32> {
        let record = Record::at(&self.map, self.layout, offset, out.len())?;
        let mut sleeper = waiters::Uncounted::new();
        record.snapshot(out, timeout, |seq, old, t| sleeper.wait(seq, old, t))
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
        unsafe { copy::read_into(&self.map, offset, out) }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::layout::CONTROL_SIZE;
    use crate::mapping::testing::{rw, second};

    fn shared(len: usize, layout: Layout) -> SharedBuffer {
        SharedBuffer::new(rw(len), layout, KeepAlive::new(()))
    }

    /// CPU time this thread has used.
    fn thread_cpu() -> Duration {
        let mut ts = libc::timespec {
            tv_sec: 0,
            tv_nsec: 0,
        };
        // SAFETY: clock_gettime writes one timespec, a live local.
        let rc = unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut ts) };
        assert_eq!(rc, 0);
        Duration::new(ts.tv_sec as u64, ts.tv_nsec as u32)
    }

    /// Record words at CONTROL_SIZE held by a live writer (this process)
    /// mid-publish: odd sequence, owner set.
    fn hold_record(buffer: &SharedBuffer) {
        buffer
            .atomic_u32(CONTROL_SIZE)
            .unwrap()
            .store(3, Ordering::SeqCst);
        let me = std::process::id();
        buffer
            .atomic_u32(CONTROL_SIZE + 4)
            .unwrap()
            .store(me, Ordering::SeqCst);
    }

    /// While a live writer holds a record, a read-only snapshot and a
    /// publish wait for it asleep in FUTEX_WAIT, not spinning: over the
    /// whole timeout they use a small part of it as CPU time (a spin uses
    /// all of it that the scheduler gives, and sleeping costs only the
    /// system calls however slow the machine is). Both end with Busy.
    #[test]
    fn waits_for_a_live_writer_sleep_instead_of_spinning() {
        let timeout = Duration::from_millis(200);
        let buffer = shared(4096, Layout::V1);
        hold_record(&buffer);
        let ro = ReadOnlyBuffer::new(second(&buffer.map, false), Layout::V1, KeepAlive::new(()));
        let mut out = [0u8; 4];
        let cpu = thread_cpu();
        let got = ro.snapshot(CONTROL_SIZE, &mut out, timeout);
        let used = thread_cpu() - cpu;
        assert!(matches!(got, Err(Error::Busy { .. })), "{got:?}");
        assert!(
            used < timeout / 10,
            "the read-only snapshot used {used:?} of CPU"
        );
        let cpu = thread_cpu();
        let got = buffer.publish(CONTROL_SIZE, b"data", timeout);
        let used = thread_cpu() - cpu;
        assert!(matches!(got, Err(Error::Busy { .. })), "{got:?}");
        assert!(used < timeout / 10, "the publish used {used:?} of CPU");
        // The waits left the waiter count as they found it.
        assert_eq!(buffer.load_u32(WAITERS_OFFSET).unwrap(), 0);
    }

    /// Timeouts too long for a deadline neither panic nor end early.
    #[test]
    fn the_longest_timeouts_do_not_overflow() {
        let buffer = shared(4096, Layout::V1);
        assert_eq!(
            buffer
                .wait_u32_change(CONTROL_SIZE, 1, Some(Duration::MAX))
                .unwrap(),
            Some(0)
        );
        buffer
            .publish(CONTROL_SIZE, b"data", Duration::MAX)
            .unwrap();
        let mut out = [0u8; 4];
        assert_eq!(
            buffer
                .snapshot(CONTROL_SIZE, &mut out, Duration::MAX)
                .unwrap(),
            2
        );
        let ro = ReadOnlyBuffer::new(second(&buffer.map, false), Layout::V1, KeepAlive::new(()));
        assert_eq!(
            ro.snapshot(CONTROL_SIZE, &mut out, Duration::MAX).unwrap(),
            2
        );
        assert_eq!(&out, b"data");
    }

    /// On a region with the layout, every write path refuses the control
    /// words past word 0 and leaves them as they were; word 0 and the
    /// bytes from CONTROL_SIZE on stay writable.
    #[test]
    fn the_control_words_refuse_writes_where_the_layout_is() {
        let mut buffer = shared(4096, Layout::V1);
        let control = |b: &mut SharedBuffer| {
            let mut out = [0xAAu8; CONTROL_SIZE - 4];
            b.read_at(4, &mut out).unwrap();
            out
        };
        let refused = |r: Result<()>, offset: usize, len: usize| matches!(r, Err(Error::ControlWords { offset: o, len: l }) if o == offset && l == len);
        assert!(refused(buffer.store_u32(WAITERS_OFFSET, 7), 4, 4));
        assert!(refused(buffer.fetch_add_u32(60, 1).map(drop), 60, 4));
        assert!(refused(buffer.write_at(2, &[1; 4]), 2, 4));
        assert!(refused(buffer.write_at(0, &[1; 4096]), 0, 4096));
        assert!(refused(buffer.atomic_u64(0).map(drop), 0, 8));
        assert!(refused(buffer.atomic_u64(56).map(drop), 56, 8));
        assert_eq!(control(&mut buffer), [0; CONTROL_SIZE - 4]);
        // Bounds and alignment are checked first, as everywhere.
        assert!(matches!(
            buffer.store_u32(5, 1),
            Err(Error::Misaligned {
                offset: 5,
                align: 4
            })
        ));
        buffer.store_u32(0, 1).unwrap();
        assert_eq!(buffer.fetch_add_u32(0, 1).unwrap(), 1);
        buffer.write_at(0, &[9; 4]).unwrap();
        buffer.write_at(CONTROL_SIZE, &[9; 8]).unwrap();
        buffer.store_u32(CONTROL_SIZE, 3).unwrap();
        buffer
            .atomic_u64(CONTROL_SIZE)
            .unwrap()
            .store(5, Ordering::SeqCst);
        assert_eq!(control(&mut buffer), [0; CONTROL_SIZE - 4]);
    }

    /// Without the layout (V1 service, or a region without it) the bytes
    /// are the client's, as they always were.
    #[test]
    fn a_region_without_the_layout_takes_writes_anywhere() {
        for layout in [Layout::of_old_service(1), Layout::from_region(0, 4096)] {
            let mut buffer = shared(4096, layout);
            buffer.store_u32(WAITERS_OFFSET, 7).unwrap();
            assert_eq!(buffer.fetch_add_u32(WAITERS_OFFSET, 1).unwrap(), 7);
            buffer.write_at(2, &[1; 8]).unwrap();
            buffer.atomic_u64(0).unwrap().store(0, Ordering::SeqCst);
        }
    }

    #[test]
    fn buffers_cross_threads() {
        fn send_sync<T: Send + Sync>() {}
        send_sync::<SharedBuffer>();
        send_sync::<ReadOnlyBuffer>();
    }
}
