//! The lazy HAL variant (`--lazy`, init.lazy.rc): registered with the
//! service manager as a lazy service, it exits once no client holds it and
//! is started again on the next look-up. Without a service manager there is
//! nobody to start it on demand, so the socket transport refuses `--lazy`.

use std::process::Command;

use enea_buffer_tests::daemon::fresh_dir;
use enea_buffer_tests::probe::run_bounded;
use enea_buffer_tests::{bins, Mode};

const REFUSAL: &str =
    "--lazy needs a service manager (kernel binder); the socket transport has none";

/// `--lazy` on the socket transport (asked for, or chosen by `auto` because
/// no service manager answers) fails at start with one clear line.
#[test]
fn lazy_without_a_service_manager_is_refused() {
    let transports: &[&str] = match Mode::current() {
        Mode::Socket => &["socket", "auto"],
        // In the VM a service manager answers, so `auto` picks kernel binder.
        Mode::Binder => &["socket"],
    };
    for transport in transports {
        let dir = fresh_dir();
        let mut cmd = Command::new(bins::path(bins::DAEMON));
        cmd.args(["--lazy", "--transport", transport, "--socket"])
            .arg(dir.join("buffer.sock"));
        let out = run_bounded(cmd);
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(
            out.status.code(),
            Some(1),
            "--transport {transport}: {stderr}"
        );
        assert!(
            stderr.contains(REFUSAL),
            "--transport {transport}: {stderr}"
        );
        assert!(
            !dir.join("buffer.sock").exists(),
            "--transport {transport}: a refused lazy start must not leave a socket"
        );
    }
}
