//! Finds the project's binaries: in `ENEA_BIN_DIR` (a colon-separated
//! search path, as inside the VM), or else in this build's target directory,
//! built on first use so plain `cargo test` works.

use std::path::PathBuf;
use std::process::Command;
use std::sync::OnceLock;

/// The daemon, as Cargo names it (Cargo binary names cannot hold dots).
pub const DAEMON: &str = "vendor-enea-buffer-service";
/// The CLI.
pub const ENEABUF: &str = "eneabuf";
/// The test client process.
pub const PROBE: &str = "enea-buffer-probe";
/// The misbehaving test server.
pub const EVIL_SERVER: &str = "enea-buffer-evil-server";
/// A V1 service built from the frozen V1 dump (evolution tests).
pub const V1_SERVER: &str = "enea-buffer-v1-server";

/// Path of binary `name`; panics with what to do if it cannot be found.
pub fn path(name: &str) -> PathBuf {
    if let Some(dirs) = std::env::var_os("ENEA_BIN_DIR") {
        return std::env::split_paths(&dirs)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
            .unwrap_or_else(|| panic!("{name} is not in ENEA_BIN_DIR={dirs:?}"));
    }
    let dir = target_dir();
    let p = dir.join(name);
    assert!(p.is_file(), "{} was not built", p.display());
    p
}

/// `target/<profile>` of this test executable (which lives in its `deps/`).
pub fn profile_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current_exe");
    exe.parent()
        .and_then(|deps| deps.parent())
        .expect("test executable outside target/<profile>/deps")
        .to_path_buf()
}

/// `cargo build --quiet` in this test executable's profile (release or not).
pub fn cargo_build() -> Command {
    let mut cargo = Command::new(env!("CARGO"));
    cargo.args(["build", "--quiet"]);
    if profile_dir().file_name().is_some_and(|n| n == "release") {
        cargo.arg("--release");
    }
    cargo.current_dir(env!("CARGO_MANIFEST_DIR"));
    cargo
}

/// `target/<profile>`, with the workspace binaries built once per process.
fn target_dir() -> &'static PathBuf {
    static DIR: OnceLock<PathBuf> = OnceLock::new();
    DIR.get_or_init(|| {
        let mut cargo = cargo_build();
        cargo.arg("--bins");
        cargo.args([
            "-p",
            "enea-buffer-service",
            "-p",
            "enea-buffer-client",
            "-p",
            "enea-buffer-tests",
        ]);
        let status = cargo
            .status()
            .expect("running cargo build for the workspace binaries");
        assert!(
            status.success(),
            "cargo build of the workspace binaries failed"
        );
        profile_dir()
    })
}
