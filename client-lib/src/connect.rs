//! Connecting to the service and fetching mappings of its region.

use std::io::{ErrorKind, Read};
use std::os::fd::OwnedFd;
use std::os::unix::net::UnixStream;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use crate::buffer::{KeepAlive, ReadOnlyBuffer, SharedBuffer};
use crate::error::{Error, Result};
use crate::fd_limit;
use crate::layout::Layout;
use crate::mapping::{MapOptions, Mapping};
use crate::options::{ConnectOptions, TransportKind};
use crate::platform::{self, IEneaBuffer, Keepalive, Status, Strong};
use crate::verify::{self, VerifiedFd};

/// Checks a region a V2 getter returned: `reported` within bounds, `fd`
/// holding exactly that many bytes nobody can resize, and its layout.
pub(crate) fn check_region(
    fd: OwnedFd,
    reported: i64,
    layout_version: i32,
) -> Result<(VerifiedFd, Layout)> {
    let size = verify::region_size(reported)?;
    let verified = verify::verify(fd, size)?;
    Ok((verified, Layout::from_region(layout_version, size)))
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
            (fd, Layout::of_old_service(self.version))
        };
        let map = Mapping::new(region, true, options)?;
        Ok(SharedBuffer::new(
            map,
            layout,
            KeepAlive::new(self.keepalive.clone()),
        ))
    }

    /// Maps the read-only view of the region.
    pub fn map_read_only(&self) -> Result<ReadOnlyBuffer> {
        let (region, layout) = if self.version >= 2 {
            self.fetch_region("getReadOnlyRegion", |s| s.r#getReadOnlyRegion())?
        } else {
            let fd = self.fetch("getReadOnlyBuffer", |s| s.r#getReadOnlyBuffer())?;
            (fd, Layout::of_old_service(self.version))
        };
        let map = Mapping::new(region, false, MapOptions::default())?;
        Ok(ReadOnlyBuffer::new(
            map,
            layout,
            KeepAlive::new(self.keepalive.clone()),
        ))
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
        // A size out of bounds is named before a missing fd.
        verify::region_size(region.size)?;
        let fd: OwnedFd = region
            .fd
            .ok_or_else(|| Error::Call {
                call,
                status: "the reply carries no file descriptor".into(),
            })?
            .into();
        let (verified, layout) = check_region(fd, region.size, region.layoutVersion)?;
        if verified.len() != self.size {
            return Err(Error::SizeMismatch {
                reported: self.size,
                actual: verified.len() as u64,
            });
        }
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

    /// The binder dump transaction (what `dumpsys` sends): the service's
    /// dump text, written into an fd passed along (see docs/diagnostics.md for its
    /// fields). The service decides who may read it; a refusal is an
    /// [`Error::Refused`] that quotes what the service said. Bounded by
    /// [`ConnectOptions::timeout`]: a service that does not finish within it
    /// is [`Error::Unresponsive`], and the call is left to end on a thread
    /// of its own.
    pub fn dump(&self) -> Result<String> {
        let timeout = self.options.timeout;
        let deadline = Instant::now().checked_add(timeout);
        // A socket pair, not a pipe: std has no pipe on the Rust we support,
        // and a stream socket is as good a writable fd for the service.
        let (reader, writer) = UnixStream::pair().map_err(|e| {
            let errno = e.raw_os_error().map(rustix::io::Errno::from_raw_os_error);
            fd_limit::explain("dump", errno).unwrap_or_else(|| {
                dump_error(format!("cannot create the fd the service writes into: {e}"))
            })
        })?;
        // The call runs on its own thread: a binder call cannot be given up,
        // and the caller must not wait past the timeout for it.
        let (sent_tx, sent_rx) = mpsc::channel();
        let (keepalive, endpoint) = (self.keepalive.clone(), self.endpoint.clone());
        std::thread::Builder::new()
            .name("dump".into())
            .spawn(move || {
                let _ = sent_tx.send(platform::dump(&keepalive, writer.into(), &endpoint));
            })
            .map_err(|e| dump_error(format!("cannot start the dump call: {e}")))?;
        // Read while the service writes: a large dump would fill the buffer
        // and block the service before the transaction returns. The end
        // comes once the call returned (ours went with the transaction) and
        // the service closed its copy.
        let late = || Error::Unresponsive {
            endpoint: self.endpoint.clone(),
            step: "the dump call".into(),
            timeout,
        };
        let text = match read_to_end_by(reader, deadline) {
            Ok(Some(text)) => String::from_utf8_lossy(&text).into_owned(),
            Ok(None) => return Err(late()),
            Err(e) => return Err(dump_error(format!("reading the dump failed: {e}"))),
        };
        let sent = match sent_rx.recv_timeout(time_left(deadline)) {
            Ok(sent) => sent,
            Err(mpsc::RecvTimeoutError::Timeout) => return Err(late()),
            Err(mpsc::RecvTimeoutError::Disconnected) => {
                return Err(dump_error(
                    "the thread making the dump call panicked".into(),
                ))
            }
        };
        match sent {
            Ok(()) => Ok(text),
            // The refusal's reason is what the service wrote.
            Err(Error::Refused {
                call, uid, needs, ..
            }) => Err(Error::Refused {
                call,
                message: refusal_reason(&text, uid),
                uid,
                needs,
            }),
            Err(Error::Call { call, status }) if !text.is_empty() => Err(Error::Call {
                call,
                status: format!("{status}: {}", text.trim_end()),
            }),
            Err(e) => Err(e),
        }
    }

    fn call_error(&self, call: &'static str, status: Status) -> Error {
        // A reply whose fd found no free slot reads as a dead service or a
        // failed transaction: the fd table says which (see `fd_limit`).
        let out_of_fds =
            platform::transport_failure(&status).and_then(|errno| fd_limit::explain(call, errno));
        if let Some(error) = out_of_fds {
            error
        } else if platform::is_dead(&status) {
            Error::ServiceGone(self.endpoint.clone())
        } else if platform::is_timeout(&status) {
            Error::Unresponsive {
                endpoint: self.endpoint.clone(),
                step: call.to_owned(),
                timeout: self.options.timeout,
            }
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

fn dump_error(status: String) -> Error {
    Error::Call {
        call: "dump",
        status,
    }
}

/// Why the service refused a dump: what it wrote, or, if it wrote nothing,
/// who was refused.
fn refusal_reason(text: &str, uid: u32) -> String {
    match text.trim() {
        "" => format!("uid {uid} may not read the dump"),
        said => said.to_owned(),
    }
}

/// What is left until `deadline` (`None`: no deadline, all the time there is).
fn time_left(deadline: Option<Instant>) -> Duration {
    deadline.map_or(Duration::MAX, |d| {
        d.saturating_duration_since(Instant::now())
    })
}

/// Everything `stream` delivers until its end, or `None` if the end has not
/// come by `deadline`.
fn read_to_end_by(
    mut stream: UnixStream,
    deadline: Option<Instant>,
) -> std::io::Result<Option<Vec<u8>>> {
    let mut text = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let left = time_left(deadline);
        if left.is_zero() {
            return Ok(None);
        }
        stream.set_read_timeout(Some(left))?;
        match stream.read(&mut chunk) {
            Ok(0) => return Ok(Some(text)),
            Ok(n) => text.extend_from_slice(&chunk[..n]),
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => {
                return Ok(None)
            }
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    /// The dump is read to its end, in pieces, and a writer that keeps the
    /// fd open without finishing is given up on at the deadline.
    #[test]
    fn a_dump_is_read_to_its_end_or_given_up_at_the_deadline() {
        let (reader, mut writer) = UnixStream::pair().unwrap();
        let text: Vec<u8> = (0..10_000).map(|i| i as u8).collect();
        let sender = {
            let text = text.clone();
            std::thread::spawn(move || writer.write_all(&text))
        };
        let got = read_to_end_by(reader, None).unwrap();
        sender.join().unwrap().unwrap();
        assert_eq!(got, Some(text));

        let (reader, mut writer) = UnixStream::pair().unwrap();
        writer.write_all(b"partial").unwrap();
        let deadline = Instant::now().checked_add(Duration::from_millis(20));
        assert_eq!(read_to_end_by(reader, deadline).unwrap(), None);
        drop(writer);
    }

    /// A refused dump quotes what the service wrote; a service that wrote
    /// nothing is still named with who was refused and who may read it.
    #[test]
    fn a_refused_dump_says_why_even_without_the_services_words() {
        assert_eq!(
            refusal_reason("permission denied: uid 7 may not dump x\n", 7),
            "permission denied: uid 7 may not dump x"
        );
        let silent = Error::Refused {
            call: "dump",
            message: refusal_reason(" \n", 7),
            uid: 7,
            needs: "dump",
        };
        let said = silent.to_string();
        assert!(
            said.starts_with("the daemon refused dump: uid 7 may not read the dump; only root "),
            "{said}"
        );
        assert!(!said.contains("--access"), "{said}");
    }

    #[test]
    fn no_deadline_leaves_all_the_time_there_is() {
        assert_eq!(time_left(None), Duration::MAX);
        assert_eq!(time_left(Some(Instant::now())), Duration::ZERO);
    }
}
