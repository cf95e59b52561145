//! systemd's readiness protocol (`Type=notify`): when systemd starts the
//! daemon it sets `NOTIFY_SOCKET`, and the daemon sends `READY=1` once
//! clients can connect and `STOPPING=1` when it begins to stop. Written by
//! hand (one datagram to a Unix socket) rather than linking libsystemd.

use std::ffi::OsStr;
use std::os::linux::net::SocketAddrExt;
use std::os::unix::ffi::OsStrExt;
use std::os::unix::net::{SocketAddr, UnixDatagram};
use std::path::Path;

/// Sends `state` (e.g. `READY=1`) to `$NOTIFY_SOCKET`; does nothing when
/// the variable is unset, as outside systemd.
pub fn notify(state: &str) -> std::io::Result<()> {
    let Some(name) = std::env::var_os("NOTIFY_SOCKET") else {
        return Ok(());
    };
    let addr = socket_addr(&name)?;
    UnixDatagram::unbound()?.send_to_addr(state.as_bytes(), &addr)?;
    Ok(())
}

/// `@name` is an abstract socket, anything else a filesystem path.
fn socket_addr(name: &OsStr) -> std::io::Result<SocketAddr> {
    match name.as_bytes().strip_prefix(b"@") {
        Some(abstract_name) => SocketAddr::from_abstract_name(abstract_name),
        None => SocketAddr::from_pathname(Path::new(name)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn at_names_are_abstract_and_others_paths() {
        let a = socket_addr(OsStr::new("@/org/freedesktop/systemd1/notify")).unwrap();
        assert_eq!(
            a.as_abstract_name(),
            Some(&b"/org/freedesktop/systemd1/notify"[..])
        );
        let p = socket_addr(OsStr::new("/run/systemd/notify")).unwrap();
        assert_eq!(p.as_pathname(), Some(Path::new("/run/systemd/notify")));
    }
}
