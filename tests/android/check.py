#!/usr/bin/env python3
"""Type-checks the Android build of this project without an AOSP tree.

Every Rust file Android.bp compiles (the daemon library and its binary, the
client library, eneabuf, the VTS test, both platform/android.rs seams) is
checked with `cargo check`
and `cargo clippy` for an Android target, with the Rust release and vendor
cfgs of the oldest Android we support, against:
  - AOSP's libbinder_rs / binder_tokio (crates.io android-binder), over
    bindgen output of the NDK binder headers (crates.io binder_ndk_sys);
  - the third-party crates at AOSP's versions and feature lists;
  - the AIDL module as AOSP's Rust backend emits it (vendor_enea_buffer.rs).
All of that comes from tests/android/aosp-crates.toml and Android.bp: each
Soong module's `rustlibs` become exactly its dependencies.

It proves the Android sources compile and lint clean as Soong would build
them. It does not link or run anything: that needs a device.

Everything it fetches or builds lives in target/android-check/.
Exit status 0 when the Android build type-checks; otherwise the compiler's
errors, then one line naming what failed.
"""

import os
import re
import shlex
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
HERE = REPO / "tests" / "android"
OUT = REPO / "target" / "android-check"
TABLE = HERE / "aosp-crates.toml"
FIXTURE = HERE / "vendor_enea_buffer.rs"
RANDOM_PARCEL_FIXTURE = HERE / "binder_random_parcel_rs.rs"

# Soong's lints for Android platform Rust (build/soong/rust/config/lints.go,
# the "android" set), stricter than its vendor set, so both pass.
RUSTC_LINTS = {"warnings": "deny", "missing_docs": "deny",
               "unsafe_op_in_unsafe_fn": "deny", "deprecated": "allow"}
CLIPPY_LINTS = {"undocumented_unsafe_blocks": "deny", "type_complexity": "allow",
                "unnecessary_wraps": "allow", "unusual_byte_groupings": "allow",
                "upper_case_acronyms": "allow"}

# Android.bp module -> the package the check builds for it.
PRODUCT = {
    "libenea_buffer_service": ("rust_library", "service-lib"),
    "vendor.enea.buffer-service": ("rust_binary", "service"),
    "libenea_buffer_common": ("rust_library", "common"),
    "libenea_buffer_client": ("rust_library", "client"),
    "eneabuf": ("rust_binary", "eneabuf"),
    "VtsHalEneaBufferTargetTest": ("rust_test", "vts"),
    "libenea_buffer_client_ffi": ("rust_ffi_static", "client_ffi"),
    "vendor.enea.buffer-service_fuzzer": ("rust_fuzz", "fuzzer"),
}

# What Soong links into a module of a kind without Android.bp naming it:
# every rust_fuzz gets libfuzzer-sys (build/soong/rust/fuzz.go, compilerDeps).
IMPLICIT_RUSTLIBS = {"rust_fuzz": ["liblibfuzzer_sys"]}


# bindgen parses the NDK headers with a C library's headers. The 64-bit
# target uses the host's (LP64, like aarch64); a 32-bit target needs a
# 32-bit ARM C library, or the bindings would get 64-bit sizes and layouts.
# Debian's armhf cross headers have ARM EABI's (what armv7 Android uses).
BINDGEN_TARGET = {
    "armv7-linux-androideabi": {
        "clang": ["--target=armv7-linux-gnueabihf", "-isystem", "/usr/arm-linux-gnueabihf/include"],
        "include": "/usr/arm-linux-gnueabihf/include",
        "package": "libc6-dev-armhf-cross",
    },
}


class CheckFailed(Exception):
    """A step failed; the message says which and why."""


def log(msg):
    print(f"android-check: {msg}", file=sys.stderr, flush=True)


def run(cmd, **kw):
    log("$ " + " ".join(shlex.quote(str(c)) for c in cmd))
    result = subprocess.run([str(c) for c in cmd], **kw)
    if result.returncode != 0:
        raise CheckFailed(f"`{' '.join(str(c) for c in cmd[:4])} ...` exited {result.returncode}")
    return result


# ---------------------------------------------------------------- Android.bp
def blueprint_modules(text):
    """(type, body) of every top-level module in an Android.bp."""
    text = re.sub(r"//[^\n]*", "", text)
    for m in re.finditer(r"^(\w+)\s*\{", text, re.M):
        depth, i = 0, m.end() - 1
        while True:
            depth += {"{": 1, "}": -1}.get(text[i], 0)
            if depth == 0:
                break
            i += 1
        yield m.group(1), text[m.end():i]


def bp_string(body, key):
    m = re.search(rf"^\s*{key}\s*:\s*\"([^\"]*)\"", body, re.M)
    return m.group(1) if m else None


def bp_list(body, key):
    m = re.search(rf"^\s*{key}\s*:\s*\[(.*?)\]", body, re.M | re.S)
    return re.findall(r"\"([^\"]*)\"", m.group(1)) if m else []


def product_modules():
    """name -> (type, srcs, crate_name, rustlibs + proc_macros) from Android.bp,
    each module with its `defaults` applied as Soong applies them (a value
    the module sets wins; lists are the defaults' followed by its own)."""
    modules = list(blueprint_modules((REPO / "Android.bp").read_text()))
    defaults = {bp_string(body, "name"): body for kind, body in modules if kind.endswith("_defaults")}
    found = {}
    for kind, body in modules:
        name = bp_string(body, "name")
        if name in PRODUCT:
            if kind != PRODUCT[name][0]:
                raise CheckFailed(f"Android.bp: {name} is a {kind}, expected {PRODUCT[name][0]}")
            bodies = []
            for d in bp_list(body, "defaults"):
                if d not in defaults:
                    raise CheckFailed(f"Android.bp: {name} names defaults {d}, which it does not define")
                bodies.append(defaults[d])
            bodies.append(body)
            string = lambda key: next((v for b in reversed(bodies) if (v := bp_string(b, key))), None)
            lists = lambda key: [v for b in bodies for v in bp_list(b, key)]
            found[name] = (kind, bp_list(body, "srcs") or lists("srcs"), string("crate_name"),
                           lists("rustlibs") + lists("proc_macros"))
    missing = set(PRODUCT) - set(found)
    if missing:
        raise CheckFailed(f"Android.bp has no module {', '.join(sorted(missing))}")
    return found


# ------------------------------------------------------------------ toolchain
def ensure_toolchain(rust, targets):
    have = subprocess.run(["rustup", "run", rust, "rustc", "--print", "sysroot"],
                          capture_output=True, text=True)
    sysroot = Path(have.stdout.strip()) if have.returncode == 0 else None
    if sysroot is None or not all((sysroot / "lib/rustlib" / t).is_dir() for t in targets) \
            or shutil.which("cargo-clippy", path=str(sysroot / "bin")) is None:
        try:
            run(["rustup", "toolchain", "install", rust, "--profile", "minimal",
                 "--component", "clippy"] + [a for t in targets for a in ("--target", t)])
        except CheckFailed as e:
            raise CheckFailed(f"cannot install Rust {rust} for {', '.join(targets)} with rustup ({e})")


def ensure_libclang():
    """bindgen needs libclang at run time (Debian: libclang-dev)."""
    if subprocess.run("ldconfig -p | grep -qE 'libclang(-[0-9.]+)?\\.so'", shell=True).returncode == 0:
        return
    apt_install("libclang-dev")


def ensure_headers(targets):
    """The C library headers bindgen parses for each 32-bit target."""
    for target in targets:
        headers = BINDGEN_TARGET.get(target)
        if headers and not Path(headers["include"]).is_dir():
            apt_install(headers["package"])


def apt_install(package):
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    install = sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends", package]
    if subprocess.run(install, env=env, stdin=subprocess.DEVNULL).returncode != 0:
        # Stale or missing package lists on a fresh machine: refresh once.
        run(sudo + ["apt-get", "update", "-qq"], env=env, stdin=subprocess.DEVNULL)
        run(install, env=env, stdin=subprocess.DEVNULL)


def ensure_bindgen(version):
    """bindgen-cli, installed once per machine (cargo's own bin directory)."""
    have = shutil.which("bindgen")
    if have:
        out = subprocess.run([have, "--version"], capture_output=True, text=True).stdout
        if out.split() == ["bindgen", version]:
            return have
    run(["cargo", "install", "bindgen-cli", "--version", f"={version}", "--locked", "--quiet"])
    cargo_home = Path(os.environ.get("CARGO_HOME", Path.home() / ".cargo"))
    return cargo_home / "bin" / "bindgen"


# -------------------------------------------------------------------- sources
def fetch_sources(binder):
    """Unpacks android-binder, its -ndk-sys crate and the header crate."""
    wanted = {binder["crate"]: binder["version"], binder["sys_crate"]: binder["sys_version"],
              binder["headers_crate"]: binder["headers_version"]}
    vendor = OUT / "vendor"
    dirs = {c: vendor / f"{c}-{v}" for c, v in wanted.items()}
    if all(d.is_dir() for d in dirs.values()):
        return dirs
    fetch = OUT / "fetch"
    (fetch / "src").mkdir(parents=True, exist_ok=True)
    (fetch / "src" / "lib.rs").write_text("")
    deps = "\n".join(f'{c} = "={v}"' for c, v in wanted.items())
    (fetch / "Cargo.toml").write_text(
        f'[package]\nname = "fetch"\nversion = "0.0.0"\nedition = "2021"\n\n[dependencies]\n{deps}\n\n[workspace]\n')
    # Only to unpack sources: nothing of this is built.
    run(["cargo", "vendor", "--quiet", "--versioned-dirs", "--manifest-path", fetch / "Cargo.toml", vendor],
        stdout=subprocess.DEVNULL)
    for c, d in dirs.items():
        if not d.is_dir():
            raise CheckFailed(f"cargo vendor did not unpack {c} into {d}")
    return dirs


def generate_bindings(binder, dirs, bindgen, dest, target):
    """bindgen over the NDK binder headers with AOSP's own flags."""
    sys_dir = dirs[binder["sys_crate"]]
    headers = dirs[binder["headers_crate"]] / "src"
    wrapper_src = (sys_dir / "BinderBindings.hpp").read_text()
    for header in binder["dropped_headers"]:
        line = f"#include <{header}>"
        if line not in wrapper_src:
            raise CheckFailed(f"{sys_dir.name}/BinderBindings.hpp no longer includes {header}: "
                              "update dropped_headers in aosp-crates.toml")
        wrapper_src = wrapper_src.replace(line, f"/* dropped {header}: not in {headers.parent.name} */")
    for inc in re.findall(r"#include <(android/[^>]+)>", wrapper_src):
        if not any((headers / d / inc).is_file() for d in ("include_ndk", "include_platform", "include_cpp")):
            raise CheckFailed(f"{inc} (included by AOSP's BinderBindings.hpp) is not shipped by "
                              f"{headers.parent.name}; add it to dropped_headers only if nothing "
                              "the vendor build uses comes from it")
    wrapper = OUT / "BinderBindings.hpp"
    wrapper.write_text(wrapper_src)
    # libbinder_ndk_bindgen in frameworks/native/libs/binder/rust/Android.bp.
    flags = []
    flag_file = dirs[binder["crate"]] / "libbinder_ndk_bindgen_flags.txt"
    for line in flag_file.read_text().splitlines():
        flags += shlex.split(line)
    flags += ["--blocklist-type", "sockaddr", "--raw-line", "use libc::sockaddr;"]
    clang = ["-x", "c++", "-std=c++17", "-DANDROID_PLATFORM",
             # The vendor variant, as Soong compiles it for vendor modules.
             "-D__ANDROID_VENDOR__", "-D__ANDROID_VNDK__",
             # bionic's availability annotations; glibc's headers lack them.
             "-D__INTRODUCED_IN(x)=", "-D__INTRODUCED_IN_64(x)=", "-D__REMOVED_IN(x)="]
    clang += [f"-I{headers / d}" for d in ("include_ndk", "include_platform", "include_cpp")]
    clang += BINDGEN_TARGET.get(target, {}).get("clang", [])
    run([bindgen, wrapper, "-o", dest] + flags + ["--"] + clang)


# ------------------------------------------------------------------ workspace
def toml_str(v):
    return '"' + str(v).replace("\\", "\\\\").replace('"', '\\"') + '"'


def toml_list(vs):
    return "[" + ", ".join(toml_str(v) for v in vs) + "]"


def dependency_lines(soong_modules, table):
    lines = []
    for soong in soong_modules:
        entry = table.get(soong)
        if entry is None:
            raise CheckFailed(f"Android.bp names `{soong}`, which tests/android/aosp-crates.toml "
                              "does not describe (add its AOSP version and features there)")
        crate = entry["crate"]
        if "version" in entry:
            lines.append(f'{crate} = {{ version = "={entry["version"]}", default-features = false, '
                         f'features = {toml_list(entry["features"])} }}')
        else:
            src = entry["source"]
            lines.append(f'{crate} = {{ path = "../{src}", package = "{src}" }}')
    return "\n".join(lines)


def package(name, body, lints=True):
    # AOSP's own code (libbinder_rs, the AIDL backend's output) is not ours
    # to lint: Soong lints it by its own path, not as vendor code.
    lint_table = "\n[lints.rust]\nwarnings = \"allow\"\n\n[lints.clippy]\nall = \"allow\"\n"
    if lints:
        lint_table = "".join(
            f"\n[lints.{tool}]\n" + "".join(f"{k} = {toml_str(v)}\n" for k, v in lints.items())
            for tool, lints in (("rust", RUSTC_LINTS), ("clippy", CLIPPY_LINTS)))
    return (f'[package]\nname = "{name}"\nversion = "0.0.0"\nedition = "2021"\n'
            f'rust-version = "{RUST_VERSION}"\npublish = false\nbuild = false\n\n{body}{lint_table}')


def write(path, text):
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.is_file() or path.read_text() != text:
        path.write_text(text)


def generate_workspace(spec, dirs, bindings):
    binder = spec["binder"]
    table = {m["soong"]: m for m in spec["module"]}
    ws = OUT / "ws"
    third_party = lambda names: dependency_lines(names, table)
    b = dirs[binder["crate"]]
    s = dirs[binder["sys_crate"]]

    # libbinder_ndk_sys: AOSP's sys/lib.rs over the bindings generated above.
    arms = "".join(f"        {toml_str(t)} => {toml_str(b)},\n" for t, b in bindings.items())
    write(ws / "binder_ndk_sys" / "build.rs",
          "fn main() {\n"
          '    let bindings = match std::env::var("TARGET").unwrap().as_str() {\n'
          f"{arms}"
          '        other => panic!("no bindings for {other}"),\n    };\n'
          '    println!("cargo:rerun-if-changed={bindings}");\n'
          '    let out = std::path::Path::new(&std::env::var("OUT_DIR").unwrap()).join("bindings.rs");\n'
          "    std::fs::copy(bindings, out).unwrap();\n}\n")
    write(ws / "binder_ndk_sys" / "Cargo.toml",
          package("binder_ndk_sys", f'[lib]\npath = {toml_str(s / "lib.rs")}\n\n[dependencies]\n'
                  + third_party(["liblibc"]) + "\n", lints=False).replace("build = false", 'build = "build.rs"'))
    # libbinder_rs and libbinder_tokio_rs, compiled from AOSP's sources as
    # Soong does (their Cargo build.rs, which forces the NDK-only cfg, is not
    # part of the Soong build and is not used).
    write(ws / "binder" / "Cargo.toml",
          package("binder", f'[lib]\npath = {toml_str(b / "src" / "lib.rs")}\n\n[dependencies]\n'
                  'binder_ndk_sys = { path = "../binder_ndk_sys" }\n'
                  + third_party(["libdowncast_rs", "liblibc", "liblog_rust"]) + "\n", lints=False))
    write(ws / "binder_tokio" / "Cargo.toml",
          package("binder_tokio", f'[lib]\npath = {toml_str(b / "binder_tokio" / "lib.rs")}\n\n[dependencies]\n'
                  + third_party(["libbinder_rs", "libtokio"]) + "\n", lints=False))
    # vendor.enea.buffer-V2-rust: Soong adds libbinder_rs and libasync_trait.
    write(ws / "aidl-fixture" / "Cargo.toml",
          package("aidl-fixture", f'[lib]\nname = "vendor_enea_buffer"\npath = {toml_str(FIXTURE)}\n\n[dependencies]\n'
                  + third_party(["libbinder_rs", "libasync_trait"]) + "\n", lints=False))

    members = ["binder_ndk_sys", "binder", "binder_tokio", "aidl-fixture"]
    members.append("client_bindgen")
    members += write_fuzz_fixtures(ws, third_party)
    for name, (kind, srcs, crate_name, libs) in product_modules().items():
        pkg = PRODUCT[name][1]
        libs = libs + IMPLICIT_RUSTLIBS.get(kind, [])
        members.append(pkg)
        if len(srcs) != 1:
            raise CheckFailed(f"Android.bp: {name} has srcs {srcs}; the check expects one crate root")
        root = REPO / srcs[0]
        if kind == "rust_binary":
            target = f'[[bin]]\nname = "{crate_name}"\npath = {toml_str(root)}\n'
        elif kind in ("rust_library", "rust_ffi_static"):
            target = f'[lib]\nname = "{crate_name}"\npath = {toml_str(root)}\n'
        elif kind == "rust_fuzz":
            # A binary whose main is libFuzzer's: checked, never linked.
            target = f'[[bin]]\nname = "{name.replace(".", "_").replace("-", "_")}"\npath = {toml_str(root)}\n'
        else:
            target = f'[[test]]\nname = "{name}"\npath = {toml_str(root)}\n'
        write(ws / pkg / "Cargo.toml",
              package(pkg, f"{target}\n[dependencies]\n{third_party(libs)}\n"))
    write(ws / "Cargo.toml",
          "[workspace]\nresolver = \"2\"\nmembers = " + toml_list(members) + "\n")
    return ws


# ------------------------------------------------------------- C/C++ client
FFI_HEADER = REPO / "client-ffi" / "include" / "enea" / "buffer" / "enea_buffer_client.h"


def generate_client_bindgen(bindgen, ws, targets):
    """libenea_buffer_client_bindgen: Soong's rust_bindgen over the C header,
    with its flag file, as a crate the ffi package depends on; one output
    per target, since sizes and layouts differ between 64 and 32 bits."""
    flags = shlex.split((REPO / "client-ffi" / "bindgen_flags.txt").read_text())
    includes = ""
    for target in targets:
        out = OUT / f"enea_buffer_client_bindings-{target}.rs"
        clang = ["-std=c11"] + BINDGEN_TARGET.get(target, {}).get("clang", [])
        run([bindgen, FFI_HEADER, "-o", out] + flags + ["--"] + clang)
        arch = target.split("-")[0].replace("armv7", "arm")
        includes += f'#[cfg(target_arch = "{arch}")]\ninclude!({toml_str(out)});\n'
    write(ws / "client_bindgen" / "lib.rs",
          "#![allow(non_camel_case_types, non_upper_case_globals, non_snake_case, missing_docs)]\n"
          + includes)
    write(ws / "client_bindgen" / "Cargo.toml",
          package("client_bindgen", '[lib]\nname = "enea_buffer_client_bindgen"\npath = "lib.rs"\n', lints=False))


def ensure_clang():
    """clang compiles the headers for the Android target (Debian: clang)."""
    if shutil.which("clang"):
        return
    env = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
    sudo = [] if os.geteuid() == 0 else ["sudo", "-n"]
    run(sudo + ["apt-get", "install", "-y", "-qq", "--no-install-recommends", "clang"],
        env=env, stdin=subprocess.DEVNULL)


def check_headers(target):
    """The C header as C11 for the Android target (freestanding: it needs
    only clang's own stdint/stddef/stdbool). The C++ header needs a C++
    library, and there is no NDK here: it is compiled as C++17 without
    exceptions (as NDK code often is) against the host's."""
    warn = ["-Wall", "-Wextra", "-Werror", "-fsyntax-only"]
    run(["clang", f"--target={target}", "-ffreestanding", "-std=c11", "-pedantic"] + warn
        + ["-x", "c", FFI_HEADER])
    run(["clang++", "-std=c++17", "-fno-exceptions", "-pedantic"] + warn
        + ["-x", "c++", FFI_HEADER.with_suffix(".hpp")])


def write_fuzz_fixtures(ws, third_party):
    """libbinder_random_parcel_rs as a package over its fixture; its members."""
    write(ws / "random-parcel-fixture" / "Cargo.toml",
          package("random-parcel-fixture",
                  f'[lib]\nname = "binder_random_parcel_rs"\npath = {toml_str(RANDOM_PARCEL_FIXTURE)}\n\n'
                  "[dependencies]\n" + third_party(["libbinder_rs"]) + "\n", lints=False))
    return ["random-parcel-fixture"]


# ------------------------------------------------------------------------ run
def check(ws, toolchain):
    env = dict(os.environ)
    env.pop("RUSTFLAGS", None)
    env["CARGO_TARGET_DIR"] = str(OUT / "target")
    for target in toolchain["targets"]:
        env[f"CARGO_TARGET_{target.upper().replace('-', '_')}_RUSTFLAGS"] = \
            " ".join(f"--cfg {c}" for c in toolchain["cfgs"])
    # Resolve what the crates pull in to versions that build with this Rust.
    lock_env = dict(env, CARGO_RESOLVER_INCOMPATIBLE_RUST_VERSIONS="fallback")
    if not (ws / "Cargo.lock").is_file():
        run(["cargo", "generate-lockfile", "--manifest-path", ws / "Cargo.toml"], env=lock_env)
    cargo = ["rustup", "run", toolchain["rust"], "cargo"]
    ours = []
    for pkg in ("common", "service-lib", "service", "client", "eneabuf", "vts"):
        ours += ["-p", pkg]
    ours += ["-p", "client_ffi", "-p", "fuzzer"]
    for target in toolchain["targets"]:
        common = ["--manifest-path", ws / "Cargo.toml", "--target", target]
        run(cargo + ["check", "--workspace", "--all-targets"] + common, env=env)
        # Lint levels come from each package's [lints]: ours only, as Soong
        # lints each module by its own path.
        run(cargo + ["clippy", "--all-targets"] + ours + common, env=env)


def main():
    global RUST_VERSION
    spec = tomllib.loads(TABLE.read_text())
    toolchain = spec["toolchain"]
    RUST_VERSION = toolchain["rust"]
    try:
        OUT.mkdir(parents=True, exist_ok=True)
        ensure_toolchain(toolchain["rust"], toolchain["targets"])
        ensure_libclang()
        ensure_headers(toolchain["targets"])
        bindgen = ensure_bindgen(spec["binder"]["bindgen_cli"])
        dirs = fetch_sources(spec["binder"])
        bindings = {t: OUT / f"bindings-{t}.rs" for t in toolchain["targets"]}
        for target, dest in bindings.items():
            generate_bindings(spec["binder"], dirs, bindgen, dest, target)
        ws = generate_workspace(spec, dirs, bindings)
        generate_client_bindgen(bindgen, ws, toolchain["targets"])
        ensure_clang()
        for target in toolchain["targets"]:
            check_headers(target)
        check(ws, toolchain)
    except CheckFailed as e:
        print(f"android-check: FAIL: {e}", file=sys.stderr)
        return 1
    print(f"android-check: OK: the Android build type-checks (Rust {toolchain['rust']}, "
          f"{', '.join(toolchain['targets'])}, cfgs {', '.join(toolchain['cfgs'])}, "
          f"android-binder {spec['binder']['version']})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
