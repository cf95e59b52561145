//! The vendor.enea.buffer daemon as a library: the shared region, the
//! IEneaBuffer service, its access policy, call table and dump, the
//! configuration and the platform seam.
//!
//! `main.rs` parses flags, sets up logging and signals and calls [`run`].
//! An in-process harness (a fuzzer, a test) calls [`build`] instead: it
//! gets the exact service a device serves, as a binder object, without
//! publishing it on any transport (the shape of AOSP's authgraph and
//! secretkeeper HALs: a `rust_library` and a thin `rust_binary`).

pub mod caller_log;
pub mod calls;
pub mod config;
mod daemon;
pub mod diagnostics;
#[cfg(not(target_os = "android"))]
mod fd_limit;
#[cfg(not(target_os = "android"))]
mod log_guard;
pub mod platform;
pub mod policy;
pub mod region;
#[cfg(not(target_os = "android"))]
mod sd_notify;
pub mod service;
#[cfg(not(target_os = "android"))]
mod socket_lock;
pub mod stop_signals;

use std::sync::Arc;

pub use daemon::{run, RUNTIME_THREADS};

use calls::CallTable;
use config::Config;
use diagnostics::Diagnostics;
use platform::{IEneaBuffer, Strong};
use policy::Policy;
use region::SharedRegion;
use service::EneaBufferService;

/// The name the region's memfd carries (`/memfd:<name>` in `/proc/<pid>/fd`).
pub const REGION_NAME: &str = "vendor.enea.buffer";

/// What a service is built from.
#[derive(Clone, Debug)]
pub struct ServiceSetup {
    /// Region size in bytes (at least 4).
    pub size: usize,
    /// Who may call which method.
    pub policy: Policy,
    /// Instance name: the service is `vendor.enea.buffer.IEneaBuffer/<instance>`.
    pub instance: String,
}

impl ServiceSetup {
    /// The setup a daemon started with `config` uses: its size and instance,
    /// its access rules over the platform's default right, this process's
    /// uid as the owner (as the daemon runs).
    pub fn from_config(config: &Config) -> Result<Self, String> {
        Ok(Self {
            size: config.size,
            policy: Policy::new(
                &config.access_rules()?,
                enea_buffer_common::effective_uid(),
                platform::DEFAULT_RIGHT,
            ),
            instance: config.instance.clone(),
        })
    }
}

/// What the socket transport asks and tells the service: refusals go to
/// the call table, whose log summary counts them; the access policy decides
/// whose fds are taken (here, so that calls.rs, policy.rs and the seam need
/// not know each other).
pub struct TransportEvents {
    /// The call table of the service served.
    pub calls: Arc<CallTable>,
    /// The access policy of the service served.
    pub policy: Policy,
}

impl platform::ConnectionEvents for TransportEvents {
    fn connection_refused(&self) {
        self.calls.connection_refused();
    }
    fn takes_fds_from(&self, uid: u32, gid: u32) -> bool {
        self.policy.right_of(uid, Some(gid)) != policy::Right::None
    }
}

/// A service built as the daemon builds it, not yet published anywhere.
pub struct BuiltService {
    /// The region it hands out.
    pub region: Arc<SharedRegion>,
    /// Its per-uid call table (the log summary's and the dump's).
    pub calls: Arc<CallTable>,
    /// The dump's other facts (transport, recent errors).
    pub diagnostics: Arc<Diagnostics>,
    /// The access policy it applies.
    pub policy: Policy,
    /// Its full name: `vendor.enea.buffer.IEneaBuffer/<instance>`.
    pub name: String,
    /// The binder object a transport publishes: the service behind the
    /// AIDL stub, answering transactions in this process too.
    pub binder: Strong<dyn IEneaBuffer>,
}

impl BuiltService {
    /// What a transport serving this service reports to it and asks it.
    pub fn transport_events(&self) -> Arc<TransportEvents> {
        Arc::new(TransportEvents {
            calls: self.calls.clone(),
            policy: self.policy.clone(),
        })
    }
}

/// Allocates the region and builds the service and its binder object,
/// exactly as the daemon does. Calls run on `runtime`, which must be a
/// multi-thread tokio runtime: the stub blocks on it for every call.
pub fn build(setup: ServiceSetup, runtime: tokio::runtime::Handle) -> Result<BuiltService, String> {
    let instance = config::parse_instance(&setup.instance)?;
    let name = enea_buffer_common::service_name(&instance);
    let region = SharedRegion::create(REGION_NAME, setup.size)
        .map(Arc::new)
        .map_err(|e| format!("cannot allocate the shared region: {e}"))?;
    let calls = Arc::new(CallTable::default());
    let diagnostics = Arc::new(Diagnostics::new());
    let service = EneaBufferService::new(
        region.clone(),
        setup.policy.clone(),
        calls.clone(),
        diagnostics.clone(),
        name.clone(),
    );
    Ok(BuiltService {
        binder: platform::new_binder(service, runtime),
        region,
        calls,
        diagnostics,
        policy: setup.policy,
        name,
    })
}
