#!/usr/bin/env bash
# Kernel-binder VM test rig: boots Debian's stock kernel under qemu (TCG), loads
# binder_linux.ko, starts rsb_hub, smoke-checks the daemon and runs the host
# test binaries against the real binder driver. One command; the exit code is
# the verdict (0 only when the VM printed "ENEA-VM-RESULT: PASS").
#
# Everything it fetches or builds lives under target/vm/ and is reused:
#   target/vm/kernel/   vmlinuz + binder_linux.ko (+ deps) from the .deb
#   target/vm/cargo/    CARGO_TARGET_DIR of the static builds (never target/)
#   target/vm/tools/    rsbinder-tools (rsb_hub, rsb_service), cargo install root
#   target/vm/c-programs/  the C/C++ test programs, static (rebuilt every run)
#   target/vm/rootfs/   initramfs staging (rebuilt every run)
#   target/vm/console.log  serial console of the last run
# Env knobs: see tests/vm/README.md.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
VM_SRC=$REPO/tests/vm
OUT=$REPO/target/vm
TRIPLE=x86_64-unknown-linux-gnu
CARGO_OUT=$OUT/cargo
BIN_OUT=$CARGO_OUT/$TRIPLE/release
ROOTFS=$OUT/rootfs
INIT_RC=$REPO/init.rc
SERVICE_NAME=vendor.enea.buffer.IEneaBuffer/default
# The lazy variant's test instance, started on demand by rsb_hub from
# init.lazy.rc as installed in the image (tests/tests/lazy.rs knows the name).
LAZY_SERVICE_NAME=vendor.enea.buffer.IEneaBuffer/lazy
LAZY_RC=/vendor/etc/init/vendor.enea.buffer-service.lazy.rc
LAZY_RC_SERVICE=vendor.enea.buffer-service.lazy
RSBINDER_TOOLS_VERSION=0.12.0 # keep equal to the workspace's rsbinder

VM_TIMEOUT=${ENEA_VM_TIMEOUT:-600}
TEST_TIMEOUT=${ENEA_VM_TEST_TIMEOUT:-120}
TEST_ARGS=${ENEA_VM_TEST_ARGS:---test-threads=1}
QUIET=${ENEA_VM_QUIET:-0}
# Test binaries (names without the hash) the VM does not run (none: the
# socket-only binaries start socket daemons themselves, in binder mode too).
SKIP_TESTS=${ENEA_VM_SKIP_TESTS-}
# A shell command the VM runs after the smoke check, before the tests.
DEBUG_CMD=${ENEA_VM_DEBUG_CMD:-}

export CI=${CI:-true} DEBIAN_FRONTEND=noninteractive
umask 022 # rsb_hub refuses a config whose path is group/world-writable

# Things that are missing on the host side (no daemon yet, no tests package).
# They do not stop the boot -- the rig itself still gets exercised -- but they
# are handed to the VM and end up in its FAIL marker.
HOST_PROBLEMS=()
problem() {
    echo "run.sh: PROBLEM: $*" >&2
    HOST_PROBLEMS+=("$*")
}
log() { echo "run.sh: $*" >&2; }
die() {
    echo "run.sh: ERROR: $*" >&2
    echo "ENEA-VM-RESULT: FAIL (host) $*" >&2
    exit 1
}

# Wall-clock per phase, printed at the end.
TIMINGS=()
timed() {
    local name=$1 start=$SECONDS
    shift
    "$@"
    TIMINGS+=("$name $((SECONDS - start))s")
}

as_root() {
    if [[ $(id -u) -eq 0 ]]; then "$@"; else sudo -n "$@"; fi
}

APT_UPDATED=0
apt_update_once() {
    if [[ $APT_UPDATED -eq 0 ]]; then
        log "apt-get update"
        as_root apt-get update -qq
        APT_UPDATED=1
    fi
}

# An apt command that may fail only because the package lists are missing or
# stale (404 on an old version): refresh once and retry.
apt_retry() {
    "$@" && return 0
    [[ $APT_UPDATED -eq 0 ]] || return 1
    apt_update_once
    "$@"
}

ensure_packages() {
    local need=()
    command -v qemu-system-x86_64 >/dev/null || need+=(qemu-system-x86)
    # The VM needs a static busybox; Debian's `busybox` package is dynamic.
    dpkg-query -W -f='${Status}' busybox-static 2>/dev/null | grep -q 'ok installed' ||
        need+=(busybox-static)
    command -v cpio >/dev/null || need+=(cpio)
    command -v jq >/dev/null || need+=(jq) # reads cargo's JSON messages
    # The SELinux policy is compiled as AOSP's build does: m4, then the compiler.
    command -v m4 >/dev/null || need+=(m4)
    command -v checkpolicy >/dev/null || need+=(checkpolicy)
    command -v patch >/dev/null || need+=(patch) # applies rsb_hub's SELinux check
    # The C/C++ test programs are built here: the VM has no compiler.
    command -v "${CC:-cc}" >/dev/null && command -v "${CXX:-c++}" >/dev/null || need+=(g++)
    if [[ ${#need[@]} -gt 0 ]]; then
        log "installing ${need[*]}"
        # dpkg is chatty even with -qq; keep its output for when it fails.
        apt_retry as_root apt-get install -y -qq --no-install-recommends "${need[@]}" \
            </dev/null >"$OUT/apt.log" 2>&1 ||
            { cat "$OUT/apt.log" >&2; die "apt-get install ${need[*]} failed"; }
    fi
}

# Debian's stock kernel has CONFIG_ANDROID_BINDER_IPC=m (binder_linux.ko, no
# binderfs). Take vmlinuz and the module (+ its deps) out of the .deb once.
fetch_kernel() {
    local cache=$OUT/kernel
    if [[ -f $cache/vmlinuz && -f $cache/modules/binder_linux.ko && -f $cache/modules/load-order ]]; then
        log "kernel: cached $(cat "$cache/version") (delete $cache to refresh)"
        return
    fi
    local pkg
    pkg=$(apt-cache depends linux-image-amd64 2>/dev/null | awk '/Depends: linux-image-[0-9]/ { print $2; exit }') || true
    if [[ -z $pkg ]]; then
        apt_update_once
        pkg=$(apt-cache depends linux-image-amd64 | awk '/Depends: linux-image-[0-9]/ { print $2; exit }')
    fi
    [[ -n $pkg ]] || die "cannot find the package linux-image-amd64 depends on"
    log "kernel: downloading $pkg"
    local dl=$OUT/dl
    rm -rf "$dl" "$cache"
    mkdir -p "$dl/x" "$cache/modules"
    # Its stderr is kept back: as root it always warns that _apt cannot write here.
    (cd "$dl" && apt_retry apt-get download -qq "$pkg" 2>"$dl/apt.err") ||
        { cat "$dl/apt.err" >&2; die "apt-get download $pkg failed"; }
    dpkg-deb -x "$dl"/"$pkg"_*.deb "$dl/x"

    local vmlinuz moddir kver
    vmlinuz=$(ls "$dl"/x/boot/vmlinuz-*)
    kver=${vmlinuz##*/vmlinuz-}
    moddir=$dl/x/lib/modules/$kver
    [[ -f $moddir/kernel/drivers/android/binder_linux.ko ]] ||
        die "$pkg has no kernel/drivers/android/binder_linux.ko"
    cp "$vmlinuz" "$cache/vmlinuz"

    # The .deb ships no modules.dep (depmod runs in postinst) and the host may
    # have no modinfo: read `depends=` from the module's own .modinfo strings.
    MODDIR=$moddir LOAD_ORDER=()
    add_module_with_deps "$moddir/kernel/drivers/android/binder_linux.ko"
    local ko
    for ko in "${LOAD_ORDER[@]}"; do cp "$moddir/$ko" "$cache/modules/"; done
    printf '%s\n' "${LOAD_ORDER[@]##*/}" >"$cache/modules/load-order"
    log "kernel: $kver, load order: ${LOAD_ORDER[*]##*/}"
    echo "$pkg ($kver)" >"$cache/version"
    rm -rf "$dl"
}

# Appends a module's dependencies (depth first), then the module, to LOAD_ORDER
# as paths relative to MODDIR.
add_module_with_deps() {
    local ko=$1 dep path rel=${1#"$MODDIR"/}
    [[ " ${LOAD_ORDER[*]} " == *" $rel "* ]] && return
    for dep in $(tr '\0' '\n' <"$ko" | sed -n 's/^depends=//p' | tr ',' ' '); do
        # Module names use _ where file names may use -.
        path=$(find "$MODDIR/kernel" -name "$dep.ko" -o -name "${dep//_/-}.ko" | head -1)
        [[ -n $path ]] || die "module $rel needs $dep, which is not in the package"
        add_module_with_deps "$path"
    done
    LOAD_ORDER+=("$rel")
}

# Static binaries run in a rootfs with no libc. RUSTFLAGS with an explicit
# --target applies to the target only, so build scripts and proc macros stay
# dynamic (they must), and the host build in target/ is never touched.
static_cargo() {
    (cd "$REPO" && RUSTFLAGS="-C target-feature=+crt-static" CARGO_TARGET_DIR=$CARGO_OUT \
        cargo "$@" --release --target $TRIPLE)
}

build_workspace() {
    log "building workspace binaries (static)"
    static_cargo build --workspace --bins ||
        problem "cargo build --workspace --bins failed (see above)"
}

# Fills TEST_BINS with the test executables of enea-buffer-tests.
TEST_BINS=()
build_tests() {
    if ! (cd "$REPO" && cargo metadata --no-deps --format-version 1 2>/dev/null) |
        jq -e '.packages[] | select(.name == "enea-buffer-tests")' >/dev/null; then
        problem "package enea-buffer-tests is not in the workspace (no test binaries)"
        return
    fi
    log "building enea-buffer-tests test binaries (static)"
    local json
    json=$(static_cargo test --no-run -p enea-buffer-tests --message-format=json-render-diagnostics) || {
        problem "cargo test --no-run -p enea-buffer-tests failed (see above)"
        return
    }
    mapfile -t TEST_BINS < <(jq -r 'select(.reason == "compiler-artifact" and .profile.test and .executable != null) | .executable' <<<"$json")
    [[ ${#TEST_BINS[@]} -gt 0 ]] || problem "enea-buffer-tests produced no test executables"
}

# The C and C++ test programs (tests/c/, client-ffi/examples/), compiled as
# tests/tests/c_client.rs compiles them, but linked statically (the VM has
# no libc) against the C ABI's static library from the static build above.
# In the VM c_client.rs takes them from ENEA_C_PROGRAM_DIR, by file stem.
C_PROGRAMS=$OUT/c-programs
build_c_programs() {
    log "building the C/C++ test programs (static)"
    rm -rf "$C_PROGRAMS"
    mkdir -p "$C_PROGRAMS"
    static_cargo build -p enea-buffer-client-ffi --lib || {
        problem "cargo build -p enea-buffer-client-ffi failed (no C/C++ test programs)"
        return
    }
    local lib=$BIN_OUT/libenea_buffer_client_ffi.a src compiler std
    for src in "$REPO"/tests/c/*.c "$REPO"/tests/c/*.cpp "$REPO"/client-ffi/examples/*.cpp; do
        case $src in
        *.cpp) compiler=${CXX:-c++} std=-std=c++17 ;;
        *) compiler=${CC:-cc} std=-std=c11 ;;
        esac
        # The linker's output is kept back unless it fails: static glibc
        # warns about std's getaddrinfo/getpwuid_r, which no program calls.
        "$compiler" "$std" -O2 -Wall -Wextra -Werror -static -Wl,--gc-sections \
            -I "$REPO/client-ffi/include" "$src" -o "$C_PROGRAMS/$(basename "${src%.*}")" \
            "$lib" -lpthread -ldl -lm >"$C_PROGRAMS.log" 2>&1 || {
            cat "$C_PROGRAMS.log" >&2
            problem "$compiler ${src#"$REPO"/} failed (see above)"
        }
    done
}

# rsb_hub (service manager) and rsb_service (client CLI) from crates.io, with
# the SELinux check AOSP's servicemanager makes (tests/vm/selinux/
# hub_selinux.rs + rsb_hub-selinux.patch): rsb_hub itself checks uids only.
build_hub() {
    local root=$OUT/tools src=$OUT/hub-src fetch=$OUT/hub-fetch stamp manifest
    stamp="$RSBINDER_TOOLS_VERSION $(cat "$VM_SRC/selinux/rsb_hub-selinux.patch" \
        "$VM_SRC/selinux/hub_selinux.rs" | sha256sum | cut -c1-16)"
    if [[ -x $root/bin/rsb_hub && -x $root/bin/rsb_service ]] &&
        [[ $(cat "$root/.enea-stamp" 2>/dev/null) == "$stamp" ]]; then
        log "rsbinder-tools $RSBINDER_TOOLS_VERSION + SELinux check: cached"
        return
    fi
    log "building rsbinder-tools $RSBINDER_TOOLS_VERSION + SELinux check (static)"
    # The crate's source, through cargo: a throwaway package that depends on it.
    rm -rf "$fetch" "$src"
    mkdir -p "$fetch/src"
    echo 'fn main() {}' >"$fetch/src/main.rs"
    printf '%s\n' '[package]' 'name = "hub-fetch"' 'version = "0.0.0"' 'edition = "2021"' \
        'publish = false' '' '[dependencies]' "rsbinder-tools = \"=$RSBINDER_TOOLS_VERSION\"" \
        '' '[workspace]' >"$fetch/Cargo.toml"
    manifest=$(cargo metadata --format-version 1 --manifest-path "$fetch/Cargo.toml" |
        jq -r '.packages[] | select(.name == "rsbinder-tools") | .manifest_path') &&
        [[ -f $manifest ]] || die "cannot fetch the source of rsbinder-tools =$RSBINDER_TOOLS_VERSION"
    cp -r "$(dirname "$manifest")" "$src"
    chmod -R u+w "$src"
    # Its own workspace: the copy lives under this repository's directory.
    printf '\n[workspace]\n' >>"$src/Cargo.toml"
    cp "$VM_SRC/selinux/hub_selinux.rs" "$src/src/bin/"
    patch -s -p1 -d "$src" <"$VM_SRC/selinux/rsb_hub-selinux.patch" ||
        die "rsb_hub-selinux.patch does not apply to rsbinder-tools $RSBINDER_TOOLS_VERSION"
    RUSTFLAGS="-C target-feature=+crt-static" CARGO_TARGET_DIR=$CARGO_OUT \
        cargo install --path "$src" --locked --force --root "$root" --target $TRIPLE ||
        die "cargo install rsbinder-tools =$RSBINDER_TOOLS_VERSION (patched) failed"
    echo "$stamp" >"$root/.enea-stamp"
}

# The VM's SELinux policy: tests/vm/selinux/ (the platform side) plus the
# project's sepolicy/ as it is. A policy that does not compile -- including
# one that breaks a neverallow -- fails the run here.
build_policy() {
    log "compiling the SELinux policy (m4 + checkpolicy)"
    "$VM_SRC/selinux/build.sh" "$REPO/sepolicy" "$OUT/selinux" ||
        die "the SELinux policy does not compile (see above)"
}

# A binary is only useful in the VM if it is statically linked.
install_static() {
    local src=$1 dst=$2
    if command -v file >/dev/null && file -b "$src" | grep -q 'dynamically linked'; then
        problem "$src is dynamically linked; the VM has no libc"
    fi
    install -D -m 0755 "$src" "$ROOTFS$dst"
}

# First of the given cargo output names that exists (Cargo cannot put dots in
# a [[bin]] name, so the daemon may be built under a dashed name).
first_built() {
    local n
    for n in "$@"; do
        [[ -x $BIN_OUT/$n ]] && { echo "$BIN_OUT/$n"; return 0; }
    done
    return 1
}

# ids for the account names the image needs: Android's AIDs where we know
# them, else the next free id above them. Fills the globals UID_OF / GID_OF.
declare -A UID_OF GID_OF
NEXT_ID=3000
assign_id() { # <map name> <account name>
    local -n map=$1
    [[ -n ${map[$2]:-} ]] && return
    case $2 in
    root) map[$2]=0 ;; system) map[$2]=1000 ;; shell) map[$2]=2000 ;; nobody) map[$2]=65534 ;;
    *) map[$2]=$((NEXT_ID++)) ;;
    esac
}

write_accounts() {
    local svc_user=$1 svc_groups=$2 name
    # root, the .rc's user and groups, and `shell` (uid 2000) for different-uid clients.
    local users=(root "$svc_user" shell nobody) groups=(root $svc_groups shell nobody)
    for name in "${groups[@]}"; do assign_id GID_OF "$name"; done
    for name in "${users[@]}"; do
        # A user's id follows its same-named group when there is one.
        [[ -n ${GID_OF[$name]:-} ]] && UID_OF[$name]=${GID_OF[$name]}
        assign_id UID_OF "$name"
    done
    : >"$ROOTFS/etc/passwd"
    for name in $(printf '%s\n' "${users[@]}" | awk '!seen[$0]++'); do
        local home=/data/local/tmp primary
        [[ $name == root ]] && home=/root
        primary=${GID_OF[$name]:-${UID_OF[$name]}}
        # The service user's primary group is the .rc's first `group`.
        [[ $name == "$svc_user" ]] && primary=${GID_OF[${svc_groups%% *}]}
        echo "$name:x:${UID_OF[$name]}:$primary:$name:$home:/bin/sh" >>"$ROOTFS/etc/passwd"
    done
    : >"$ROOTFS/etc/group"
    for name in $(printf '%s\n' "${groups[@]}" | awk '!seen[$0]++'); do
        # Supplementary groups of the service user list it as a member.
        local members=""
        [[ " $svc_groups " == *" $name "* && $name != "${svc_groups%% *}" ]] && members=$svc_user
        echo "$name:x:${GID_OF[$name]}:$members" >>"$ROOTFS/etc/group"
    done
}

# rsb_hub policy: the HAL may be registered only by its .rc user (or root),
# found by anyone; everything else is open, since tests register helpers.
# --config and --insecure-allow-all are exclusive, and only a config can
# declare the instance (isDeclared / getDeclaredInstances, the VINTF stand-in).
write_hub_config() {
    local svc_uid=$1
    install -d -m 0755 "$ROOTFS/etc/rsbinder/hub.d"
    cat >"$ROOTFS/etc/rsbinder/hub.d/10-enea.toml" <<EOF
[global]
list = "any"

[[rule]]
name = "vendor.enea.buffer.IEneaBuffer/*"
add = { uid = [0, $svc_uid] }
find = "any"

[[rule]]
name = "*"
add = "any"
find = "any"

[[service]]
name = "$SERVICE_NAME"

# The lazy HAL's test instance (tests/tests/lazy.rs): rsb_hub starts it on
# a getService miss, as servicemanager asks init to (ctl.interface_start).
# \`enea-selinux start\` plays init: init.lazy.rc's path, args, user and
# group, and (SELinux) its domain; \`--instance\` keeps it apart from
# /default, which the other tests start themselves.
[[service]]
name = "$LAZY_SERVICE_NAME"
start = { exec = ["/system/bin/enea-selinux", "start", "$LAZY_RC", "$LAZY_RC_SERVICE", "--instance", "${LAZY_SERVICE_NAME##*/}"] }
EOF
}

assemble_initramfs() {
    log "assembling initramfs"
    rm -rf "$ROOTFS"
    mkdir -p "$ROOTFS"/{bin,sbin,usr/bin,usr/sbin,proc,sys,dev,tmp,root,etc/enea-vm,lib/modules} \
        "$ROOTFS"/{system/bin,vendor/bin/hw,vendor/etc/init,data/local/tmp,data/nativetest/enea-buffer-tests,data/nativetest/enea-buffer-c}
    chmod 1777 "$ROOTFS/tmp" "$ROOTFS/data/local/tmp"

    # busybox and one symlink per applet (sh, mount, insmod, su, timeout...).
    install -m 0755 /bin/busybox "$ROOTFS/bin/busybox"
    local applet
    for applet in $(/bin/busybox --list-full); do
        [[ -e $ROOTFS/$applet ]] || ln -s /bin/busybox "$ROOTFS/$applet"
    done

    install -m 0755 "$VM_SRC/init.sh" "$ROOTFS/init"
    install -m 0644 "$VM_SRC/initrc-service.awk" "$ROOTFS/etc/enea-vm/"
    install -m 0644 "$OUT"/kernel/modules/* "$ROOTFS/lib/modules/"

    # The service as init.rc declares it: same path, same account.
    local svc svc_path svc_user svc_groups
    svc=$(awk -f "$VM_SRC/initrc-service.awk" "$INIT_RC") || die "no service block in $INIT_RC"
    svc_path=$(sed -n 's/^path=//p' <<<"$svc")
    svc_user=$(sed -n 's/^user=//p' <<<"$svc")
    svc_groups=$(sed -n 's/^groups=//p' <<<"$svc")
    install -m 0644 "$INIT_RC" "$ROOTFS/vendor/etc/init/vendor.enea.buffer-service.rc"
    # The lazy variant: its .rc beside init.rc's, its binary the same daemon.
    install -m 0644 "$REPO/init.lazy.rc" "$ROOTFS$LAZY_RC"
    write_accounts "$svc_user" "$svc_groups"
    write_hub_config "${UID_OF[$svc_user]}"
    # The daemon's access file: the test uids' rights (tests/src/lib.rs:
    # OTHER_UID ro, RW_UID rw; everyone else gets the Linux default, none).
    install -d -m 0755 "$ROOTFS/etc/vendor.enea.buffer"
    printf 'uid:2000=ro\nuid:2001=rw\n' >"$ROOTFS/etc/vendor.enea.buffer/access.conf"

    local bin name
    if bin=$(first_built vendor.enea.buffer-service vendor-enea-buffer-service); then
        install_static "$bin" "$svc_path"
        install_static "$bin" "$svc_path.lazy"
        # The harness looks binaries up in ENEA_BIN_DIR by their Cargo names.
        local cargo_name=${bin##*/}
        [[ $cargo_name == "${svc_path##*/}" ]] ||
            ln -s "${svc_path##*/}" "$ROOTFS${svc_path%/*}/$cargo_name"
    else
        problem "daemon binary not built (vendor.enea.buffer-service / vendor-enea-buffer-service)"
    fi
    for name in eneabuf enea-buffer-probe enea-buffer-evil-server enea-selinux; do
        if bin=$(first_built $name); then
            install_static "$bin" "/system/bin/$name"
        else
            problem "$name not built"
        fi
    done
    install_static "$OUT/tools/bin/rsb_hub" /system/bin/rsb_hub
    install_static "$OUT/tools/bin/rsb_service" /system/bin/rsb_service

    for bin in "${TEST_BINS[@]}"; do
        # deps/<name>-<16 hex> -> <name>
        name=$(basename "$bin" | sed 's/-[0-9a-f]\{16\}$//')
        install_static "$bin" "/data/nativetest/enea-buffer-tests/$name"
    done

    # Labelled as eneabuf: run by the runner, they are full clients.
    for bin in "$C_PROGRAMS"/*; do
        if [[ -f $bin ]]; then
            install_static "$bin" "/data/nativetest/enea-buffer-c/${bin##*/}"
        fi
    done

    install_selinux

    # Sourced by /init. %q keeps problem texts safe to source.
    {
        printf 'TEST_TIMEOUT=%q\n' "$TEST_TIMEOUT"
        printf 'TEST_ARGS=%q\n' "$TEST_ARGS"
        printf 'SKIP_TESTS=%q\n' "$SKIP_TESTS"
        printf 'DEBUG_CMD=%q\n' "$DEBUG_CMD"
        printf 'SERVICE_NAME=%q\n' "$SERVICE_NAME"
        local joined
        joined=$(printf '%s; ' "${HOST_PROBLEMS[@]}")
        printf 'HOST_PROBLEMS=%q\n' "${joined%; }"
    } >"$ROOTFS/etc/enea-vm.env"

    # Owned by root in the archive whoever builds it (rsb_hub checks owners).
    (cd "$ROOTFS" && find . -print0 | LC_ALL=C sort -z |
        cpio --null -o -H newc -R 0:0 --quiet) | gzip -1 >"$OUT/initramfs.cpio.gz"
    log "initramfs: $(du -h "$OUT/initramfs.cpio.gz" | cut -f1)"
}

# The policy, the context files where AOSP keeps them, and the labels of
# every file: the cpio format carries no xattrs, so /init applies them (with
# enea-selinux label) from lists computed here with the file_contexts
# regexes (whole-path match, the last matching line wins).
install_selinux() {
    local sel=$OUT/selinux
    install -D -m 0644 "$sel/policy.33" "$ROOTFS/etc/selinux/policy.33"
    install -D -m 0644 "$sel/plat_service_contexts" "$ROOTFS/system/etc/selinux/plat_service_contexts"
    install -D -m 0644 "$sel/vendor_service_contexts" "$ROOTFS/vendor/etc/selinux/vendor_service_contexts"
    install -D -m 0644 "$sel/file_contexts" "$ROOTFS/etc/selinux/file_contexts"
    install -D -m 0644 "$VM_SRC/selinux/expected-denials" "$ROOTFS/etc/selinux/expected-denials"
    local regexes=() labels=() re label
    while read -r re label; do
        [[ -z $re || $re == \#* ]] && continue
        regexes+=("$re") labels+=("$label")
    done <"$sel/file_contexts"
    # Device nodes exist only once the VM runs; label them by their names.
    local devs=(/dev/binder /dev/hwbinder /dev/vndbinder /dev/binderfs/binder
        /dev/binderfs/hwbinder /dev/binderfs/vndbinder /dev/null /dev/console /dev/kmsg)
    label_paths() {
        local path i found
        while IFS= read -r path; do
            found=""
            for i in "${!regexes[@]}"; do
                [[ $path =~ ^(${regexes[$i]})$ ]] && found=${labels[$i]}
            done
            [[ -n $found ]] || die "no file_contexts line labels $path"
            echo "$found $path"
        done
    }
    # /proc, /sys and /dev are mount points by the time /init labels.
    (cd "$ROOTFS" && find . -mindepth 1 \( -path ./proc -o -path ./sys -o -path ./dev \) -prune -o -print |
        sed 's#^\.##' | LC_ALL=C sort) | label_paths \
        >"$ROOTFS/etc/selinux/labels.rootfs"
    printf '%s\n' "${devs[@]}" | label_paths >"$ROOTFS/etc/selinux/labels.dev"
}

# SELinux as the LSM (Debian's default is AppArmor); it starts permissive
# (CONFIG_SECURITY_SELINUX_DEVELOP) until /init has loaded the policy and
# labelled the files, then /init switches to enforcing. Every AVC denial
# must reach the kernel log: no audit daemon, so audit records go to printk,
# which is rate-limited unless told otherwise; a large log buffer keeps them.
SELINUX_BOOT_ARGS="lsm=selinux selinux=1 enforcing=0 audit=1 audit_backlog_limit=8192 printk.devkmsg=on log_buf_len=4M"

# Boot; the serial console is the only channel back. Verdict from the marker.
boot() {
    local rc=0 console=$OUT/console.log
    log "booting (timeout ${VM_TIMEOUT}s, log $console)"
    local qemu=(timeout -k 10 "$VM_TIMEOUT" qemu-system-x86_64 -accel tcg -m 1024 -smp 2
        -nographic -no-reboot -nic none -kernel "$OUT/kernel/vmlinuz" -initrd "$OUT/initramfs.cpio.gz"
        -append "console=ttyS0 panic=-1 quiet $SELINUX_BOOT_ARGS")
    if [[ $QUIET == 1 ]]; then
        "${qemu[@]}" </dev/null >"$console" 2>&1 || rc=$?
    else
        "${qemu[@]}" </dev/null 2>&1 | tee "$console" || rc=$?
    fi
    VM_RC=$rc
}

verdict() {
    local console=$OUT/console.log marker
    marker=$(tr -d '\r' <"$console" | grep -a '^ENEA-VM-RESULT: ' | tail -1 || true)
    echo
    echo "run.sh: timings: ${TIMINGS[*]}; total $((SECONDS))s"
    # init.sh's SELinux summary: "SELinux: enforcing, N denials".
    tr -d '\r' <"$console" | grep -a '^SELinux: ' | tail -1 ||
        echo "SELinux: no summary from the VM"
    if [[ $marker == "ENEA-VM-RESULT: PASS" ]]; then
        echo "$marker"
        return 0
    fi
    [[ $QUIET == 1 ]] && { echo "--- last 80 console lines ($console):"; tail -n 80 "$console"; }
    if [[ -n $marker ]]; then
        echo "$marker"
    elif [[ $VM_RC -eq 124 || $VM_RC -eq 137 ]]; then
        echo "ENEA-VM-RESULT: FAIL no marker: the VM was killed after ${VM_TIMEOUT}s (ENEA_VM_TIMEOUT)"
    else
        echo "ENEA-VM-RESULT: FAIL no marker: qemu exited $VM_RC without one (kernel panic? see $console)"
    fi
    return 1
}

main() {
    mkdir -p "$OUT"
    timed packages ensure_packages
    timed kernel fetch_kernel
    timed rsb_hub build_hub
    timed policy build_policy
    timed workspace build_workspace
    timed tests build_tests
    timed c_programs build_c_programs
    timed initramfs assemble_initramfs
    timed vm boot
    verdict
}

main "$@"
