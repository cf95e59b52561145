//! Linux seam: rsbinder over kernel binder or RPC on a Unix socket.

mod socket_access;

use std::path::{Path, PathBuf};
use std::sync::Arc;

use enea_buffer_common::KernelRngWait;
use rsbinder::entry::uri::{KernelEndpoint, WireProfile, WireVersion};
use rsbinder::rpc::{FileDescriptorTransportMode, RpcSession};
use rsbinder::{
    Client, DeathRecipient, Endpoint, ProcessState, StatusCode, TransportCaps, Uri, WIBinder,
};
pub use rsbinder::{ParcelFileDescriptor as ParcelFd, Status, Strong};
pub use vendor_enea_buffer::aidl::vendor::enea::buffer::IEneaBuffer::IEneaBuffer;
pub use vendor_enea_buffer::aidl::vendor::enea::buffer::Region::Region;

use rustix::io::Errno;

use super::Opened;
use crate::error::{Error, Result};
use crate::fd_limit;
use crate::options::{ConnectOptions, Transport, TransportKind};
use enea_buffer_common::descriptor;

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

/// Finds `options.service_name()` on the transport `options` asks for.
pub fn open(options: &ConnectOptions) -> Result<Opened> {
    match options.transport {
        Transport::Binder => open_kernel(options),
        Transport::Socket => open_socket(options),
        // Kernel binder first, as the daemon prefers it; any failure falls
        // back, and if the socket fails too, both reasons are the answer.
        Transport::Auto => open_kernel(options).or_else(|kernel| {
            open_socket(options).map_err(|socket| Error::NoTransport {
                kernel: Box::new(kernel),
                socket: Box::new(socket),
            })
        }),
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
        rsbinder::hub::try_get_declared_instances(descriptor()).map_err(|s| Error::Call {
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

/// Whether `status` says the call's reply did not come in time (an RPC
/// call's deadline; kernel binder calls have none).
pub fn is_timeout(status: &Status) -> bool {
    status.transaction_error() == StatusCode::TimedOut
}

/// The transport's own failure in `status` (`None`: the call reached the
/// service, which answered), with the errno it carries, if any.
pub fn transport_failure(status: &Status) -> Option<Option<Errno>> {
    match status.transaction_error() {
        StatusCode::Ok => None,
        code => Some(errno(code)),
    }
}

/// The errno rsbinder kept in `code`, if it kept one.
fn errno(code: StatusCode) -> Option<Errno> {
    match code {
        StatusCode::Errno(e) => Some(Errno::from_raw_os_error(-e)),
        _ => None,
    }
}

/// The message of a security exception (EX_SECURITY: an access policy's
/// refusal); `None` for any other status.
pub fn security_message(status: &Status) -> Option<String> {
    (status.exception_code() == rsbinder::ExceptionCode::Security)
        .then(|| status.message().unwrap_or_default().to_owned())
}

fn binder_device(options: &ConnectOptions) -> Result<PathBuf> {
    enea_buffer_common::find_binder_device(options.binder_device.as_deref()).map_err(|reason| {
        Error::NoDaemon {
            endpoint: "kernel binder".into(),
            reason,
        }
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
    let no_socket = || no_daemon(format!("no socket at {}", path.display()));
    let denied = || Error::SocketDenied {
        path: path.display().to_string(),
        me: enea_buffer_common::effective_uid(),
        why: socket_access::why_denied(path),
    };
    let meta = match std::fs::metadata(path) {
        Ok(meta) => meta,
        Err(e) if e.kind() == std::io::ErrorKind::PermissionDenied => return Err(denied()),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Err(no_socket()),
        Err(e) => return Err(no_daemon(format!("cannot inspect {}: {e}", path.display()))),
    };
    check_owner(path, std::os::unix::fs::MetadataExt::uid(&meta))?;
    wait_for_kernel_rng(options.timeout)?;
    let uri =
        Uri::new(Endpoint::unix(path)).with_wire(WireProfile::Android13Plus(WireVersion::MAX));
    let client =
        Client::open_with(uri, |o, _| {
            o.fd_mode = Some(FileDescriptorTransportMode::Unix);
            o.timeout = Some(options.timeout);
            // A connection the server can call back on is how RPC notices death.
            if options.death_notifications {
                o.incoming_connections = Some(1);
            }
        })
        // rsbinder keeps connect(2)'s errno in the status (`Errno(-errno)`, or
        // a named code for ENOENT and EPERM), so the cause is read from it
        // rather than from a probe connection of our own: a live daemon would
        // accept a probe, count it against its limits and log a failed
        // handshake, and the socket could change between probe and connect.
        .map_err(|s| match s {
            StatusCode::BadValue | StatusCode::InvalidOperation => {
                Error::FdPassingRefused(endpoint.clone())
            }
            StatusCode::Errno(e) if -e == Errno::ACCESS.raw_os_error() => denied(),
            StatusCode::PermissionDenied => denied(),
            StatusCode::Errno(e) if -e == Errno::CONNREFUSED.raw_os_error() => no_daemon(format!(
                "the socket is stale (connection refused: nothing listens on it), so the \
             daemon is not running: start it, or remove {} if no daemon owns it",
                path.display()
            )),
            StatusCode::NameNotFound => no_socket(),
            StatusCode::TimedOut => Error::Unresponsive {
                endpoint: endpoint.clone(),
                step: "the connection's handshake".into(),
                timeout: options.timeout,
            },
            // A process out of fds cannot make the socket (EMFILE) or receive
            // the handshake's; the fd table says which (see `fd_limit`).
            s => fd_limit::explain(&format!("connecting to {endpoint}"), errno(s)).unwrap_or_else(
                || match s {
                    // The daemon closes a connection past its caps before reading
                    // a byte; the client sees only the close, so it names the
                    // likely cause.
                    StatusCode::DeadObject => no_daemon(
                        "the daemon closed the connection before the handshake: it is at its \
                     connection limit (--max-connections / --max-connections-per-uid) or \
                     shutting down; try again once other clients have disconnected"
                            .into(),
                    ),
                    s => no_daemon(format!("cannot connect: {s:?}")),
                },
            ),
        })?;
    if !client.caps().contains(TransportCaps::FD_PASSING) {
        return Err(Error::FdPassingRefused(endpoint));
    }
    let name = options.service_name();
    let service = match find_on_session(&client, &name) {
        Ok(Some(service)) => service,
        Ok(None) => return Err(no_daemon(format!("the daemon there does not serve {name}"))),
        Err(s) => {
            let step = format!("look-up of {name}");
            if let Some(e) = fd_limit::explain(&step, errno(s)) {
                return Err(e);
            }
            // The android-13+ wire refuses an fd mode by closing the connection.
            if matches!(s, StatusCode::DeadObject) && answers_without_fds(options, &name) {
                return Err(Error::FdPassingRefused(endpoint));
            }
            if s == StatusCode::TimedOut {
                return Err(Error::Unresponsive {
                    endpoint,
                    step: format!("the {step}"),
                    timeout: options.timeout,
                });
            }
            if s == StatusCode::DeadObject {
                return Err(Error::ServiceGone(endpoint));
            }
            return Err(no_daemon(format!("{step} failed: {s:?}")));
        }
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

/// rsbinder's RPC name directory protocol (its `rpc/server.rs`).
const DIRECTORY_DESCRIPTOR: &str = "rsbinder.rpc.IServiceDirectory";

/// The service on an RPC connection: the root object when it is an
/// IEneaBuffer (as AOSP's `RpcServer::setRootObject` serves it; our daemon
/// hangs a name directory off it as its extension, which confirms the
/// instance name), else the named service in the directory that an older
/// daemon (or a plain rsbinder server) serves as its root.
fn find_on_session(
    client: &Client,
    name: &str,
) -> std::result::Result<Option<Strong<dyn IEneaBuffer>>, StatusCode> {
    use rsbinder::rpc::RpcProxy;
    let Some(session) = client.session() else {
        return client.try_get::<dyn IEneaBuffer>(name);
    };
    let root = session.get_root()?;
    let proxy = root
        .as_any()
        .downcast_ref::<RpcProxy>()
        .ok_or(StatusCode::BadType)?;
    let call = |proxy: &RpcProxy, code, data: &rsbinder::Parcel| {
        proxy
            .transact(code, data, 0)?
            .ok_or(StatusCode::UnexpectedNull)
    };
    let mut reply = call(
        proxy,
        rsbinder::INTERFACE_TRANSACTION,
        &proxy.build_request("")?,
    )?;
    let root_descriptor: String = reply.read()?;
    if root_descriptor != descriptor() {
        return client.try_get::<dyn IEneaBuffer>(name);
    }
    let mut reply = call(
        proxy,
        rsbinder::EXTENSION_TRANSACTION,
        &proxy.build_request(descriptor())?,
    )?;
    let extension: Option<rsbinder::SIBinder> = reply.read()?;
    if let Some(directory) = extension {
        let dir = directory
            .as_any()
            .downcast_ref::<RpcProxy>()
            .ok_or(StatusCode::BadType)?;
        let mut data = dir.build_request(DIRECTORY_DESCRIPTOR)?;
        data.write(&name)?;
        // An unknown name comes back as the transaction's own status.
        let status = call(dir, rsbinder::FIRST_CALL_TRANSACTION, &data)
            .and_then(|mut reply| reply.read::<Status>().map(StatusCode::from));
        match status {
            Ok(StatusCode::Ok) => {}
            Ok(StatusCode::NameNotFound) | Err(StatusCode::NameNotFound) => return Ok(None),
            Ok(e) | Err(e) => return Err(e),
        }
    }
    Strong::<dyn IEneaBuffer>::try_from(root).map(Some)
}

/// Only a socket of root's or this user's is trusted to be the daemon's: any
/// other user could have created it (e.g. in a shared directory, before the
/// daemon started) and would then receive the client's calls. One more case
/// is trusted: a socket of user X in a directory of X's that only X can
/// write, inside a directory of root's that only root can write — root
/// handed that place to X (systemd's `RuntimeDirectory=` for a dedicated
/// daemon account, `/run/<dir>` made by an admin), so nobody but X could
/// have put the socket there.
fn check_owner(path: &Path, owner: u32) -> Result<()> {
    let me = enea_buffer_common::effective_uid();
    if owner == 0 || owner == me || placed_by_root_for(path, owner) {
        return Ok(());
    }
    Err(Error::UntrustedSocket {
        path: path.display().to_string(),
        owner,
        me,
    })
}

/// Whether `path`'s directory belongs to `owner` alone and sits in a
/// directory only root can write.
fn placed_by_root_for(path: &Path, owner: u32) -> bool {
    use std::os::unix::fs::MetadataExt;
    let private_to = |dir: &Path, uid: u32| {
        std::fs::metadata(dir).is_ok_and(|m| m.uid() == uid && m.mode() & 0o022 == 0)
    };
    let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) else {
        return false;
    };
    let Ok(dir) = dir.canonicalize() else {
        return false;
    };
    private_to(&dir, owner) && dir.parent().is_some_and(|parent| private_to(parent, 0))
}

/// Waits at most `timeout` until the kernel's CSPRNG is seeded (see
/// [`KernelRngWait`]): within the caller's timeout, never past it.
fn wait_for_kernel_rng(timeout: std::time::Duration) -> Result<()> {
    match KernelRngWait::start() {
        Ok(Some(wait)) if wait.wait(timeout).is_none() => Err(Error::RngNotSeeded(timeout)),
        _ => Ok(()),
    }
}

/// Whether the server refused fd passing: it answers a look-up, whatever
/// the answer, on a connection that asks for no fds, and closes a fresh
/// one that asks for them again. A daemon killed during the look-up and
/// restarted since answers both: that was a restart, not a refusal.
fn answers_without_fds(options: &ConnectOptions, name: &str) -> bool {
    let answers = |fds: bool| {
        let uri = Uri::new(Endpoint::unix(&options.socket))
            .with_wire(WireProfile::Android13Plus(WireVersion::MAX));
        Client::open_with(uri, |o, _| {
            o.timeout = Some(options.timeout);
            if fds {
                o.fd_mode = Some(FileDescriptorTransportMode::Unix);
            }
        })
        .is_ok_and(|c| {
            !matches!(
                c.try_get::<dyn IEneaBuffer>(name),
                Err(StatusCode::DeadObject | StatusCode::RpcError)
            )
        })
    };
    answers(false) && !answers(true)
}

/// Sends the dump transaction with `fd` for the service to write into.
pub fn dump(keepalive: &Keepalive, fd: std::os::fd::OwnedFd, endpoint: &str) -> Result<()> {
    let failed = |status: StatusCode| match status {
        // The daemon's refusal: only a code comes back, its reason went
        // into `fd` (the caller reads it from there).
        StatusCode::PermissionDenied => Error::Refused {
            call: "dump",
            message: String::new(),
            uid: enea_buffer_common::effective_uid(),
            needs: "dump",
        },
        StatusCode::DeadObject | StatusCode::RpcError => Error::ServiceGone(endpoint.to_owned()),
        status => Error::Call {
            call: "dump",
            status: status.to_string(),
        },
    };
    let binder = keepalive.service.as_binder();
    if let Some(proxy) = binder.as_proxy() {
        return proxy.dump(fd, &[]).map_err(failed);
    }
    // Over RPC: the interface token (rsbinder's RPC server reads one before
    // every code), the fd as a bare fd object, no arguments. The parcel
    // sends a dup; `fd` closes when this returns.
    let remote = binder.as_remote().ok_or(failed(StatusCode::BadType))?;
    let mut data = remote.prepare_transact(true).map_err(failed)?;
    data.write_file_descriptor(std::os::fd::AsFd::as_fd(&fd))
        .map_err(failed)?;
    data.write::<i32>(&0).map_err(failed)?;
    remote
        .submit_transact(rsbinder::DUMP_TRANSACTION, &data, 0)
        .map_err(failed)?;
    Ok(())
}
