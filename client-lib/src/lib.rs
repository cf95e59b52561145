//! Client library for the `vendor.enea.buffer` HAL: connect to the service,
//! fetch its shared-memory fd over binder, map it, and access it safely
//! while other processes write the same pages.
//!
//! ```no_run
//! use enea_buffer_client::{ConnectOptions, Connection};
//! let conn = Connection::connect(&ConnectOptions::default())?;
//! let buffer = conn.map()?;
//! let before = buffer.fetch_add_u32(0, 1)?;
//! println!("{before:#x} -> {:#x}", buffer.load_u32(0)?);
//! # Ok::<(), enea_buffer_client::Error>(())
//! ```
//!
//! # Guarantees
//!
//! - **No server or peer can make a client fault.** A region is mapped only
//!   after its fd was checked: a memfd must be sealed against shrinking and
//!   growing (`F_SEAL_SHRINK | F_SEAL_GROW`) and hold exactly the size the
//!   service reported; ashmem (older devices) must report exactly that size
//!   through `ASHMEM_GET_SIZE`; a reported size above [`MAX_SIZE`] is
//!   refused before anything is fetched. Anything else is refused with an
//!   [`Error`] that names the problem (e.g. "region is not sealed against
//!   shrinking") and is never mapped, so nobody can truncate the file under
//!   the mapping and turn an access into SIGBUS. Every access is
//!   bounds-checked, and atomics are alignment-checked, before it is made.
//! - **Sound access to memory other processes write.** The mapping is never
//!   exposed as a Rust slice. Word access is atomic, byte-range copies are
//!   volatile, and no safe API lets the two meet on the same bytes within
//!   this process (see [`SharedBuffer`]).
//!   A read-only mapping is read with `Relaxed` loads and an `Acquire` fence,
//!   as the standard library allows on read-only memory.

// Layers: each module uses only modules on its left (no import circles).
// Connection: error <- fd_limit, options <- platform <- connect.
// Memory: error <- verify <- mapping <- copy <- record (+ layout, liveness),
// waiters (+ futex) <- buffer. connect uses the memory layers, never the
// other way round: buffers hold the connection as an opaque keep-alive.
// fuzzing sits on top of them all.
mod buffer;
mod connect;
mod copy;
mod error;
mod fd_limit;
mod futex;
/// For fuzzers only, not API: the region checks without a service.
#[doc(hidden)]
pub mod fuzzing;
mod layout;
mod liveness;
mod mapping;
mod options;
mod platform;
mod record;
mod verify;
mod waiters;

pub use buffer::{FileIdentity, ReadOnlyBuffer, SharedBuffer};
pub use connect::{declared_instances, Connection, DeathWatch};
pub use enea_buffer_common::{
    client_socket, descriptor, MAX_SIZE, ROOT_SOCKET, SOCKET_ENV, USER_SOCKET_NAME,
};
pub use error::{Error, FdUsage, Result};
pub use layout::{CONTROL_SIZE, RECORD_HEADER_SIZE, WAITERS_OFFSET};
pub use mapping::MapOptions;
pub use options::{ConnectOptions, Transport, TransportKind};
pub use waiters::WaitOptions;
