//! Cross-file consistency of the Android platform integration.
//!
//! Each test compares one fact across the files that must agree on it, and
//! each failure names the two files that disagree.

use enea_buffer_platform_checks::{
    aidl, aosp, blueprint, blueprint::BpFile, cargo::Manifest, files_under, initrc, read,
    repo_root, sepolicy, vintf,
};
use std::collections::BTreeSet;

const AIDL_SRC: &str = "aidl/vendor/enea/buffer/IEneaBuffer.aidl";
const AIDL_API: &str = "aidl/aidl_api";
const AIDL_BUILD_RS: &str = "aidl/build.rs";
const INIT_RC: &str = "init.rc";
const LAZY_RC: &str = "init.lazy.rc";
const SERVICE_CARGO: &str = "service/Cargo.toml";
const CLIENT_CARGO: &str = "client-lib/Cargo.toml";
const COMMON_CARGO: &str = "common/Cargo.toml";
const SERVICE_LIB: &str = "libenea_buffer_service";
const MANIFEST: &str = "vintf/vendor.enea.buffer-service.xml";
const MATRIX: &str = "vintf/compatibility_matrix.enea.buffer.xml";
const SEPOLICY: &str = "sepolicy";
const FILE_CONTEXTS: &str = "sepolicy/file_contexts";
const SERVICE_CONTEXTS: &str = "sepolicy/service_contexts";

/// Sources that Android.bp names and that another author is still writing.
/// A missing one is reported, not failed; once present it is checked like
/// any other. Remove the entry when the file lands.
const AWAITED_SOURCES: &[&str] = &[];

// ---- helpers --------------------------------------------------------------

/// The Android.bp module of `typ` named `name`, and its file.
fn bp_module(typ: &str, name: &str) -> (BpFile, android_bp::Module) {
    for f in blueprint::all_files() {
        if let Some(m) = f.module(typ, name) {
            let m = m.clone();
            return (f, m);
        }
    }
    panic!("no {typ} {name:?} in any Android.bp");
}

/// The only aidl_interface, and its file.
fn aidl_interface() -> (BpFile, android_bp::Module) {
    let mut found = Vec::new();
    for f in blueprint::all_files() {
        for m in f.bp.modules_by_type("aidl_interface") {
            found.push((f.rel.clone(), m.clone()));
        }
    }
    assert_eq!(
        found.len(),
        1,
        "expected exactly one aidl_interface, found {}",
        found.len()
    );
    let (rel, m) = found.pop().expect("one");
    (BpFile::load(&rel), m)
}

/// The daemon's Cargo [[bin]] and the rust_binary building the same crate root.
fn daemon() -> (
    enea_buffer_platform_checks::cargo::Bin,
    BpFile,
    android_bp::Module,
) {
    let cargo = Manifest::load(SERVICE_CARGO);
    let bins = cargo.bins();
    assert_eq!(bins.len(), 1, "{SERVICE_CARGO}: expected one [[bin]]");
    let bin = bins[0].clone();
    let root_src = format!("service/{}", bin.path);
    for f in blueprint::all_files() {
        let found =
            f.bp.modules_by_type("rust_binary")
                .find(|m| {
                    blueprint::strings(m, "srcs").first().map(|s| f.resolve(s))
                        == Some(root_src.clone())
                })
                .cloned();
        if let Some(m) = found {
            return (bin, f, m);
        }
    }
    panic!("{SERVICE_CARGO} builds {root_src}, but no rust_binary in an Android.bp has it as srcs");
}

fn rc_service() -> initrc::Service {
    let services = initrc::services(&read(INIT_RC));
    assert_eq!(services.len(), 1, "{INIT_RC}: expected one service section");
    services.into_iter().next().expect("one")
}

fn src_api() -> aidl::Api {
    aidl::parse_api(&read(AIDL_SRC)).unwrap_or_else(|e| panic!("{AIDL_SRC}: {e}"))
}

fn fragment(rel: &str) -> vintf::Fragment {
    vintf::parse(&read(rel)).unwrap_or_else(|e| panic!("{rel}: not valid XML: {e}"))
}

/// `(interface, instance)` of the init.rc `interface aidl <pkg.I>/<inst>` line.
fn rc_aidl_interfaces(svc: &initrc::Service) -> Vec<(String, String)> {
    svc.options_named("interface")
        .filter(|w| w.first().map(String::as_str) == Some("aidl"))
        .map(|w| {
            let fq = w
                .get(1)
                .unwrap_or_else(|| panic!("{INIT_RC}: `interface aidl` without a name"));
            let (iface, inst) = fq
                .split_once('/')
                .unwrap_or_else(|| panic!("{INIT_RC}: `interface aidl {fq}` has no /instance"));
            (iface.to_owned(), inst.to_owned())
        })
        .collect()
}

/// aidl/aidl_api/<aidl_interface name>, where Soong reads the dumps from.
fn api_dir() -> String {
    let (bpf, m) = aidl_interface();
    let dir = format!(
        "{AIDL_API}/{}",
        blueprint::string(&m, "name").expect("aidl_interface name")
    );
    assert!(
        repo_root().join(&dir).is_dir(),
        "{} aidl_interface name vs the folders in {AIDL_API}: {dir} does not exist",
        bpf.rel
    );
    dir
}

fn latest_frozen() -> String {
    let (bpf, m) = aidl_interface();
    blueprint::versions_with_info(&m)
        .last()
        .cloned()
        .unwrap_or_else(|| panic!("{}: aidl_interface has no versions_with_info", bpf.rel))
}

// ---- the checks -------------------------------------------------------------

/// Android.bp's installed binary = Cargo's [[bin]] = init.rc's path = the
/// path file_contexts labels.
/// The type file_contexts gives `path`: the last matching entry wins, each
/// regex compiled as libselinux does (anchored at both ends).
fn file_label(path: &str) -> Option<String> {
    let lines =
        sepolicy::contexts(&read(FILE_CONTEXTS)).unwrap_or_else(|e| panic!("{FILE_CONTEXTS}: {e}"));
    let mut label = None;
    for l in &lines {
        let re = regex::Regex::new(&format!("^(?:{})$", l.key))
            .unwrap_or_else(|e| panic!("{FILE_CONTEXTS}:{}: bad regex: {e}", l.line));
        if re.is_match(path) {
            label = Some(l.ty.clone());
        }
    }
    label
}

#[test]
fn daemon_binary_name_agrees() {
    let (bin, bpf, m) = daemon();
    let bp_name = blueprint::string(&m, "name").expect("rust_binary name");
    let stem = blueprint::string(&m, "stem").unwrap_or(bp_name);
    let crate_name = blueprint::string(&m, "crate_name").unwrap_or(bp_name);

    // Cargo cannot put '.' in a target name: the dotted HAL name maps to
    // dashes there, and both must build the same crate.
    assert_eq!(
        bin.name,
        stem.replace('.', "-"),
        "{SERVICE_CARGO} [[bin]] name vs {} rust_binary {bp_name:?}: Cargo's name must be the \
         installed name with '.' as '-'",
        bpf.rel
    );
    assert_eq!(
        crate_name,
        bin.name.replace('-', "_"),
        "{} crate_name vs {SERVICE_CARGO} [[bin]] {:?}: they must name the same crate",
        bpf.rel,
        bin.name
    );

    // Where Soong installs it: vendor: true -> /vendor/bin, plus relative_install_path.
    assert_eq!(
        blueprint::boolean(&m, "vendor"),
        Some(true),
        "{}: the daemon must be vendor: true",
        bpf.rel
    );
    let mut installed = String::from("/vendor/bin");
    if let Some(rel) = blueprint::string(&m, "relative_install_path") {
        installed = format!("{installed}/{rel}");
    }
    let installed = format!("{installed}/{stem}");
    let svc = rc_service();
    assert_eq!(
        svc.path, installed,
        "{INIT_RC} service path vs the install path of {} module {bp_name:?}",
        bpf.rel
    );

    let label = file_label(&svc.path).unwrap_or_else(|| {
        panic!(
            "{INIT_RC} path {} is not matched by any entry of {FILE_CONTEXTS}",
            svc.path
        )
    });
    let policy = sepolicy::load(SEPOLICY);
    let daemons: Vec<&String> = policy
        .macros
        .iter()
        .filter(|(name, _, _)| name == "init_daemon_domain")
        .map(|(_, args, _)| &args[0])
        .collect();
    assert!(
        daemons.iter().any(|d| format!("{d}_exec") == label),
        "{FILE_CONTEXTS} labels {} as {label}, but {SEPOLICY}/*.te has no init_daemon_domain() \
         for it (domains: {daemons:?})",
        svc.path
    );
}

/// The AIDL package/interface and the instance agree across the .aidl, the
/// aidl_interface, init.rc, the manifest, service_contexts and the matrix.
#[test]
fn hal_name_and_instance_agree() {
    let api = src_api();
    let (bpf, m) = aidl_interface();
    assert_eq!(
        blueprint::string(&m, "name"),
        Some(api.package.as_str()),
        "{} aidl_interface name vs {AIDL_SRC} package",
        bpf.rel
    );
    assert!(
        api.annotations.iter().any(|a| a == "@VintfStability"),
        "{AIDL_SRC} lacks @VintfStability, but {} says stability: \"vintf\"",
        bpf.rel
    );
    assert_eq!(
        blueprint::string(&m, "stability"),
        Some("vintf"),
        "{}: stability vs {AIDL_SRC}",
        bpf.rel
    );
    let fq_iface = format!("{}.{}", api.package, api.interface);

    let rc = rc_aidl_interfaces(&rc_service());
    assert_eq!(rc.len(), 1, "{INIT_RC}: expected one `interface aidl` line");
    let (rc_iface, instance) = rc[0].clone();
    assert_eq!(
        rc_iface, fq_iface,
        "{INIT_RC} `interface aidl` vs {AIDL_SRC} package.interface"
    );

    let manifest = fragment(MANIFEST);
    assert_eq!(
        (manifest.root.as_str(), manifest.kind.as_str()),
        ("manifest", "device"),
        "{MANIFEST}: root"
    );
    assert_eq!(
        manifest.hals.len(),
        1,
        "{MANIFEST}: expected one AIDL <hal>"
    );
    assert_eq!(
        manifest.hals[0].name, api.package,
        "{MANIFEST} <name> vs {AIDL_SRC} package"
    );
    assert_eq!(
        manifest.hals[0].instances,
        [(api.interface.clone(), instance.clone())],
        "{MANIFEST} <fqname> vs {INIT_RC} `interface aidl`"
    );

    let contexts = sepolicy::contexts(&read(SERVICE_CONTEXTS))
        .unwrap_or_else(|e| panic!("{SERVICE_CONTEXTS}: {e}"));
    let name = format!("{fq_iface}/{instance}");
    assert!(
        contexts.iter().any(|c| c.key == name),
        "{SERVICE_CONTEXTS} has no entry for {name} from {INIT_RC} (keys: {:?})",
        contexts.iter().map(|c| &c.key).collect::<Vec<_>>()
    );

    let matrix = fragment(MATRIX);
    assert_eq!(
        (matrix.root.as_str(), matrix.kind.as_str()),
        ("compatibility-matrix", "framework"),
        "{MATRIX}: root"
    );
    let hal = matrix
        .hals
        .iter()
        .find(|h| h.name == api.package)
        .unwrap_or_else(|| panic!("{MATRIX} has no <hal> for {} from {MANIFEST}", api.package));
    assert!(
        hal.instances
            .contains(&(api.interface.clone(), instance.clone())),
        "{MATRIX} <interface> {:?} does not cover {MANIFEST} <fqname> {}/{instance}",
        hal.instances,
        api.interface
    );
    assert_eq!(
        hal.optional.as_deref(),
        Some("true"),
        "{MATRIX}: the framework must boot without this vendor HAL"
    );
}

/// The frozen version is the same in Android.bp, the aidl_api folders, both
/// VINTF files, the V<N>-rust dependencies and the host build.rs.
#[test]
fn frozen_version_agrees() {
    let (bpf, m) = aidl_interface();
    let versions = blueprint::versions_with_info(&m);
    let latest = latest_frozen();
    assert_eq!(
        blueprint::boolean(&m, "frozen"),
        Some(true),
        "{}: frozen must be true once V{latest} ships",
        bpf.rel
    );

    let dir = repo_root().join(api_dir());
    let mut on_disk: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| e.expect("entry").file_name().to_string_lossy().into_owned())
        .filter(|n| n != "current")
        .collect();
    on_disk.sort();
    let mut declared = versions.clone();
    declared.sort();
    assert_eq!(
        on_disk,
        declared,
        "{} versions_with_info vs the folders in {}",
        bpf.rel,
        api_dir()
    );

    let n: u32 = latest.parse().expect("numeric version");
    let manifest = fragment(MANIFEST);
    assert_eq!(
        manifest.hals[0].versions,
        std::slice::from_ref(&latest),
        "{MANIFEST} <version> vs {} versions_with_info",
        bpf.rel
    );
    let matrix = fragment(MATRIX);
    let hal = matrix
        .hals
        .iter()
        .find(|h| h.name == manifest.hals[0].name)
        .unwrap_or_else(|| panic!("{MATRIX} has no <hal> named like {MANIFEST}'s <name>"));
    assert!(
        hal.versions.iter().any(|v| vintf::version_covers(v, n)),
        "{MATRIX} <version> {:?} does not cover {MANIFEST} <version> {n}",
        hal.versions
    );

    // Every user of the generated crate uses the latest frozen version.
    let prefix = format!("{}-V", blueprint::string(&m, "name").expect("name"));
    for f in blueprint::all_files() {
        for module in &f.bp.modules {
            for lib in blueprint::strings(module, "rustlibs") {
                if let Some(rest) = lib.strip_prefix(&prefix) {
                    assert_eq!(
                        rest,
                        format!("{latest}-rust"),
                        "{} module {:?} uses {lib}, but {} freezes V{latest}",
                        f.rel,
                        blueprint::string(module, "name").unwrap_or("?"),
                        bpf.rel
                    );
                }
            }
        }
    }

    // build.rs stamps the host crate like Soong stamps -V<N>-rust.
    let build_rs = read(AIDL_BUILD_RS);
    let version = build_rs
        .lines()
        .find_map(|l| l.trim().strip_prefix("const VERSION: i32 ="))
        .and_then(|v| v.trim().trim_end_matches(';').trim().parse::<u32>().ok())
        .unwrap_or_else(|| panic!("{AIDL_BUILD_RS}: no `const VERSION: i32 = N;`"));
    assert_eq!(
        version, n,
        "{AIDL_BUILD_RS} VERSION vs {} versions_with_info",
        bpf.rel
    );
}

/// Every aidl_api/<pkg>/<N>/.hash equals the hash AOSP would compute now.
#[test]
fn frozen_hashes_match() {
    let (_, m) = aidl_interface();
    let versions = blueprint::versions_with_info(&m);
    for (i, v) in versions.iter().enumerate() {
        let rel = format!("{}/{v}", api_dir());
        let dir = repo_root().join(&rel);
        assert!(
            dir.is_dir(),
            "aidl/Android.bp versions_with_info lists {v}, but {rel} does not exist"
        );
        let previous = if i == 0 {
            "latest-version".to_owned()
        } else {
            versions[i - 1].clone()
        };
        let computed = aidl::frozen_hash(&dir, &previous);
        let recorded = read(&format!("{rel}/.hash"));
        // Soong uses the last line (`tail -1`); earlier lines are history.
        let last = recorded
            .lines()
            .map(str::trim)
            .rfind(|l| !l.is_empty())
            .unwrap_or("");
        assert_eq!(
            last, computed,
            "{rel}/.hash vs the dumps in {rel}/: a frozen version was edited (never do that; \
             add a version instead)"
        );
    }
}

/// current/ is byte-identical to the latest frozen version, and the source
/// .aidl declares the same API (an unfrozen change fails here, as `frozen:
/// true` fails the Soong build).
#[test]
fn current_equals_latest_frozen_and_source() {
    let latest = latest_frozen();
    let frozen_rel = format!("{}/{latest}", api_dir());
    let current_rel = format!("{}/current", api_dir());
    let frozen_dir = repo_root().join(&frozen_rel);
    let current_dir = repo_root().join(&current_rel);
    assert!(
        frozen_dir.is_dir(),
        "aidl/Android.bp versions_with_info ends at {latest}, but {frozen_rel} does not exist"
    );
    let frozen: Vec<String> = files_under(&frozen_dir)
        .into_iter()
        .filter(|f| f != ".hash")
        .collect();
    let current = files_under(&current_dir);
    assert_eq!(current, frozen, "files in {current_rel} vs {frozen_rel}");
    for f in &frozen {
        assert!(
            read(&format!("{current_rel}/{f}")) == read(&format!("{frozen_rel}/{f}")),
            "{current_rel}/{f} differs from {frozen_rel}/{f}: run m <name>-update-api / -freeze-api"
        );
    }

    let api = src_api();
    let dump_rel = format!(
        "{current_rel}/{}/{}.aidl",
        api.package.replace('.', "/"),
        api.interface
    );
    assert!(
        repo_root().join(&dump_rel).is_file(),
        "{AIDL_SRC} declares {}.{}, but {current_rel} has no dump for it ({dump_rel})",
        api.package,
        api.interface
    );
    let dump = aidl::parse_api(&read(&dump_rel)).unwrap_or_else(|e| panic!("{dump_rel}: {e}"));
    assert_eq!(
        api, dump,
        "{AIDL_SRC} declares a different API than {dump_rel}: freeze a new version"
    );
    assert!(
        read(&dump_rel).contains("THIS FILE IS IMMUTABLE. DO NOT EDIT IN ANY CASE."),
        "{dump_rel} lacks the aidl --dumpapi header that {AIDL_SRC}'s freeze would write"
    );

    // Every other type of the package too (parcelables): same files, same API.
    let src_dir = AIDL_SRC.rsplit_once('/').expect("a folder").0;
    let pkg_dir = api.package.replace('.', "/");
    let sources: Vec<String> = files_under(&repo_root().join(src_dir))
        .into_iter()
        .filter(|f| f.ends_with(".aidl"))
        .collect();
    let dumped: Vec<String> = current
        .iter()
        .filter_map(|f| f.strip_prefix(&format!("{pkg_dir}/")).map(str::to_owned))
        .collect();
    assert_eq!(
        sources, dumped,
        "the .aidl files in {src_dir} vs the dumps in {current_rel}/{pkg_dir}: freeze a new version"
    );
    for f in &sources {
        let src_rel = format!("{src_dir}/{f}");
        let dump_rel = format!("{current_rel}/{pkg_dir}/{f}");
        let src = aidl::parse_api(&read(&src_rel)).unwrap_or_else(|e| panic!("{src_rel}: {e}"));
        let dump = aidl::parse_api(&read(&dump_rel)).unwrap_or_else(|e| panic!("{dump_rel}: {e}"));
        assert_eq!(
            src, dump,
            "{src_rel} declares a different API than {dump_rel}: freeze a new version"
        );
    }
}

/// Each frozen version only adds to the one before it, as Soong's
/// `checkapi` requires of a stable interface: no type removed, the old
/// methods (transaction codes) and parcelable fields (wire order) a prefix
/// of the new ones, every old constant kept with its value, the same
/// annotations. A V1 client then works against every later service.
#[test]
fn frozen_versions_only_add() {
    let versions = blueprint::versions_with_info(&aidl_interface().1);
    let dir = api_dir();
    for pair in versions.windows(2) {
        let (old_rel, new_rel) = (format!("{dir}/{}", pair[0]), format!("{dir}/{}", pair[1]));
        for f in files_under(&repo_root().join(&old_rel)) {
            if !f.ends_with(".aidl") {
                continue;
            }
            let new_file = repo_root().join(&new_rel).join(&f);
            assert!(
                new_file.is_file(),
                "{new_rel} dropped {f}, which {old_rel} has: a breaking change"
            );
            let old = aidl::parse_api(&read(&format!("{old_rel}/{f}")))
                .unwrap_or_else(|e| panic!("{old_rel}/{f}: {e}"));
            let new = aidl::parse_api(&read(&format!("{new_rel}/{f}")))
                .unwrap_or_else(|e| panic!("{new_rel}/{f}: {e}"));
            assert_eq!(
                (&old.package, &old.kind, &old.interface, &old.annotations),
                (&new.package, &new.kind, &new.interface, &new.annotations),
                "{new_rel}/{f} vs {old_rel}/{f}: name, kind or annotations changed"
            );
            assert!(
                new.methods.starts_with(&old.methods),
                "{new_rel}/{f} must keep {old_rel}'s {} in order and add only at the end:\n  \
                 {old_rel}: {:?}\n  {new_rel}: {:?}",
                if old.kind == "parcelable" {
                    "fields"
                } else {
                    "methods"
                },
                old.methods,
                new.methods
            );
            for c in &old.constants {
                assert!(
                    new.constants.contains(c),
                    "{new_rel}/{f} dropped or changed `{c}` of {old_rel}"
                );
            }
        }
    }
}

/// Every path an Android.bp names exists (relative to that Android.bp).
#[test]
fn files_named_by_android_bp_exist() {
    let mut missing = Vec::new();
    let mut awaited = Vec::new();
    let mut checked = 0;
    for f in blueprint::all_files() {
        for m in &f.bp.modules {
            let mut paths = Vec::new();
            for key in ["srcs", "init_rc", "vintf_fragments", "data"] {
                paths.extend(blueprint::strings(m, key));
            }
            for key in ["src", "local_include_dir"] {
                paths.extend(blueprint::string(m, key).map(str::to_owned));
            }
            for p in paths.into_iter().filter(|p| !p.starts_with(':')) {
                checked += 1;
                let rel = f.resolve(&p);
                let exists = match rel.rsplit_once("/*") {
                    // `dir/*.ext`: Soong errors out on a glob matching nothing.
                    Some((dir, tail)) => {
                        let ext = tail.trim_start_matches('.');
                        std::fs::read_dir(repo_root().join(dir))
                            .map(|d| {
                                d.filter_map(Result::ok)
                                    .any(|e| e.file_name().to_string_lossy().ends_with(ext))
                            })
                            .unwrap_or(false)
                    }
                    None => repo_root().join(&rel).exists(),
                };
                if !exists {
                    if AWAITED_SOURCES.contains(&rel.as_str()) {
                        awaited.push(rel);
                    } else {
                        missing.push(format!("{} names {rel}", f.rel));
                    }
                }
            }
        }
    }
    for a in &awaited {
        eprintln!("note: {a} is named by Android.bp but not written yet (AWAITED_SOURCES)");
    }
    assert!(checked > 5, "suspiciously few paths checked: {checked}");
    assert!(
        missing.is_empty(),
        "Android.bp names files that do not exist: {missing:#?}"
    );
}

/// Every type or attribute the policy uses is declared in sepolicy/ or is a
/// known platform one; every macro is a known platform macro; every context
/// file label is declared.
#[test]
fn sepolicy_names_are_declared() {
    let policy = sepolicy::load(SEPOLICY);
    let platform: BTreeSet<&str> = sepolicy::PLATFORM_TYPES.iter().copied().collect();
    let undeclared: Vec<String> = policy
        .uses
        .iter()
        .filter(|u| !policy.declares(&u.name) && !platform.contains(u.name.as_str()))
        .map(|u| format!("{} (in {})", u.name, u.at))
        .collect();
    assert!(
        undeclared.is_empty(),
        "{SEPOLICY}/*.te uses names that neither {SEPOLICY}/ nor the platform allowlist declares: {undeclared:#?}"
    );
    for (name, args, at) in &policy.macros {
        let known = sepolicy::PLATFORM_MACROS.iter().find(|(m, _)| m == name);
        let (_, arity) =
            known.unwrap_or_else(|| panic!("{at}: {name}() is not a platform te_macro we allow"));
        assert_eq!(args.len(), *arity, "{at}: {name}() takes {arity} arguments");
    }
    // Macros that build names from their arguments need those names too.
    for (name, args, at) in &policy.macros {
        let needed: Vec<String> = match name.as_str() {
            "init_daemon_domain" => vec![format!("{}_exec", args[0])],
            "hal_server_domain" => vec![format!("{}_server", args[1])],
            "hal_client_domain" => vec![format!("{}_client", args[1])],
            "hal_attribute_service" => {
                vec![format!("{}_client", args[0]), format!("{}_server", args[0])]
            }
            _ => Vec::new(),
        };
        for n in needed {
            assert!(
                policy.declares(&n),
                "{at} needs {n}, which {SEPOLICY}/ does not declare"
            );
        }
    }
    for file in [FILE_CONTEXTS, SERVICE_CONTEXTS] {
        for l in sepolicy::contexts(&read(file)).unwrap_or_else(|e| panic!("{file}: {e}")) {
            assert!(
                policy.types.contains_key(&l.ty),
                "{file}:{} labels with {}, which no {SEPOLICY}/*.te declares",
                l.line,
                l.ty
            );
        }
    }
}

/// The policy wires the pieces together: the service type is a HAL service,
/// the daemon serves it, and the memfd's tmpfs type reaches the clients.
#[test]
fn sepolicy_wiring() {
    let policy = sepolicy::load(SEPOLICY);
    let svc_name = rc_aidl_interfaces(&rc_service())
        .first()
        .map(|(i, inst)| format!("{i}/{inst}"))
        .expect("interface aidl line");
    let contexts = sepolicy::contexts(&read(SERVICE_CONTEXTS)).expect("parsable");
    let svc_type = &contexts
        .iter()
        .find(|c| c.key == svc_name)
        .expect("entry (see hal_name test)")
        .ty;
    let attrs = policy.types.get(svc_type).cloned().unwrap_or_default();
    for a in ["hal_service_type", "service_manager_type"] {
        assert!(
            attrs.contains(a),
            "{SERVICE_CONTEXTS} type {svc_type} lacks attribute {a} in {SEPOLICY}/*.te"
        );
    }
    let hal = policy
        .macros
        .iter()
        .find(|(n, args, _)| n == "hal_attribute_service" && args[1] == *svc_type)
        .map(|(_, args, _)| args[0].clone())
        .unwrap_or_else(|| panic!("{SEPOLICY}/*.te: no hal_attribute_service(<hal>, {svc_type}) for {SERVICE_CONTEXTS}"));

    let (_, _, daemon_type) = policy
        .macros
        .iter()
        .find(|(n, args, _)| n == "hal_server_domain" && args[1] == hal)
        .map(|(_, args, at)| (hal.clone(), at.clone(), args[0].clone()))
        .unwrap_or_else(|| panic!("{SEPOLICY}/*.te: no hal_server_domain(<domain>, {hal})"));
    assert!(
        policy.macros.iter().any(|(n, args, _)| n == "init_daemon_domain" && args[0] == daemon_type),
        "{SEPOLICY}/*.te: {daemon_type} serves {hal} but is not an init_daemon_domain (see {INIT_RC})"
    );

    let tmpfs = policy
        .transitions
        .iter()
        .find(|(s, t, c, _)| *s == daemon_type && t == "tmpfs" && c == "file")
        .map(|(_, _, _, new)| new.clone())
        .unwrap_or_else(|| {
            panic!("{SEPOLICY}/*.te: no type_transition {daemon_type} tmpfs:file <type>")
        });
    let grants = |who: &str, perms: &[&str]| {
        policy.allows.iter().any(|a| {
            a.source.iter().any(|x| x == who)
                && a.target.contains(&tmpfs)
                && a.classes.iter().any(|x| x == "file")
                && perms.iter().all(|perm| a.perms.iter().any(|x| x == perm))
        })
    };
    let client = format!("{hal}_client");
    assert!(
        grants(&client, &["getattr", "map", "read"]),
        "{SEPOLICY}/*.te: {client} cannot map {tmpfs}, but {AIDL_SRC} getReadOnlyBuffer() hands it out"
    );
    let rw_client = format!("{hal}_rw_client");
    assert!(
        grants(&rw_client, &["write"]),
        "{SEPOLICY}/*.te: {rw_client} cannot map {tmpfs} read-write, but {AIDL_SRC} getBuffer() hands it out"
    );
    assert!(
        grants(&daemon_type, &["map", "read", "write"]),
        "{SEPOLICY}/*.te: {daemon_type} cannot map its own {tmpfs}"
    );
}

/// init.rc starts the daemon as a least-privilege HAL, exactly as written.
#[test]
fn init_rc_service_is_a_least_privilege_hal() {
    let svc = rc_service();
    let (_, bpf, m) = daemon();
    assert_eq!(
        Some(svc.name.as_str()),
        blueprint::string(&m, "name"),
        "{INIT_RC} service name vs {} rust_binary name",
        bpf.rel
    );
    assert!(
        svc.args.is_empty(),
        "{INIT_RC}: no arguments on the service line (the VM rig runs it as written)"
    );
    assert_eq!(
        svc.option("class").map(|c| c.to_vec()),
        Some(vec!["hal".to_owned()]),
        "{INIT_RC}: class hal"
    );
    let user = svc.option("user").and_then(|u| u.first()).cloned();
    assert!(
        matches!(user.as_deref(), Some(u) if u != "root"),
        "{INIT_RC}: the daemon must not run as root"
    );
    assert!(
        svc.option("group").is_some(),
        "{INIT_RC}: set a group, or init leaves it root"
    );
    assert!(
        svc.option("capabilities").is_none(),
        "{INIT_RC}: the daemon needs no capabilities"
    );
}

/// The daemon's module installs init.rc and the manifest fragment.
#[test]
fn android_bp_installs_init_rc_and_manifest() {
    let (_, bpf, m) = daemon();
    let direct = blueprint::strings(&m, "init_rc")
        .iter()
        .any(|p| bpf.resolve(p) == INIT_RC);
    let via_etc = blueprint::strings(&m, "required").iter().any(|req| {
        blueprint::all_files().iter().any(|f| {
            f.module("prebuilt_etc", req).is_some_and(|etc| {
                blueprint::string(etc, "src")
                    .map(|s| f.resolve(s))
                    .as_deref()
                    == Some(INIT_RC)
                    && blueprint::string(etc, "sub_dir") == Some("init")
                    && blueprint::boolean(etc, "vendor") == Some(true)
            })
        })
    });
    assert!(
        direct || via_etc,
        "{} does not install {INIT_RC} to /vendor/etc/init with the daemon (init_rc or a required prebuilt_etc)",
        bpf.rel
    );
    let frags: Vec<String> = blueprint::strings(&m, "vintf_fragments")
        .iter()
        .map(|p| bpf.resolve(p))
        .collect();
    assert!(
        frags.iter().any(|f| f == MANIFEST),
        "{} vintf_fragments {frags:?} vs {MANIFEST}",
        bpf.rel
    );
}

/// The lazy variant is the same daemon, built and labelled the same way,
/// started only on demand: `disabled`, `oneshot`, `interface aidl` as in
/// init.rc, `--lazy`, same account.
#[test]
fn lazy_variant_is_the_daemon_started_on_demand() {
    let (_, bpf, eager) = daemon();
    let eager_name = blueprint::string(&eager, "name").expect("name");
    let lazy_name = format!("{eager_name}.lazy");
    // Built from the same defaults (tests/platform/tests/packaging.rs).
    let (_, lazy) = bp_module("rust_binary", &lazy_name);
    let etc_name = format!("{lazy_name}.rc");
    assert_eq!(
        blueprint::strings(&lazy, "required"),
        vec![etc_name.clone()]
    );
    let (etc_file, etc) = bp_module("prebuilt_etc", &etc_name);
    assert_eq!(
        blueprint::string(&etc, "src")
            .map(|s| etc_file.resolve(s))
            .as_deref(),
        Some(LAZY_RC)
    );
    assert_eq!(blueprint::string(&etc, "sub_dir"), Some("init"));
    assert_eq!(blueprint::string(&etc, "filename"), Some(etc_name.as_str()));
    assert_eq!(blueprint::boolean(&etc, "vendor"), Some(true));

    let services = initrc::services(&read(LAZY_RC));
    assert_eq!(services.len(), 1, "{LAZY_RC}: expected one service section");
    let svc = &services[0];
    let eager_svc = rc_service();
    assert_eq!(svc.name, lazy_name, "{LAZY_RC} service name vs {}", bpf.rel);
    let installed = format!(
        "/vendor/bin/{}/{lazy_name}",
        blueprint::string(&lazy, "relative_install_path").unwrap_or("")
    )
    .replace("//", "/");
    assert_eq!(
        svc.path, installed,
        "{LAZY_RC} path vs {} install path",
        bpf.rel
    );
    assert_eq!(
        svc.args,
        ["--lazy"],
        "{LAZY_RC}: the daemon must run with --lazy"
    );
    for flag in ["disabled", "oneshot"] {
        assert!(svc.option(flag).is_some(), "{LAZY_RC}: `{flag}` missing");
    }
    assert_eq!(
        rc_aidl_interfaces(svc),
        rc_aidl_interfaces(&eager_svc),
        "{LAZY_RC} `interface aidl` vs {INIT_RC}"
    );
    assert!(
        !rc_aidl_interfaces(svc).is_empty(),
        "{LAZY_RC}: servicemanager starts it through `interface aidl`"
    );
    for key in ["class", "user", "group"] {
        assert_eq!(
            svc.option(key),
            eager_svc.option(key),
            "{LAZY_RC} {key} vs {INIT_RC}"
        );
    }
    assert_eq!(
        file_label(&svc.path),
        file_label(&eager_svc.path),
        "{FILE_CONTEXTS} must label {} as it labels {}",
        svc.path,
        eager_svc.path
    );
}

/// A dependency added in Cargo without its Soong counterpart breaks only the
/// Android build; catch it here.
#[test]
fn cargo_dependencies_have_soong_counterparts() {
    let (_, bpf, _) = daemon();
    let (_, service_lib) = bp_module("rust_library", SERVICE_LIB);
    let (_, lib) = bp_module("rust_library", "libenea_buffer_client");
    let (_, cli) = bp_module("rust_binary", "eneabuf");
    let (_, common) = bp_module("rust_library", "libenea_buffer_common");
    let table = aosp::Aosp::load();
    let deps_of = |ms: &[&android_bp::Module]| -> BTreeSet<String> {
        ms.iter()
            .flat_map(|m| {
                let mut v = blueprint::strings(m, "rustlibs");
                v.extend(blueprint::strings(m, "proc_macros"));
                v
            })
            .collect()
    };
    for (cargo_rel, modules) in [
        // The daemon's library holds all of it; its binary is a thin main.rs.
        (SERVICE_CARGO, vec![&service_lib]),
        (CLIENT_CARGO, vec![&lib, &cli]),
        (COMMON_CARGO, vec![&common]),
    ] {
        let have = deps_of(&modules);
        for dep in Manifest::load(cargo_rel).dependencies() {
            let module = table.for_host_dependency(&dep).unwrap_or_else(|| {
                panic!("{cargo_rel} depends on {dep}, which no row of {} stands for; add its AOSP module there and to the rustlibs in {}", aosp::TABLE, bpf.rel)
            });
            assert!(
                have.contains(&module.soong),
                "{cargo_rel} depends on {dep}, but {} lacks {} ({} row {})",
                bpf.rel,
                module.soong,
                aosp::TABLE,
                module.soong
            );
        }
    }
    // A library's crate name must match Cargo's, or `use` lines differ.
    for (cargo_rel, module, name) in [
        (CLIENT_CARGO, &lib, "libenea_buffer_client"),
        (COMMON_CARGO, &common, "libenea_buffer_common"),
    ] {
        let cargo_lib = Manifest::load(cargo_rel).lib().expect("[lib]");
        assert_eq!(
            blueprint::string(module, "crate_name"),
            Some(cargo_lib.name.as_str()),
            "{} {name} crate_name vs {cargo_rel} [lib] name",
            bpf.rel
        );
    }
}

/// The daemon is a library and thin binaries over it, on both sides: the
/// rust_library builds Cargo's [lib] under the same crate name, and each
/// daemon rust_binary links it and nothing the library does not also
/// link (as Cargo's [[bin]] shares its package's dependencies).
#[test]
fn daemon_is_a_thin_binary_over_the_service_library() {
    let (bpf, lib) = bp_module("rust_library", SERVICE_LIB);
    let cargo_lib = Manifest::load(SERVICE_CARGO)
        .lib()
        .unwrap_or_else(|| panic!("{SERVICE_CARGO} has no [lib]"));
    assert_eq!(
        blueprint::string(&lib, "crate_name"),
        Some(cargo_lib.name.as_str()),
        "{} {SERVICE_LIB} crate_name vs {SERVICE_CARGO} [lib] name",
        bpf.rel
    );
    assert_eq!(
        blueprint::strings(&lib, "srcs")
            .iter()
            .map(|s| bpf.resolve(s))
            .collect::<Vec<_>>(),
        [format!("service/{}", cargo_lib.path)],
        "{} {SERVICE_LIB} srcs vs {SERVICE_CARGO} [lib] path",
        bpf.rel
    );
    assert!(
        blueprint::boolean(&lib, "vendor") == Some(true)
            || blueprint::boolean(&lib, "vendor_available") == Some(true),
        "{}: {SERVICE_LIB} must be buildable for the vendor daemon (vendor or vendor_available)",
        bpf.rel
    );
    let lib_deps: BTreeSet<String> = blueprint::strings(&lib, "rustlibs").into_iter().collect();
    let (_, _, eager) = daemon();
    let eager_name = blueprint::string(&eager, "name").expect("name").to_owned();
    for name in [eager_name.clone(), format!("{eager_name}.lazy")] {
        let (_, bin) = bp_module("rust_binary", &name);
        let deps = blueprint::strings(&bin, "rustlibs");
        assert!(
            deps.iter().any(|d| d == SERVICE_LIB),
            "{}: {name} does not link {SERVICE_LIB}",
            bpf.rel
        );
        for dep in deps.iter().filter(|d| *d != SERVICE_LIB) {
            assert!(
                lib_deps.contains(dep),
                "{}: {name} links {dep}, which {SERVICE_LIB} does not: {SERVICE_CARGO} has one \
                 dependency list for both",
                bpf.rel
            );
        }
        assert!(
            blueprint::strings(&bin, "proc_macros").is_empty(),
            "{}: {name} has proc_macros; main.rs needs none, the library has them",
            bpf.rel
        );
    }
}

// ---- the Android build (tests/android) --------------------------------------

const AIDL_FIXTURE: &str = "tests/android/vendor_enea_buffer.rs";
const WORKSPACE_CARGO: &str = "Cargo.toml";

/// clippy.toml's `msrv` is the Rust of the oldest Android release we
/// support, the one tests/android/check.py builds the Android side with, so
/// clippy's `incompatible_msrv` fails a newer std API on the host too.
#[test]
fn clippy_msrv_is_the_android_rust() {
    let table = aosp::Aosp::load();
    let clippy: toml::Table = read("clippy.toml").parse().expect("clippy.toml parses");
    let msrv = clippy["msrv"].as_str().expect("clippy.toml msrv");
    let android: Vec<&str> = table.rust.split('.').take(2).collect();
    assert_eq!(
        msrv.split('.').take(2).collect::<Vec<_>>(),
        android,
        "clippy.toml msrv {msrv} vs {} [toolchain] rust {}",
        aosp::TABLE,
        table.rust
    );
}

/// The workspace's `rust-version` is what the host build really needs: the
/// highest `rust-version` any locked crate from the registry declares.
#[test]
fn rust_version_is_what_the_locked_crates_need() {
    let ws = Manifest::load(WORKSPACE_CARGO);
    let ours = ws.doc["workspace"]["package"]["rust-version"]
        .as_str()
        .expect("[workspace.package] rust-version");
    let lock: toml::Table = read("Cargo.lock").parse().expect("Cargo.lock parses");
    let cargo_home = std::env::var_os("CARGO_HOME")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::path::PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cargo")
        });
    let registries: Vec<_> = std::fs::read_dir(cargo_home.join("registry/src"))
        .expect("the registry's sources (a build fetched them)")
        .map(|e| e.unwrap().path())
        .collect();
    let parse = |v: &str| -> Vec<u32> { v.split('.').map(|p| p.parse().unwrap()).collect() };
    let mut need = (vec![0], String::new());
    for package in lock["package"].as_array().unwrap() {
        if package.get("source").is_none() {
            continue; // ours
        }
        let dir = format!(
            "{}-{}",
            package["name"].as_str().unwrap(),
            package["version"].as_str().unwrap()
        );
        let Some(manifest) = registries
            .iter()
            .map(|r| r.join(&dir).join("Cargo.toml"))
            .find(|p| p.is_file())
        else {
            panic!("{dir} is locked but not in the registry's sources; run cargo fetch");
        };
        let text = std::fs::read_to_string(manifest).unwrap();
        let declared: toml::Table = text.parse().unwrap();
        if let Some(v) = declared
            .get("package")
            .and_then(|p| p.get("rust-version"))
            .and_then(|v| v.as_str())
        {
            let mut v = parse(v);
            v.truncate(2);
            if v > need.0 {
                need = (v, dir);
            }
        }
    }
    let mut ours_parts = parse(ours);
    ours_parts.truncate(2);
    assert_eq!(
        ours_parts, need.0,
        "{WORKSPACE_CARGO} rust-version {ours}, but the highest a locked crate declares is {:?} ({})",
        need.0, need.1
    );
}

/// Features a Cargo manifest asks of `dep`: `features = [...]` on the
/// dependency (workspace table or member table), as strings.
fn requested_features(deps: &toml::Table, dep: &str) -> Vec<String> {
    deps.get(dep)
        .and_then(|d| d.get("features"))
        .and_then(|f| f.as_array())
        .map(|a| {
            a.iter()
                .filter_map(|v| v.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// A crate the daemon or the client library shares with the Android build
/// may ask only for features AOSP builds it with: one AOSP lacks (tokio's
/// `signal`, clap's `env`) breaks only the device build. Default features
/// are not compared here: tests/android/check.py builds with AOSP's list
/// and no defaults, so code that needs a default AOSP lacks fails there.
#[test]
fn shared_crates_ask_only_for_features_aosp_builds() {
    let table = aosp::Aosp::load();
    let ws = Manifest::load(WORKSPACE_CARGO);
    let ws_deps = ws.doc["workspace"]["dependencies"]
        .as_table()
        .expect("[workspace.dependencies]")
        .clone();
    let mut checked = 0;
    for member in [SERVICE_CARGO, CLIENT_CARGO, COMMON_CARGO] {
        let manifest = Manifest::load(member);
        let deps = manifest.doc["dependencies"]
            .as_table()
            .expect("[dependencies]");
        for dep in manifest.dependencies() {
            let Some(module) = table.for_host_dependency(&dep) else {
                continue; // cargo_dependencies_have_soong_counterparts reports it
            };
            let Some(aosp_features) = &module.features else {
                continue; // built from source here, not a third-party crate
            };
            if module.krate != dep {
                continue; // a host stand-in (env_logger for android_logger)
            }
            let mut asked = requested_features(&ws_deps, &dep);
            asked.extend(requested_features(deps, &dep));
            for feature in asked {
                assert!(
                    aosp_features.contains(&feature),
                    "{member} (through {WORKSPACE_CARGO}) asks {dep} for feature `{feature}`, \
                     which AOSP's {} is built without ({} lists {aosp_features:?})",
                    module.soong,
                    aosp::TABLE
                );
                checked += 1;
            }
        }
    }
    assert!(checked > 0, "no shared crate feature was compared");
}

/// The Rust type AOSP's backend emits for an AIDL type: a builtin, or a
/// parcelable of `package` (in `parcelables`), which it names through the
/// crate's `mangled` module (`_<len>_<part>` per component).
fn rust_type(aidl_type: &str, package: &str, parcelables: &[String]) -> String {
    match aidl_type {
        "ParcelFileDescriptor" => "binder::ParcelFileDescriptor".into(),
        "long" => "i64".into(),
        "int" => "i32".into(),
        "boolean" => "bool".into(),
        "String" => "String".into(),
        "void" => "()".into(),
        other if parcelables.iter().any(|p| p == other) => {
            let mangled: String = package
                .split('.')
                .chain([other])
                .map(|part| format!("_{}_{part}", part.len()))
                .collect();
            format!("crate::mangled::{mangled}")
        }
        other => panic!("{AIDL_FIXTURE} check: AIDL type {other} has no mapping here; add it"),
    }
}

/// The Rust type of a parcelable field: as a return type, except that a
/// non-nullable ParcelFileDescriptor (no default value) becomes an Option.
fn rust_field_type(aidl_type: &str, package: &str, parcelables: &[String]) -> String {
    let t = rust_type(aidl_type, package, parcelables);
    if aidl_type == "ParcelFileDescriptor" {
        format!("Option<{t}>")
    } else {
        t
    }
}

/// The stand-in for AOSP's generated `vendor.enea.buffer-V<N>-rust` says
/// what the frozen interface says: descriptor, stability, methods with their
/// return types and transaction codes in order, constants, VERSION, HASH.
#[test]
fn aidl_fixture_matches_the_frozen_interface() {
    let fixture = read(AIDL_FIXTURE);
    let latest = latest_frozen();
    let dump_rel = format!("{}/{latest}/vendor/enea/buffer/IEneaBuffer.aidl", api_dir());
    let dump = aidl::parse_api(&read(&dump_rel)).unwrap_or_else(|e| panic!("{dump_rel}: {e}"));
    assert_eq!(dump.methods, src_api().methods, "{dump_rel} vs {AIDL_SRC}");
    let grab = |re: &str| -> Vec<Vec<String>> {
        regex::Regex::new(re)
            .expect("valid regex")
            .captures_iter(&fixture)
            .map(|c| {
                c.iter()
                    .skip(1)
                    .map(|m| m.map_or(String::new(), |m| m.as_str().to_owned()))
                    .collect()
            })
            .collect()
    };
    let descriptor = format!("{}.{}", dump.package, dump.interface);
    assert_eq!(
        grab(r#"(?m)^  (\w+)\["([\w.]+)"\] \{$"#),
        [vec![dump.interface.clone(), descriptor.clone()]],
        "{AIDL_FIXTURE} declare_binder_interface! vs {dump_rel}"
    );
    assert_eq!(
        fixture.contains("stability: binder::binder_impl::Stability::Vintf,"),
        dump.annotations.iter().any(|a| a == "@VintfStability"),
        "{AIDL_FIXTURE} stability vs {dump_rel} @VintfStability"
    );

    // The sync trait's abstract methods, in order, with their return types.
    let trait_start = fixture
        .find(&format!(
            "pub trait {}: binder::Interface + Send {{",
            dump.interface
        ))
        .expect("the sync interface trait");
    let trait_body = &fixture
        [trait_start..trait_start + fixture[trait_start..].find("\n}\n").expect("trait end")];
    let declared: Vec<(String, String)> =
        regex::Regex::new(r"(?m)^  fn r#(\w+)\(&self\) -> binder::Result<(.+)>;$")
            .expect("valid regex")
            .captures_iter(trait_body)
            .map(|c| (c[1].to_owned(), c[2].to_owned()))
            .collect();
    // The parcelables frozen next to the interface, checked field by field.
    let pkg_rel = format!("{}/{latest}/{}", api_dir(), dump.package.replace('.', "/"));
    let parcelables: Vec<aidl::Api> = files_under(&repo_root().join(&pkg_rel))
        .into_iter()
        .filter(|f| f.ends_with(".aidl"))
        .map(|f| {
            aidl::parse_api(&read(&format!("{pkg_rel}/{f}")))
                .unwrap_or_else(|e| panic!("{pkg_rel}/{f}: {e}"))
        })
        .filter(|api| api.kind == "parcelable")
        .collect();
    let parcelable_names: Vec<String> = parcelables.iter().map(|p| p.interface.clone()).collect();
    let field_re = regex::Regex::new(r"(?m)^  pub r#(\w+): (.+),$").expect("valid regex");
    let written_re = regex::Regex::new(r"self\.r#(\w+)").expect("valid regex");
    for p in &parcelables {
        let start = fixture
            .find(&format!("pub struct r#{} {{", p.interface))
            .unwrap_or_else(|| {
                panic!(
                    "{AIDL_FIXTURE} has no struct for {pkg_rel}/{}.aidl",
                    p.interface
                )
            });
        let body = &fixture[start..start + fixture[start..].find("\n}\n").expect("struct end")];
        let fields: Vec<(String, String)> = field_re
            .captures_iter(body)
            .map(|c| (c[1].to_owned(), c[2].to_owned()))
            .collect();
        let expected: Vec<(String, String)> = p
            .methods
            .iter()
            .map(|f| {
                let toks: Vec<&str> = f.split(' ').collect();
                assert_eq!(
                    toks.len(),
                    2,
                    "{pkg_rel}: field `{f}`: this check maps only `Type name`"
                );
                (
                    toks[1].to_owned(),
                    rust_field_type(toks[0], &dump.package, &parcelable_names),
                )
            })
            .collect();
        assert_eq!(
            fields, expected,
            "{AIDL_FIXTURE} struct {} vs {pkg_rel}/{}.aidl",
            p.interface, p.interface
        );
        // The wire order: write_to_parcel writes the fields in declaration order.
        let write_start = fixture[start..]
            .find("fn write_to_parcel")
            .map(|i| start + i)
            .expect("write_to_parcel");
        let write_body = &fixture
            [write_start..write_start + fixture[write_start..].find("\n  }\n").expect("fn end")];
        let written: Vec<String> = written_re
            .captures_iter(write_body)
            .map(|c| c[1].to_owned())
            .collect();
        let names: Vec<String> = expected.iter().map(|(n, _)| n.clone()).collect();
        assert_eq!(
            written, names,
            "{AIDL_FIXTURE} {} write_to_parcel order vs {pkg_rel}",
            p.interface
        );
        assert!(
            fixture.contains(&format!(
                "fn get_descriptor() -> &'static str {{ \"{}.{}\" }}",
                p.package, p.interface
            )),
            "{AIDL_FIXTURE}: ParcelableMetadata descriptor of {}",
            p.interface
        );
        assert_eq!(
            fixture[start..].contains("fn get_stability(&self) -> binder::binder_impl::Stability { binder::binder_impl::Stability::Vintf }"),
            p.annotations.iter().any(|a| a == "@VintfStability"),
            "{AIDL_FIXTURE} {} get_stability vs @VintfStability in {pkg_rel}",
            p.interface
        );
    }

    let expected: Vec<(String, String)> = dump
        .methods
        .iter()
        .map(|m| {
            let toks: Vec<&str> = m.split(' ').collect();
            assert_eq!(
                toks.get(2..),
                Some(&["(", ")"][..]),
                "{dump_rel}: {m}: this check maps only argument-less methods; extend it"
            );
            (
                toks[1].to_owned(),
                rust_type(toks[0], &dump.package, &parcelable_names),
            )
        })
        .collect();
    assert_eq!(
        declared, expected,
        "{AIDL_FIXTURE} trait methods vs {dump_rel}"
    );

    let mut codes: Vec<Vec<String>> = expected
        .iter()
        .enumerate()
        .map(|(i, (name, _))| vec![name.clone(), i.to_string()])
        .collect();
    codes.push(vec!["getInterfaceVersion".into(), "16777214".into()]);
    codes.push(vec!["getInterfaceHash".into(), "16777213".into()]);
    assert_eq!(
        grab(
            r"pub const r#(\w+): binder::binder_impl::TransactionCode = binder::binder_impl::FIRST_CALL_TRANSACTION \+ (\d+);"
        ),
        codes,
        "{AIDL_FIXTURE} transaction codes vs the method order of {dump_rel}"
    );

    let constants: Vec<String> = grab(r"pub const r#(\w+): i32 = (-?\d+);")
        .into_iter()
        .map(|c| format!("const int {} = {}", c[0], c[1]))
        .collect();
    // Order carries no meaning (parse_api sorts the dump's too).
    let mut constants = constants;
    constants.sort();
    assert_eq!(
        constants, dump.constants,
        "{AIDL_FIXTURE} constants vs {dump_rel}"
    );

    assert_eq!(
        grab(r"pub const VERSION: i32 = (\d+);"),
        [vec![latest.clone()]],
        "{AIDL_FIXTURE} VERSION vs the last versions_with_info"
    );
    let hash_rel = format!("{}/{latest}/.hash", api_dir());
    let hash = read(&hash_rel)
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .unwrap_or("")
        .to_owned();
    assert_eq!(
        grab(r#"pub const HASH: &str = "(\w+)";"#),
        [vec![hash]],
        "{AIDL_FIXTURE} HASH vs {hash_rel}"
    );
}
