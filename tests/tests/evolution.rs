//! Interface evolution, both ways, with real generated code on each side:
//!
//! - a V1 client (generated from the frozen V1 dump) against the V2 daemon:
//!   every V1 call works, and the daemon says it is version 2;
//! - the V2 client library against a V1 service (generated from the same
//!   frozen dump): it detects version 1, maps the region the V1 way, refuses
//!   what V1 cannot do with a clear error, and never sends a V2 call.

use std::os::fd::OwnedFd;
use std::process::Command;
use std::time::Duration;

use enea_buffer_client::{ConnectOptions, Connection, Error, Transport};
use enea_buffer_tests::daemon::fresh_dir;
use enea_buffer_tests::v1::aidl::vendor::enea::buffer::IEneaBuffer::IEneaBuffer;
use enea_buffer_tests::{bins, v1server, Daemon, Interactive, Mode, DEADCAFE};
use rsbinder::entry::uri::{KernelEndpoint, WireProfile, WireVersion};
use rsbinder::rpc::FileDescriptorTransportMode;
use rsbinder::{Client, Endpoint, Strong, Uri};

const NAME: &str = "vendor.enea.buffer.IEneaBuffer/default";

/// The last line of the frozen V2 dump's .hash: built in, since the VM
/// image carries the test binaries but not the source tree.
fn frozen_v2_hash() -> &'static str {
    include_str!("../../aidl/aidl_api/vendor.enea.buffer/2/.hash")
        .lines()
        .map(str::trim)
        .rfind(|l| !l.is_empty())
        .expect("a hash")
}

/// The V1 proxy of `daemon`'s service, over the transport the suite runs on.
fn v1_proxy(daemon: &Daemon) -> Strong<dyn IEneaBuffer> {
    let client = match daemon.mode {
        Mode::Socket => {
            let uri = Uri::new(Endpoint::unix(&daemon.socket))
                .with_wire(WireProfile::Android13Plus(WireVersion::MAX));
            Client::open_with(uri, |o, _| {
                o.fd_mode = Some(FileDescriptorTransportMode::Unix);
                o.timeout = Some(Duration::from_secs(10));
            })
        }
        Mode::Binder => {
            let device = [rsbinder::DEFAULT_BINDER_PATH, rsbinder::LEGACY_BINDER_PATH]
                .into_iter()
                .find(|p| std::path::Path::new(p).exists())
                .expect("a binder device");
            Client::open(Uri::new(KernelEndpoint::default().with_driver(device)))
        }
    }
    .expect("connecting with the V1 client");
    // Over RPC the daemon serves IEneaBuffer as the session's root object
    // (as AOSP's RpcServer::setRootObject does); kernel binder asks the
    // service manager.
    match client.session() {
        Some(session) => {
            let root = session.get_root().expect("the session's root object");
            Strong::<dyn IEneaBuffer>::try_from(root).expect("the root is IEneaBuffer")
        }
        None => client
            .try_get::<dyn IEneaBuffer>(NAME)
            .expect("look-up")
            .expect("the daemon serves IEneaBuffer/default"),
    }
}

#[test]
fn a_v1_client_gets_every_v1_call_answered_by_the_v2_daemon() {
    let daemon = Daemon::start();
    let v1 = v1_proxy(&daemon);
    // The generated V1 proxy asks the service, which is V2.
    assert_eq!(v1.r#getInterfaceVersion().expect("getInterfaceVersion"), 2);
    assert_eq!(
        v1.r#getInterfaceHash().expect("getInterfaceHash"),
        frozen_v2_hash()
    );
    let size = v1.r#getBufferSize().expect("getBufferSize");
    assert!(size >= 64, "getBufferSize() = {size}");

    let rw: OwnedFd = v1.r#getBuffer().expect("getBuffer").into();
    assert_eq!(rustix::fs::fstat(&rw).expect("fstat").st_size, size);
    let mut word = [0u8; 4];
    rustix::io::pread(&rw, &mut word, 0).expect("pread");
    assert_eq!(u32::from_ne_bytes(word), DEADCAFE);
    assert!(rustix::fs::fcntl_get_seals(&rw)
        .expect("seals")
        .contains(rustix::fs::SealFlags::SHRINK | rustix::fs::SealFlags::GROW));

    let ro: OwnedFd = v1.r#getReadOnlyBuffer().expect("getReadOnlyBuffer").into();
    let flags = rustix::fs::fcntl_getfl(&ro).expect("F_GETFL");
    assert_eq!(
        flags & rustix::fs::OFlags::RWMODE,
        rustix::fs::OFlags::RDONLY
    );
    // Same file: what the V1 client writes, the V2 client library sees.
    rustix::io::pwrite(&rw, &7u32.to_ne_bytes(), 64).expect("pwrite");
    let conn = Connection::connect(&daemon.connect_options()).expect("V2 connect");
    assert_eq!(conn.interface_version(), 2);
    assert_eq!(conn.map().expect("map").load_u32(64).expect("load"), 7);
}

/// The V1 service, built from the frozen V1 dump; killed on drop.
struct V1Server {
    io: Interactive,
    options: ConnectOptions,
}

/// Env var naming the service the [`v1_server_child`] process registers.
const CHILD_NAME: &str = "ENEA_V1_SERVER_NAME";

impl V1Server {
    /// Over the socket: the `enea-buffer-v1-server` program. Over kernel
    /// binder: this test binary itself, running only [`v1_server_child`],
    /// registered with the service manager as `IEneaBuffer/v1test-<tag>`
    /// (the VM image carries the test binaries, not the other programs).
    /// One tag per test: they run in parallel.
    fn start(tag: &str) -> V1Server {
        let (cmd, options) = match Mode::current() {
            Mode::Socket => {
                let socket = fresh_dir().join("v1.sock");
                let mut cmd = Command::new(bins::path(bins::V1_SERVER));
                cmd.arg("--socket").arg(&socket);
                let options = ConnectOptions {
                    transport: Transport::Socket,
                    socket,
                    ..ConnectOptions::default()
                };
                (cmd, options)
            }
            Mode::Binder => {
                let options = ConnectOptions {
                    transport: Transport::Binder,
                    instance: format!("v1test-{tag}"),
                    ..ConnectOptions::default()
                };
                let mut cmd = Command::new(std::env::current_exe().expect("the test binary"));
                cmd.args([
                    "v1_server_child",
                    "--exact",
                    "--ignored",
                    "--nocapture",
                    "--test-threads=1",
                ])
                .env(CHILD_NAME, options.service_name());
                (cmd, options)
            }
        };
        let mut io = Interactive::spawn(cmd);
        // The child's test harness prints its own lines first, and in serial
        // mode "test v1_server_child ... " right before the test's output.
        while !io.reply().ends_with("ready") {}
        V1Server { io, options }
    }

    fn calls(&mut self) -> String {
        self.io.send("calls");
        loop {
            let line = self.io.reply();
            if let Some(calls) = line.strip_prefix("calls ") {
                return calls.to_owned();
            }
        }
    }
}

/// Not a test of its own: the V1 service on kernel binder, in the child
/// process [`V1Server::start`] runs in binder mode.
#[test]
#[ignore = "a helper process: the fallback test runs it in binder mode"]
fn v1_server_child() {
    let name = std::env::var(CHILD_NAME).expect("started by V1Server::start");
    v1server::run(v1server::Listen::Kernel, &name).expect("serving V1");
}

/// The library against a V1 service: version 1 detected, the region mapped
/// with V1 calls, notification and records refused with a clear error, and
/// not one call V1 lacks (the server records every call it answers; an
/// unknown transaction would not even reach it, so the list is complete
/// only together with the version check the library makes first).
#[test]
fn the_v2_library_falls_back_against_a_v1_service() {
    let mut server = V1Server::start("fallback");
    let conn = Connection::connect(&server.options).expect("connect to the V1 service");
    assert_eq!(conn.interface_version(), 1);
    let buffer = conn.map().expect("map through getBuffer");
    assert!(!buffer.has_layout());
    assert_eq!(buffer.load_u32(0).expect("load"), DEADCAFE);
    assert_eq!(buffer.fetch_add_u32(0, 1).expect("add"), DEADCAFE);
    assert_eq!(buffer.load_u32(0).expect("load"), DEADCAFE + 1);
    let ro = conn.map_read_only().expect("map_read_only");
    assert_eq!(ro.load_u32(0).expect("load"), DEADCAFE + 1);

    let refused = buffer
        .wait_u32_change(0, DEADCAFE + 1, Some(Duration::from_secs(5)))
        .expect_err("no notification on V1");
    assert!(
        matches!(refused, Error::Unsupported { version: 1, .. }),
        "{refused:?}"
    );
    assert_eq!(
        refused.to_string(),
        "change notification needs interface version 2 or later, but the service implements \
         version 1; poll instead"
    );
    assert!(matches!(
        buffer.publish(64, b"record", Duration::from_secs(1)),
        Err(Error::Unsupported { version: 1, .. })
    ));
    let mut out = [0u8; 6];
    assert!(matches!(
        ro.snapshot(64, &mut out, Duration::from_secs(1)),
        Err(Error::Unsupported { version: 1, .. })
    ));
    assert_eq!(
        server.calls(),
        "getBufferSize,getBuffer,getReadOnlyBuffer",
        "the library sent the V1 service something else than V1 calls"
    );
}

/// `eneabuf watch` against a V1 service, which has no change notification:
/// it polls, prints word 0 and then each change once, and stops by itself
/// after `--changes` of them. Each change is made only after the watcher
/// printed the previous value, so no change can hide another.
#[test]
fn eneabuf_watch_polls_a_v1_service_and_stops_after_the_changes_asked_for() {
    let server = V1Server::start("watch");
    let conn = Connection::connect(&server.options).expect("connect to the V1 service");
    let buffer = conn.map().expect("map through getBuffer");
    let mut cmd = Command::new(bins::path(bins::ENEABUF));
    match server.options.transport {
        Transport::Binder => cmd
            .args(["--transport", "binder", "--instance"])
            .arg(&server.options.instance),
        _ => cmd
            .args(["--transport", "socket", "--socket"])
            .arg(&server.options.socket),
    };
    cmd.args(["watch", "--interval", "1ms", "--changes", "2"]);
    let mut watch = Interactive::spawn(cmd);
    let start = buffer.load_u32(0).expect("load");
    assert_eq!(watch.reply(), format!("{start:#010x}"));
    for n in 1..=2 {
        buffer.fetch_add_u32(0, 1).expect("add");
        assert_eq!(watch.reply(), format!("{:#010x}", start + n));
    }
    assert!(
        watch.finish().success(),
        "the watcher did not stop after two changes"
    );
}
