//! Android seam: AOSP libbinder_rs through servicemanager.
//! Mirrors linux.rs item for item; only the binder stack differs.

pub use binder::{ParcelFileDescriptor as ParcelFd, Status, Strong};
// ping_binder and link_to_death are methods of this trait (taking &mut self).
use binder::IBinder;
pub use vendor_enea_buffer::aidl::vendor::enea::buffer::IEneaBuffer::IEneaBuffer;
pub use vendor_enea_buffer::aidl::vendor::enea::buffer::Region::Region;

use super::Opened;
use crate::error::{Error, Result};
use crate::options::{ConnectOptions, Transport, TransportKind};
use enea_buffer_common::descriptor;

/// Keeps the service reachable: the proxy.
#[derive(Clone)]
pub struct Keepalive {
    /// The proxy.
    pub service: Strong<dyn IEneaBuffer>,
}

/// A registered death notification; dropping it unlinks it.
pub struct DeathLink {
    _recipient: binder::DeathRecipient,
}

/// Calls `on_death` once the service behind `keepalive` dies.
pub fn link_to_death(
    keepalive: &Keepalive,
    on_death: Box<dyn Fn() + Send + Sync>,
) -> std::result::Result<DeathLink, binder::StatusCode> {
    let mut recipient = binder::DeathRecipient::new(on_death);
    keepalive
        .service
        .as_binder()
        .link_to_death(&mut recipient)?;
    Ok(DeathLink {
        _recipient: recipient,
    })
}

/// Whether the service behind `keepalive` still answers a binder ping.
pub fn ping(keepalive: &Keepalive) -> bool {
    keepalive.service.as_binder().ping_binder().is_ok()
}

/// Finds `options.service_name()` through servicemanager.
pub fn open(options: &ConnectOptions) -> Result<Opened> {
    let endpoint = "servicemanager".to_string();
    let no_daemon = |reason: String| Error::NoDaemon {
        endpoint: endpoint.clone(),
        reason,
    };
    if options.transport == Transport::Socket {
        return Err(no_daemon(
            "the socket transport is not available on Android".into(),
        ));
    }
    let name = options.service_name();
    // Only wait for a declared instance: waiting for an undeclared one never ends.
    if !binder::is_declared(&name).unwrap_or(false) {
        return Err(no_daemon(format!(
            "{name} is not declared in the VINTF manifest"
        )));
    }
    let service = binder::wait_for_interface::<dyn IEneaBuffer>(&name)
        .map_err(|s| no_daemon(format!("look-up of {name} failed: {s:?}")))?;
    if options.death_notifications {
        // The driver delivers BR_DEAD_BINDER to a looper thread.
        binder::ProcessState::start_thread_pool();
    }
    Ok(Opened {
        keepalive: Keepalive { service },
        endpoint,
        transport: TransportKind::KernelBinder,
    })
}

/// Instances of IEneaBuffer the VINTF manifest declares.
pub fn declared_instances(_options: &ConnectOptions) -> Result<Vec<String>> {
    binder::get_declared_instances(descriptor()).map_err(|s| Error::Call {
        call: "getDeclaredInstances",
        status: format!("{s:?}"),
    })
}

/// True when `status` means the peer is gone rather than that it refused.
pub fn is_dead(status: &Status) -> bool {
    status.transaction_error() == binder::StatusCode::DEAD_OBJECT
}

/// Whether `status` says the call's reply did not come in time: kernel
/// binder calls have no deadline, so never.
pub fn is_timeout(_status: &Status) -> bool {
    false
}

/// The transport's own failure in `status` (`None`: the call reached the
/// service, which answered). libbinder_rs folds errnos into its status
/// codes, so none is carried: the caller counts the fd table instead.
pub fn transport_failure(status: &Status) -> Option<Option<rustix::io::Errno>> {
    (status.exception_code() == binder::ExceptionCode::TRANSACTION_FAILED).then_some(None)
}

/// The message of a security exception (EX_SECURITY: an access policy's
/// refusal); `None` for any other status. libbinder_rs has no getter for
/// the message alone: it is cut from the description, which libbinder
/// writes as `Status(-1, EX_SECURITY): '<message>'`.
pub fn security_message(status: &Status) -> Option<String> {
    if status.exception_code() != binder::ExceptionCode::SECURITY {
        return None;
    }
    let description = status.get_description();
    let message = description
        .split_once("): '")
        .and_then(|(_, rest)| rest.strip_suffix('\''))
        .unwrap_or(&description);
    Some(message.to_owned())
}

/// Sends the dump transaction with `fd` for the service to write into.
// `dump` is a method of libbinder_rs' IBinderInternal, not of IBinder.
pub fn dump(keepalive: &Keepalive, fd: std::os::fd::OwnedFd, endpoint: &str) -> Result<()> {
    use binder::binder_impl::IBinderInternal;
    keepalive
        .service
        .as_binder()
        .dump(&fd, &[])
        .map_err(|status| {
            if status == binder::StatusCode::PERMISSION_DENIED {
                // The daemon's refusal: only a code comes back, its reason
                // went into `fd` (the caller reads it from there).
                Error::Refused {
                    call: "dump",
                    message: String::new(),
                    uid: enea_buffer_common::effective_uid(),
                    needs: "dump",
                }
            } else if status == binder::StatusCode::DEAD_OBJECT {
                Error::ServiceGone(endpoint.to_owned())
            } else {
                Error::Call {
                    call: "dump",
                    status: format!("{status:?}"),
                }
            }
        })
}
