//! `systemd/vendor.enea.buffer.service` is a unit systemd accepts, and it
//! starts the daemon the way README documents: `Type=notify` (the daemon
//! speaks it; tests/tests/systemd_notify.rs), the socket transport on a
//! socket in its own runtime directory, a dedicated account, hardening.

use enea_buffer_platform_checks::{read, repo_root};

const UNIT: &str = "systemd/vendor.enea.buffer.service";

/// `key=value` lines of the unit, in order (comments and sections dropped).
fn settings(text: &str) -> Vec<(String, String)> {
    text.lines()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with(['#', ';', '[']))
        .map(|l| {
            let (k, v) = l
                .split_once('=')
                .unwrap_or_else(|| panic!("{UNIT}: not key=value: {l}"));
            (k.trim().to_owned(), v.trim().to_owned())
        })
        .collect()
}

fn value<'a>(all: &'a [(String, String)], key: &str) -> &'a str {
    all.iter()
        .find(|(k, _)| k == key)
        .map(|(_, v)| v.as_str())
        .unwrap_or_else(|| panic!("{UNIT} has no {key}="))
}

/// systemd-analyze verify prints nothing for a clean unit; an unknown key,
/// a bad value or a missing dependency is printed (and may still exit 0).
/// ExecStart= names the installed path, which does not exist here: that one
/// program is stood in for by an executable that does (this test binary).
#[test]
fn unit_passes_systemd_analyze_verify() {
    let text = read(UNIT);
    let all = settings(&text);
    let exec = value(&all, "ExecStart");
    let program = exec.split_whitespace().next().expect("ExecStart program");
    let stand_in = std::env::current_exe().expect("current_exe");
    let dir = std::env::temp_dir().join(format!("enea-unit-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let copy = dir.join("vendor.enea.buffer.service");
    std::fs::write(
        &copy,
        text.replace(program, &stand_in.display().to_string()),
    )
    .unwrap();
    let out = std::process::Command::new("systemd-analyze")
        .arg("verify")
        .arg(&copy)
        .output()
        .unwrap_or_else(|e| {
            panic!("cannot run systemd-analyze ({e}): install Debian's `systemd` package")
        });
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    std::fs::remove_dir_all(&dir).unwrap();
    assert!(
        out.status.success() && said.trim().is_empty(),
        "systemd-analyze verify {UNIT} (exit {:?}):\n{said}",
        out.status.code()
    );
}

#[test]
fn unit_starts_the_daemon_on_a_private_socket_hardened() {
    let all = settings(&read(UNIT));
    assert_eq!(
        value(&all, "Type"),
        "notify",
        "{UNIT}: the daemon sends READY=1"
    );
    let exec: Vec<&str> = value(&all, "ExecStart").split_whitespace().collect();
    let arg = |flag: &str| {
        exec.iter()
            .position(|a| *a == flag)
            .and_then(|i| exec.get(i + 1))
            .copied()
            .unwrap_or_else(|| panic!("{UNIT}: ExecStart has no {flag}"))
    };
    assert_eq!(arg("--transport"), "socket");
    let runtime = std::path::PathBuf::from(format!("/run/{}", value(&all, "RuntimeDirectory")));
    assert_eq!(
        std::path::Path::new(arg("--socket")).parent(),
        Some(runtime.as_path()),
        "{UNIT}: the socket must live in RuntimeDirectory=, which systemd creates for the daemon"
    );
    assert_eq!(
        value(&all, "DynamicUser"),
        "yes",
        "{UNIT}: a dedicated account"
    );
    for (key, want) in [
        ("NoNewPrivileges", "yes"),
        ("ProtectSystem", "strict"),
        ("PrivateTmp", "yes"),
        ("RestrictAddressFamilies", "AF_UNIX"),
        ("CapabilityBoundingSet", ""),
    ] {
        assert_eq!(value(&all, key), want, "{UNIT}: {key}=");
    }
    // The daemon's binary is what Cargo builds and README installs.
    assert!(
        exec[0].ends_with("/vendor-enea-buffer-service"),
        "{UNIT}: ExecStart runs {}",
        exec[0]
    );
    assert!(repo_root().join("service/Cargo.toml").is_file());
}
