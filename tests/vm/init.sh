#!/bin/sh
# /init of the kernel-binder test VM (busybox sh, PID 1).
#
# Brings up a real binder driver (binder_linux.ko) and a real service manager
# (rsb_hub), smoke-checks the daemon the way Android's init would start it,
# then runs every host test binary in binder mode. The last thing it prints
# is ONE marker line the host parses:
#     ENEA-VM-RESULT: PASS
#     ENEA-VM-RESULT: FAIL <what failed; what failed; ...>
# and it powers off. No `set -e`: PID 1 exiting panics the kernel and loses the
# marker, so every step checks for itself and records failures instead.

export PATH=/system/bin:/vendor/bin:/vendor/bin/hw:/bin:/sbin:/usr/bin:/usr/sbin
export HOME=/data/local/tmp TMPDIR=/data/local/tmp

# Written by run.sh: TEST_TIMEOUT, TEST_ARGS, SKIP_TESTS, DEBUG_CMD,
# HOST_PROBLEMS, SERVICE_NAME.
. /etc/enea-vm.env

FAILURES=${FAILURES:-} # carried over from stage 1 across the re-exec
fail() {
    echo "enea-vm: FAIL: $*"
    FAILURES="${FAILURES:+$FAILURES; }$*"
}
step() { echo "enea-vm: == $*"; }

# exec_as <user> <program> [args...]: replace the calling shell with the
# program running as <user>, with the user's primary group and its
# supplementary groups from /etc/passwd and /etc/group (run.sh writes them
# from the .rc's `user`/`group` lines). Debian's busybox-static has no
# chpst/setuidgid; su does initgroups and execs (no fork), so in
# `exec_as ... &` $! is the program's own pid. Only call it in a subshell:
# `( exec_as ... ) &` or `$(exec_as ...)` -- never from PID 1 itself.
exec_as() {
    user=$1
    shift
    # Options before `--`: busybox su would take the program's own --flags.
    exec su -p -s /bin/sh -c 'exec "$0" "$@"' -- "$user" "$@"
}

# Bounded wait for a condition (a command); never a bare fixed sleep.
# usage: wait_for <tenths of a second> <command...>
wait_for() {
    tries=$1; shift
    while [ "$tries" -gt 0 ]; do
        "$@" >/dev/null 2>&1 && return 0
        sleep 0.1
        tries=$((tries - 1))
    done
    return 1
}

# Every AVC denial in the kernel log (the kernel's, and the service
# manager's userspace ones, which it writes there) is compared with
# /etc/selinux/expected-denials, the ones tests provoke on purpose; any
# other fails the run. Prints "SELinux: <mode>, N denials" (N unexpected).
selinux_summary() {
    mode=permissive
    [ "$(cat /sys/fs/selinux/enforce 2>/dev/null)" = 1 ] || {
        echo "SELinux: not enforcing"
        fail "SELinux was not enforcing at the end of the run"
        return
    }
    mode=enforcing
    dmesg -s 4194304 | grep 'avc: *denied' >/tmp/denials.log
    sed -n 's/.*avc: *denied *\({[^}]*}\).* scontext=\([^ ]*\) tcontext=\([^ ]*\) tclass=\([^ ]*\).*/\1 scontext=\2 tcontext=\3 tclass=\4/p' \
        /tmp/denials.log >/tmp/denial-keys
    grep -v '^#' /etc/selinux/expected-denials | grep -v '^$' >/tmp/expected-keys
    expected=$(grep -cxF -f /tmp/expected-keys /tmp/denial-keys)
    unexpected=$(grep -cvxF -f /tmp/expected-keys /tmp/denial-keys)
    if [ "$expected" -gt 0 ]; then
        echo "SELinux: $expected expected denial(s), provoked by tests:"
        grep -xF -f /tmp/expected-keys /tmp/denial-keys | sort | uniq -c
    fi
    if [ "$unexpected" -gt 0 ]; then
        echo "SELinux: unexpected denials:"
        grep -vF -f /tmp/expected-keys /tmp/denials.log
        first=$(grep -vxF -f /tmp/expected-keys /tmp/denial-keys | head -1)
        fail "SELinux denied $unexpected time(s) what no test expected (first: $first)"
    fi
    echo "SELinux: $mode, $unexpected denials"
}

finish() {
    selinux_summary
    if [ -n "$HOST_PROBLEMS" ]; then
        FAILURES="${FAILURES:+$FAILURES; }$HOST_PROBLEMS"
    fi
    sync
    if [ -z "$FAILURES" ]; then
        echo "ENEA-VM-RESULT: PASS"
    else
        echo "ENEA-VM-RESULT: FAIL $FAILURES"
    fi
    poweroff -f
    sleep 5 # poweroff -f does not return; this is only for a broken one
}

# Stage 1, PID 1 in the kernel's domain: the filesystems, then SELinux --
# load the policy, label the files (cpio carries no xattrs), switch to
# enforcing -- and re-exec /init, which the policy moves into `init`
# (domain_auto_trans(kernel, init_exec, init), as on Android).
stage1() {
    mount -t proc proc /proc
    mount -t sysfs sysfs /sys
    mount -t devtmpfs devtmpfs /dev
    # The kernel opens /dev/console before /init only if the node is in the
    # cpio; ours has no device nodes (built without root), so attach now.
    exec </dev/console >/dev/console 2>&1
    # Audit records reach the kernel log through printk: no rate limit, or
    # denials could go missing.
    echo 0 >/proc/sys/kernel/printk_ratelimit
    # The socket stage: no policy is loaded yet, so SELinux allows all.
    mount -t tmpfs -o mode=1777 tmpfs /tmp
    mount -t tmpfs -o mode=1777 tmpfs /data/local/tmp
    step "socket stage: the Unix-socket transport, no SELinux policy yet"
    run_socket_tests
    umount /data/local/tmp /tmp 2>/dev/null || true
    mount -t selinuxfs selinuxfs /sys/fs/selinux || { fail "cannot mount selinuxfs (booted without lsm=selinux?)"; return 1; }
    enea-selinux load /etc/selinux/policy.33 || { fail "cannot load the SELinux policy"; return 1; }
    enea-selinux label /etc/selinux/labels.rootfs || { fail "cannot label the root filesystem"; return 1; }
    echo 1 >/sys/fs/selinux/enforce
    [ "$(cat /sys/fs/selinux/enforce)" = 1 ] || { fail "SELinux did not switch to enforcing"; return 1; }
    echo "enea-vm: SELinux policy loaded, files labelled, enforcing; re-executing /init"
    export ENEA_VM_STAGE=2
    # What the socket stage found goes on into the verdict.
    export FAILURES
    exec /init
}

# Stage 2, PID 1 in `init`: the runner's scratch mounts, labelled so that
# the files the rig hands to confined processes (logs) are its own type.
mount_filesystems() {
    ctx="$(cat /proc/self/attr/current | tr -d '\0')"
    if [ "$ctx" != "u:r:init:s0" ]; then
        fail "/init runs in $ctx, not u:r:init:s0"
    fi
    for dir in /tmp /data/local/tmp; do
        mount -t tmpfs -o mode=1777,context=u:object_r:vm_harness_tmp:s0 tmpfs "$dir" ||
            fail "mounting $dir"
    done
}

# insmod binder_linux (and whatever modules.dep said it needs, in load order)
# and open the device nodes to everyone, as Android's ueventd does (0666).
load_binder() {
    step "loading binder_linux ($(uname -r))"
    for mod in $(cat /lib/modules/load-order); do
        case "$mod" in
        binder_linux.ko) insmod "/lib/modules/$mod" devices=binder,hwbinder,vndbinder ;;
        *) insmod "/lib/modules/$mod" ;;
        esac || { fail "insmod $mod failed"; return 1; }
    done
    mkdir -p /dev/binderfs
    for dev in binder hwbinder vndbinder; do
        if ! wait_for 50 test -c "/dev/$dev"; then
            fail "/dev/$dev did not appear after insmod"
            return 1
        fi
        chmod 0666 "/dev/$dev"
        # rsbinder's tools open /dev/binderfs/<device> only; this kernel has
        # binder as misc devices, not binderfs, so point the name at them.
        ln -sf "/dev/$dev" "/dev/binderfs/$dev"
    done
    enea-selinux label /etc/selinux/labels.dev || { fail "cannot label the device nodes"; return 1; }
}

# rsb_hub is the service manager (handle 0). Ready means a real binder call
# to it answers, not that the process exists.
start_hub() {
    step "starting rsb_hub"
    rsb_hub --config /etc/rsbinder/hub.d >/tmp/rsb_hub.log 2>&1 &
    HUB_PID=$!
    tries=100
    while ! rsb_service check manager >/dev/null 2>&1; do
        if ! kill -0 "$HUB_PID" 2>/dev/null || [ "$tries" -le 0 ]; then
            cat /tmp/rsb_hub.log
            fail "rsb_hub did not become reachable on /dev/binder"
            return 1
        fi
        sleep 0.1
        tries=$((tries - 1))
    done
    # The declaration must have loaded too, or isDeclared tests mean nothing.
    if ! rsb_service declared "$SERVICE_NAME"; then
        fail "rsb_hub does not declare $SERVICE_NAME"
        return 1
    fi
    rsb_service list
}

# The daemon's uid, gid and groups must be what the .rc asked for.
check_identity() {
    pid=$1 user=$2 groups=$3
    want_uid=$(awk -F: -v u="$user" '$1 == u { print $3 }' /etc/passwd)
    want_gids=""
    for g in $groups; do
        want_gids="$want_gids $(awk -F: -v g="$g" '$1 == g { print $3 }' /etc/group)"
    done
    uid=$(awk '/^Uid:/ { print $2 }' "/proc/$pid/status")
    gid=$(awk '/^Gid:/ { print $2 }' "/proc/$pid/status")
    have=$(awk '/^Groups:/ { $1 = ""; print }' "/proc/$pid/status" | tr ' ' '\n' | sort -n | tr '\n' ' ')
    want=$(echo "$want_gids" | tr ' ' '\n' | sort -n | tr '\n' ' ')
    echo "enea-vm: daemon pid $pid uid=$uid gid=$gid groups=$have"
    [ "$uid" = "$want_uid" ] || fail "smoke: daemon uid $uid, .rc says $user ($want_uid)"
    set -- $want_gids
    [ "$gid" = "$1" ] || fail "smoke: daemon gid $gid, .rc's first group is $1"
    [ "$(echo $have)" = "$(echo $want)" ] || fail "smoke: daemon groups [$have], .rc says [$want]"
}

# Start the daemon as Android init would (path, args, user, groups from the
# .rc), fetch word 0 over kernel binder as a different uid, stop it again.
# The test harness starts its own daemons; this only proves the rig.
smoke_check() {
    step "smoke check: daemon from $ENEA_INIT_RC, eneabuf get over /dev/binder"
    svc_path="" svc_args="" svc_user="" svc_groups=""
    while IFS='=' read -r key value; do
        case "$key" in
        path) svc_path=$value ;;
        args) svc_args=$value ;;
        user) svc_user=$value ;;
        groups) svc_groups=$value ;;
        esac
    done <<EOF
$(awk -f /etc/enea-vm/initrc-service.awk "$ENEA_INIT_RC")
EOF
    if [ -z "$svc_path" ]; then
        fail "smoke: no service block in $ENEA_INIT_RC"
        return 1
    fi
    if [ ! -x "$svc_path" ]; then
        fail "smoke: daemon $svc_path is not in the image"
        return 1
    fi
    # The .rc's args, then the transport the rig is about (unless the .rc
    # already chose one).
    case " $svc_args " in
    *" --transport"*) extra="" ;;
    *) extra="--transport binder" ;;
    esac
    echo "enea-vm: as $svc_user ($svc_groups): $svc_path $svc_args $extra"
    # shellcheck disable=SC2086 # args are words, as init splits them
    (exec_as "$svc_user" "$svc_path" $svc_args $extra) >/tmp/daemon.log 2>&1 &
    daemon=$!
    tries=200
    while ! rsb_service check "$SERVICE_NAME" >/dev/null 2>&1; do
        if ! kill -0 "$daemon" 2>/dev/null || [ "$tries" -le 0 ]; then
            cat /tmp/daemon.log
            kill "$daemon" 2>/dev/null
            fail "smoke: daemon never registered $SERVICE_NAME with rsb_hub"
            return 1
        fi
        sleep 0.1
        tries=$((tries - 1))
    done
    check_identity "$daemon" "$svc_user" "$svc_groups"
    # Started from init by its labelled executable: init_daemon_domain().
    domain="$(tr -d '\0' </proc/$daemon/attr/current)"
    echo "enea-vm: daemon runs in $domain"
    [ "$domain" = u:r:hal_enea_buffer_default:s0 ] ||
        fail "smoke: the daemon runs in $domain, not u:r:hal_enea_buffer_default:s0"
    if [ -x /system/bin/eneabuf ]; then
        out=$(exec_as shell eneabuf --transport binder get 2>&1)
        rc=$?
        echo "enea-vm: eneabuf get (uid shell) -> rc=$rc: $out"
        case "$out" in
        *0xdeadcafe*) [ "$rc" -eq 0 ] || fail "smoke: eneabuf get exited $rc" ;;
        *) fail "smoke: eneabuf get over binder did not print 0xdeadcafe (rc=$rc)" ;;
        esac
    else
        fail "smoke: /system/bin/eneabuf is not in the image"
    fi
    kill "$daemon"
    wait "$daemon"
    # Death notification reaches rsb_hub asynchronously; let it drop the name
    # so the first test does not find a stale registration.
    if ! wait_for 50 sh -c "! rsb_service check '$SERVICE_NAME'"; then
        fail "smoke: rsb_hub still lists $SERVICE_NAME after the daemon died"
    fi
    echo "--- daemon log"
    cat /tmp/daemon.log
    echo "---"
}

# Test binaries for the Unix-socket transport, a Linux-host feature Android
# never uses: they run in the socket stage, before the SELinux policy is
# loaded (Linux semantics on this 6.1 kernel, as on a Debian 12 host), not
# under the Android policy. access_policy runs in both stages; its
# socket-only tests are left out of the binder one. log_flood pushes 640 MB
# of hostile tokens through the socket: the host suite runs it, the VM
# (emulated, far slower) does not.
SOCKET_STAGE_TESTS="socket_daemon limits systemd_notify hostile_server access_policy"
# leaks (a thousand client processes against a socket daemon) is a host
# test: too slow under TCG, and its socket daemon is not the binder stage's.
# fd_limit starts a socket daemon under a lowered limit, wire_golden relays
# a socket daemon's bytes, hostile_peer attacks a socket daemon's region,
# errors checks the socket transport's messages, watch_restart restarts a
# socket daemon, fd_attack attacks a socket daemon for two minutes: host
# only too. chaos kills, restarts and stops a socket daemon under a dozen
# client processes (hundreds of them in all, too slow under TCG): host only.
# tearing checks the CPU's vector accesses, which TCG only emulates: host
# only.
BINDER_STAGE_SKIP="socket_daemon limits systemd_notify hostile_server log_flood leaks fd_limit wire_golden hostile_peer errors watch_restart fd_attack chaos tearing"
ACCESS_POLICY_SOCKET_ONLY="--skip gid_rules_apply_on_the_socket --skip bad_access_rules_are_refused_with_one_clear_line"
# Needs a daemon with --size, which binder mode starts only as init.rc says.
SNAPSHOT_SOCKET_ONLY="--skip a_region_smaller_than_the_control_words_has_no_layout"
# Need socket daemons with --size or of their own, as snapshot's above.
NOTIFY_SOCKET_ONLY="--skip a_region_too_small_for_the_control_words_takes_writes_anywhere --skip the_longest_timeouts_connect_wait_and_publish --skip writes_to_the_control_words_are_refused_on_a_region_with_the_layout --skip a_spinning_watcher_stays_uncounted_and_sees_another_process_store --skip a_spinning_watcher_counts_itself_in_and_sleeps_after_its_spin --skip a_read_only_watcher_spins_before_its_poll_interval"
# A socket daemon run as an ordinary user, and a socket daemon stopped
# mid-dump: the host suite runs them.
DUMP_SOCKET_ONLY="--skip a_daemon_dumps_to_its_own_uid_over_the_socket --skip a_dump_from_a_stopped_daemon_gives_up_at_the_timeout"
# The V1 test server runs in the runner's unconfined domain, which the
# confined eneabuf may not call (the library's own fallback test, run by the
# unconfined test binary, covers binder mode).
EVOLUTION_SOCKET_ONLY="--skip eneabuf_watch_polls_a_v1_service_and_stops_after_the_changes_asked_for"
# The hostile test server is a socket server in the runner's unconfined
# domain, which the confined C program may not call either (the host suite
# runs the test; hostile_server covers the Rust client in the socket stage).
C_CLIENT_SOCKET_ONLY="--skip a_hostile_servers_regions_are_refused_through_the_c_abi"

# run_test <binary> <transport> [extra args...]
run_test() {
    test=$1 transport=$2
    shift 2
    name=${test##*/}
    step "test $name ($transport)"
    # shellcheck disable=SC2086 # TEST_ARGS is a word list
    (cd /data/local/tmp && ENEA_TEST_TRANSPORT=$transport \
        timeout -s KILL "$TEST_TIMEOUT" "$test" $TEST_ARGS "$@")
    rc=$?
    case "$rc" in
    0) ;;
    137) fail "test $name ($transport) killed after ${TEST_TIMEOUT}s" ;;
    *) fail "test $name ($transport) exit $rc" ;;
    esac
}

# The socket stage (stage 1, before the policy is loaded).
run_socket_tests() {
    export ENEA_BIN_DIR=/vendor/bin/hw:/system/bin
    export RUST_BACKTRACE=1
    for name in $SOCKET_STAGE_TESTS; do
        test=/data/nativetest/enea-buffer-tests/$name
        if [ ! -x "$test" ]; then
            fail "socket stage: no test binary $name"
            continue
        fi
        case " $SKIP_TESTS " in
        *" $name "*) step "test $name: SKIPPED (ENEA_VM_SKIP_TESTS)"; continue ;;
        esac
        run_test "$test" socket
    done
}

run_tests() {
    set -- /data/nativetest/enea-buffer-tests/*
    if [ ! -e "$1" ]; then
        fail "no test binaries in /data/nativetest/enea-buffer-tests"
        return 1
    fi
    export ENEA_BIN_DIR=/vendor/bin/hw:/system/bin
    export RUST_BACKTRACE=1
    # rsb_hub's log, where the daemons it starts on demand write theirs
    # (tests/tests/lazy.rs shows it when it fails).
    export ENEA_HUB_LOG=/tmp/rsb_hub.log
    # The C/C++ test programs, built on the host (run.sh): no compiler here.
    export ENEA_C_PROGRAM_DIR=/data/nativetest/enea-buffer-c
    for test in "$@"; do
        name=${test##*/}
        case " $SKIP_TESTS " in
        *" $name "*)
            step "test $name: SKIPPED (ENEA_VM_SKIP_TESTS)"
            continue
            ;;
        esac
        case " $BINDER_STAGE_SKIP " in
        *" $name "*) continue ;; # ran in the socket stage, or host-only
        esac
        # The SELinux and lazy-HAL tests are #[ignore]d outside this rig (they need it).
        case "$name" in
        selinux | lazy) run_test "$test" binder --include-ignored ;;
        # shellcheck disable=SC2086 # a word list
        access_policy) run_test "$test" binder $ACCESS_POLICY_SOCKET_ONLY ;;
        # shellcheck disable=SC2086 # a word list
        snapshot) run_test "$test" binder $SNAPSHOT_SOCKET_ONLY ;;
        # shellcheck disable=SC2086 # a word list
        notify) run_test "$test" binder $NOTIFY_SOCKET_ONLY ;;
        # shellcheck disable=SC2086 # a word list
        dump) run_test "$test" binder $DUMP_SOCKET_ONLY ;;
        # shellcheck disable=SC2086 # a word list
        evolution) run_test "$test" binder $EVOLUTION_SOCKET_ONLY ;;
        # shellcheck disable=SC2086 # a word list
        c_client) run_test "$test" binder $C_CLIENT_SOCKET_ONLY ;;
        *) run_test "$test" binder ;;
        esac
    done
}

export ENEA_INIT_RC=/vendor/etc/init/vendor.enea.buffer-service.rc
if [ "$ENEA_VM_STAGE" != 2 ]; then
    stage1
    # Only reached when stage 1 failed.
    finish
fi
mount_filesystems
step "booted in $(cut -d' ' -f1 /proc/uptime)s"
if load_binder && start_hub; then
    smoke_check
    smoke=$?
    if [ -n "$DEBUG_CMD" ]; then
        step "ENEA_VM_DEBUG_CMD: $DEBUG_CMD"
        (cd /data/local/tmp && sh -c "$DEBUG_CMD")
        echo "enea-vm: ENEA_VM_DEBUG_CMD exit $?"
    fi
    # Every test starts the daemon as the smoke check did: if it cannot even
    # register, the suites would only wait out their timeouts (and the VM's),
    # hiding the SELinux summary that names the cause.
    if [ "$smoke" -eq 0 ]; then
        run_tests
    else
        fail "test binaries not run: the daemon did not start and register as init.rc says"
    fi
fi
finish
