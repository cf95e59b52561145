//! C and C++ clients through the C ABI (client-ffi), against the real
//! daemon over the transport the run is about (`ENEA_TEST_TRANSPORT`: the
//! Unix socket on the host, kernel binder in the VM): programs under tests/c/
//! and the C++ example, run as separate processes. They are compiled with
//! the system's `cc`/`c++` (or $CC/$CXX) against the headers and the static
//! library, or taken prebuilt from `ENEA_C_PROGRAM_DIR` (the VM, which has
//! no compiler: tests/vm/run.sh builds them). `ENEA_C_TEST_WRAPPER` (e.g.
//! `valgrind --error-exitcode=99`) runs every program under a checker.

use std::collections::HashMap;
use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, OnceLock};
use std::time::{Duration, Instant};

use enea_buffer_client::WAITERS_OFFSET;
use enea_buffer_tests::daemon::fresh_dir;
use enea_buffer_tests::footprint::cpu_ticks;
use enea_buffer_tests::probe::run_bounded;
use enea_buffer_tests::{bins, record, Daemon, Interactive, Mode, DEADCAFE, WAIT};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..")
}

/// `target/<profile>/libenea_buffer_client_ffi.a`, built once per process.
fn ffi_lib() -> &'static PathBuf {
    static LIB: OnceLock<PathBuf> = OnceLock::new();
    LIB.get_or_init(|| {
        let status = bins::cargo_build()
            .args(["-p", "enea-buffer-client-ffi"])
            .status()
            .expect("running cargo build");
        assert!(
            status.success(),
            "cargo build -p enea-buffer-client-ffi failed"
        );
        let lib = bins::profile_dir().join("libenea_buffer_client_ffi.a");
        assert!(lib.is_file(), "{} was not built", lib.display());
        lib
    })
}

/// The executable of `source` (C11, or C++17 for `.cpp`): from
/// `ENEA_C_PROGRAM_DIR` when set, else compiled once per process.
fn program(source: &str) -> PathBuf {
    let stem = Path::new(source).file_stem().unwrap();
    if let Some(dir) = std::env::var_os("ENEA_C_PROGRAM_DIR").filter(|d| !d.is_empty()) {
        let exe = Path::new(&dir).join(stem);
        assert!(
            exe.is_file(),
            "no program {stem:?} in ENEA_C_PROGRAM_DIR={dir:?} (build {source} into it, or \
             unset it to compile here)"
        );
        return exe;
    }
    compiled(source)
}

/// Compiles `source` with warnings as errors and links the C ABI.
fn compiled(source: &str) -> PathBuf {
    static BUILT: OnceLock<Mutex<HashMap<String, PathBuf>>> = OnceLock::new();
    let mut built = BUILT
        .get_or_init(Default::default)
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    if let Some(exe) = built.get(source) {
        return exe.clone();
    }
    let src = repo().join(source);
    let cpp = source.ends_with(".cpp");
    let (compiler, std) = if cpp {
        (
            std::env::var("CXX").unwrap_or_else(|_| "c++".into()),
            "-std=c++17",
        )
    } else {
        (
            std::env::var("CC").unwrap_or_else(|_| "cc".into()),
            "-std=c11",
        )
    };
    let lib = ffi_lib();
    let out_dir = lib.parent().unwrap().join("c-tests");
    std::fs::create_dir_all(&out_dir).unwrap();
    let exe = out_dir.join(src.file_stem().unwrap());
    let output = Command::new(&compiler)
        .args([std, "-g", "-Wall", "-Wextra", "-Werror"])
        .arg("-I")
        .arg(repo().join("client-ffi/include"))
        .arg(&src)
        .arg("-o")
        .arg(&exe)
        .arg(lib)
        .args(["-lpthread", "-ldl", "-lm"])
        .output()
        .unwrap_or_else(|e| {
            panic!("running {compiler}: {e} (install a C/C++ compiler: apt-get install g++)")
        });
    assert!(
        output.status.success(),
        "{compiler} {source} failed:\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    built.insert(source.to_owned(), exe.clone());
    exe
}

/// The command running `exe`, under `ENEA_C_TEST_WRAPPER` if set.
fn command(exe: &Path) -> Command {
    match std::env::var("ENEA_C_TEST_WRAPPER") {
        Ok(wrapper) if !wrapper.trim().is_empty() => {
            let mut words = wrapper.split_whitespace();
            let mut cmd = Command::new(words.next().unwrap());
            cmd.args(words).arg(exe);
            cmd
        }
        _ => Command::new(exe),
    }
}

/// Runs `source`'s program with `args` to completion; it must exit 0 on
/// its own, not by a signal.
fn run(source: &str, args: &[&str]) -> String {
    let mut cmd = command(&program(source));
    cmd.args(args);
    let out: Output = run_bounded(cmd);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.signal(),
        None,
        "{source} died of a signal; stderr: {stderr}"
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{source} failed; stderr: {stderr}"
    );
    String::from_utf8(out.stdout).expect("UTF-8 output")
}

/// What the test programs take to reach `daemon`: "binder", or its socket.
fn target(daemon: &Daemon) -> String {
    match daemon.mode {
        Mode::Binder => "binder".to_owned(),
        Mode::Socket => daemon.socket.display().to_string(),
    }
}

/// The seed's client in C: word 0, increment, word 0 again; the daemon
/// then logs the incremented value.
#[test]
fn the_seed_client_in_c_increments_word_0_and_the_daemon_logs_it() {
    let daemon = Daemon::start();
    let out = run("tests/c/seed_client.c", &[&target(&daemon)]);
    assert_eq!(
        out,
        format!("before={DEADCAFE:#010x}\nafter={:#010x}\n", DEADCAFE + 1)
    );
    let line = daemon.wait_log(|l| l.contains("Data=0xdeadcaff"), WAIT);
    assert!(
        line.is_some(),
        "the daemon never logged Data=0xdeadcaff:\n{}",
        daemon.log_text()
    );
}

/// The C++ example (client-ffi/examples) builds and does the seed's client.
#[test]
fn the_cpp_example_increments_word_0() {
    let daemon = Daemon::start();
    // Without an argument the example takes kernel binder (the service is
    // registered there in binder mode); with one, that socket.
    let socket = target(&daemon);
    let args: &[&str] = match daemon.mode {
        Mode::Binder => &[],
        Mode::Socket => &[&socket],
    };
    let out = run("client-ffi/examples/EneaBufferClient.cpp", args);
    assert_eq!(out, "EneaBufferClient Data=0xdeadcafe -> 0xdeadcaff\n");
    let line = daemon.wait_log(|l| l.contains("Data=0xdeadcaff"), WAIT);
    assert!(line.is_some(), "{}", daemon.log_text());
}

/// A C++ watcher is woken by a Rust writer's change of word 0 and then
/// snapshots the record the writer published just before, through both of
/// its mappings: every publish is seen, whole, with its sequence number.
#[test]
fn a_cpp_watcher_sees_each_publish_of_a_rust_writer_whole() {
    const COUNT: u32 = 5;
    let daemon = Daemon::start();
    let conn = enea_buffer_client::Connection::connect(&daemon.connect_options()).unwrap();
    let writer = conn.map().unwrap();
    let mut cmd = command(&program("tests/c/watch_snapshot.cpp"));
    cmd.args([
        target(&daemon),
        record::OFFSET.to_string(),
        record::LEN.to_string(),
        COUNT.to_string(),
    ]);
    let mut watcher = Interactive::spawn(cmd);
    assert_eq!(
        watcher.reply(),
        "moved_from size=0 map=ENEA_BUFFER_ERR_INVALID_ARGUMENT"
    );
    assert_eq!(watcher.reply(), format!("ready {DEADCAFE:#010x}"));
    for i in 1..=COUNT {
        let payload = record::pattern(7, i, record::LEN);
        writer
            .publish(record::OFFSET, &payload, std::time::Duration::from_secs(5))
            .unwrap();
        writer.fetch_add_u32(0, 1).unwrap();
        let hex: String = payload.iter().map(|b| format!("{b:02x}")).collect();
        let seq = 2 * i;
        assert_eq!(
            watcher.reply(),
            format!(
                "change word={:#010x} seq={seq} ro_seq={seq} same=1 payload={hex}",
                DEADCAFE + i
            )
        );
    }
    let status = watcher.finish();
    assert!(status.success(), "watch_snapshot: {status}");
}

/// A C waiter spinning (`enea_buffer_shared_wait_change_spin`, a spin of
/// about 71 minutes) polls word 0 without counting itself in: while it
/// burns CPU, every look at the waiter word finds 0, so writers make no
/// system call; a store from this process is then seen by the spinner.
#[test]
fn a_spinning_c_waiter_stays_uncounted_and_sees_another_process_store() {
    spinning_waiter_stays_uncounted("tests/c/spin_wait.c");
}

/// The same through the C++ API (`SharedBuffer::wait_change_spin`).
#[test]
fn a_spinning_cpp_waiter_stays_uncounted_and_sees_another_process_store() {
    spinning_waiter_stays_uncounted("tests/c/spin_wait_cpp.cpp");
}

/// Runs `source`'s spinning waiter (usage: TARGET SPIN_US) and checks it
/// spins uncounted, then sees this process's store.
fn spinning_waiter_stays_uncounted(source: &str) {
    let daemon = Daemon::start();
    let conn = enea_buffer_client::Connection::connect(&daemon.connect_options()).unwrap();
    let buffer = conn.map().unwrap();
    let mut cmd = command(&program(source));
    cmd.args([target(&daemon), u32::MAX.to_string()]);
    let mut waiter = Interactive::spawn(cmd);
    assert_eq!(waiter.reply(), format!("ready {DEADCAFE:#010x}"));
    // 30 ticks (300 ms at USER_HZ 100) of CPU after its first line: the
    // waiter is spinning; a sleeping one uses microseconds per 100 ms.
    let pid = waiter.pid();
    let start = cpu_ticks(pid, pid);
    let deadline = Instant::now() + WAIT;
    while cpu_ticks(pid, pid) < start + 30 {
        assert_eq!(
            buffer.load_u32(WAITERS_OFFSET).unwrap(),
            0,
            "the spinning waiter counted itself in"
        );
        assert!(
            Instant::now() < deadline,
            "the waiter did not spin: {} ticks of CPU in {WAIT:?}",
            cpu_ticks(pid, pid) - start
        );
        // Leaves the CPUs to the waiter (a look every millisecond suffices).
        std::thread::sleep(Duration::from_millis(1));
    }
    buffer.fetch_add_u32(0, 1).unwrap();
    assert_eq!(waiter.reply(), format!("changed {:#010x}", DEADCAFE + 1));
    let status = waiter.finish();
    assert!(status.success(), "{source}: {status}");
    assert_eq!(buffer.load_u32(WAITERS_OFFSET).unwrap(), 0);
}

/// Bad pointers, lengths, offsets and enum values through the C ABI: each
/// is refused with its own status (the program would crash otherwise).
#[test]
fn bad_arguments_are_refused_with_their_status() {
    let daemon = Daemon::start();
    let out = run("tests/c/edges.c", &[&target(&daemon)]);
    let expected = [
        ("connect_null_out", "INVALID_ARGUMENT"),
        ("connect_bad_transport", "INVALID_ARGUMENT"),
        ("connect_bad_instance", "INVALID_ARGUMENT"),
        ("size_null_handle", "INVALID_ARGUMENT"),
        ("size_null_out", "INVALID_ARGUMENT"),
        ("map_null_connection", "INVALID_ARGUMENT"),
        ("load_past_end", "OUT_OF_BOUNDS"),
        ("load_misaligned", "MISALIGNED"),
        ("load_huge_offset", "OUT_OF_BOUNDS"),
        ("ro_load_misaligned", "MISALIGNED"),
        ("store_past_end", "OUT_OF_BOUNDS"),
        ("read_past_end", "OUT_OF_BOUNDS"),
        ("read_wrapping", "OUT_OF_BOUNDS"),
        ("read_null_out", "INVALID_ARGUMENT"),
        ("read_null_empty", "OK"),
        ("read_huge_len", "INVALID_ARGUMENT"),
        ("write_null_data", "INVALID_ARGUMENT"),
        ("ro_read_past_end", "OUT_OF_BOUNDS"),
        ("wait_null_out", "INVALID_ARGUMENT"),
        ("wait_times_out", "TIMEOUT"),
        ("wait_spin_null_out", "INVALID_ARGUMENT"),
        ("wait_spin_misaligned", "MISALIGNED"),
        ("wait_spin_times_out", "TIMEOUT"),
        ("publish_inside_control", "OUT_OF_BOUNDS"),
        ("snapshot_past_end", "OUT_OF_BOUNDS"),
    ];
    let mut lines = out.lines();
    for (case, status) in expected {
        let status = match status {
            "OK" => "ENEA_BUFFER_OK".to_owned(),
            s => format!("ENEA_BUFFER_ERR_{s}"),
        };
        assert_eq!(
            lines.next(),
            Some(format!("{case} {status}").as_str()),
            "{out}"
        );
    }
    assert_eq!(lines.next(), Some("status_name_unknown unknown status"));
    let message = "offset 2 is not aligned to 4 bytes";
    assert_eq!(
        lines.next(),
        Some(
            format!(
                "last_error len={} again={} cut={} full={message}",
                message.len(),
                message.len(),
                &message[..7]
            )
            .as_str()
        )
    );
    assert_eq!(lines.next(), None);
}

/// The death callback through the C ABI: after the daemon is SIGKILLed the
/// callback runs exactly once (a closed watch's not at all), calls to the
/// service then fail with SERVICE_GONE, and the mapping made before keeps
/// its value.
#[test]
fn the_death_callback_runs_once_and_later_calls_fail_with_service_gone() {
    let daemon = Daemon::start();
    let mut cmd = command(&program("tests/c/death.c"));
    cmd.arg(target(&daemon));
    let mut watcher = Interactive::spawn(cmd);
    assert_eq!(
        watcher.reply(),
        format!("ready value={DEADCAFE:#010x} alive=1 calls=0")
    );
    let kill = rustix::process::Signal::KILL;
    let status = daemon.stop_with(kill);
    assert_eq!(status.signal(), Some(kill.as_raw()), "daemon: {status}");
    for expected in [
        "died calls=1".to_owned(),
        "map ENEA_BUFFER_ERR_SERVICE_GONE".to_owned(),
        "map_read_only ENEA_BUFFER_ERR_SERVICE_GONE".to_owned(),
        "alive 0".to_owned(),
        format!("old value={DEADCAFE:#010x}"),
        "closed calls=1 cancelled_calls=0".to_owned(),
    ] {
        assert_eq!(watcher.reply(), expected);
    }
    let status = watcher.finish();
    assert_eq!(status.code(), Some(0), "death: {status}");
}

/// What the hostile-server tests show for `eneabuf`, through the C ABI:
/// every region the Rust client refuses is refused here, with the status
/// of its class and the library's message, and the program exits normally.
/// The hostile server is a socket server in every mode.
#[test]
fn a_hostile_servers_regions_are_refused_through_the_c_abi() {
    let not_sealed = |what: &str| {
        let line = format!("ENEA_BUFFER_ERR_NOT_SEALED region is not sealed against {what}");
        [("map_read_only", line.clone()), ("map", line)]
    };
    let mismatch = |holds: u32| {
        let line = format!(
            "ENEA_BUFFER_ERR_SIZE_MISMATCH region size mismatch: the service reports 10240 bytes \
             but its fd holds {holds}"
        );
        [("map_read_only", line.clone()), ("map", line)]
    };
    let cases: Vec<(&str, Vec<String>)> = vec![
        (
            "sealed",
            [
                "connect OK",
                "map_read_only OK",
                "load OK",
                "map OK",
                "fetch_add OK",
            ]
            .map(String::from)
            .to_vec(),
        ),
        (
            "unsealed",
            expect_refused(not_sealed("shrinking or growing")),
        ),
        ("shrinkable", expect_refused(not_sealed("shrinking"))),
        ("zero", expect_refused(mismatch(0))),
        ("wrong-size", expect_refused(mismatch(5120))),
        (
            "huge",
            vec![
                "connect ENEA_BUFFER_ERR_TOO_LARGE the service reported a region of \
                  1099511627776 bytes, more than the 1073741824 bytes a client maps"
                    .to_owned(),
            ],
        ),
    ];
    for (mode, expected) in cases {
        let (_server, socket) = evil_server(mode);
        let out = run("tests/c/refuse.c", &[&socket]);
        assert_eq!(out.lines().collect::<Vec<_>>(), expected, "mode {mode}");
    }
    // A call the service refuses is its error (REFUSED), not its death.
    let (_server, socket) = evil_server("refuse");
    let out = run("tests/c/refuse.c", &[&socket]);
    let lines: Vec<&str> = out.lines().collect();
    assert_eq!(lines[0], "connect OK");
    assert!(
        lines[1].starts_with("map_read_only ENEA_BUFFER_ERR_REFUSED getReadOnlyRegion failed: ")
            && lines[1].contains("out of fds"),
        "{out}"
    );
}

/// `connect OK` followed by the two refused maps.
fn expect_refused(maps: [(&str, String); 2]) -> Vec<String> {
    let mut lines = vec!["connect OK".to_owned()];
    lines.extend(
        maps.into_iter()
            .map(|(step, line)| format!("{step} {line}")),
    );
    lines
}

/// A running `enea-buffer-evil-server --mode <mode>` and its socket.
fn evil_server(mode: &str) -> (Interactive, String) {
    let socket = fresh_dir().join("evil.sock");
    let mut cmd = Command::new(bins::path(bins::EVIL_SERVER));
    cmd.args(["--mode", mode]).arg("--socket").arg(&socket);
    let mut io = Interactive::spawn(cmd);
    assert_eq!(io.reply(), "ready", "evil server ({mode})");
    (io, socket.display().to_string())
}
