//! The binder dump transaction (`dumpsys` on a device, `eneabuf dump`
//! here): the documented fields, per-caller counts, and who may read it.

use std::os::unix::process::CommandExt;
use std::process::Command;

use enea_buffer_tests::probe::run_bounded;
use enea_buffer_tests::{bins, eneabuf, require_root, Daemon, Mode, DEADCAFE, OTHER_UID};

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// The value of `key: value` on its own line of the dump.
fn field<'a>(dump: &'a str, key: &str) -> &'a str {
    dump.lines()
        .find_map(|l| l.strip_prefix(&format!("{key}: ")))
        .unwrap_or_else(|| panic!("no `{key}:` line in the dump:\n{dump}"))
}

#[test]
fn dump_shows_the_region_the_callers_and_refuses_strangers() {
    require_root("the dump is tried as another uid");
    let daemon = Daemon::start();
    if daemon.mode == Mode::Socket {
        // rsbinder 0.12 cannot put the dump's fd into an RPC parcel (docs/diagnostics.md).
        let out = eneabuf(&daemon, &["dump"]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out.stderr));
        assert!(
            text(&out.stderr).contains("cannot carry the dump transaction"),
            "{}",
            text(&out.stderr)
        );
        return;
    }

    let inc = eneabuf(&daemon, &["increment"]);
    assert!(inc.status.success(), "{}", text(&inc.stderr));

    // A stranger is refused, with the reason, and nothing of the state.
    let mut stranger = Command::new(bins::path(bins::ENEABUF));
    stranger
        .args(daemon.client_args())
        .arg("dump")
        .uid(OTHER_UID)
        .gid(OTHER_UID);
    let refused = run_bounded(stranger);
    assert_eq!(refused.status.code(), Some(1), "{}", text(&refused.stdout));
    assert!(
        text(&refused.stderr).contains(&format!("permission denied: uid {OTHER_UID} may not dump")),
        "{}",
        text(&refused.stderr)
    );
    assert!(
        !text(&refused.stdout).contains("word 0"),
        "{}",
        text(&refused.stdout)
    );

    let out = eneabuf(&daemon, &["dump"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    let dump = text(&out.stdout);
    assert_eq!(
        field(&dump, "service"),
        "vendor.enea.buffer.IEneaBuffer/default"
    );
    assert_eq!(
        field(&dump, "interface version"),
        vendor_enea_buffer::aidl::vendor::enea::buffer::IEneaBuffer::VERSION.to_string()
    );
    assert_eq!(
        field(&dump, "interface hash"),
        vendor_enea_buffer::aidl::vendor::enea::buffer::IEneaBuffer::HASH
    );
    assert!(
        field(&dump, "transport").starts_with("kernel binder "),
        "{dump}"
    );
    assert!(field(&dump, "uptime").ends_with(" s"), "{dump}");
    // The same size and file identity a client sees.
    let info = text(&eneabuf(&daemon, &["info"]).stdout);
    let size = info
        .lines()
        .find_map(|l| l.strip_prefix("size:"))
        .map(|s| s.trim().trim_end_matches(" bytes").to_owned())
        .expect("eneabuf info size");
    let region = field(&dump, "region");
    assert!(
        region.starts_with(&format!("{size} bytes, ")),
        "{region} vs {size}"
    );
    let inode = info
        .lines()
        .find_map(|l| l.split("inode ").nth(1))
        .map(|s| s.trim_end_matches(')').to_owned())
        .expect("eneabuf info inode");
    assert!(
        region.ends_with(&format!(", inode {inode}")),
        "{region} vs {inode}"
    );
    assert_eq!(field(&dump, "word 0"), format!("{:#010x}", DEADCAFE + 1));
    // Root's increment and the stranger's refusal are on record.
    assert!(
        dump.lines()
            .any(|l| l.starts_with("  uid 0: calls [") && l.contains("getRegion 1")),
        "{dump}"
    );
    assert!(
        dump.contains(&format!("  uid {OTHER_UID}: calls [")) && dump.contains("refused 1"),
        "{dump}"
    );
}
