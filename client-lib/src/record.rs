//! Records: consistent snapshots of more than one word (the AIDL's
//! seqlock layout), published and read across processes.

use std::sync::atomic::{fence, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::copy;
use crate::error::{Error, Result};
use crate::layout::{Layout, CONTROL_SIZE, RECORD_HEADER_SIZE};
use crate::liveness::alive;
use crate::mapping::Mapping;

/// How long a snapshot or publish waits between looks at a record a writer
/// holds, to notice that the writer died (which wakes nobody).
const OWNER_CHECK: Duration = Duration::from_millis(20);

/// How long one holder must keep a record unchanged, as a caller sees it,
/// before the caller reports it wedged rather than busy: far longer than
/// any publish takes unless its writer is stopped or the holder is no
/// writer at all.
pub(crate) const WEDGED_AFTER: Duration = Duration::from_secs(1);

/// The words of one record (see the AIDL's layout).
pub(crate) struct Record<'a> {
    pub(crate) seq: &'a AtomicU32,
    owner: &'a AtomicU32,
    payload: &'a [AtomicU32],
    offset: usize,
    /// [`WEDGED_AFTER`], shorter in unit tests.
    wedged_after: Duration,
}

/// Who holds a record and since when this caller has seen it unchanged:
/// tells a wedged record from a busy one when the time runs out.
struct Holder {
    seen: Option<(u32, u32)>,
    since: Instant,
}

impl Holder {
    fn new() -> Self {
        Self {
            seen: None,
            since: Instant::now(),
        }
    }

    /// Notes that `pid` holds the record with sequence `seq` now.
    fn saw(&mut self, pid: u32, seq: u32) {
        if self.seen != Some((pid, seq)) {
            self.seen = Some((pid, seq));
            self.since = Instant::now();
        }
    }

    /// The error for a caller whose time ran out while `pid` held the
    /// record: `Wedged` once the same holder kept it unchanged for
    /// `wedged_after`, else `Busy`.
    fn verdict(&self, offset: usize, pid: u32, waited: Duration, wedged_after: Duration) -> Error {
        let held_for = self.since.elapsed();
        if held_for >= wedged_after {
            Error::Wedged {
                offset,
                pid,
                held_for,
            }
        } else {
            Error::Busy {
                offset,
                pid,
                waited,
            }
        }
    }
}

impl<'a> Record<'a> {
    /// The record at `offset` holding `len` payload bytes: its sequence and
    /// owner words and its payload words.
    pub(crate) fn at(map: &'a Mapping, layout: Layout, offset: usize, len: usize) -> Result<Self> {
        layout.require("a record snapshot or publish")?;
        if offset % 8 != 0 {
            return Err(Error::Misaligned { offset, align: 8 });
        }
        if offset < CONTROL_SIZE {
            return Err(Error::OutOfBounds {
                offset,
                len,
                size: map.len(),
            });
        }
        let words = len.div_ceil(4);
        let total = words
            .checked_mul(4)
            .and_then(|w| w.checked_add(RECORD_HEADER_SIZE))
            .ok_or(Error::OutOfBounds {
                offset,
                len,
                size: map.len(),
            })?;
        let start = map.span(offset, total).map_err(|_| Error::OutOfBounds {
            offset,
            len: total,
            size: map.len(),
        })?;
        let word = |at: usize| -> Result<&AtomicU32> {
            let p = map.atomic::<AtomicU32>(at)?;
            // SAFETY: aligned and in bounds (checked), mapped for as long as
            // `map`; used only for 4-byte atomic accesses (loads only on a
            // read-only mapping, where `record` is used for snapshots, whose
            // accesses are all Relaxed/Acquire loads: sound on read-only
            // memory), which overlap the handle's other 32-bit atomics
            // exactly or not at all.
            Ok(unsafe { &*p.cast_const() })
        };
        // SAFETY: the payload's `words` words follow the header inside the
        // span checked above (non-null, inside one mapping of at most
        // MAX_SIZE bytes), 4-aligned (a page-aligned base, an 8-aligned
        // offset, an 8-byte header), mapped for as long as `map`; used as
        // the header words are (see `word`).
        let payload = unsafe {
            std::slice::from_raw_parts(
                start
                    .add(RECORD_HEADER_SIZE)
                    .cast::<AtomicU32>()
                    .cast_const(),
                words,
            )
        };
        Ok(Self {
            seq: word(offset)?,
            owner: word(offset + 4)?,
            payload,
            offset,
            wedged_after: WEDGED_AFTER,
        })
    }

    /// Copies a consistent payload into `out`: one that no writer changed
    /// while it was copied. Waits (up to `timeout`) while a live writer
    /// holds the record; fails at once when its writer died mid-publish.
    /// Every retry checks the deadline, so this returns within `timeout`
    /// plus two copies whatever peers write into the record (the clock
    /// starts at the first attempt that fails, so one that succeeds reads
    /// no clock). `wait` blocks until the sequence changes or the given
    /// time passes.
    pub(crate) fn snapshot(
        &self,
        out: &mut [u8],
        timeout: Duration,
        mut wait: impl FnMut(&AtomicU32, u32, Duration),
    ) -> Result<u32> {
        let mut start = None;
        let mut holder = None;
        let mut copies = 0u32;
        loop {
            // Ordering (see `Record::publish` for the writer's half):
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
                let waited = start.get_or_insert_with(Instant::now).elapsed();
                let holder = holder.get_or_insert_with(Holder::new);
                holder.saw(pid, s1);
                if waited >= timeout {
                    return Err(holder.verdict(self.offset, pid, waited, self.wedged_after));
                }
                wait(self.seq, s1, (timeout - waited).min(OWNER_CHECK));
                continue;
            }
            let n = out.len().min(4 * self.payload.len());
            // SAFETY: the payload's words hold at least `n` bytes (`at`),
            // mapped and readable for as long as `self`; `out` is the
            // caller's own memory. The copy may race a writer's stores (in
            // this process too): it is volatile, so it is made as written,
            // and a copy that overlapped a publish is discarded below.
            unsafe { copy::copy_from_region(self.payload.as_ptr().cast(), &mut out[..n]) };
            copies = copies.saturating_add(1);
            // If any byte copied above came from a publish that started
            // after `s1`, the load below sees its odd sequence (or later)
            // and the copy is discarded. The copy is volatile, not atomic,
            // so this rests on the fences as the hardware and compiler
            // treat them (as the kernel's seqcount does): no access moves
            // across a fence, and an Acquire fence orders the loads before
            // it ahead of the loads after it (`dmb ishld` on Arm; x86 keeps
            // loads in order). Equal means no publish overlapped the copy
            // (short of 2^31 publishes wrapping the sequence meanwhile).
            fence(Ordering::Acquire);
            if self.seq.load(Ordering::Relaxed) == s1 {
                return Ok(s1);
            }
            // Publishes faster than a copy, or a peer changing the sequence
            // outside the protocol: either way, not past the deadline.
            let waited = start.get_or_insert_with(Instant::now).elapsed();
            if waited >= timeout {
                return Err(Error::Unsettled {
                    offset: self.offset,
                    copies,
                    waited,
                });
            }
        }
    }

    /// Publishes `data` into the record so that readers see all of it or
    /// none of it. Waits up to `timeout` for another live writer of the
    /// record; takes over from a dead one, and from `take_from` (alive or
    /// not) when that pid holds it. The caller wakes the waiters.
    /// `data` must be as long as the `len` the record was made with.
    /// `wait` blocks until the sequence changes or the given time passes:
    /// the holder's last stores change it and wake its waiters.
    pub(crate) fn publish(
        &self,
        data: &[u8],
        timeout: Duration,
        take_from: Option<u32>,
        mut wait: impl FnMut(&AtomicU32, u32, Duration),
    ) -> Result<()> {
        let record = self;
        let me = std::process::id();
        let start = Instant::now();
        let mut holder = Holder::new();
        loop {
            let pid =
                match record
                    .owner
                    .compare_exchange(0, me, Ordering::Acquire, Ordering::Relaxed)
                {
                    Ok(_) => break,
                    Err(pid) => pid,
                };
            let gone = take_from == Some(pid) || !alive(pid);
            if gone
                && record
                    .owner
                    .compare_exchange(pid, me, Ordering::Acquire, Ordering::Relaxed)
                    .is_ok()
            {
                break;
            }
            // Whatever the sequence holds now, the holder changes it before
            // it lets go of the owner word.
            let seq = record.seq.load(Ordering::SeqCst);
            holder.saw(pid, seq);
            // Every way round this loop passes here: a peer changing the
            // owner word cannot keep a publish past its deadline.
            let waited = start.elapsed();
            if waited >= timeout {
                return Err(holder.verdict(self.offset, pid, waited, self.wedged_after));
            }
            if !gone {
                wait(record.seq, seq, (timeout - waited).min(OWNER_CHECK));
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
        //    (The stores are volatile, not atomic: the fence keeps them
        //    after the odd sequence as the hardware and compiler treat it,
        //    `dmb ish` on Arm, store order on x86.)
        fence(Ordering::Release);
        let room = 4 * record.payload.len();
        let n = data.len().min(room);
        // The last word's padding is zeroed, as readers of whole words expect.
        let padded = [&data[..n], &[0u8; 3][..(room - n).min(3)]];
        let mut at = record.payload.as_ptr().cast::<u8>().cast_mut();
        for part in padded {
            // SAFETY: `at..at + part.len()` stays within the payload's words
            // (`n + padding <= room`), mapped read-write for as long as
            // `self` (publishes are made on read-write mappings only); we
            // own the record, and a reader racing these stores discards its
            // copy (see `snapshot`).
            unsafe {
                copy::copy_to_region(at, part);
                at = at.add(part.len());
            }
        }
        // 3. Release (SeqCst, for the waiter protocol of `waiters::wake`): a reader
        //    whose first look sees this even value sees all of the payload.
        record.seq.store(odd.wrapping_add(1), Ordering::SeqCst);
        // 4. Release: the next writer's Acquire on the owner word sees the
        //    even sequence (and payload) we leave.
        record.owner.store(0, Ordering::Release);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::mapping::testing::rw;

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
            Record::at(&map, Layout::of_old_service(1), CONTROL_SIZE, 4),
            Err(Error::Unsupported { version: 1, .. })
        ));
        for offset in [CONTROL_SIZE + 1, CONTROL_SIZE + 4] {
            assert!(matches!(
                Record::at(&map, Layout::V1, offset, 4),
                Err(Error::Misaligned { offset: o, align: 8 }) if o == offset
            ));
        }
        for offset in [0, 8, CONTROL_SIZE - 8] {
            assert!(matches!(
                Record::at(&map, Layout::V1, offset, 4),
                Err(Error::OutOfBounds { offset: o, len: 4, size: s }) if o == offset && s == size
            ));
        }
        // Header and payload (rounded up to words) must fit.
        assert!(matches!(
            Record::at(&map, Layout::V1, CONTROL_SIZE, 57),
            Err(Error::OutOfBounds { offset: CONTROL_SIZE, len: 68, size: s }) if s == size
        ));
        assert!(matches!(
            Record::at(&map, Layout::V1, CONTROL_SIZE, usize::MAX),
            Err(Error::OutOfBounds {
                offset: CONTROL_SIZE,
                len: usize::MAX,
                ..
            })
        ));
        // The words are where the layout puts them.
        let base = map.base_addr();
        let addr = |w: &AtomicU32| w as *const AtomicU32 as usize;
        let record = Record::at(&map, Layout::V1, CONTROL_SIZE, 56).unwrap();
        assert_eq!(record.offset, CONTROL_SIZE);
        assert_eq!(addr(record.seq), base + CONTROL_SIZE);
        assert_eq!(addr(record.owner), base + CONTROL_SIZE + 4);
        assert_eq!(record.payload.len(), 14);
        for (i, word) in record.payload.iter().enumerate() {
            assert_eq!(addr(word), base + CONTROL_SIZE + RECORD_HEADER_SIZE + 4 * i);
        }
        assert_eq!(
            Record::at(&map, Layout::V1, CONTROL_SIZE, 5)
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
        let record = Record::at(&map, Layout::V1, CONTROL_SIZE, 6).unwrap();
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
        let record = Record::at(&map, Layout::V1, CONTROL_SIZE, 4).unwrap();
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
        let record = Record::at(&map, Layout::V1, CONTROL_SIZE, 4).unwrap();
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
        let record = Record::at(&map, Layout::V1, CONTROL_SIZE, 4).unwrap();
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

    /// While a live writer holds the record, a publish waits on the
    /// sequence word for what is left of the timeout (never longer), and
    /// publishes once the holder lets go.
    #[test]
    fn a_publish_waits_for_a_live_holder_within_the_timeout() {
        let map = records(64);
        let record = Record::at(&map, Layout::V1, CONTROL_SIZE, 4).unwrap();
        let timeout = Duration::from_millis(15);
        record.seq.store(4, Ordering::SeqCst);
        record.owner.store(std::process::id(), Ordering::SeqCst);
        let waits = std::cell::Cell::new(0);
        record
            .publish(b"abcd", timeout, None, |word, old, left| {
                assert_eq!(word as *const AtomicU32, record.seq as *const AtomicU32);
                assert_eq!(old, 4);
                assert!(left < timeout, "{left:?}");
                waits.set(waits.get() + 1);
                // The holder finishes.
                record.seq.store(6, Ordering::SeqCst);
                record.owner.store(0, Ordering::SeqCst);
            })
            .unwrap();
        assert_eq!(waits.get(), 1);
        assert_eq!(record.seq.load(Ordering::SeqCst), 8);
        assert_eq!(record.owner.load(Ordering::SeqCst), 0);
        assert_eq!(
            record.payload[0].load(Ordering::SeqCst).to_ne_bytes(),
            *b"abcd"
        );
    }

    /// At the timeout, a holder seen unchanged for `wedged_after` makes the
    /// record wedged, one seen for less busy; a holder that keeps changing
    /// the record (a writer at work) is busy, however long it goes on.
    #[test]
    fn an_unchanged_holder_is_wedged_and_a_changing_one_busy() {
        let map = records(64);
        let mut record = Record::at(&map, Layout::V1, CONTROL_SIZE, 4).unwrap();
        let me = std::process::id();
        record.seq.store(3, Ordering::SeqCst);
        record.owner.store(me, Ordering::SeqCst);
        let mut out = [0u8; 4];
        record.wedged_after = Duration::ZERO;
        assert!(matches!(
            record.snapshot(&mut out, Duration::ZERO, no_wait),
            Err(Error::Wedged { offset: CONTROL_SIZE, pid, .. }) if pid == me
        ));
        assert!(matches!(
            record.publish(b"abcd", Duration::ZERO, None, no_wait),
            Err(Error::Wedged { offset: CONTROL_SIZE, pid, .. }) if pid == me
        ));
        record.wedged_after = Duration::from_secs(3600);
        assert!(matches!(
            record.snapshot(&mut out, Duration::ZERO, no_wait),
            Err(Error::Busy { .. })
        ));
        // Each wait ends with the holder a step further (another odd
        // sequence, as after a publish and the start of the next): the
        // holder changed just before the time ran out.
        record.wedged_after = Duration::from_millis(50);
        let timeout = Duration::from_millis(200);
        let changing = |word: &AtomicU32, _: u32, left: Duration| {
            std::thread::sleep(left);
            word.fetch_add(2, Ordering::SeqCst);
        };
        assert!(matches!(
            record.snapshot(&mut out, timeout, changing),
            Err(Error::Busy { offset: CONTROL_SIZE, pid, .. }) if pid == me
        ));
        assert!(matches!(
            record.publish(b"abcd", timeout, None, changing),
            Err(Error::Busy { offset: CONTROL_SIZE, pid, .. }) if pid == me
        ));
    }

    /// A takeover from the holder's pid publishes at once, live holder or
    /// not; from another pid it waits for the holder as a publish does.
    #[test]
    fn a_take_over_takes_the_record_from_the_pid_it_names_only() {
        let map = records(64);
        let record = Record::at(&map, Layout::V1, CONTROL_SIZE, 4).unwrap();
        let me = std::process::id();
        record.seq.store(5, Ordering::SeqCst);
        record.owner.store(me, Ordering::SeqCst);
        assert!(matches!(
            record.publish(b"abcd", Duration::ZERO, Some(me + 1), no_wait),
            Err(Error::Busy { pid, .. }) if pid == me
        ));
        record
            .publish(b"abcd", Duration::ZERO, Some(me), no_wait)
            .unwrap();
        assert_eq!(record.seq.load(Ordering::SeqCst), 6);
        assert_eq!(record.owner.load(Ordering::SeqCst), 0);
        let mut out = [0u8; 4];
        assert_eq!(
            record.snapshot(&mut out, Duration::ZERO, no_wait).unwrap(),
            6
        );
        assert_eq!(&out, b"abcd");
    }
}
