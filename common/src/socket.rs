//! Where the socket transport listens, resolved the same way by the daemon
//! and by clients (Linux hosts only: Android serves through servicemanager).

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// Where a daemon running as root listens; the directory is the daemon's
/// own (created 0755, owned by its uid).
pub const ROOT_SOCKET: &str = "/run/vendor.enea.buffer/socket";
/// The socket's name under `$XDG_RUNTIME_DIR` for a daemon not running as root.
pub const USER_SOCKET_NAME: &str = "vendor.enea.buffer.sock";
/// Environment variable naming the socket for both sides when no flag does
/// (an empty value counts as unset; read by hand: AOSP's clap has no `env`).
pub const SOCKET_ENV: &str = "ENEA_BUFFER_SOCKET";

/// The socket a daemon serves on: `flag`, else a non-empty [`SOCKET_ENV`],
/// else [`ROOT_SOCKET`] for root, else `$XDG_RUNTIME_DIR/`[`USER_SOCKET_NAME`].
pub fn server_socket(flag: Option<&Path>) -> Result<PathBuf, String> {
    server_socket_from(
        flag,
        std::env::var_os(SOCKET_ENV),
        crate::effective_uid() == 0,
        std::env::var_os("XDG_RUNTIME_DIR"),
    )
}

/// The socket a client uses when none is given: a non-empty [`SOCKET_ENV`],
/// else a per-user daemon's `$XDG_RUNTIME_DIR/`[`USER_SOCKET_NAME`] if that
/// exists, else the system daemon's [`ROOT_SOCKET`].
pub fn client_socket() -> PathBuf {
    client_socket_from(
        std::env::var_os(SOCKET_ENV),
        std::env::var_os("XDG_RUNTIME_DIR"),
    )
}

fn server_socket_from(
    flag: Option<&Path>,
    env: Option<OsString>,
    root: bool,
    runtime_dir: Option<OsString>,
) -> Result<PathBuf, String> {
    if let Some(path) = flag.map(PathBuf::from).or_else(|| non_empty(env)) {
        return Ok(path);
    }
    if root {
        return Ok(PathBuf::from(ROOT_SOCKET));
    }
    match non_empty(runtime_dir) {
        Some(dir) => Ok(dir.join(USER_SOCKET_NAME)),
        None => Err(format!(
            "no socket path: not running as root and XDG_RUNTIME_DIR is not set; \
             pass --socket or set {SOCKET_ENV}"
        )),
    }
}

fn client_socket_from(env: Option<OsString>, runtime_dir: Option<OsString>) -> PathBuf {
    non_empty(env)
        .or_else(|| {
            non_empty(runtime_dir)
                .map(|dir| dir.join(USER_SOCKET_NAME))
                .filter(|p| p.exists())
        })
        .unwrap_or_else(|| PathBuf::from(ROOT_SOCKET))
}

fn non_empty(value: Option<OsString>) -> Option<PathBuf> {
    value.filter(|v| !v.is_empty()).map(PathBuf::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_server_takes_the_flag_then_the_environment_then_the_default() {
        let flag = Path::new("/run/flag.sock");
        let env = || Some(OsString::from("/run/env.sock"));
        let xdg = || Some(OsString::from("/run/user/1000"));
        assert_eq!(
            server_socket_from(Some(flag), env(), true, xdg()).unwrap(),
            flag
        );
        assert_eq!(
            server_socket_from(None, env(), false, None).unwrap(),
            PathBuf::from("/run/env.sock")
        );
        assert_eq!(
            server_socket_from(None, Some("".into()), true, xdg()).unwrap(),
            PathBuf::from(ROOT_SOCKET)
        );
        assert_eq!(
            server_socket_from(None, None, false, xdg()).unwrap(),
            PathBuf::from("/run/user/1000/vendor.enea.buffer.sock")
        );
        let e = server_socket_from(None, None, false, Some("".into())).unwrap_err();
        assert!(e.contains("XDG_RUNTIME_DIR is not set"), "{e}");
    }

    #[test]
    fn a_client_takes_the_environment_then_an_existing_user_socket_then_roots() {
        let dir = std::env::temp_dir().join(format!("enea-common-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let xdg = || Some(dir.clone().into_os_string());
        assert_eq!(
            client_socket_from(Some("/run/env.sock".into()), xdg()),
            PathBuf::from("/run/env.sock")
        );
        // No user socket there yet: the system daemon's.
        assert_eq!(
            client_socket_from(Some("".into()), xdg()),
            PathBuf::from(ROOT_SOCKET)
        );
        std::fs::write(dir.join(USER_SOCKET_NAME), b"").unwrap();
        assert_eq!(client_socket_from(None, xdg()), dir.join(USER_SOCKET_NAME));
        assert_eq!(client_socket_from(None, None), PathBuf::from(ROOT_SOCKET));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
