//! Status codes, the thread's last error message, and the guard every
//! exported function runs its body in (panics become a status).

use std::cell::RefCell;
use std::ffi::CString;
use std::panic::{catch_unwind, AssertUnwindSafe};

use enea_buffer_client::Error;

use crate::sys;

/// What a call returns to C.
pub(crate) type Status = sys::enea_buffer_status;

/// Why a call failed: the library's error, or one found at the boundary.
pub(crate) enum Failure {
    /// The client library refused or failed.
    Lib(Error),
    /// A pointer, length or string the caller passed is unusable.
    Invalid(String),
    /// A wait ran out of time.
    Timeout(String),
    /// Another thread is inside a call on the handle.
    Busy(String),
}

impl From<Error> for Failure {
    fn from(e: Error) -> Self {
        Failure::Lib(e)
    }
}

/// The result of an exported function's body.
pub(crate) type Outcome = Result<(), Failure>;

/// The status for each class of library error; exhaustive, so a new error
/// variant must be given a class here before the crate builds.
fn class(e: &Error) -> Status {
    match e {
        Error::NoDaemon { .. } => sys::ENEA_BUFFER_ERR_NO_DAEMON,
        Error::FdPassingRefused(_) => sys::ENEA_BUFFER_ERR_NO_FD_PASSING,
        Error::ServiceGone(_) => sys::ENEA_BUFFER_ERR_SERVICE_GONE,
        Error::Unresponsive { .. } => sys::ENEA_BUFFER_ERR_TIMEOUT,
        Error::Call { .. } => sys::ENEA_BUFFER_ERR_REFUSED,
        Error::BadSize(_) => sys::ENEA_BUFFER_ERR_BAD_SIZE,
        Error::TooLarge { .. } => sys::ENEA_BUFFER_ERR_TOO_LARGE,
        Error::NotSharedMemory(_) => sys::ENEA_BUFFER_ERR_NOT_SHARED_MEMORY,
        Error::NotSealed(_) => sys::ENEA_BUFFER_ERR_NOT_SEALED,
        Error::SizeMismatch { .. } => sys::ENEA_BUFFER_ERR_SIZE_MISMATCH,
        Error::Inspect { .. } | Error::Map(_) | Error::Stat(_) => sys::ENEA_BUFFER_ERR_SYSTEM,
        Error::OutOfBounds { .. } => sys::ENEA_BUFFER_ERR_OUT_OF_BOUNDS,
        Error::ReadOnly => sys::ENEA_BUFFER_ERR_READ_ONLY,
        Error::Misaligned { .. } => sys::ENEA_BUFFER_ERR_MISALIGNED,
        Error::Unsupported { .. } => sys::ENEA_BUFFER_ERR_UNSUPPORTED,
        Error::Abandoned { .. } => sys::ENEA_BUFFER_ERR_ABANDONED,
        Error::Busy { .. } => sys::ENEA_BUFFER_ERR_BUSY,
        Error::UntrustedSocket { .. } => sys::ENEA_BUFFER_ERR_UNTRUSTED_SOCKET,
        Error::RngNotSeeded(_) => sys::ENEA_BUFFER_ERR_RNG_NOT_SEEDED,
        Error::Wedged { .. } => sys::ENEA_BUFFER_ERR_WEDGED,
        Error::Unsettled { .. } => sys::ENEA_BUFFER_ERR_TIMEOUT,
        Error::NoLayout { .. } => sys::ENEA_BUFFER_ERR_UNSUPPORTED,
        Error::ControlWords { .. } => sys::ENEA_BUFFER_ERR_CONTROL_WORDS,
        Error::SocketDenied { .. } | Error::Refused { .. } => sys::ENEA_BUFFER_ERR_REFUSED,
        Error::NoTransport { .. } => sys::ENEA_BUFFER_ERR_NO_DAEMON,
        Error::FdLimit { .. } | Error::FileTableFull(_) => sys::ENEA_BUFFER_ERR_FD_LIMIT,
    }
}

impl Failure {
    fn into_parts(self) -> (Status, String) {
        match self {
            Failure::Lib(e) => (class(&e), e.to_string()),
            Failure::Invalid(m) => (sys::ENEA_BUFFER_ERR_INVALID_ARGUMENT, m),
            Failure::Timeout(m) => (sys::ENEA_BUFFER_ERR_TIMEOUT, m),
            Failure::Busy(m) => (sys::ENEA_BUFFER_ERR_BUSY, m),
        }
    }
}

thread_local! {
    /// The message of this thread's last failed call.
    static LAST_ERROR: RefCell<Option<CString>> = const { RefCell::new(None) };
}

/// Records `message` as this thread's last error.
fn set_last_error(message: String) {
    // A C string cannot hold NUL; a message never should either.
    let message = CString::new(message.replace('\0', "\\0")).unwrap_or_default();
    // During thread exit the slot may be gone: the message is then moot.
    let _ = LAST_ERROR.try_with(|slot| *slot.borrow_mut() = Some(message));
}

/// Copies this thread's last error into `out` (cut and NUL-terminated);
/// returns the message's full length.
pub(crate) fn copy_last_error(out: &mut [u8]) -> usize {
    LAST_ERROR
        .try_with(|slot| {
            let slot = slot.borrow();
            let bytes = slot.as_ref().map_or(&[][..], |m| m.as_bytes());
            if let Some(room) = out.len().checked_sub(1) {
                let n = bytes.len().min(room);
                out[..n].copy_from_slice(&bytes[..n]);
                out[n] = 0;
            }
            bytes.len()
        })
        .unwrap_or(0)
}

/// The text of a panic's payload.
fn panic_text(payload: &(dyn std::any::Any + Send)) -> &str {
    payload
        .downcast_ref::<&str>()
        .copied()
        .or_else(|| payload.downcast_ref::<String>().map(String::as_str))
        .unwrap_or("a panic without a message")
}

/// Runs an exported function's body: its failure, or a panic inside it,
/// becomes a status and this thread's last error; nothing unwinds into C.
pub(crate) fn guard(body: impl FnOnce() -> Outcome) -> Status {
    // AssertUnwindSafe: after a panic the caller gets PANIC and may still
    // use its handles; what they hold is either immutable after creation or
    // atomics in the shared region, and locks are taken past poisoning
    // (`shared`), so no half-updated Rust state is observable.
    match catch_unwind(AssertUnwindSafe(body)) {
        Ok(Ok(())) => sys::ENEA_BUFFER_OK,
        Ok(Err(failure)) => {
            let (status, message) = failure.into_parts();
            set_last_error(message);
            status
        }
        Err(payload) => {
            set_last_error(format!(
                "the client library panicked (a bug; please report it): {}",
                panic_text(&*payload)
            ));
            sys::ENEA_BUFFER_ERR_PANIC
        }
    }
}

/// Runs a close function's body; a panic there is swallowed (close has no
/// status to return) but recorded as the last error.
pub(crate) fn guard_close(body: impl FnOnce()) {
    let _ = guard(|| {
        body();
        Ok(())
    });
}

/// The name of `status` as the header spells it.
pub(crate) fn name(status: Status) -> &'static std::ffi::CStr {
    macro_rules! names {
        ($($c:ident),* $(,)?) => {
            match status {
                $(sys::$c => match std::ffi::CStr::from_bytes_with_nul(
                    concat!(stringify!($c), "\0").as_bytes(),
                ) {
                    Ok(s) => s,
                    Err(_) => c"?",
                },)*
                _ => c"unknown status",
            }
        };
    }
    names!(
        ENEA_BUFFER_OK,
        ENEA_BUFFER_ERR_INVALID_ARGUMENT,
        ENEA_BUFFER_ERR_NO_DAEMON,
        ENEA_BUFFER_ERR_SERVICE_GONE,
        ENEA_BUFFER_ERR_REFUSED,
        ENEA_BUFFER_ERR_NO_FD_PASSING,
        ENEA_BUFFER_ERR_UNTRUSTED_SOCKET,
        ENEA_BUFFER_ERR_BAD_SIZE,
        ENEA_BUFFER_ERR_TOO_LARGE,
        ENEA_BUFFER_ERR_NOT_SHARED_MEMORY,
        ENEA_BUFFER_ERR_NOT_SEALED,
        ENEA_BUFFER_ERR_SIZE_MISMATCH,
        ENEA_BUFFER_ERR_SYSTEM,
        ENEA_BUFFER_ERR_OUT_OF_BOUNDS,
        ENEA_BUFFER_ERR_READ_ONLY,
        ENEA_BUFFER_ERR_MISALIGNED,
        ENEA_BUFFER_ERR_UNSUPPORTED,
        ENEA_BUFFER_ERR_ABANDONED,
        ENEA_BUFFER_ERR_BUSY,
        ENEA_BUFFER_ERR_TIMEOUT,
        ENEA_BUFFER_ERR_RNG_NOT_SEEDED,
        ENEA_BUFFER_ERR_PANIC,
        ENEA_BUFFER_ERR_WEDGED,
        ENEA_BUFFER_ERR_CONTROL_WORDS,
        ENEA_BUFFER_ERR_FD_LIMIT,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn last_error() -> String {
        let mut buf = [0u8; 256];
        let len = copy_last_error(&mut buf);
        String::from_utf8(buf[..len].to_vec()).unwrap()
    }

    /// A panic in a body is a status and a message, not an unwind into C.
    #[test]
    fn a_panic_becomes_the_panic_status_and_its_message() {
        let status = guard(|| panic!("boom at {}", 42));
        assert_eq!(status, sys::ENEA_BUFFER_ERR_PANIC);
        assert!(last_error().ends_with("boom at 42"), "{}", last_error());
    }

    /// A failure sets this thread's message; a success leaves it alone.
    #[test]
    fn failures_set_the_threads_message_and_successes_keep_it() {
        let status = guard(|| Err(Error::ReadOnly.into()));
        assert_eq!(status, sys::ENEA_BUFFER_ERR_READ_ONLY);
        assert_eq!(guard(|| Ok(())), sys::ENEA_BUFFER_OK);
        assert_eq!(last_error(), "the mapping is read-only");
        // Another thread has its own (empty) message.
        let other = std::thread::spawn(last_error).join().unwrap();
        assert_eq!(other, "");
    }

    /// Every status has its header name.
    #[test]
    fn statuses_have_their_header_names() {
        assert_eq!(name(sys::ENEA_BUFFER_OK).to_str(), Ok("ENEA_BUFFER_OK"));
        assert_eq!(
            name(sys::ENEA_BUFFER_ERR_PANIC).to_str(),
            Ok("ENEA_BUFFER_ERR_PANIC")
        );
        for status in sys::ENEA_BUFFER_OK..=sys::ENEA_BUFFER_ERR_FD_LIMIT {
            assert_ne!(name(status).to_str(), Ok("unknown status"), "{status}");
        }
        assert_eq!(name(99).to_str(), Ok("unknown status"));
    }
}
