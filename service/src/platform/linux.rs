//! Linux seam: rsbinder, over kernel binder or RPC on a Unix socket.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use enea_buffer_common::KernelRngWait;
use log::LevelFilter;
use rsbinder::entry::uri::{KernelEndpoint, WireVersion};
use rsbinder::rpc::FileDescriptorTransportMode;
pub use rsbinder::{BinderResult as Result, Interface, ParcelFileDescriptor, Status, Strong};
use rsbinder::{ProcessState, ServerGuard, Uri};
pub use vendor_enea_buffer::aidl::vendor::enea::buffer::IEneaBuffer::{
    BnEneaBuffer, IEneaBuffer, IEneaBufferAsyncService as IEneaBufferAsyncServer,
};

#[path = "linux_conns.rs"]
mod linux_conns;
#[path = "linux_socket.rs"]
mod linux_socket;

use super::{Caller, ConnectionEvents};
use crate::config::{Config, Transport};
use crate::log_guard::LogGuard;
use crate::policy::Right;
use crate::socket_lock::{lock_socket_path, LockError, SocketLock};
use linux_conns::Limits;
use linux_socket::{SocketError, SocketServer};

/// Kernel binder threads: calls are a dup() each, so a few suffice.
const KERNEL_BINDER_THREADS: u32 = 4;

/// The right of a caller no rule names: on a Linux host nothing but file
/// modes would stand between any local user and the region, so none.
pub const DEFAULT_RIGHT: Right = Right::None;

/// Why the daemon could not start serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// `--lazy` with the socket transport, which has no service manager.
    #[error("--lazy needs a service manager (kernel binder); the socket transport has none")]
    LazyNeedsServiceManager,
    /// The service manager refused the lazy registration.
    #[error("cannot register {name} as a lazy service: {status}")]
    LazyRegister {
        /// The service name.
        name: String,
        /// The service manager's status.
        status: String,
    },
    /// `--transport binder` but the driver or service manager is missing.
    #[error("kernel binder is not available: {0}")]
    NoKernelBinder(String),
    /// The socket path cannot be used.
    #[error(transparent)]
    Socket(#[from] LockError),
    /// The socket cannot be set up.
    #[error(transparent)]
    SocketSetup(#[from] SocketError),
    /// A bad setting (e.g. no socket path can be chosen).
    #[error("{0}")]
    Config(String),
    /// rsbinder refused to serve (the log line above names the cause).
    #[error("cannot serve {what}: {status:?}")]
    Binder {
        /// What was being served.
        what: String,
        /// rsbinder's status.
        status: rsbinder::StatusCode,
    },
}

enum Running {
    Kernel(ServerGuard),
    /// The lazy registrar owns its own life (it exits the process).
    KernelLazy,
    Socket(SocketServer, SocketLock),
}

/// A running server.
pub struct Serving {
    /// Where clients reach the service, for the log.
    pub description: String,
    running: Running,
}

impl Serving {
    /// Stops accepting, ends every session once in-flight calls finish and
    /// removes the socket (RPC); kernel binder has nothing to stop.
    pub fn stop(self) {
        match self.running {
            Running::Kernel(guard) => guard.stop_and_join(),
            Running::KernelLazy => {}
            Running::Socket(server, lock) => {
                server.stop();
                drop(lock);
            }
        }
    }
}

/// Sets up the stderr logger, behind the [`LogGuard`].
pub fn init_logging(level: LevelFilter) {
    // Errors always reach stderr: a failed start must never be silent.
    // rsbinder narrates its set-up at info; keep it to warnings unless debugging.
    let logger = env_logger::Builder::new()
        .filter_level(level.max(LevelFilter::Error))
        .filter_module(
            "rsbinder",
            if level >= LevelFilter::Debug {
                level
            } else {
                level.min(LevelFilter::Warn)
            },
        )
        .format_timestamp_millis()
        .build();
    let max = logger.filter();
    if log::set_boxed_logger(Box::new(LogGuard::new(logger))).is_ok() {
        log::set_max_level(max);
    }
}

/// Wraps the async service into a binder driven by `rt`.
pub fn new_binder<S>(service: S, rt: tokio::runtime::Handle) -> Strong<dyn IEneaBuffer>
where
    S: IEneaBufferAsyncServer + Sync + Send + 'static,
{
    BnEneaBuffer::new_async_binder(service, rsbinder::TokioRuntime(rt))
}

/// A service-specific error status with a message.
pub fn service_specific_error(code: i32, message: &str) -> Status {
    Status::new_service_specific_error(code, Some(message.to_owned()))
}

/// A security exception (EX_SECURITY) with a message.
pub fn security_error(message: &str) -> Status {
    Status::from((rsbinder::ExceptionCode::Security, message))
}

/// The caller of the transaction being handled.
pub fn calling_identity() -> Caller {
    let (uid, pid) = (rsbinder::get_calling_uid(), rsbinder::get_calling_pid());
    Caller {
        uid,
        pid,
        gid: linux_conns::caller_gid(uid, pid),
    }
}

/// Publishes `binder` as `config.service_name()` on the configured
/// transport; connections a limit turns away are reported to `events`.
pub fn start_serving(
    config: &Config,
    binder: Strong<dyn IEneaBuffer>,
    events: Arc<dyn ConnectionEvents>,
) -> std::result::Result<Serving, ServeError> {
    match config.transport {
        Transport::Binder => serve_kernel(config, binder),
        Transport::Socket if config.lazy => Err(ServeError::LazyNeedsServiceManager),
        Transport::Socket => serve_socket(config, binder, events),
        Transport::Auto => match kernel_binder_device(config) {
            Ok(device) if service_manager_answers(&device) => serve_kernel(config, binder),
            _ if config.lazy => Err(ServeError::LazyNeedsServiceManager),
            _ => serve_socket(config, binder, events),
        },
    }
}

fn kernel_binder_device(config: &Config) -> std::result::Result<PathBuf, ServeError> {
    enea_buffer_common::find_binder_device(config.binder_device.as_deref())
        .map_err(ServeError::NoKernelBinder)
}

/// Opens the driver and pings the context manager (the service manager).
fn service_manager_answers(device: &Path) -> bool {
    let Some(path) = device.to_str() else {
        return false;
    };
    ProcessState::init(path, KERNEL_BINDER_THREADS).is_ok()
        && ProcessState::as_self()
            .context_object()
            .is_ok_and(|sm| sm.ping_binder().is_ok())
}

fn serve_kernel(
    config: &Config,
    binder: Strong<dyn IEneaBuffer>,
) -> std::result::Result<Serving, ServeError> {
    let device = kernel_binder_device(config)?;
    if !service_manager_answers(&device) {
        return Err(ServeError::NoKernelBinder(format!(
            "no service manager answers on {}",
            device.display()
        )));
    }
    let name = config.service_name();
    if config.lazy {
        return serve_kernel_lazy(&device, &name, binder);
    }
    let endpoint = KernelEndpoint::default()
        .with_driver(&device)
        .with_threads(KERNEL_BINDER_THREADS);
    let guard = rsbinder::serve(Uri::new(endpoint))
        .and_then(|s| s.add(&name, binder.as_binder()))
        .and_then(|s| s.spawn())
        .map_err(|status| ServeError::Binder {
            what: format!("{name} on {}", device.display()),
            status,
        })?;
    Ok(Serving {
        description: format!("kernel binder {} as {name}", device.display()),
        running: Running::Kernel(guard),
    })
}

/// AOSP's LazyServiceRegistrar (rsbinder's port): registered with
/// FLAG_IS_LAZY_SERVICE; when the service manager reports that no client
/// holds the service, the registrar unregisters it and exits the process.
fn serve_kernel_lazy(
    device: &Path,
    name: &str,
    binder: Strong<dyn IEneaBuffer>,
) -> std::result::Result<Serving, ServeError> {
    // onClients arrives as an incoming transaction: the pool must run.
    ProcessState::start_thread_pool();
    rsbinder::lazy_service::LazyServiceRegistrar::instance()
        .register_service(name, binder.as_binder())
        .map_err(|status| ServeError::LazyRegister {
            name: name.to_owned(),
            status: status.to_string(),
        })?;
    Ok(Serving {
        description: format!("kernel binder {} as {name} (lazy)", device.display()),
        running: Running::KernelLazy,
    })
}

fn serve_socket(
    config: &Config,
    binder: Strong<dyn IEneaBuffer>,
    events: Arc<dyn ConnectionEvents>,
) -> std::result::Result<Serving, ServeError> {
    let socket = config.socket_path().map_err(ServeError::Config)?;
    let group = config
        .socket_group
        .as_deref()
        .map(linux_socket::resolve_group)
        .transpose()
        .map_err(ServeError::Config)?;
    let me = enea_buffer_common::effective_uid();
    if socket == Path::new(enea_buffer_common::ROOT_SOCKET) {
        if let Some(dir) = socket.parent() {
            linux_socket::create_default_directory(dir)?;
        }
    }
    if let Some(dir) = socket.parent().filter(|d| !d.as_os_str().is_empty()) {
        linux_socket::check_directory(dir, me)?;
    }
    let lock = lock_socket_path(&socket)?;
    // The owner's reserve comes on top of the overall cap (see Limits).
    let connections = (config.max_connections + config.max_connections_per_uid) as usize;
    match crate::fd_limit::raise(connections) {
        Ok(budget) if budget.suffices() => {
            log::info!("open-file limit {} (worst case of the connection caps: {})", budget.soft, budget.needed)
        }
        Ok(budget) => log::warn!(
            "open-file limit {} is below the {} fds {connections} connections can hold at worst: \
             raise the hard limit (a unit's LimitNOFILE=, a shell's ulimit -Hn) or lower --max-connections",
            budget.soft,
            budget.needed
        ),
        Err(e) => log::warn!("cannot raise the open-file limit: {e}"),
    }
    wait_for_kernel_rng();
    let name = config.service_name();
    let limits = Limits {
        max_connections: config.max_connections as usize,
        max_per_uid: config.max_connections_per_uid as usize,
        idle: Some(config.idle_timeout).filter(|d| !d.is_zero()),
        owner: me,
    };
    let server = SocketServer::start(&socket, group, limits, events, |rpc| {
        rpc.set_android13plus(WireVersion::MAX.get());
        rpc.set_supported_fd_modes(&[FileDescriptorTransportMode::Unix]);
        // The service itself is the root object, as AOSP's
        // RpcServer::setRootObject makes it, so a libbinder client's
        // RpcSession::getRootObject() gets IEneaBuffer. The name look-up
        // rsbinder's own directory root offered moves to the root's
        // extension (getExtension()), answering the same protocol.
        let root = binder.as_binder();
        let directory = rsbinder::Binder::new(NameDirectory {
            name: name.clone(),
            service: root.clone(),
        });
        root.set_extension(&directory.as_binder())
            .and_then(|()| rpc.set_root(root.clone()))
            .map_err(|s| SocketError::Sys(format!("cannot publish {name}: {s:?}")))
    })?;
    let limits = linux_socket::describe(&limits);
    Ok(Serving {
        description: format!("unix://{} as {name} ({limits})", socket.display()),
        running: Running::Socket(server, lock),
    })
}

/// The descriptor of rsbinder's RPC service directory, whose protocol the
/// root's extension answers (rsbinder `rpc/server.rs`).
pub const DIRECTORY_DESCRIPTOR: &str = "rsbinder.rpc.IServiceDirectory";

/// Answers name look-ups (`getService(name)`: FIRST_CALL_TRANSACTION, a
/// string in, a status and the binder out) for the one name served.
struct NameDirectory {
    name: String,
    service: rsbinder::SIBinder,
}

impl rsbinder::Remotable for NameDirectory {
    fn descriptor() -> &'static str {
        DIRECTORY_DESCRIPTOR
    }

    fn on_transact(
        &self,
        code: rsbinder::TransactionCode,
        reader: &mut rsbinder::Parcel,
        reply: &mut rsbinder::Parcel,
    ) -> rsbinder::Result<()> {
        if code != rsbinder::FIRST_CALL_TRANSACTION {
            return Err(rsbinder::StatusCode::UnknownTransaction);
        }
        let name: String = reader.read()?;
        if name == self.name {
            reply.write(&Status::from(rsbinder::StatusCode::Ok))?;
            reply.write(&self.service)
        } else {
            reply.write(&Status::from(rsbinder::StatusCode::NameNotFound))
        }
    }

    fn on_dump(&self, _w: &mut dyn std::io::Write, _a: &[String]) -> rsbinder::Result<()> {
        Ok(())
    }
}

/// Waits until the kernel's CSPRNG is seeded, before the socket exists,
/// logging while it waits (see [`KernelRngWait`]). If the wait cannot start
/// or fails it goes on: rsbinder's `getrandom` still blocks until the
/// generator is seeded, so RPC session ids (attach capabilities) are never
/// drawn unseeded; the wait only makes the kernel seed it sooner, and says so.
fn wait_for_kernel_rng() {
    let wait = match KernelRngWait::start() {
        Ok(None) => return,
        Ok(Some(wait)) => wait,
        Err(e) => {
            log::warn!("cannot start the RNG wait: {e}");
            return;
        }
    };
    log::warn!(
        "the kernel's random number generator is not seeded yet; RPC session ids need it: \
         waiting before opening the socket (a blocking read makes the kernel gather entropy)"
    );
    let started = std::time::Instant::now();
    loop {
        match wait.wait(std::time::Duration::from_secs(10)) {
            Some(Ok(())) => {
                log::info!("kernel RNG seeded after {:?}", started.elapsed());
                return;
            }
            Some(Err(e)) => {
                log::warn!("waiting for the kernel RNG failed ({e}); going on");
                return;
            }
            None => log::warn!(
                "still waiting for the kernel's random number generator ({:?})",
                started.elapsed()
            ),
        }
    }
}

/// Tells systemd (`Type=notify`) that clients can connect now.
pub fn notify_ready() {
    if let Err(e) = crate::sd_notify::notify("READY=1") {
        log::warn!("cannot tell systemd we are ready: {e}");
    }
}

/// Tells systemd that the daemon is stopping.
pub fn notify_stopping() {
    if let Err(e) = crate::sd_notify::notify("STOPPING=1") {
        log::warn!("cannot tell systemd we are stopping: {e}");
    }
}

/// One argument of the dump transaction, as `Interface::dump` takes it.
pub type DumpArg<'a> = String;
/// What `Interface::dump` returns.
pub type DumpResult = rsbinder::Result<()>;
/// The dump's answer to a caller who may not read it.
pub const DUMP_REFUSED: rsbinder::StatusCode = rsbinder::StatusCode::PermissionDenied;

/// Who may read the dump: root and the daemon's own uid.
pub fn may_dump(uid: u32) -> bool {
    uid == 0 || uid == enea_buffer_common::effective_uid()
}
