//! One daemon per socket path: an exclusive `flock` on `<socket>.lock`,
//! held for the daemon's life.
//!
//! rsbinder already refuses to bind over a socket a live server answers on,
//! but its probe-then-unlink is not atomic: two daemons starting together
//! could both see a stale socket and the second would unlink the first's.
//! The lock makes start-up race-free and gives the clear error.

use std::fs::File;
use std::io;
use std::os::fd::AsFd;
use std::path::{Path, PathBuf};

use rustix::fs::FlockOperation;
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
    /// Anything else the filesystem reported.
    #[error("cannot lock {0}: {1}")]
    Other(PathBuf, io::Error),
}

/// The held lock; dropping it (or exiting) releases it.
#[derive(Debug)]
pub struct SocketLock {
    _file: File,
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
    let file = File::options()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&lock_path)
        .map_err(|e| match e.kind() {
            io::ErrorKind::PermissionDenied | io::ErrorKind::ReadOnlyFilesystem => {
                LockError::NotWritable(dir.clone(), e)
            }
            _ => LockError::Other(lock_path.clone(), e),
        })?;
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

    #[test]
    fn missing_directory_is_named() {
        let err = lock_socket_path(Path::new("/nonexistent-enea/s.sock")).unwrap_err();
        assert_eq!(
            err.to_string(),
            "socket directory /nonexistent-enea does not exist"
        );
    }
}
