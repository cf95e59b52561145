//! The shared region: a sealed memfd, mapped shared by the daemon.
//!
//! Allocation follows libcutils' ashmem-over-memfd path (`memfd_create` with
//! `MFD_CLOEXEC | MFD_ALLOW_SEALING`, `ftruncate`, seal `F_SEAL_SHRINK |
//! F_SEAL_GROW`) so that no peer can shrink the file under the owner's
//! mapping and make it SIGBUS. We also add `F_SEAL_SEAL`: libcutils leaves
//! sealing open only so `ashmem_set_prot_region` can add
//! `F_SEAL_FUTURE_WRITE` later, which we never do; without it a read-write
//! client could add `F_SEAL_FUTURE_WRITE` and deny writable mappings to
//! every client after it.
//!
//! Read-only view: a memfd's seals apply to the file, not to one fd, so
//! sealing writes would take writing away from read-write clients too.
//! Instead the read-only fd is a separate open file description, opened
//! `O_RDONLY` through `/proc/self/fd`. The kernel then refuses, on that fd,
//! `mmap(PROT_WRITE, MAP_SHARED)` and a later `mprotect(PROT_WRITE)`
//! (EACCES: no VM_MAYWRITE), `write`/`pwrite` and `ftruncate` (EBADF /
//! EINVAL), and `F_ADD_SEALS` (EPERM: memfd sealing needs a writable fd).
//! The remaining route, re-opening `/proc/<pid>/fd/N` for writing, checks
//! the inode's owner and mode, so the file is chmod-ed to 0400 once both
//! fds exist.
//!
//! What that holds, and for whom:
//! - A process of **another uid** (not root) cannot write through the
//!   read-only fd by any of these routes: the reopen fails with EACCES and
//!   `fchmod` with EPERM (it does not own the inode).
//! - A process running as **the daemon's uid** owns the inode: it can
//!   `fchmod` it back to 0600 and reopen `/proc/<pid>/fd/N` read-write.
//!   **Root** (CAP_DAC_OVERRIDE) can reopen it directly. Nothing in the
//!   file model stops either; so the read-only view is read-only against
//!   other uids only.
//! - On Android, SELinux is the real guard: a client domain gets only the
//!   permissions policy grants on the daemon's tmpfs type (no `setattr`, no
//!   `open` for write), whatever its uid. On a Linux host the daemon's
//!   access policy decides who gets which fd at all (`policy.rs`).

use std::ffi::c_void;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::ptr::NonNull;
use std::sync::atomic::AtomicU32;

use rustix::fs::{MemfdFlags, Mode, OFlags, SealFlags};
use rustix::io::Errno;
use rustix::mm::{MapFlags, ProtFlags};

/// The value the seed server writes into word 0.
pub const INITIAL_WORD0: u32 = 0xdead_cafe;

/// Why the region could not be set up.
#[derive(Debug, thiserror::Error)]
pub enum RegionError {
    /// The region must hold at least word 0.
    #[error("region size {0} is too small: it must hold at least one 32-bit word (4 bytes)")]
    TooSmall(usize),
    /// A system call failed; `step` says which.
    #[error("{step} failed: {errno}")]
    Sys {
        /// The step that failed (e.g. "memfd_create").
        step: &'static str,
        /// The kernel's error.
        errno: Errno,
    },
}

fn sys(step: &'static str) -> impl FnOnce(Errno) -> RegionError {
    move |errno| RegionError::Sys { step, errno }
}

/// A sealed, fixed-size memfd mapped `MAP_SHARED` into this process.
pub struct SharedRegion {
    read_write: OwnedFd,
    read_only: OwnedFd,
    base: NonNull<c_void>,
    len: usize,
}

// SAFETY: the mapping is owned by this value and lives until drop; other
// threads reach its memory only through `word0()` (an atomic), so sharing
// the pointer across threads adds no data race.
unsafe impl Send for SharedRegion {}
// SAFETY: as above; every method takes `&self` and touches memory atomically.
unsafe impl Sync for SharedRegion {}

impl SharedRegion {
    /// Creates a region of `len` bytes named `name` (visible as
    /// `/memfd:<name>` in `/proc/<pid>/fd`) with word 0 set to [`INITIAL_WORD0`].
    pub fn create(name: &str, len: usize) -> Result<Self, RegionError> {
        if len < std::mem::size_of::<u32>() {
            return Err(RegionError::TooSmall(len));
        }
        let read_write =
            rustix::fs::memfd_create(name, MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)
                .map_err(sys("memfd_create"))?;
        rustix::fs::ftruncate(&read_write, len as u64).map_err(sys("ftruncate"))?;
        rustix::fs::fcntl_add_seals(
            &read_write,
            SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL,
        )
        .map_err(sys("F_ADD_SEALS"))?;
        let read_only = reopen_read_only(&read_write)?;
        rustix::fs::fchmod(&read_write, Mode::RUSR).map_err(sys("fchmod"))?;

        // SAFETY: a fresh shared mapping of a file we own, at an address the
        // kernel picks, so it aliases no Rust object; `len` is the sealed size.
        let base = unsafe {
            rustix::mm::mmap(
                std::ptr::null_mut(),
                len,
                ProtFlags::READ | ProtFlags::WRITE,
                MapFlags::SHARED,
                &read_write,
                0,
            )
        }
        .map_err(sys("mmap"))?;
        let base = NonNull::new(base).ok_or(RegionError::Sys {
            step: "mmap",
            errno: Errno::FAULT,
        })?;
        let region = Self {
            read_write,
            read_only,
            base,
            len,
        };
        region
            .word0()
            .store(INITIAL_WORD0, std::sync::atomic::Ordering::SeqCst);
        Ok(region)
    }

    /// The region's size in bytes.
    // Never 0 (create refuses less than a word), so no is_empty.
    #[allow(clippy::len_without_is_empty)]
    pub fn len(&self) -> usize {
        self.len
    }

    /// Where the region is mapped in this process (for logs only).
    pub fn base_addr(&self) -> usize {
        self.base.as_ptr() as usize
    }

    /// Word 0 of the region, shared with every client that maps it.
    pub fn word0(&self) -> &AtomicU32 {
        // SAFETY: the mapping is page-aligned, at least 4 bytes long and
        // lives as long as `self`; other processes only ever change it, so
        // it must be accessed atomically, which `AtomicU32` guarantees.
        unsafe { AtomicU32::from_ptr(self.base.as_ptr().cast::<u32>()) }
    }

    /// A new read-write fd of the region, for a client.
    pub fn dup_read_write(&self) -> Result<OwnedFd, Errno> {
        rustix::io::fcntl_dupfd_cloexec(&self.read_write, 0)
    }

    /// A new read-only fd of the region, for a client.
    pub fn dup_read_only(&self) -> Result<OwnedFd, Errno> {
        rustix::io::fcntl_dupfd_cloexec(&self.read_only, 0)
    }

    /// `(st_dev, st_ino)` of the memfd: the same in every process that maps it.
    pub fn identity(&self) -> Result<(u64, u64), Errno> {
        let st = rustix::fs::fstat(&self.read_write)?;
        Ok((st.st_dev as u64, st.st_ino as u64))
    }

    /// The daemon's own read-write fd number (for logs and tests).
    pub fn raw_fd(&self) -> i32 {
        self.read_write.as_raw_fd()
    }
}

impl Drop for SharedRegion {
    fn drop(&mut self) {
        // SAFETY: `base`/`len` are exactly the mapping made in `create`, and
        // no reference into it outlives `self` (`word0` borrows `self`).
        let _ = unsafe { rustix::mm::munmap(self.base.as_ptr(), self.len) };
    }
}

/// A second open file description of the same memfd, opened read-only.
fn reopen_read_only(fd: &OwnedFd) -> Result<OwnedFd, RegionError> {
    let path = format!("/proc/self/fd/{}", fd.as_fd().as_raw_fd());
    rustix::fs::open(path, OFlags::RDONLY | OFlags::CLOEXEC, Mode::empty())
        .map_err(sys("reopening the memfd read-only via /proc/self/fd"))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::atomic::Ordering;

    #[test]
    fn new_region_starts_with_deadcafe_and_is_sealed() {
        let region = SharedRegion::create("test", 10 * 1024).unwrap();
        assert_eq!(region.word0().load(Ordering::SeqCst), INITIAL_WORD0);
        let seals = rustix::fs::fcntl_get_seals(&region.read_write).unwrap();
        assert!(seals.contains(SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL));
        assert_eq!(
            rustix::fs::fstat(&region.read_write).unwrap().st_size,
            10 * 1024
        );
    }

    #[test]
    fn read_only_fd_is_a_read_only_description_of_the_same_file() {
        let region = SharedRegion::create("test", 4096).unwrap();
        let ro = region.dup_read_only().unwrap();
        let a = rustix::fs::fstat(&region.read_write).unwrap();
        let b = rustix::fs::fstat(&ro).unwrap();
        assert_eq!((a.st_dev, a.st_ino), (b.st_dev, b.st_ino));
        let mode = rustix::fs::fcntl_getfl(&ro).unwrap() & OFlags::ACCMODE;
        assert_eq!(mode, OFlags::RDONLY);
        assert_eq!(rustix::io::write(&ro, b"x"), Err(Errno::BADF));
    }

    #[test]
    fn the_regions_own_fds_are_close_on_exec() {
        let region = SharedRegion::create("test", 4096).unwrap();
        for fd in [&region.read_write, &region.read_only] {
            let flags = rustix::io::fcntl_getfd(fd).unwrap();
            assert!(flags.contains(rustix::io::FdFlags::CLOEXEC));
        }
    }

    /// The mapping is where `base_addr` says, `len` long, and gone after drop.
    #[test]
    fn the_mapping_is_where_base_addr_says_and_goes_with_the_region() {
        let region = SharedRegion::create("test-drop", 3 * 4096).unwrap();
        assert_eq!(region.len(), 3 * 4096);
        let fd = std::fs::read_link(format!("/proc/self/fd/{}", region.raw_fd())).unwrap();
        assert!(
            fd.to_string_lossy().starts_with("/memfd:test-drop"),
            "{fd:?}"
        );
        let range = format!(
            "{:x}-{:x} ",
            region.base_addr(),
            region.base_addr() + 3 * 4096
        );
        let mapped = || {
            std::fs::read_to_string("/proc/self/maps")
                .unwrap()
                .lines()
                .any(|l| l.starts_with(&range) && l.contains("/memfd:test-drop"))
        };
        assert!(mapped(), "no {range} mapping of the memfd");
        drop(region);
        assert!(!mapped(), "munmap did not happen");
    }

    #[test]
    fn one_word_is_enough() {
        let region = SharedRegion::create("test", 4).unwrap();
        assert_eq!(region.word0().load(Ordering::SeqCst), INITIAL_WORD0);
    }

    #[test]
    fn too_small_is_refused() {
        assert!(matches!(
            SharedRegion::create("test", 3),
            Err(RegionError::TooSmall(3))
        ));
    }

    /// `identity` is the memfd's `(st_dev, st_ino)`, as every process that
    /// maps it sees them, and differs from another region's.
    #[test]
    fn identity_is_the_memfds_device_and_inode() {
        let region = SharedRegion::create("test", 4096).unwrap();
        let st = rustix::fs::fstat(region.dup_read_only().unwrap()).unwrap();
        assert_eq!(
            region.identity().unwrap(),
            (st.st_dev as u64, st.st_ino as u64)
        );
        let other = SharedRegion::create("test", 4096).unwrap();
        assert_ne!(region.identity().unwrap(), other.identity().unwrap());
    }
}
