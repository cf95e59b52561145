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

mod connect;
mod dump;
mod error;
mod mapping;
mod platform;

pub use connect::{
    declared_instances, default_socket, ConnectOptions, Connection, DeathWatch, Transport,
    TransportKind, DEFAULT_SOCKET, DESCRIPTOR, MAX_SIZE, SOCKET_ENV, USER_SOCKET_NAME,
};
pub use error::{Error, Result};
pub use mapping::{FileIdentity, MapOptions, ReadOnlyBuffer, SharedBuffer};
