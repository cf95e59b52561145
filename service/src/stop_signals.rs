//! SIGTERM (init's `stop`) and SIGINT (Ctrl-C) as a future, without tokio's
//! `signal` feature, which AOSP's libtokio is built without.
//!
//! Both signals are blocked before any thread exists, so every thread
//! inherits the mask, and one thread takes them with `sigwait(3)`. No
//! handler ever runs, so nothing has to be async-signal-safe, and the same
//! code serves both platforms. While the daemon stops, further SIGTERM or
//! SIGINT stay pending and are ignored; SIGKILL still ends it.

use std::io;
use std::mem::MaybeUninit;

use tokio::sync::oneshot;

/// The stop signals, caught; see [`StopSignals::wait`].
pub struct StopSignals {
    received: oneshot::Receiver<&'static str>,
}

impl StopSignals {
    /// Blocks SIGTERM and SIGINT in the calling thread and in every thread
    /// started after it, and starts the thread that waits for them. Call it
    /// first in `main`, before any other thread exists: a thread started
    /// earlier keeps them unblocked and a signal delivered there kills the
    /// process.
    pub fn install() -> io::Result<Self> {
        let set = stop_set()?;
        // SAFETY: `set` is an initialised sigset_t; a null old-set pointer is allowed.
        let rc = unsafe { libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut()) };
        if rc != 0 {
            return Err(io::Error::from_raw_os_error(rc));
        }
        let (tx, received) = oneshot::channel();
        std::thread::Builder::new()
            .name("stop-signals".into())
            .spawn(move || {
                let mut signal: libc::c_int = 0;
                // SAFETY: both pointers are valid for the call; `set` is initialised.
                let rc = unsafe { libc::sigwait(&set, &mut signal) };
                let name = match (rc, signal) {
                    (0, libc::SIGTERM) => "SIGTERM",
                    (0, libc::SIGINT) => "SIGINT",
                    // sigwait fails only for an invalid set; stop rather than serve unstoppable.
                    _ => "an unexpected sigwait result",
                };
                let _ = tx.send(name);
            })?;
        Ok(Self { received })
    }

    /// Resolves with the signal's name when SIGTERM or SIGINT arrives.
    pub async fn wait(self) -> &'static str {
        // The sender only goes away without sending if its thread died.
        self.received
            .await
            .unwrap_or("the loss of the signal thread")
    }
}

/// The set {SIGTERM, SIGINT}.
fn stop_set() -> io::Result<libc::sigset_t> {
    let mut set = MaybeUninit::<libc::sigset_t>::uninit();
    // SAFETY: sigemptyset initialises the set it is given; sigaddset then
    // only reads and writes that initialised set.
    unsafe {
        if libc::sigemptyset(set.as_mut_ptr()) != 0
            || libc::sigaddset(set.as_mut_ptr(), libc::SIGTERM) != 0
            || libc::sigaddset(set.as_mut_ptr(), libc::SIGINT) != 0
        {
            return Err(io::Error::last_os_error());
        }
        Ok(set.assume_init())
    }
}
