//! Connecting to the service and fetching mappings of its region.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::time::Duration;

use crate::error::{Error, Result};
use crate::mapping::{Layout, MapOptions, Mapping, ReadOnlyBuffer, SharedBuffer, CONTROL_SIZE};
use crate::platform::{self, IEneaBuffer, Keepalive, Status, Strong};
use crate::verify::{self, VerifiedFd};

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
    /// How long a silent daemon may keep a call waiting (socket transport).
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

/// The instance names `options` can reach: the service manager's declared
/// instances of IEneaBuffer (VINTF), or, on a socket, the one it serves.
pub fn declared_instances(options: &ConnectOptions) -> Result<Vec<String>> {
    platform::declared_instances(options)
}

/// A connection to the service; mappings made from it keep it alive.
pub struct Connection {
    keepalive: Keepalive,
    options: ConnectOptions,
    endpoint: String,
    transport: TransportKind,
    size: usize,
    version: i32,
}

/// A registered death notification; dropping it cancels the callback.
pub struct DeathWatch {
    _link: platform::DeathLink,
}

impl Connection {
    /// Looks the service up and asks for the region's size.
    pub fn connect(options: &ConnectOptions) -> Result<Self> {
        let opened = platform::open(options)?;
        let mut conn = Self {
            keepalive: opened.keepalive,
            options: options.clone(),
            endpoint: opened.endpoint,
            transport: opened.transport,
            size: 0,
            version: 0,
        };
        conn.version = conn
            .service()
            .r#getInterfaceVersion()
            .map_err(|s| conn.call_error("getInterfaceVersion", s))?;
        let reported = conn
            .service()
            .r#getBufferSize()
            .map_err(|s| conn.call_error("getBufferSize", s))?;
        conn.size = verify::region_size(reported)?;
        Ok(conn)
    }

    /// The service's interface version (`getInterfaceVersion()`): 1 for a
    /// V1 service, which has no region layout (no change notification, no
    /// records; see [`Error::Unsupported`]), 2 or more otherwise.
    pub fn interface_version(&self) -> i32 {
        self.version
    }

    /// The region's size in bytes, as the service reported it.
    pub fn size(&self) -> usize {
        self.size
    }

    /// Where the service was found (e.g. `unix:///run/vendor.enea.buffer/socket`).
    pub fn endpoint(&self) -> &str {
        &self.endpoint
    }

    /// The transport the calls travel on.
    pub fn transport(&self) -> TransportKind {
        self.transport
    }

    /// What keeps the service reachable (for the platform seam).
    pub(crate) fn keepalive(&self) -> &Keepalive {
        &self.keepalive
    }

    /// The service proxy, for callers that need more than mappings.
    pub fn service(&self) -> &Strong<dyn IEneaBuffer> {
        &self.keepalive.service
    }

    /// Whether the service still answers (a binder ping).
    pub fn is_alive(&self) -> bool {
        platform::ping(&self.keepalive)
    }

    /// Calls `on_death` once when the service dies or the connection to it
    /// is lost. Needs [`ConnectOptions::death_notifications`].
    pub fn link_to_death(&self, on_death: impl Fn() + Send + Sync + 'static) -> Result<DeathWatch> {
        platform::link_to_death(&self.keepalive, Box::new(on_death))
            .map(|link| DeathWatch { _link: link })
            .map_err(|status| Error::Call {
                call: "linkToDeath",
                status: format!("{status:?}"),
            })
    }

    /// A fresh connection with the same options, e.g. after the service
    /// died and was restarted; mappings of the old one stay valid.
    pub fn reconnect(&self) -> Result<Connection> {
        Connection::connect(&self.options)
    }

    /// Maps the region read-write.
    pub fn map(&self) -> Result<SharedBuffer> {
        self.map_with(MapOptions::default())
    }

    /// Maps the region read-write with `options`.
    /// From a V2 service in one call (`getRegion`: descriptor, size and
    /// layout together); from a V1 service with `getBuffer`, without layout.
    pub fn map_with(&self, options: MapOptions) -> Result<SharedBuffer> {
        let (region, layout) = if self.version >= 2 {
            self.fetch_region("getRegion", |s| s.r#getRegion())?
        } else {
            let fd = self.fetch("getBuffer", |s| s.r#getBuffer())?;
            (fd, Layout::None(self.version))
        };
        let map = Mapping::new(region, true, options)?;
        Ok(SharedBuffer::new(map, layout, self.keepalive.clone()))
    }

    /// Maps the read-only view of the region.
    pub fn map_read_only(&self) -> Result<ReadOnlyBuffer> {
        let (region, layout) = if self.version >= 2 {
            self.fetch_region("getReadOnlyRegion", |s| s.r#getReadOnlyRegion())?
        } else {
            let fd = self.fetch("getReadOnlyBuffer", |s| s.r#getReadOnlyBuffer())?;
            (fd, Layout::None(self.version))
        };
        let map = Mapping::new(region, false, MapOptions::default())?;
        Ok(ReadOnlyBuffer::new(map, layout, self.keepalive.clone()))
    }

    /// Calls a V2 region getter and checks what it returns: the fd holds
    /// exactly the size that came with it (which must also be the size the
    /// connection reported), and the layout is one this library knows.
    fn fetch_region(
        &self,
        call: &'static str,
        get: impl FnOnce(&Strong<dyn IEneaBuffer>) -> std::result::Result<platform::Region, Status>,
    ) -> Result<(VerifiedFd, Layout)> {
        let region = get(self.service()).map_err(|s| self.call_error(call, s))?;
        let size = verify::region_size(region.size)?;
        let fd: OwnedFd = region
            .fd
            .ok_or_else(|| Error::Call {
                call,
                status: "the reply carries no file descriptor".into(),
            })?
            .into();
        let verified = verify::verify(fd, size)?;
        if size != self.size {
            return Err(Error::SizeMismatch {
                reported: self.size,
                actual: size as u64,
            });
        }
        let layout = if region.layoutVersion == 1 && size >= CONTROL_SIZE {
            Layout::V1
        } else {
            Layout::None(self.version)
        };
        Ok((verified, layout))
    }

    /// Calls the getter and checks the fd it returns: a region of exactly
    /// the reported size that nobody can resize (see `verify`).
    fn fetch(
        &self,
        call: &'static str,
        get: impl FnOnce(&Strong<dyn IEneaBuffer>) -> std::result::Result<platform::ParcelFd, Status>,
    ) -> Result<VerifiedFd> {
        let fd: OwnedFd = get(self.service())
            .map_err(|s| self.call_error(call, s))?
            .into();
        verify::verify(fd, self.size)
    }

    fn call_error(&self, call: &'static str, status: Status) -> Error {
        if platform::is_dead(&status) {
            Error::ServiceGone(self.endpoint.clone())
        } else if let Some(message) = platform::security_message(&status) {
            // The daemon's policy names the call itself: say it once.
            let message = message
                .strip_prefix(call)
                .and_then(|m| m.strip_prefix(": "))
                .unwrap_or(&message)
                .to_owned();
            Error::Refused {
                call,
                message,
                uid: enea_buffer_common::effective_uid(),
                // Only the read-write getters need more than `ro`.
                needs: match call {
                    "getBuffer" | "getRegion" => "rw",
                    _ => "ro",
                },
            }
        } else {
            Error::Call {
                call,
                status: status.to_string(),
            }
        }
    }
}
