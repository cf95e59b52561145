//! Linux seam: rsbinder over kernel binder or RPC on a Unix socket.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rsbinder::entry::uri::{KernelEndpoint, WireProfile, WireVersion};
use rsbinder::rpc::{FileDescriptorTransportMode, RpcSession};
use rsbinder::{
    Client, DeathRecipient, Endpoint, ProcessState, StatusCode, TransportCaps, Uri, WIBinder,
};
pub use rsbinder::{ParcelFileDescriptor as ParcelFd, Status, Strong};
pub use vendor_enea_buffer::aidl::vendor::enea::buffer::IEneaBuffer::IEneaBuffer;
pub use vendor_enea_buffer::aidl::vendor::enea::buffer::Region::Region;

use crate::connect::{ConnectOptions, Transport, TransportKind, DESCRIPTOR};
use crate::error::{Error, Result};

/// Keeps the service reachable: the proxy and, for an RPC session with a
/// callback connection (needed for death notification), the session, which
/// must be closed explicitly once its last holder is gone.
#[derive(Clone)]
pub struct Keepalive {
    /// The proxy; over RPC it keeps its session alive.
    pub service: Strong<dyn IEneaBuffer>,
    _session: Option<Arc<SessionCloser>>,
}

struct SessionCloser(RpcSession);

impl Drop for SessionCloser {
    fn drop(&mut self) {
        self.0.close_session();
    }
}

/// A registered death notification; dropping it stops the callback.
pub struct DeathLink {
    _recipient: Arc<Recipient>,
}

struct Recipient(Box<dyn Fn() + Send + Sync>);

impl DeathRecipient for Recipient {
    fn binder_died(&self, _who: &WIBinder) {
        (self.0)()
    }
}

/// Calls `on_death` once the service behind `keepalive` dies.
pub fn link_to_death(
    keepalive: &Keepalive,
    on_death: Box<dyn Fn() + Send + Sync>,
) -> std::result::Result<DeathLink, StatusCode> {
    let recipient = Arc::new(Recipient(on_death));
    keepalive
        .service
        .as_binder()
        .link_to_death_arc(&recipient)?;
    Ok(DeathLink {
        _recipient: recipient,
    })
}

/// Whether the service behind `keepalive` still answers a binder ping.
pub fn ping(keepalive: &Keepalive) -> bool {
    keepalive.service.as_binder().ping_binder().is_ok()
}

/// A looked-up service and how it was reached.
pub struct Opened {
    /// What keeps the service reachable.
    pub keepalive: Keepalive,
    /// Where the service was found, for messages.
    pub endpoint: String,
    /// Which transport carries the calls.
    pub transport: TransportKind,
}

/// Finds `options.service_name()` on the transport `options` asks for.
pub fn open(options: &ConnectOptions) -> Result<Opened> {
    match options.transport {
        Transport::Binder => open_kernel(options),
        Transport::Socket => open_socket(options),
        // Kernel binder first, as the daemon prefers it; any failure falls back.
        Transport::Auto => open_kernel(options).or_else(|_| open_socket(options)),
    }
}

/// Instances of IEneaBuffer the service manager declares (VINTF on a
/// device, rsb_hub's configuration on Linux). A socket serves exactly one
/// instance and has no declarations: there it is `options.instance`.
pub fn declared_instances(options: &ConnectOptions) -> Result<Vec<String>> {
    let kernel = || -> Result<Vec<String>> {
        let device = binder_device(options)?;
        Client::open(Uri::new(KernelEndpoint::default().with_driver(&device))).map_err(|s| {
            Error::NoDaemon {
                endpoint: format!("kernel binder {}", device.display()),
                reason: format!("cannot open the driver: {s:?}"),
            }
        })?;
        rsbinder::hub::try_get_declared_instances(DESCRIPTOR).map_err(|s| Error::Call {
            call: "getDeclaredInstances",
            status: s.to_string(),
        })
    };
    match options.transport {
        Transport::Binder => kernel(),
        Transport::Socket => Ok(vec![options.instance.clone()]),
        Transport::Auto => kernel().or_else(|_| Ok(vec![options.instance.clone()])),
    }
}

/// True when `status` means the peer is gone rather than that it refused.
pub fn is_dead(status: &Status) -> bool {
    matches!(
        status.transaction_error(),
        StatusCode::DeadObject | StatusCode::RpcError
    )
}

fn binder_device(options: &ConnectOptions) -> Result<PathBuf> {
    let candidates: Vec<PathBuf> = match &options.binder_device {
        Some(d) => vec![d.clone()],
        None => [rsbinder::DEFAULT_BINDER_PATH, rsbinder::LEGACY_BINDER_PATH]
            .iter()
            .map(PathBuf::from)
            .collect(),
    };
    candidates
        .iter()
        .find(|p| p.exists())
        .cloned()
        .ok_or_else(|| Error::NoDaemon {
            endpoint: "kernel binder".into(),
            reason: format!(
                "no binder device at {}",
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ),
        })
}

fn open_kernel(options: &ConnectOptions) -> Result<Opened> {
    let device = binder_device(options)?;
    let endpoint = format!("kernel binder {}", device.display());
    let no_daemon = |reason: String| Error::NoDaemon {
        endpoint: endpoint.clone(),
        reason,
    };
    let client = Client::open(Uri::new(KernelEndpoint::default().with_driver(&device)))
        .map_err(|s| no_daemon(format!("cannot open the driver: {s:?}")))?;
    let name = options.service_name();
    let service = client
        .try_get::<dyn IEneaBuffer>(&name)
        .map_err(|s| no_daemon(format!("service manager look-up of {name} failed: {s:?}")))?
        .ok_or_else(|| no_daemon(format!("{name} is not registered")))?;
    if options.death_notifications {
        // The driver delivers BR_DEAD_BINDER to a looper thread.
        ProcessState::start_thread_pool();
    }
    Ok(Opened {
        keepalive: Keepalive {
            service,
            _session: None,
        },
        endpoint,
        transport: TransportKind::KernelBinder,
    })
}

fn open_socket(options: &ConnectOptions) -> Result<Opened> {
    let path: &Path = &options.socket;
    let endpoint = format!("unix://{}", path.display());
    let no_daemon = |reason: String| Error::NoDaemon {
        endpoint: endpoint.clone(),
        reason,
    };
    if !path.exists() {
        return Err(no_daemon(format!("no socket at {}", path.display())));
    }
    let uri =
        Uri::new(Endpoint::unix(path)).with_wire(WireProfile::Android13Plus(WireVersion::MAX));
    let client = Client::open_with(uri, |o, _| {
        o.fd_mode = Some(FileDescriptorTransportMode::Unix);
        o.timeout = Some(options.timeout);
        // A connection the server can call back on is how RPC notices death.
        if options.death_notifications {
            o.incoming_connections = Some(1);
        }
    })
    .map_err(|s| match s {
        StatusCode::BadValue | StatusCode::InvalidOperation => {
            Error::FdPassingRefused(endpoint.clone())
        }
        s => no_daemon(format!("cannot connect: {s:?}")),
    })?;
    if !client.caps().contains(TransportCaps::FD_PASSING) {
        return Err(Error::FdPassingRefused(endpoint));
    }
    let name = options.service_name();
    let service = match client.try_get::<dyn IEneaBuffer>(&name) {
        Ok(Some(service)) => service,
        Ok(None) => return Err(no_daemon(format!("the daemon there does not serve {name}"))),
        // The android-13+ wire refuses an fd mode by closing the connection.
        Err(StatusCode::DeadObject) if answers_without_fds(options, &name) => {
            return Err(Error::FdPassingRefused(endpoint))
        }
        Err(s) => return Err(no_daemon(format!("look-up of {name} failed: {s:?}"))),
    };
    let session = options
        .death_notifications
        .then(|| client.session().cloned())
        .flatten()
        .map(|s| Arc::new(SessionCloser(s)));
    Ok(Opened {
        keepalive: Keepalive {
            service,
            _session: session,
        },
        endpoint,
        transport: TransportKind::UnixSocket,
    })
}

/// Whether the server answers a look-up, whatever the answer, on a
/// connection that asks for no fds: then fds were what it refused.
fn answers_without_fds(options: &ConnectOptions, name: &str) -> bool {
    let uri = Uri::new(Endpoint::unix(&options.socket))
        .with_wire(WireProfile::Android13Plus(WireVersion::MAX));
    Client::open_with(uri, |o, _| o.timeout = Some(options.timeout)).is_ok_and(|c| {
        !matches!(
            c.try_get::<dyn IEneaBuffer>(name),
            Err(StatusCode::DeadObject | StatusCode::RpcError)
        )
    })
}

/// Sends the dump transaction with `fd` for the service to write into.
pub fn dump(keepalive: &Keepalive, fd: std::os::fd::OwnedFd, endpoint: &str) -> Result<()> {
    let binder = keepalive.service.as_binder();
    // Over RPC the fd must travel as a bare fd object, which rsbinder 0.12
    // writes only from inside the crate (AOSP's Parcel::writeFileDescriptor
    // has no public counterpart there): kernel binder only, for now.
    let proxy = binder.as_proxy().ok_or_else(|| {
        Error::DumpUnsupported(
            endpoint.to_owned(),
            "rsbinder 0.12 has no client API for a bare fd in an RPC parcel; use kernel binder",
        )
    })?;
    proxy.dump(fd, &[]).map_err(|status| Error::Call {
        call: "dump",
        status: format!("{status:?}"),
    })
}
