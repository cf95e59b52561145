//! Volatile copies between the region and private memory, all of them:
//! split at the region side into naturally aligned accesses, so a peer's
//! aligned machine word (8 bytes on 64-bit targets) is seen whole or not at
//! all. A copy's ends are the widest aligned pieces of up to a word; its
//! body is aligned vector accesses where the CPU has them ([`wide`]: SSE2
//! or AVX2 on x86_64, NEON on aarch64), else a loop of aligned words.

#[cfg(any(target_arch = "x86_64", target_arch = "aarch64"))]
mod wide;

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};

use crate::error::Result;
use crate::mapping::Mapping;

/// Copies `out.len()` bytes at `offset` of `map` out of the region.
///
/// # Safety
/// Nothing in this process may write those bytes through this mapping
/// while the copy runs (the caller's borrow ensures it).
pub(crate) unsafe fn read_into(map: &Mapping, offset: usize, out: &mut [u8]) -> Result<()> {
    let src = map.span(offset, out.len())?;
    // SAFETY: `src..src+out.len()` is inside the live mapping (checked
    // above), which is readable; `out` is private memory of the caller,
    // distinct from the mapping; the caller excludes racing writes from
    // this process, other writers are outside the compiler's view.
    unsafe { copy_volatile(src, out.as_mut_ptr(), out.len(), Direction::FromRegion) };
    Ok(())
}

/// Copies `data` into the region of `map` at `offset`.
///
/// # Safety
/// The mapping must be writable, and nothing else in this process may
/// access those bytes through this mapping while the copy runs.
pub(crate) unsafe fn write_from(map: &Mapping, offset: usize, data: &[u8]) -> Result<()> {
    let dst = map.span(offset, data.len())?;
    // SAFETY: `dst..dst+data.len()` is inside the live mapping (checked
    // above), writable by the caller's promise; `data` is distinct
    // private memory; the caller excludes racing accesses from this process.
    unsafe { copy_to_region(dst, data) };
    Ok(())
}

/// Copies `len` bytes from `region` (shared memory) into `out`, as
/// [`read_into`] does; for records, whose words are checked elsewhere.
///
/// # Safety
/// As [`copy_volatile`] with `FromRegion`, for `out.len()` bytes.
pub(crate) unsafe fn copy_from_region(region: *const u8, out: &mut [u8]) {
    // SAFETY: the caller's promise; `out` is the caller's own memory.
    unsafe {
        copy_volatile(
            region.cast_mut(),
            out.as_mut_ptr(),
            out.len(),
            Direction::FromRegion,
        )
    }
}

/// Copies `data` into `region` (shared memory), as [`write_from`] does.
///
/// # Safety
/// As [`copy_volatile`] with `IntoRegion`, for `data.len()` bytes.
pub(crate) unsafe fn copy_to_region(region: *mut u8, data: &[u8]) {
    // SAFETY: the caller's promise; `data` is only read.
    unsafe {
        copy_volatile(
            region,
            data.as_ptr().cast_mut(),
            data.len(),
            Direction::IntoRegion,
        )
    }
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Direction {
    FromRegion,
    IntoRegion,
}

/// How the body of a copy is made: which accesses it uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Path {
    /// Aligned machine words (every target).
    Word = 1,
    /// Aligned 16-byte SSE2 accesses (every x86_64).
    Sse2 = 2,
    /// Aligned 32-byte AVX2 accesses (x86_64 CPUs that have AVX2).
    Avx2 = 3,
    /// Aligned 16-byte NEON accesses (every aarch64).
    Neon = 4,
}

impl Path {
    /// Every path, narrowest first.
    pub(crate) const ALL: [Path; 4] = [Path::Word, Path::Sse2, Path::Avx2, Path::Neon];

    /// Its name: `word`, `sse2`, `avx2` or `neon`.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Path::Word => "word",
            Path::Sse2 => "sse2",
            Path::Avx2 => "avx2",
            Path::Neon => "neon",
        }
    }

    /// Whether this CPU can take the path.
    pub(crate) fn available(self) -> bool {
        match self {
            Path::Word => true,
            Path::Sse2 => cfg!(target_arch = "x86_64"),
            #[cfg(target_arch = "x86_64")]
            Path::Avx2 => std::is_x86_feature_detected!("avx2"),
            #[cfg(not(target_arch = "x86_64"))]
            Path::Avx2 => false,
            Path::Neon => cfg!(target_arch = "aarch64"),
        }
    }

    /// The widest path this CPU can take: what copies use unless forced.
    /// Found once (feature detection is not free), then read from a static.
    pub(crate) fn widest() -> Path {
        static WIDEST: AtomicU8 = AtomicU8::new(0);
        match WIDEST.load(Ordering::Relaxed) {
            0 => {
                let widest = Path::ALL.into_iter().rev().find(|p| p.available());
                let widest = widest.unwrap_or(Path::Word);
                WIDEST.store(widest as u8, Ordering::Relaxed);
                widest
            }
            n => Path::ALL[usize::from(n) - 1],
        }
    }
}

/// The path every copy takes, as a `Path` number; 0: the widest.
static FORCED: AtomicU8 = AtomicU8::new(0);
/// Bodies copied on the forced path since it was forced.
static FORCED_BODIES: AtomicU64 = AtomicU64::new(0);

/// Makes every copy in this process take `path` (None: the widest again),
/// and restarts [`forced_bodies`]; for tests. Refuses a path this CPU lacks.
pub(crate) fn force(path: Option<Path>) -> std::result::Result<(), String> {
    match path {
        Some(p) if !p.available() => Err(format!(
            "this CPU cannot take the {} copy path (it takes {} at most)",
            p.name(),
            Path::widest().name()
        )),
        _ => {
            FORCED.store(path.map_or(0, |p| p as u8), Ordering::SeqCst);
            FORCED_BODIES.store(0, Ordering::SeqCst);
            Ok(())
        }
    }
}

/// The path copies take now.
pub(crate) fn current() -> Path {
    match FORCED.load(Ordering::Relaxed) {
        0 => Path::widest(),
        n => Path::ALL[usize::from(n) - 1],
    }
}

/// How many copy bodies the forced path made since [`force`].
pub(crate) fn forced_bodies() -> u64 {
    FORCED_BODIES.load(Ordering::SeqCst)
}

/// The smallest body worth a vector path: one 16-byte lane past the words
/// that align it.
const WIDE_FROM: usize = 32;

const WORD: usize = std::mem::size_of::<usize>();

/// The widest access (1, 2, 4 or 8 bytes, at most the machine word) that is
/// naturally aligned at `addr` and fits in `left` bytes.
fn access_width(addr: usize, left: usize) -> usize {
    [8, 4, 2]
        .into_iter()
        .filter(|width| *width <= WORD)
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
    let mut done = 0;
    // Head: narrower pieces until the region side is word-aligned.
    while done < len && (region as usize + done) % WORD != 0 {
        // SAFETY: done < len, within both ranges (this function's contract).
        done += unsafe { copy_piece(region.add(done), private.add(done), len - done, direction) };
    }
    // Body: vector accesses where the CPU has them (each aligned word lies
    // inside one of them, see `wide`), then whole machine words.
    if len - done >= WIDE_FROM {
        // SAFETY: the rest of both ranges, from a word-aligned region side.
        done += unsafe { body(region.add(done), private.add(done), len - done, direction) };
    }
    while len - done >= WORD {
        // SAFETY: `done + WORD <= len`, so both sides are in range; the
        // region side is word-aligned (the head ended there and every step
        // since added a multiple of WORD).
        unsafe { word(region.add(done), private.add(done), direction) };
        done += WORD;
    }
    // Tail: what is left, narrower than a word.
    while done < len {
        // SAFETY: as for the head.
        done += unsafe { copy_piece(region.add(done), private.add(done), len - done, direction) };
    }
}

/// Copies what it can of `len` bytes on the current [`Path`]; returns how
/// many it copied (a multiple of the word, at most `len`).
///
/// # Safety
/// As [`copy_volatile`], and `region` is word-aligned.
#[cfg_attr(
    not(any(target_arch = "x86_64", target_arch = "aarch64")),
    allow(unused_variables)
)]
unsafe fn body(region: *mut u8, private: *mut u8, len: usize, direction: Direction) -> usize {
    let path = match FORCED.load(Ordering::Relaxed) {
        0 => Path::widest(),
        n => {
            FORCED_BODIES.fetch_add(1, Ordering::Relaxed);
            Path::ALL[usize::from(n) - 1]
        }
    };
    match path {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: the caller's promise; on x86_64 a word is 8 bytes.
        Path::Sse2 => unsafe { wide::sse2(region, private, len, direction) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: as above; `Avx2` is only chosen when the CPU has AVX2
        // (`Path::widest`, `force`).
        Path::Avx2 => unsafe { wide::avx2(region, private, len, direction) },
        #[cfg(target_arch = "aarch64")]
        // SAFETY: the caller's promise; on aarch64 a word is 8 bytes.
        Path::Neon => unsafe { wide::neon(region, private, len, direction) },
        _ => 0,
    }
}

/// Copies one machine word, one volatile access on the region side.
///
/// # Safety
/// As [`copy_volatile`] for `WORD` bytes, and `r` is word-aligned.
#[inline(always)]
unsafe fn word(r: *mut u8, p: *mut u8, direction: Direction) {
    let (r, p) = (r.cast::<usize>(), p.cast::<usize>());
    // SAFETY: `r` is aligned and in range (the caller's promise), and
    // volatile makes it one access of the word; the private side may be
    // unaligned, hence _unaligned.
    unsafe {
        match direction {
            Direction::FromRegion => p.write_unaligned(r.read_volatile()),
            Direction::IntoRegion => r.write_volatile(p.read_unaligned()),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::mapping::testing::{rw, second};
    use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
    use std::sync::{Arc, Barrier};

    fn read(map: &Mapping, offset: usize, len: usize) -> Result<Vec<u8>> {
        let mut out = vec![0xAA; len];
        // SAFETY: single-threaded test; nothing writes the mapping meanwhile.
        unsafe { read_into(map, offset, &mut out) }.map(|()| out)
    }

    fn write(map: &Mapping, offset: usize, data: &[u8]) -> Result<()> {
        // SAFETY: `map` is read-write; single-threaded test.
        unsafe { write_from(map, offset, data) }
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

    /// Every path copies every range exactly, both ways, with the bodies
    /// long enough for its vectors and at every alignment of both sides.
    #[test]
    fn every_path_round_trips_long_ranges_at_every_alignment() {
        let map = rw(512);
        let other = second(&map, false);
        for path in Path::ALL.into_iter().filter(|p| p.available()) {
            force(Some(path)).unwrap();
            for offset in 0..40 {
                for len in [
                    0,
                    31,
                    32,
                    33,
                    63,
                    64,
                    100,
                    127,
                    128,
                    129,
                    200,
                    300,
                    472 - offset,
                ] {
                    let data: Vec<u8> = (0..len + 8)
                        .map(|i| (offset * 13 + i * 7 + len) as u8)
                        .collect();
                    for skew in 0..8 {
                        let data = &data[skew..skew + len];
                        write(&map, offset, data).unwrap();
                        let mut out = vec![0xAA; len + 8];
                        // SAFETY: nothing writes the mapping meanwhile.
                        unsafe { read_into(&other, offset, &mut out[skew..skew + len]) }.unwrap();
                        assert_eq!(
                            &out[skew..skew + len],
                            data,
                            "{path:?} {offset}+{len} skew {skew}"
                        );
                    }
                }
            }
            assert!(forced_bodies() > 0, "{path:?} made no body");
        }
        force(None).unwrap();
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
        assert!(out_of_bounds(usize::MAX, 2));
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
}
