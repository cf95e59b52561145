//! A shared mapping of a verified region: mmap, bounds and alignment
//! checks, and the addresses the layers above access. Nothing here reads
//! or writes the mapped bytes; see `copy` and `buffer` for that.

use std::os::fd::{AsFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;

use rustix::mm::{MapFlags, ProtFlags};

use crate::error::{Error, Result};
use crate::verify::VerifiedFd;

/// How to map a region.
#[derive(Clone, Copy, Debug, Default)]
pub struct MapOptions {
    /// Pre-fault every page at map time (`MAP_POPULATE`), so the first
    /// access costs no page faults.
    pub populate: bool,
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
// made by `copy`, whose unsafe functions state what the caller must
// exclude, and by the buffers' atomics; see `buffer`'s docs.
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

    /// The region's size in bytes.
    pub(crate) fn len(&self) -> usize {
        self.range.len
    }

    /// The fd the mapping was made from (owned by the mapping).
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Where the mapping starts in this process.
    pub(crate) fn base_addr(&self) -> usize {
        self.range.base.as_ptr() as usize
    }

    /// The address of `len` bytes at `offset`, if they are inside the mapping.
    pub(crate) fn span(&self, offset: usize, len: usize) -> Result<*mut u8> {
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
    pub(crate) fn atomic<A>(&self, offset: usize) -> Result<*mut A> {
        let align = std::mem::align_of::<A>();
        if offset % align != 0 {
            return Err(Error::Misaligned { offset, align });
        }
        // The mapping is page-aligned, so an aligned offset is an aligned address.
        Ok(self.span(offset, std::mem::size_of::<A>())?.cast::<A>())
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

/// Regions and mappings for the unit tests of the layers above.
#[cfg(test)]
pub(crate) mod testing {
    use super::*;
    use crate::verify::verify;
    use rustix::fs::{MemfdFlags, SealFlags};

    /// A sealed memfd of `len` bytes, checked as a client would.
    pub(crate) fn region(len: usize) -> VerifiedFd {
        let fd = rustix::fs::memfd_create("mapping-test", MemfdFlags::ALLOW_SEALING).unwrap();
        rustix::fs::ftruncate(&fd, len as u64).unwrap();
        rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW).unwrap();
        verify(fd, len).unwrap()
    }

    /// A second mapping of the same file (another fd of it).
    pub(crate) fn second(map: &Mapping, writable: bool) -> Mapping {
        let fd = rustix::io::fcntl_dupfd_cloexec(&map.fd, 0).unwrap();
        Mapping::new(
            verify(fd, map.len()).unwrap(),
            writable,
            MapOptions::default(),
        )
        .unwrap()
    }

    pub(crate) fn rw(len: usize) -> Mapping {
        Mapping::new(region(len), true, MapOptions::default()).unwrap()
    }
}

#[cfg(test)]
mod tests {
    use super::testing::*;
    use super::*;
    use std::sync::atomic::{AtomicU32, AtomicU64};

    /// Bounds are checked before an address is made, overflow included.
    #[test]
    fn spans_outside_the_region_are_refused_with_their_bounds() {
        let map = rw(100);
        for (offset, len) in [(0, 101), (99, 2), (100, 1), (101, 0), (usize::MAX, 2)] {
            assert!(
                matches!(
                    map.span(offset, len),
                    Err(Error::OutOfBounds { offset: o, len: l, size: 100 }) if o == offset && l == len
                ),
                "{offset}+{len}"
            );
        }
        let base = map.base_addr();
        assert_eq!(map.span(99, 1).unwrap() as usize, base + 99);
        assert_eq!(map.span(100, 0).unwrap() as usize, base + 100);
        assert_eq!(map.span(0, 100).unwrap() as usize, base);
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
        let base = map.base_addr();
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
        assert_eq!(resident(lazy.base_addr()), 0);
        let eager = Mapping::new(region(len), true, MapOptions { populate: true }).unwrap();
        assert_eq!(resident(eager.base_addr()), len);
        let eager_ro = Mapping::new(region(len), false, MapOptions { populate: true }).unwrap();
        assert_eq!(resident(eager_ro.base_addr()), len);
    }

    #[test]
    fn a_read_only_mapping_is_mapped_without_write_permission() {
        let ro = Mapping::new(region(4096), false, MapOptions::default()).unwrap();
        let base = ro.base_addr();
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
        let base = rw.base_addr();
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

    #[test]
    fn the_mapping_has_the_regions_length_and_is_gone_after_drop() {
        let map = rw(3 * 4096 + 100);
        assert_eq!(map.len(), 3 * 4096 + 100);
        let start = format!("{:x}-", map.base_addr());
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
}
