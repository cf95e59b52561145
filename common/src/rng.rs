//! Waiting for the kernel's CSPRNG before the socket transport is used.
//!
//! rsbinder draws every RPC session id from `getrandom`. In a statically
//! linked build the `getrandom` crate falls back to `poll`ing `/dev/random`
//! with no timeout, which does nothing to seed the kernel's generator: with
//! little entropy and no RDRAND or virtio-rng (early boot, a VM under TCG)
//! both peers then hang for minutes, before any socket deadline applies. A
//! *blocking read* of `/dev/random` makes the kernel gather entropy itself
//! (Linux >= 5.4, about a second), so both sides do that read first.

use std::io;
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::Duration;

use rustix::fs::{Mode, OFlags};

/// A blocking read of `/dev/random` in progress on a helper thread.
pub struct KernelRngWait {
    done: Receiver<io::Result<()>>,
}

impl KernelRngWait {
    /// `None` when the generator is seeded already (or there is no
    /// `/dev/random` to ask, as in some containers: then `getrandom(2)` is
    /// all there is); else starts the read that makes the kernel seed it.
    pub fn start() -> io::Result<Option<Self>> {
        if read_one(OFlags::NONBLOCK) != Err(rustix::io::Errno::AGAIN) {
            return Ok(None);
        }
        let (tx, done) = mpsc::channel();
        std::thread::Builder::new()
            .name("rng-seed".into())
            .spawn(move || {
                let _ = tx.send(read_one(OFlags::empty()).map(drop).map_err(io::Error::from));
            })?;
        Ok(Some(Self { done }))
    }

    /// Waits at most `timeout`: `Some(Ok)` once seeded, `Some(Err)` if the
    /// read failed, `None` while still waiting (call again to go on).
    pub fn wait(&self, timeout: Duration) -> Option<io::Result<()>> {
        match self.done.recv_timeout(timeout) {
            Ok(result) => Some(result),
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => Some(Err(io::Error::other(
                "the RNG wait thread ended without an answer",
            ))),
        }
    }
}

fn read_one(flags: OFlags) -> rustix::io::Result<usize> {
    let fd = rustix::fs::open(
        "/dev/random",
        flags | OFlags::RDONLY | OFlags::CLOEXEC,
        Mode::empty(),
    )?;
    rustix::io::read(&fd, &mut [0u8; 1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_seeded_kernel_needs_no_wait() {
        // Any kernel that has run this long is seeded. The unseeded path
        // needs an unseeded kernel (early boot): no test here reaches it.
        assert!(KernelRngWait::start().unwrap().is_none());
    }
}
