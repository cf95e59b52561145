//! One daemon per socket path: an exclusive `flock` on `<socket>.lock`,
//! held for the daemon's life.
//!
//! rsbinder already refuses to bind over a socket a live server answers on,
//! but its probe-then-unlink is not atomic: two daemons starting together
//! could both see a stale socket and the second would unlink the first's.
//! The lock makes start-up race-free and gives the clear error.
//!
//! The socket's directory may be shared (a sticky, world-writable one), so
//! the lock file is never trusted by name: it is opened without following
//! a symlink and without blocking on a FIFO, and taken only when it is a
//! regular file of the daemon's own uid.

use std::io;
use std::os::fd::{AsFd, OwnedFd};
use std::path::{Path, PathBuf};

use rustix::fs::{FileType, FlockOperation, Mode, OFlags};
use rustix::io::Errno;

/// Why the socket path cannot be taken.
#[derive(Debug, thiserror::Error)]
pub enum LockError {
    /// The directory that should hold the socket does not exist.
    #[error("socket directory {0} does not exist")]
    NoDirectory(PathBuf),
    /// The directory exists but this process cannot create files in it.
    #[error("socket directory {0} is not writable ({1})")]
    NotWritable(PathBuf, io::Error),
    /// Another live daemon holds the lock.
    #[error("{0} is already served by a live vendor.enea.buffer-service (lock {1} is held)")]
    InUse(PathBuf, PathBuf),
    /// Something other than the daemon's own regular file sits at the lock's
    /// path: another user may have planted it to keep the daemon out.
    #[error("refusing the lock file {0}: {1}; another user may have placed it there: remove it, or serve from a directory only the daemon's user can write (e.g. --socket /run/vendor.enea.buffer/socket as root)")]
    Untrusted(PathBuf, String),
    /// Anything else the filesystem reported.
    #[error("cannot lock {0}: {1}")]
    Other(PathBuf, io::Error),
}

/// The held lock; dropping it (or exiting) releases it.
#[derive(Debug)]
pub struct SocketLock {
    _file: OwnedFd,
}

/// Takes the lock that guards `socket`.
pub fn lock_socket_path(socket: &Path) -> Result<SocketLock, LockError> {
    let dir = match socket.parent() {
        Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
        _ => PathBuf::from("."),
    };
    if !dir.is_dir() {
        return Err(LockError::NoDirectory(dir));
    }
    let mut lock_path = socket.as_os_str().to_owned();
    lock_path.push(".lock");
    let lock_path = PathBuf::from(lock_path);
    let file = rustix::fs::open(
        &lock_path,
        OFlags::CREATE | OFlags::WRONLY | OFlags::NOFOLLOW | OFlags::NONBLOCK | OFlags::CLOEXEC,
        Mode::from_raw_mode(0o600),
    )
    .map_err(|e| match e {
        Errno::ACCESS | Errno::PERM | Errno::ROFS => LockError::NotWritable(dir.clone(), e.into()),
        // O_NOFOLLOW on a symlink.
        Errno::LOOP => LockError::Untrusted(lock_path.clone(), "it is a symbolic link".into()),
        // O_NONBLOCK|O_WRONLY on a FIFO nobody reads.
        Errno::NXIO => LockError::Untrusted(lock_path.clone(), "it is a FIFO".into()),
        e => LockError::Other(lock_path.clone(), e.into()),
    })?;
    let stat =
        rustix::fs::fstat(&file).map_err(|e| LockError::Other(lock_path.clone(), e.into()))?;
    let kind = FileType::from_raw_mode(stat.st_mode);
    if kind != FileType::RegularFile {
        return Err(LockError::Untrusted(
            lock_path,
            format!("it is a {kind:?}, not a regular file"),
        ));
    }
    let me = enea_buffer_common::effective_uid();
    if stat.st_uid != me {
        return Err(LockError::Untrusted(
            lock_path,
            format!(
                "it is owned by uid {}, not by this daemon's uid {me}",
                stat.st_uid
            ),
        ));
    }
    match rustix::fs::flock(file.as_fd(), FlockOperation::NonBlockingLockExclusive) {
        Ok(()) => Ok(SocketLock { _file: file }),
        Err(Errno::WOULDBLOCK) => Err(LockError::InUse(socket.to_path_buf(), lock_path)),
        Err(e) => Err(LockError::Other(lock_path, e.into())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn second_lock_on_the_same_path_is_refused() {
        let dir = std::env::temp_dir().join(format!("enea-lock-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let sock = dir.join("s.sock");
        let first = lock_socket_path(&sock).unwrap();
        assert!(matches!(lock_socket_path(&sock), Err(LockError::InUse(..))));
        drop(first);
        assert!(lock_socket_path(&sock).is_ok());
        std::fs::remove_dir_all(&dir).unwrap();
    }

    fn scratch(name: &str) -> PathBuf {
        let dir = std::env::temp_dir().join(format!("enea-lock-{name}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).unwrap();
        dir
    }

    #[test]
    fn a_symlink_at_the_lock_path_is_refused_and_not_followed() {
        let dir = scratch("symlink");
        let target = dir.join("elsewhere");
        std::os::unix::fs::symlink(&target, dir.join("s.sock.lock")).unwrap();
        let err = lock_socket_path(&dir.join("s.sock"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("is a symbolic link") && err.contains("remove it"),
            "{err}"
        );
        assert!(!target.exists(), "the dangling symlink was followed");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn a_fifo_at_the_lock_path_is_refused_without_blocking() {
        let dir = scratch("fifo");
        let fifo = dir.join("s.sock.lock");
        rustix::fs::mknodat(
            rustix::fs::CWD,
            &fifo,
            FileType::Fifo,
            Mode::from_raw_mode(0o666),
            0,
        )
        .unwrap();
        let err = lock_socket_path(&dir.join("s.sock"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("is a FIFO"), "{err}");
        // With a reader the open succeeds; the type check refuses it then.
        let _reader =
            rustix::fs::open(&fifo, OFlags::RDONLY | OFlags::NONBLOCK, Mode::empty()).unwrap();
        let err = lock_socket_path(&dir.join("s.sock"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("not a regular file"), "{err}");
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn another_users_lock_file_is_refused() {
        let dir = scratch("owner");
        let lock = dir.join("s.sock.lock");
        std::fs::write(&lock, b"").unwrap();
        // Only root can give a file away (the suite runs as root).
        assert_eq!(
            enea_buffer_common::effective_uid(),
            0,
            "run the tests as root"
        );
        rustix::fs::chown(&lock, Some(rustix::fs::Uid::from_raw(4242)), None).unwrap();
        let err = lock_socket_path(&dir.join("s.sock"))
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("owned by uid 4242, not by this daemon's uid 0"),
            "{err}"
        );
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[test]
    fn missing_directory_is_named() {
        let err = lock_socket_path(Path::new("/nonexistent-enea/s.sock")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "socket directory /nonexistent-enea does not exist"
        );
    }
}
