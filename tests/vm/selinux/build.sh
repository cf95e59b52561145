#!/usr/bin/env bash
# Compiles the VM's SELinux policy: this directory's base policy plus the
# project's sepolicy/ files as they are, through m4 and checkpolicy, as
# AOSP's build does (m4 over the concatenated sources, then the compiler,
# which also checks every neverallow).
#   build.sh <sepolicy dir> <output dir>
# Writes <output dir>/policy.conf (the m4 output), policy.33 (the binary
# policy) and file_contexts / service_contexts files for the VM.
set -euo pipefail
here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
sepolicy=$1 out=$2
mkdir -p "$out"

# Order as in AOSP's policy.conf: classes, initial SIDs, permissions, macros,
# MLS, capabilities, type enforcement, roles/users, contexts.
te=("$here/base.te" "$here/vm_harness.te")
for f in "$sepolicy"/*.te; do te+=("$f"); done
te+=("$here/vm_actors.te")
m4 --fatal-warnings -s \
    "$here/security_classes" "$here/initial_sids" "$here/access_vectors" \
    "$here/macros" "$here/mls" "$here/policy_capabilities" \
    "$sepolicy/attributes" "${te[@]}" \
    "$here/roles_users" "$here/initial_sid_contexts" "$here/fs_contexts" \
    >"$out/policy.conf"
# -M: MLS (labels end in :s0); -U allow: kernel classes this policy does not
# declare are allowed (see security_classes); -c 33: what Linux 6.1 loads.
checkpolicy -M -U allow -c 33 -o "$out/policy.33" "$out/policy.conf" >"$out/checkpolicy.log" 2>&1 || {
    cat "$out/checkpolicy.log" >&2
    echo "build.sh: checkpolicy failed (policy source: $out/policy.conf)" >&2
    exit 1
}
cat "$here/file_contexts" "$sepolicy/file_contexts" >"$out/file_contexts"
cp "$here/plat_service_contexts" "$out/plat_service_contexts"
cp "$sepolicy/service_contexts" "$out/vendor_service_contexts"
