//! Linux seam: rsbinder, over kernel binder or RPC on a Unix socket.

use std::path::{Path, PathBuf};

use log::{info, LevelFilter};
use rsbinder::entry::uri::{KernelEndpoint, WireProfile, WireVersion};
use rsbinder::rpc::FileDescriptorTransportMode;
pub use rsbinder::{BinderResult as Result, Interface, ParcelFileDescriptor, Status, Strong};
use rsbinder::{Endpoint, ProcessState, ServerGuard, Uri};
pub use vendor_enea_buffer::aidl::vendor::enea::buffer::IEneaBuffer::{
    BnEneaBuffer, IEneaBuffer, IEneaBufferAsyncService as IEneaBufferAsyncServer,
};

use crate::config::{Config, Transport};
use crate::socket_lock::{lock_socket_path, LockError, SocketLock};

/// Kernel binder threads: calls are a dup() each, so a few suffice.
const KERNEL_BINDER_THREADS: u32 = 4;
/// Cap on concurrent RPC connections (one worker thread each); clients past
/// it wait in the listen backlog instead of exhausting the daemon's threads.
const MAX_RPC_CONNECTIONS: usize = 1024;

/// Why the daemon could not start serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// `--transport binder` but the driver or service manager is missing.
    #[error("kernel binder is not available: {0}")]
    NoKernelBinder(String),
    /// The socket path cannot be used.
    #[error(transparent)]
    Socket(#[from] LockError),
    /// rsbinder refused to serve (the log line above names the cause).
    #[error("cannot serve {what}: {status:?}")]
    Binder {
        /// What was being served.
        what: String,
        /// rsbinder's status.
        status: rsbinder::StatusCode,
    },
}

/// A running server; dropping it stops serving.
pub struct Serving {
    /// Where clients reach the service, for the log.
    pub description: String,
    guard: ServerGuard,
    _lock: Option<SocketLock>,
}

impl Serving {
    /// Stops accepting, ends every session once in-flight calls finish and
    /// removes the socket (RPC); kernel binder has nothing to stop.
    pub fn stop(self) {
        self.guard.stop_and_join();
    }
}

/// Sets up the stderr logger.
pub fn init_logging(level: LevelFilter) {
    // Errors always reach stderr: a failed start must never be silent.
    // rsbinder narrates its set-up at info; keep it to warnings unless debugging.
    env_logger::Builder::new()
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
        .init();
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

/// The caller of the transaction being handled: (uid, pid).
pub fn calling_identity() -> (u32, i32) {
    (rsbinder::get_calling_uid(), rsbinder::get_calling_pid())
}

/// Publishes `binder` as `config.service_name()` on the configured transport.
pub fn start_serving(
    config: &Config,
    binder: Strong<dyn IEneaBuffer>,
) -> std::result::Result<Serving, ServeError> {
    match config.transport {
        Transport::Binder => serve_kernel(config, binder),
        Transport::Socket => serve_socket(config, binder),
        Transport::Auto => match kernel_binder_device(config) {
            Ok(device) if service_manager_answers(&device) => serve_kernel(config, binder),
            _ => serve_socket(config, binder),
        },
    }
}

fn kernel_binder_device(config: &Config) -> std::result::Result<PathBuf, ServeError> {
    let candidates: Vec<PathBuf> = match &config.binder_device {
        Some(device) => vec![device.clone()],
        None => [rsbinder::DEFAULT_BINDER_PATH, rsbinder::LEGACY_BINDER_PATH]
            .iter()
            .map(PathBuf::from)
            .collect(),
    };
    candidates
        .iter()
        .find(|p| p.exists())
        .cloned()
        .ok_or_else(|| {
            ServeError::NoKernelBinder(format!(
                "no binder device at {}",
                candidates
                    .iter()
                    .map(|p| p.display().to_string())
                    .collect::<Vec<_>>()
                    .join(" or ")
            ))
        })
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
        guard,
        _lock: None,
    })
}

fn serve_socket(
    config: &Config,
    binder: Strong<dyn IEneaBuffer>,
) -> std::result::Result<Serving, ServeError> {
    let socket = config.socket_path();
    let lock = lock_socket_path(&socket)?;
    let name = config.service_name();
    let uri =
        Uri::new(Endpoint::unix(&socket)).with_wire(WireProfile::Android13Plus(WireVersion::MAX));
    let guard = rsbinder::serve(uri)
        .and_then(|s| s.add(&name, binder.as_binder()))
        .map(|s| {
            s.with(|o| {
                o.fd_modes = Some(vec![FileDescriptorTransportMode::Unix]);
                o.max_connections = Some(MAX_RPC_CONNECTIONS);
            })
        })
        .and_then(|s| s.spawn())
        .map_err(|status| ServeError::Binder {
            what: format!("{name} on {}", socket.display()),
            status,
        })?;
    // Clients of any uid may connect, as any process may look up a HAL through
    // the service manager; on a device SELinux, not file modes, decides.
    if let Err(e) =
        std::fs::set_permissions(&socket, std::os::unix::fs::PermissionsExt::from_mode(0o666))
    {
        info!("could not open {} to all users: {e}", socket.display());
    }
    Ok(Serving {
        description: format!("unix://{} as {name}", socket.display()),
        guard,
        _lock: Some(lock),
    })
}
