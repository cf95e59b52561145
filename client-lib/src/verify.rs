//! What a received fd must be before it is mapped. Fail closed.
//!
//! A shared mapping faults (SIGBUS) when a page past the end of its file is
//! touched, so whoever can change the file's size while we map it can kill
//! us. A region is therefore mapped only when its size is fixed for as long
//! as the mapping lives, and equals the size the service reported:
//!
//! - **memfd** (a regular file on shmem): it must carry `F_SEAL_SHRINK` and
//!   `F_SEAL_GROW`, and `fstat` must report exactly the reported size. Seals
//!   can only ever be added, never removed, so once both are seen the size
//!   is final: hence seals are read *before* the size. The other order
//!   would let the owner resize the file between the two reads and seal it
//!   afterwards.
//! - **ashmem** (older Android devices: a character device of the misc
//!   major whose path is `/dev/ashmem*`): `fstat` reports 0, so the size is
//!   read with `ASHMEM_GET_SIZE` and must equal the reported size. The
//!   driver refuses an `mmap` longer than the region and refuses
//!   `ASHMEM_SET_SIZE` once the region has been mapped, so the size cannot
//!   move under a mapping; purged (unpinned) pages read back as zeros, they
//!   do not fault.
//! - anything else (an unsealed or unsealable file, a pipe, another device)
//!   is refused and never mapped.

use std::os::fd::{AsFd, AsRawFd, BorrowedFd, OwnedFd};

use rustix::fs::{FileType, SealFlags};
use rustix::io::Errno;

use crate::error::{Error, Result};
use enea_buffer_common::MAX_SIZE;

/// The smallest region a client accepts: word 0.
pub(crate) const MIN_SIZE: usize = 4;

/// Major number of misc character devices, ashmem among them.
const MISC_MAJOR: u32 = 10;

/// `ASHMEM_GET_SIZE` = `_IO(__ASHMEMIOC /* 0x77 */, 4)` (linux/ashmem.h).
const ASHMEM_GET_SIZE: u32 = 0x7704;

/// The region size `reported` by `getBufferSize()`, if a client may map it.
/// A size beyond [`MAX_SIZE`] is refused before anything else is looked at.
pub(crate) fn region_size(reported: i64) -> Result<usize> {
    if u64::try_from(reported).is_ok_and(|n| n > MAX_SIZE as u64) {
        return Err(Error::TooLarge {
            reported,
            max: MAX_SIZE,
        });
    }
    usize::try_from(reported)
        .ok()
        .filter(|n| *n >= MIN_SIZE)
        .ok_or(Error::BadSize(reported))
}

/// An fd that was checked to hold exactly `len` bytes that nobody can
/// resize while it is mapped. Only [`verify`] makes one.
pub(crate) struct VerifiedFd {
    fd: OwnedFd,
    len: usize,
}

impl VerifiedFd {
    /// The checked size in bytes.
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    /// The fd.
    pub(crate) fn fd(&self) -> BorrowedFd<'_> {
        self.fd.as_fd()
    }

    /// Gives the fd back, e.g. to be owned by the mapping made from it.
    pub(crate) fn into_fd(self) -> OwnedFd {
        self.fd
    }
}

/// Checks that `fd` is a region of exactly `len` bytes whose size nobody can
/// change while it is mapped; see the module docs.
pub(crate) fn verify(fd: OwnedFd, len: usize) -> Result<VerifiedFd> {
    // Seals first: once SHRINK and GROW are there, the size read below is final.
    let seals = rustix::fs::fcntl_get_seals(&fd);
    let st = rustix::fs::fstat(&fd).map_err(Error::Stat)?;
    let actual = match FileType::from_raw_mode(st.st_mode) {
        FileType::RegularFile => {
            let seals = seals.map_err(|errno| match errno {
                // Only shmem files (memfds) support sealing.
                Errno::INVAL => Error::NotSharedMemory("file that cannot be sealed"),
                errno => Error::Inspect {
                    what: "seals",
                    errno,
                },
            })?;
            if let Some(missing) = missing_size_seals(seals) {
                return Err(Error::NotSealed(missing));
            }
            st.st_size as u64
        }
        FileType::CharacterDevice if is_ashmem(rustix::fs::major(st.st_rdev), || path_of(&fd)) => {
            ashmem_size(fd.as_fd())?
        }
        other => return Err(Error::NotSharedMemory(type_name(other))),
    };
    if actual != len as u64 {
        return Err(Error::SizeMismatch {
            reported: len,
            actual,
        });
    }
    Ok(VerifiedFd { fd, len })
}

/// Which of the seals that fix a memfd's size `seals` lacks, as words.
fn missing_size_seals(seals: SealFlags) -> Option<&'static str> {
    match (
        seals.contains(SealFlags::SHRINK),
        seals.contains(SealFlags::GROW),
    ) {
        (true, true) => None,
        (false, true) => Some("shrinking"),
        (true, false) => Some("growing"),
        (false, false) => Some("shrinking or growing"),
    }
}

/// Whether a character device of major `major` whose path `path` gives is
/// ashmem: a misc device named `/dev/ashmem` (or `/dev/ashmem<boot id>`
/// since Android 10). The ioctl below is sent only to a device known to
/// understand it.
fn is_ashmem(major: u32, path: impl FnOnce() -> Option<Vec<u8>>) -> bool {
    major == MISC_MAJOR && path().is_some_and(|p| p.starts_with(b"/dev/ashmem"))
}

/// The path `fd` was opened by, from /proc/self/fd.
fn path_of(fd: &OwnedFd) -> Option<Vec<u8>> {
    let link = format!("/proc/self/fd/{}", fd.as_raw_fd());
    rustix::fs::readlink(link, Vec::new())
        .ok()
        .map(|path| path.into_bytes())
}

/// The size of an ashmem region, from the driver.
fn ashmem_size(fd: BorrowedFd<'_>) -> Result<u64> {
    // SAFETY: ASHMEM_GET_SIZE takes no argument: the driver only returns the
    // region's size, nothing is written to our memory. `fd` is open for the
    // duration of the call, and it is an ashmem device (misc major, path
    // /dev/ashmem*), so the request number means what we ask.
    let size = unsafe { libc::ioctl(fd.as_raw_fd(), ASHMEM_GET_SIZE as _) };
    u64::try_from(size).map_err(|_| Error::Inspect {
        what: "ashmem size",
        errno: std::io::Error::last_os_error()
            .raw_os_error()
            .map_or(Errno::IO, Errno::from_raw_os_error),
    })
}

fn type_name(file_type: FileType) -> &'static str {
    match file_type {
        FileType::RegularFile => "regular file",
        FileType::Directory => "directory",
        FileType::Symlink => "symbolic link",
        FileType::Fifo => "pipe",
        FileType::Socket => "socket",
        FileType::CharacterDevice => "character device",
        FileType::BlockDevice => "block device",
        _ => "file of unknown type",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use rustix::fs::{MemfdFlags, Mode, OFlags};

    fn memfd(len: u64, seals: SealFlags) -> OwnedFd {
        let fd = rustix::fs::memfd_create("verify-test", MemfdFlags::ALLOW_SEALING).unwrap();
        rustix::fs::ftruncate(&fd, len).unwrap();
        if !seals.is_empty() {
            rustix::fs::fcntl_add_seals(&fd, seals).unwrap();
        }
        fd
    }

    fn message(r: Result<VerifiedFd>) -> String {
        match r {
            Ok(v) => panic!("accepted a region of {} bytes", v.len()),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn a_sealed_memfd_of_the_reported_size_is_accepted() {
        let checked = verify(memfd(8192, SealFlags::SHRINK | SealFlags::GROW), 8192).unwrap();
        assert_eq!(checked.len(), 8192);
        assert_eq!(rustix::fs::fstat(checked.fd()).unwrap().st_size, 8192);
        // The daemon's own seal set (plus F_SEAL_SEAL) is accepted too.
        let all = SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL;
        assert_eq!(verify(memfd(4, all), 4).unwrap().len(), 4);
    }

    #[test]
    fn each_missing_size_seal_is_named() {
        assert_eq!(
            message(verify(memfd(4096, SealFlags::GROW), 4096)),
            "region is not sealed against shrinking"
        );
        assert_eq!(
            message(verify(memfd(4096, SealFlags::SHRINK), 4096)),
            "region is not sealed against growing"
        );
        assert_eq!(
            message(verify(memfd(4096, SealFlags::empty()), 4096)),
            "region is not sealed against shrinking or growing"
        );
        // Sealing writes does not fix the size.
        assert_eq!(
            message(verify(
                memfd(4096, SealFlags::WRITE | SealFlags::SEAL),
                4096
            )),
            "region is not sealed against shrinking or growing"
        );
    }

    #[test]
    fn a_sealed_memfd_of_another_size_is_refused() {
        let sealed = SealFlags::SHRINK | SealFlags::GROW;
        // Zero bytes is not "ashmem": a memfd says its size.
        assert!(matches!(
            verify(memfd(0, sealed), 4096),
            Err(Error::SizeMismatch {
                reported: 4096,
                actual: 0
            })
        ));
        assert!(matches!(
            verify(memfd(4095, sealed), 4096),
            Err(Error::SizeMismatch {
                reported: 4096,
                actual: 4095
            })
        ));
        assert!(matches!(
            verify(memfd(8192, sealed), 4096),
            Err(Error::SizeMismatch {
                reported: 4096,
                actual: 8192
            })
        ));
    }

    #[test]
    fn files_that_are_not_shared_memory_are_refused() {
        // A regular file on disk cannot be sealed.
        let path = std::env::temp_dir().join(format!("verify-test-{}", std::process::id()));
        let file = std::fs::File::create(&path).unwrap();
        file.set_len(4096).unwrap();
        std::fs::remove_file(&path).unwrap();
        assert_eq!(
            message(verify(file.into(), 4096)),
            "the region's fd is not shared memory (a memfd or ashmem) but a file that cannot be sealed"
        );
        let (socket, _peer) = std::os::unix::net::UnixStream::pair().unwrap();
        assert_eq!(
            message(verify(socket.into(), 4096)),
            "the region's fd is not shared memory (a memfd or ashmem) but a socket"
        );
        let null =
            rustix::fs::open("/dev/null", OFlags::RDWR | OFlags::CLOEXEC, Mode::empty()).unwrap();
        assert_eq!(
            message(verify(null, 4096)),
            "the region's fd is not shared memory (a memfd or ashmem) but a character device"
        );
    }

    /// A misc device that is not ashmem is never asked for an ashmem size.
    #[test]
    fn a_misc_device_other_than_ashmem_is_refused() {
        let misc = misc_device();
        assert_eq!(
            rustix::fs::major(rustix::fs::fstat(&misc).unwrap().st_rdev),
            MISC_MAJOR
        );
        assert!(path_of(&misc).is_some_and(|p| p.starts_with(b"/dev/")));
        assert_eq!(
            message(verify(misc, 4096)),
            "the region's fd is not shared memory (a memfd or ashmem) but a character device"
        );
    }

    /// An `O_PATH` fd of some misc device in /dev (the driver is not opened).
    fn misc_device() -> OwnedFd {
        std::fs::read_dir("/dev")
            .unwrap()
            .filter_map(|e| e.ok())
            .find_map(|e| {
                let fd = rustix::fs::open(e.path(), OFlags::PATH | OFlags::CLOEXEC, Mode::empty())
                    .ok()?;
                let st = rustix::fs::fstat(&fd).ok()?;
                (FileType::from_raw_mode(st.st_mode) == FileType::CharacterDevice
                    && rustix::fs::major(st.st_rdev) == MISC_MAJOR)
                    .then_some(fd)
            })
            .expect("no misc character device in /dev")
    }

    #[test]
    fn ashmem_is_a_misc_device_named_dev_ashmem() {
        let path = |p: &'static str| move || Some(p.as_bytes().to_vec());
        assert!(is_ashmem(MISC_MAJOR, path("/dev/ashmem")));
        assert!(is_ashmem(
            MISC_MAJOR,
            path("/dev/ashmem3b2ac1f4-6a39-4a7f-9d59-5d1b7f3d0a1e")
        ));
        assert!(!is_ashmem(MISC_MAJOR, path("/dev/fuse")));
        assert!(!is_ashmem(MISC_MAJOR, path("/memfd:x (deleted)")));
        assert!(!is_ashmem(MISC_MAJOR, || None));
        // Another driver's node named like ashmem is still not ashmem.
        assert!(!is_ashmem(1, path("/dev/ashmem")));
    }

    #[test]
    fn every_file_type_has_a_name() {
        for (file_type, name) in [
            (FileType::RegularFile, "regular file"),
            (FileType::Directory, "directory"),
            (FileType::Symlink, "symbolic link"),
            (FileType::Fifo, "pipe"),
            (FileType::Socket, "socket"),
            (FileType::CharacterDevice, "character device"),
            (FileType::BlockDevice, "block device"),
            (FileType::Unknown, "file of unknown type"),
        ] {
            assert_eq!(type_name(file_type), name);
        }
    }

    #[test]
    fn reported_sizes_are_bounded_and_too_large_is_named() {
        assert_eq!(region_size(4).unwrap(), 4);
        assert_eq!(region_size(MAX_SIZE as i64).unwrap(), MAX_SIZE);
        for bad in [i64::MIN, -1, 0, 3] {
            assert!(
                matches!(region_size(bad), Err(Error::BadSize(n)) if n == bad),
                "{bad}"
            );
        }
        for huge in [MAX_SIZE as i64 + 1, 1 << 40, i64::MAX] {
            assert!(
                matches!(region_size(huge), Err(Error::TooLarge { reported, max: MAX_SIZE }) if reported == huge),
                "{huge}"
            );
        }
        assert_eq!(
            region_size(1 << 40).unwrap_err().to_string(),
            "the service reported a region of 1099511627776 bytes, more than the 1073741824 bytes a client maps"
        );
    }
}
