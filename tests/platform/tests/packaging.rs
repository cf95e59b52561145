//! The daemon's three installs — plain, lazy and the vendor APEX — are one
//! `rust_defaults` and differ only where they must; the APEX carries the
//! same service, init options, VINTF fragment and SELinux label as the
//! plain install.

use enea_buffer_platform_checks::{blueprint, blueprint::BpFile, initrc, read, sepolicy};
use std::collections::BTreeSet;

const BP: &str = "Android.bp";
const DEFAULTS: &str = "vendor.enea.buffer-service-defaults";
const PLAIN: &str = "vendor.enea.buffer-service";
const LAZY: &str = "vendor.enea.buffer-service.lazy";
const APEX_BIN: &str = "vendor.enea.buffer-service.apex";
const APEX: &str = "com.enea.hardware.buffer";
const INIT_RC: &str = "init.rc";
const SEPOLICY_FILE_CONTEXTS: &str = "sepolicy/file_contexts";

fn module(bp: &BpFile, typ: &str, name: &str) -> android_bp::Module {
    bp.module(typ, name)
        .unwrap_or_else(|| panic!("{BP} has no {typ} {name:?}"))
        .clone()
}

fn raw_module(bp: &BpFile, typ: &str, name: &str) -> android_bp::Module {
    bp.raw
        .modules
        .iter()
        .find(|m| m.typ == typ && blueprint::string(m, "name") == Some(name))
        .unwrap_or_else(|| panic!("{BP} has no {typ} {name:?}"))
        .clone()
}

/// The type `path` gets from a file_contexts text: the last matching line.
fn label(contexts_rel: &str, path: &str) -> Option<String> {
    let lines =
        sepolicy::contexts(&read(contexts_rel)).unwrap_or_else(|e| panic!("{contexts_rel}: {e}"));
    lines
        .iter()
        .rev()
        .find(|l| {
            regex::Regex::new(&format!("^(?:{})$", l.key))
                .unwrap_or_else(|e| panic!("{contexts_rel}:{}: bad regex: {e}", l.line))
                .is_match(path)
        })
        .map(|l| l.ty.clone())
}

#[test]
fn the_daemon_installs_share_one_defaults_module_and_differ_only_where_they_must() {
    let bp = BpFile::load(BP);
    let defaults = raw_module(&bp, "rust_defaults", DEFAULTS);
    assert_eq!(
        blueprint::strings(&defaults, "srcs"),
        ["service/src/main.rs"],
        "{BP} {DEFAULTS} srcs"
    );
    for (name, allowed) in [
        (
            PLAIN,
            &["name", "defaults", "required", "vintf_fragments"][..],
        ),
        (
            LAZY,
            &["name", "defaults", "required", "vintf_fragments"][..],
        ),
        (APEX_BIN, &["name", "defaults", "stem", "installable"][..]),
    ] {
        let raw = raw_module(&bp, "rust_binary", name);
        assert_eq!(
            blueprint::strings(&raw, "defaults"),
            [DEFAULTS],
            "{BP}: {name} must build from {DEFAULTS}"
        );
        let own: BTreeSet<&str> = raw.entries.keys().map(String::as_str).collect();
        let extra: Vec<&&str> = own.iter().filter(|k| !allowed.contains(k)).collect();
        assert!(
            extra.is_empty(),
            "{BP}: {name} sets {extra:?} itself; only {allowed:?} may differ from {DEFAULTS}"
        );
    }
    let plain = module(&bp, "rust_binary", PLAIN);
    let lazy = module(&bp, "rust_binary", LAZY);
    assert_eq!(
        blueprint::strings(&lazy, "vintf_fragments"),
        blueprint::strings(&plain, "vintf_fragments"),
        "{BP}: {LAZY} and {PLAIN} declare the same VINTF fragment"
    );
    let apex_bin = module(&bp, "rust_binary", APEX_BIN);
    assert_eq!(
        blueprint::string(&apex_bin, "stem"),
        Some(PLAIN),
        "{BP}: {APEX_BIN} stem"
    );
    assert_eq!(
        blueprint::boolean(&apex_bin, "installable"),
        Some(false),
        "{BP}: {APEX_BIN} is installed only inside {APEX}"
    );
}

#[test]
fn the_apex_carries_the_same_service_as_the_plain_install() {
    let bp = BpFile::load(BP);
    let apex = module(&bp, "apex", APEX);
    assert_eq!(
        blueprint::boolean(&apex, "vendor"),
        Some(true),
        "{BP}: {APEX} vendor"
    );
    assert_eq!(
        blueprint::boolean(&apex, "updatable"),
        Some(false),
        "{BP}: {APEX} updatable"
    );
    assert_eq!(
        blueprint::string(&apex, "key"),
        Some("com.android.hardware.key")
    );
    assert_eq!(
        blueprint::string(&apex, "certificate"),
        Some(":com.android.hardware.certificate")
    );
    assert_eq!(
        blueprint::strings(&apex, "binaries"),
        [APEX_BIN],
        "{BP}: {APEX} binaries"
    );

    // apex_manifest.json names the APEX.
    let manifest_rel = bp.resolve(blueprint::string(&apex, "manifest").expect("manifest"));
    let manifest = read(&manifest_rel);
    let name = regex::Regex::new(r#""name"\s*:\s*"([^"]*)""#)
        .unwrap()
        .captures(&manifest)
        .map(|c| c[1].to_owned());
    assert_eq!(
        name.as_deref(),
        Some(APEX),
        "{manifest_rel} name vs {BP} {APEX}"
    );

    // Its prebuilts: an init script and the plain install's VINTF fragment.
    let plain = module(&bp, "rust_binary", PLAIN);
    let mut rc_rel = None;
    let mut xml_rel = None;
    for name in blueprint::strings(&apex, "prebuilts") {
        let etc = module(&bp, "prebuilt_etc", &name);
        assert_eq!(
            blueprint::boolean(&etc, "installable"),
            Some(false),
            "{BP}: {name} belongs to {APEX} only"
        );
        let src = bp.resolve(blueprint::string(&etc, "src").expect("src"));
        if src.ends_with(".rc") {
            rc_rel = Some(src);
        } else {
            assert_eq!(
                blueprint::string(&etc, "sub_dir"),
                Some("vintf"),
                "{BP}: {name} sub_dir"
            );
            xml_rel = Some(src);
        }
    }
    assert_eq!(
        xml_rel.map(|x| vec![x]),
        Some(blueprint::strings(&plain, "vintf_fragments")),
        "{BP}: {APEX}'s VINTF fragment vs {PLAIN}'s"
    );

    // The init script runs the APEX's binary with init.rc's options.
    let rc_rel = rc_rel.unwrap_or_else(|| panic!("{BP}: {APEX} carries no init script"));
    let services = initrc::services(&read(&rc_rel));
    assert_eq!(services.len(), 1, "{rc_rel}: expected one service section");
    let svc = &services[0];
    let eager = initrc::services(&read(INIT_RC)).remove(0);
    let path = format!(
        "/apex/{APEX}/bin/{}/{PLAIN}",
        blueprint::string(&plain, "relative_install_path").unwrap_or("")
    );
    assert_eq!(
        svc.path, path,
        "{rc_rel} path vs where {APEX} installs {APEX_BIN}"
    );
    assert_eq!(svc.name, eager.name, "{rc_rel} service name vs {INIT_RC}");
    assert_eq!(svc.args, eager.args, "{rc_rel} arguments vs {INIT_RC}");
    assert_eq!(svc.options, eager.options, "{rc_rel} options vs {INIT_RC}");

    // Its file_contexts give the binary the daemon's exec type.
    let contexts_rel =
        bp.resolve(blueprint::string(&apex, "file_contexts").expect("file_contexts"));
    let in_apex = format!(
        "/bin/{}/{PLAIN}",
        blueprint::string(&plain, "relative_install_path").unwrap_or("")
    );
    let plain_path = eager.path.clone();
    let want = label(SEPOLICY_FILE_CONTEXTS, &plain_path)
        .unwrap_or_else(|| panic!("{SEPOLICY_FILE_CONTEXTS} does not label {plain_path}"));
    assert_eq!(
        label(&contexts_rel, &in_apex).as_deref(),
        Some(want.as_str()),
        "{contexts_rel} must label {in_apex} as {SEPOLICY_FILE_CONTEXTS} labels {plain_path}"
    );
    assert!(
        sepolicy::load("sepolicy").declares(&want),
        "sepolicy/ does not declare {want}"
    );
}
