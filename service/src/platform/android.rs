//! Android seam: AOSP libbinder_rs + binder_tokio, registered with servicemanager.
//! Mirrors linux.rs item for item; only the binder stack differs.

pub use binder::{Interface, ParcelFileDescriptor, Result, Status, Strong};
use log::LevelFilter;
pub use vendor_enea_buffer::aidl::vendor::enea::buffer::IEneaBuffer::{
    BnEneaBuffer, IEneaBuffer, IEneaBufferAsyncServer,
};

use super::{Caller, ConnectionEvents};
use crate::config::{Config, Transport};
use crate::policy::Right;

/// The right of a caller no rule names: SELinux already decided who may
/// call the HAL at all, so everything it lets through gets read-write.
pub const DEFAULT_RIGHT: Right = Right::ReadWrite;

/// Binder threads: calls are a dup() each, so a few suffice.
const KERNEL_BINDER_THREADS: u32 = 4;

/// Why the daemon could not start serving.
#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    /// Android serves through servicemanager only.
    #[error("--transport {0:?} is not available on Android: only kernel binder is")]
    UnsupportedTransport(Transport),
    /// servicemanager refused the registration (VINTF manifest, SELinux).
    #[error("cannot register {name} with servicemanager: {status:?}")]
    Register {
        /// The service name.
        name: String,
        /// libbinder's status.
        status: binder::StatusCode,
    },
}

/// A running server; the binder thread pool has no shutdown, so the
/// process exit ends it.
pub struct Serving {
    /// Where clients reach the service, for the log.
    pub description: String,
}

impl Serving {
    /// Nothing to stop: init's SIGTERM ends the process after this returns.
    pub fn stop(self) {}
}

/// Sets up logcat logging, and panics logged to logcat too.
pub fn init_logging(level: LevelFilter) {
    android_logger::init_once(
        android_logger::Config::default()
            .with_tag("vendor.enea.buffer")
            .with_max_level(level.max(LevelFilter::Error)),
    );
    std::panic::set_hook(Box::new(|info| log::error!("{info}")));
}

/// Wraps the async service into a binder driven by `rt`.
pub fn new_binder<S>(service: S, rt: tokio::runtime::Handle) -> Strong<dyn IEneaBuffer>
where
    S: IEneaBufferAsyncServer + Sync + Send + 'static,
{
    BnEneaBuffer::new_async_binder(
        service,
        binder_tokio::TokioRuntime(rt),
        binder::BinderFeatures::default(),
    )
}

/// A service-specific error status with a message.
pub fn service_specific_error(code: i32, message: &str) -> Status {
    let message = std::ffi::CString::new(message).unwrap_or_default();
    Status::new_service_specific_error(code, Some(&message))
}

/// A security exception (EX_SECURITY) with a message.
pub fn security_error(message: &str) -> Status {
    Status::new_exception_str(binder::ExceptionCode::SECURITY, Some(message))
}

/// The caller of the transaction being handled.
pub fn calling_identity() -> Caller {
    Caller {
        uid: binder::ThreadState::get_calling_uid(),
        pid: binder::ThreadState::get_calling_pid(),
        gid: None,
    }
}

/// Registers `binder` as `config.service_name()` with servicemanager;
/// kernel binder has no connections to refuse, so `_events` hears nothing.
pub fn start_serving(
    config: &Config,
    binder: Strong<dyn IEneaBuffer>,
    _events: std::sync::Arc<dyn ConnectionEvents>,
) -> std::result::Result<Serving, ServeError> {
    if config.transport == Transport::Socket {
        return Err(ServeError::UnsupportedTransport(config.transport));
    }
    binder::ProcessState::set_thread_pool_max_thread_count(KERNEL_BINDER_THREADS);
    binder::ProcessState::start_thread_pool();
    let name = config.service_name();
    if config.lazy {
        // servicemanager starts us on demand (`interface aidl` in the .rc)
        // and libbinder exits the process once no client holds the service.
        binder::register_lazy_service(&name, binder.as_binder())
    } else {
        binder::add_service(&name, binder.as_binder())
    }
    .map_err(|status| ServeError::Register {
        name: name.clone(),
        status,
    })?;
    Ok(Serving {
        description: format!(
            "servicemanager as {name}{}",
            if config.lazy { " (lazy)" } else { "" }
        ),
    })
}

/// init has no readiness protocol: registering with servicemanager is the signal.
pub fn notify_ready() {}

/// Nothing to tell init when stopping.
pub fn notify_stopping() {}

/// One argument of the dump transaction, as `Interface::dump` takes it.
pub type DumpArg<'a> = &'a std::ffi::CStr;
/// What `Interface::dump` returns.
pub type DumpResult = std::result::Result<(), binder::StatusCode>;
/// The dump's answer to a caller who may not read it.
pub const DUMP_REFUSED: binder::StatusCode = binder::StatusCode::PERMISSION_DENIED;

/// AID_SYSTEM and AID_SHELL: dumpsys and bugreports run as these.
const DUMP_UIDS: [u32; 2] = [1000, 2000];

/// Who may read the dump: root, the daemon's own uid, dumpsys' uids
/// (SELinux decides first who may call the service at all).
pub fn may_dump(uid: u32) -> bool {
    uid == 0 || uid == enea_buffer_common::effective_uid() || DUMP_UIDS.contains(&uid)
}
