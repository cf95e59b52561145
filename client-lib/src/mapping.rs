//! Safe handles over a region that other processes write concurrently.
//!
//! The mapped bytes are never exposed as `&[u8]` / `&mut [u8]`: another
//! process may change them at any time, which Rust references forbid.
//! Access is through atomics on aligned words, or explicit copies in and
//! out of caller-owned buffers (which may observe a torn, half-updated
//! range when writers race, exactly like `memcpy` in C).

use std::ffi::c_void;
use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::{AtomicU32, AtomicU64};

use rustix::mm::{MapFlags, ProtFlags};

use crate::error::{Error, Result};
use crate::platform::Keepalive;

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

/// A mapping plus the fd it came from and the proxy it was fetched through.
struct Mapping {
    base: NonNull<c_void>,
    len: usize,
    fd: OwnedFd,
    // Held so the service (and, over RPC, the session) lives as long as the mapping.
    _keepalive: Keepalive,
}

// SAFETY: the mapping is owned by this value; all access to its memory is
// atomic or by raw copies that tolerate concurrent writers.
unsafe impl Send for Mapping {}
// SAFETY: as above; no method hands out a plain reference into the mapping.
unsafe impl Sync for Mapping {}

impl Mapping {
    fn new(
        fd: OwnedFd,
        len: usize,
        writable: bool,
        options: MapOptions,
        keepalive: Keepalive,
    ) -> Result<Self> {
        let prot = if writable {
            ProtFlags::READ | ProtFlags::WRITE
        } else {
            ProtFlags::READ
        };
        let mut flags = MapFlags::SHARED;
        if options.populate {
            flags |= MapFlags::POPULATE;
        }
        // SAFETY: a new mapping at a kernel-chosen address aliases no Rust
        // object; `len` was checked against the file's size by the caller.
        let base = unsafe { rustix::mm::mmap(std::ptr::null_mut(), len, prot, flags, &fd, 0) }
            .map_err(Error::Map)?;
        let base = NonNull::new(base).ok_or(Error::Map(rustix::io::Errno::FAULT))?;
        Ok(Self {
            base,
            len,
            fd,
            _keepalive: keepalive,
        })
    }

    fn check(&self, offset: usize, len: usize) -> Result<*mut u8> {
        match offset.checked_add(len) {
            Some(end) if end <= self.len => {}
            _ => {
                return Err(Error::OutOfBounds {
                    offset,
                    len,
                    size: self.len,
                })
            }
        }
        // SAFETY: offset + len <= self.len, so the pointer stays in the mapping.
        Ok(unsafe { self.base.as_ptr().cast::<u8>().add(offset) })
    }

    fn aligned<T>(&self, offset: usize) -> Result<*mut T> {
        let align = std::mem::align_of::<T>();
        if offset % align != 0 {
            return Err(Error::Misaligned { offset, align });
        }
        // The mapping is page-aligned, so an aligned offset gives an aligned pointer.
        Ok(self.check(offset, std::mem::size_of::<T>())?.cast::<T>())
    }

    fn read_at(&self, offset: usize, out: &mut [u8]) -> Result<()> {
        let src = self.check(offset, out.len())?;
        // SAFETY: `src..src+len` is inside the live mapping and `out` is a
        // distinct private buffer; a concurrent writer can only make the copy
        // see a mix of old and new bytes, never touch `out` or go out of range.
        unsafe { std::ptr::copy_nonoverlapping(src, out.as_mut_ptr(), out.len()) };
        Ok(())
    }
}

impl Drop for Mapping {
    fn drop(&mut self) {
        // SAFETY: exactly the mapping made in `new`; the borrows handed out
        // (`&AtomicU32` etc.) are tied to `&self`, so none outlives it.
        let _ = unsafe { rustix::mm::munmap(self.base.as_ptr(), self.len) };
    }
}

/// A read-write mapping of the shared region. Unmaps and closes on drop.
pub struct SharedBuffer {
    map: Mapping,
}

/// A read-only mapping of the shared region: it has no way to write.
pub struct ReadOnlyBuffer {
    map: Mapping,
}

macro_rules! common_accessors {
    () => {
        /// The region's size in bytes.
        pub fn len(&self) -> usize {
            self.map.len
        }

        /// Always false: the service never hands out an empty region.
        pub fn is_empty(&self) -> bool {
            self.map.len == 0
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
            self.map.base.as_ptr() as usize
        }

        /// `st_dev`/`st_ino` of the region's file.
        pub fn identity(&self) -> Result<FileIdentity> {
            FileIdentity::of(self.fd())
        }

        /// Atomically loads the aligned 32-bit word at byte `offset`.
        pub fn load_u32(&self, offset: usize) -> Result<u32> {
            let p = self.map.aligned::<u32>(offset)?;
            // SAFETY: aligned, in bounds, mapped for reading while `self` lives.
            Ok(unsafe { AtomicU32::from_ptr(p) }.load(std::sync::atomic::Ordering::SeqCst))
        }

        /// Copies `out.len()` bytes starting at `offset` out of the region.
        pub fn read_at(&self, offset: usize, out: &mut [u8]) -> Result<()> {
            self.map.read_at(offset, out)
        }
    };
}

impl SharedBuffer {
    pub(crate) fn new(
        fd: OwnedFd,
        len: usize,
        options: MapOptions,
        keepalive: Keepalive,
    ) -> Result<Self> {
        Mapping::new(fd, len, true, options, keepalive).map(|map| Self { map })
    }

    common_accessors!();

    /// The aligned 32-bit word at byte `offset`, for any atomic operation.
    pub fn atomic_u32(&self, offset: usize) -> Result<&AtomicU32> {
        let p = self.map.aligned::<u32>(offset)?;
        // SAFETY: aligned, in bounds and mapped read-write for as long as the
        // returned borrow of `self`; atomics allow other processes to write it.
        Ok(unsafe { AtomicU32::from_ptr(p) })
    }

    /// The aligned 64-bit word at byte `offset`, for any atomic operation.
    pub fn atomic_u64(&self, offset: usize) -> Result<&AtomicU64> {
        let p = self.map.aligned::<u64>(offset)?;
        // SAFETY: as for `atomic_u32`.
        Ok(unsafe { AtomicU64::from_ptr(p) })
    }

    /// Atomically adds `value` (wrapping) to the word at `offset`; returns the old value.
    pub fn fetch_add_u32(&self, offset: usize, value: u32) -> Result<u32> {
        Ok(self
            .atomic_u32(offset)?
            .fetch_add(value, std::sync::atomic::Ordering::SeqCst))
    }

    /// Atomically stores `value` into the word at `offset`.
    pub fn store_u32(&self, offset: usize, value: u32) -> Result<()> {
        self.atomic_u32(offset)?
            .store(value, std::sync::atomic::Ordering::SeqCst);
        Ok(())
    }

    /// Copies `data` into the region starting at `offset`.
    pub fn write_at(&self, offset: usize, data: &[u8]) -> Result<()> {
        let dst = self.map.check(offset, data.len())?;
        // SAFETY: `dst..dst+len` is inside the live writable mapping and `data`
        // is a distinct buffer; racing writers can interleave bytes but the
        // copy never leaves the mapping.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), dst, data.len()) };
        Ok(())
    }
}

impl ReadOnlyBuffer {
    pub(crate) fn new(
        fd: OwnedFd,
        len: usize,
        options: MapOptions,
        keepalive: Keepalive,
    ) -> Result<Self> {
        Mapping::new(fd, len, false, options, keepalive).map(|map| Self { map })
    }

    common_accessors!();
}
