//! Where and how to connect: the options every layer above reads.

use std::path::PathBuf;
use std::time::Duration;

/// Which transport to look for the service on.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// Kernel binder if the service is registered there, else the Unix socket.
    Auto,
    /// Kernel binder through the service manager only.
    Binder,
    /// rsbinder RPC over a Unix socket only.
    Socket,
}

impl std::str::FromStr for Transport {
    type Err = String;

    /// Parses `auto`, `binder` or `socket`, as the CLI flags spell them.
    fn from_str(text: &str) -> std::result::Result<Self, String> {
        match text {
            "auto" => Ok(Transport::Auto),
            "binder" => Ok(Transport::Binder),
            "socket" => Ok(Transport::Socket),
            _ => Err(format!(
                "'{text}' is not a transport: use auto, binder or socket"
            )),
        }
    }
}

/// The transport a connection actually uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TransportKind {
    /// Kernel binder driver.
    KernelBinder,
    /// RPC over a Unix socket, fds passed with SCM_RIGHTS.
    UnixSocket,
}

impl std::fmt::Display for TransportKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            TransportKind::KernelBinder => "kernel binder",
            TransportKind::UnixSocket => "unix socket (rsbinder RPC)",
        })
    }
}

/// Where and how to connect.
#[derive(Clone, Debug)]
pub struct ConnectOptions {
    /// Transport to use.
    pub transport: Transport,
    /// Socket path for the socket transport.
    pub socket: PathBuf,
    /// Binder device; `None` tries /dev/binderfs/binder, then /dev/binder.
    pub binder_device: Option<PathBuf>,
    /// Service instance (`default`).
    pub instance: String,
    /// How long a silent daemon may keep a call waiting (socket transport),
    /// and how long [`crate::Connection::dump`] waits (any transport).
    pub timeout: Duration,
    /// Prepare the connection for [`Connection::link_to_death`]: a binder
    /// looper thread (kernel) or a callback connection (RPC).
    pub death_notifications: bool,
}

impl Default for ConnectOptions {
    fn default() -> Self {
        Self {
            transport: Transport::Auto,
            socket: enea_buffer_common::client_socket(),
            binder_device: None,
            instance: "default".into(),
            timeout: Duration::from_secs(10),
            death_notifications: false,
        }
    }
}

impl ConnectOptions {
    /// The full service name: `<descriptor>/<instance>`.
    pub fn service_name(&self) -> String {
        enea_buffer_common::service_name(&self.instance)
    }
}
