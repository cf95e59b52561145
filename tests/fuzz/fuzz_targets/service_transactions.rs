//! Fuzzes the daemon's transaction handler with hostile transactions.
//!
//! An in-process harness, not IPC: `enea_buffer_service::build` makes the
//! exact service the daemon serves, and each input becomes one transaction
//! handed to that service's binder object in this process, in a parcel laid
//! out as the kernel driver delivers one (data bytes, an offsets table, fd
//! objects whose handles are fds open in this process). No driver, no
//! socket: the transports have their own tests (tests/tests, tests/vm).
//!
//! Input layout (every byte optional; missing ones read as 0):
//!   [0] caller: which of three services (granted rw, ro, or nothing)
//!   [1] code: an index into CODES, or past it a little-endian u32 follows
//!   [2] interface token: right, none, a fuzzed descriptor, a fuzzed header
//!   [3] fd count (0..=4), then per fd: its kind, and a u16 word position
//!   rest: the payload, up to 64 KiB
//!
//! The caller the service sees is `platform::calling_identity()`: outside a
//! transaction from a driver or a socket, rsbinder answers with this
//! process's uid. So each service's policy names that uid with one right,
//! and the three services stand for a read-write, a read-only and a refused
//! caller. A uid rule beats the root and owner defaults (policy.rs), so this
//! holds when the fuzzer runs as root too.
//!
//! Checked besides "no panic": every method call with the right token gets
//! a reply; a granted call succeeds (an fd leak would surface as
//! ERROR_NO_RESOURCES under the low fd limit set below) and hands out an fd
//! of the region's size with the right access mode; a refused one is
//! EX_SECURITY with no fd; the meta methods answer the frozen version and
//! hash; a dump into a memfd names the service.

#![no_main]

#[path = "../common/input.rs"]
mod input;

use input::Input;
use std::os::fd::{AsFd, AsRawFd, OwnedFd};
use std::sync::OnceLock;

use enea_buffer_service::policy::{parse_rule, Policy, Right};
use enea_buffer_service::service::layout_version;
use enea_buffer_service::{build, BuiltService, ServiceSetup};
use libfuzzer_sys::fuzz_target;
use rsbinder::{
    ExceptionCode, Parcel, ParcelFileDescriptor, Status, DEBUG_PID_TRANSACTION, DUMP_TRANSACTION,
    EXTENSION_TRANSACTION, FIRST_CALL_TRANSACTION, INTERFACE_HEADER, INTERFACE_TRANSACTION,
    LAST_CALL_TRANSACTION, LIKE_TRANSACTION, PING_TRANSACTION, SET_RPC_CLIENT_TRANSACTION,
    SHELL_COMMAND_TRANSACTION, START_RECORDING_TRANSACTION, STOP_RECORDING_TRANSACTION,
    SYSPROPS_TRANSACTION, TWEET_TRANSACTION,
};
use rustix::fs::{MemfdFlags, OFlags};
use vendor_enea_buffer::aidl::vendor::enea::buffer::IEneaBuffer::{HASH, VERSION};
use vendor_enea_buffer::aidl::vendor::enea::buffer::Region::Region;

/// IEneaBuffer's methods in AIDL declaration order (their codes follow it).
const METHODS: [(&str, Right); 5] = [
    ("getBuffer", Right::ReadWrite),
    ("getBufferSize", Right::ReadOnly),
    ("getReadOnlyBuffer", Right::ReadOnly),
    ("getRegion", Right::ReadWrite),
    ("getReadOnlyRegion", Right::ReadOnly),
];
/// AOSP transaction_ids.h: the stable-AIDL meta methods.
const GET_INTERFACE_VERSION: u32 = FIRST_CALL_TRANSACTION + 16_777_214;
const GET_INTERFACE_HASH: u32 = FIRST_CALL_TRANSACTION + 16_777_213;

/// The codes worth reaching directly; any other u32 is reachable too.
const CODES: [u32; 21] = [
    FIRST_CALL_TRANSACTION,
    FIRST_CALL_TRANSACTION + 1,
    FIRST_CALL_TRANSACTION + 2,
    FIRST_CALL_TRANSACTION + 3,
    FIRST_CALL_TRANSACTION + 4,
    GET_INTERFACE_VERSION,
    GET_INTERFACE_HASH,
    PING_TRANSACTION,
    INTERFACE_TRANSACTION,
    DUMP_TRANSACTION,
    SHELL_COMMAND_TRANSACTION,
    EXTENSION_TRANSACTION,
    DEBUG_PID_TRANSACTION,
    SYSPROPS_TRANSACTION,
    TWEET_TRANSACTION,
    LIKE_TRANSACTION,
    START_RECORDING_TRANSACTION,
    STOP_RECORDING_TRANSACTION,
    SET_RPC_CLIENT_TRANSACTION,
    FIRST_CALL_TRANSACTION + 5, // the first code no method has
    LAST_CALL_TRANSACTION,
];

const MAX_PAYLOAD: usize = 64 * 1024;
const MAX_FDS: u8 = 4;
/// The harness's whole fd budget: a leak of one fd per call exhausts it
/// within a few hundred inputs, and a granted call then fails.
const FD_LIMIT: u64 = 256;

/// `struct flat_binder_object` (linux/android/binder.h): 24 bytes.
const BINDER_TYPE_FD: u32 = 0x6664_2a85; // B_PACK_CHARS('f', 'd', '*', B_TYPE_LARGE)
const FLAT_OBJECT_SIZE: usize = 24;

struct Service {
    right: Right,
    built: BuiltService,
}

struct Harness {
    // Keeps the runtime the stubs block on alive for the process's life.
    _runtime: tokio::runtime::Runtime,
    services: [Service; 3],
}

fn harness() -> &'static Harness {
    static HARNESS: OnceLock<Harness> = OnceLock::new();
    HARNESS.get_or_init(|| {
        model_the_daemons_process();
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("tokio runtime");
        // What rsbinder reports as the calling uid outside a transaction.
        let me = rustix::process::getuid().as_raw();
        let service = |right: Right, size: usize| {
            let rule = parse_rule(&format!("uid:{me}={right}")).expect("rule");
            let setup = ServiceSetup {
                size,
                policy: Policy::new(&[rule], rustix::process::geteuid().as_raw(), Right::None),
                instance: "fuzz".into(),
            };
            let built = build(setup, runtime.handle().clone()).expect("build the service");
            Service { right, built }
        };
        // The ro service's region is too small for the control words: the
        // layout-less branch is covered too.
        let services = [
            service(Right::ReadWrite, 4096),
            service(Right::ReadOnly, 16),
            service(Right::None, 4096),
        ];
        Harness {
            _runtime: runtime,
            services,
        }
    })
}

/// The daemon is a Rust binary, whose runtime ignores SIGPIPE before main
/// (a dump into a closed pipe is EPIPE there); libFuzzer's main does not.
/// And a small fd limit, so that a leak shows (see FD_LIMIT).
fn model_the_daemons_process() {
    // SAFETY: SIG_IGN installs no handler code; nothing else in this
    // process changes SIGPIPE's disposition.
    unsafe { libc::signal(libc::SIGPIPE, libc::SIG_IGN) };
    let limit = rustix::process::Rlimit {
        current: Some(FD_LIMIT),
        maximum: rustix::process::getrlimit(rustix::process::Resource::Nofile).maximum,
    };
    rustix::process::setrlimit(rustix::process::Resource::Nofile, limit).expect("fd limit");
}

#[derive(Clone, Copy, Debug, PartialEq)]
enum FdKind {
    Memfd,
    PipeWriteEnd,
    PipeWriteEndNoReader,
    PipeReadEnd,
    Socket,
    DevNull,
}

impl FdKind {
    fn pick(b: u8) -> FdKind {
        use FdKind::*;
        [
            Memfd,
            PipeWriteEnd,
            PipeWriteEndNoReader,
            PipeReadEnd,
            Socket,
            DevNull,
        ][b as usize % 6]
    }

    /// The fd to attach and whatever must stay open beside it for its
    /// kind (a pipe's reader, a socket's peer) while the call runs.
    fn open(self) -> (OwnedFd, Option<OwnedFd>) {
        match self {
            FdKind::Memfd => {
                let fd = rustix::fs::memfd_create("fuzz", MemfdFlags::CLOEXEC).expect("memfd");
                (fd, None)
            }
            FdKind::PipeWriteEnd | FdKind::PipeWriteEndNoReader | FdKind::PipeReadEnd => {
                let (reader, writer) = rustix::pipe::pipe().expect("pipe");
                match self {
                    FdKind::PipeReadEnd => (reader, Some(writer)),
                    FdKind::PipeWriteEnd => (writer, Some(reader)),
                    _ => (writer, None),
                }
            }
            FdKind::Socket => {
                let (a, b) = rustix::net::socketpair(
                    rustix::net::AddressFamily::UNIX,
                    rustix::net::SocketType::STREAM,
                    rustix::net::SocketFlags::CLOEXEC,
                    None,
                )
                .expect("socketpair");
                (a, Some(b))
            }
            FdKind::DevNull => {
                let fd = rustix::fs::open("/dev/null", OFlags::RDWR | OFlags::CLOEXEC, 0.into())
                    .expect("/dev/null");
                (fd, None)
            }
        }
    }
}

/// The interface token as AOSP's and rsbinder's `writeInterfaceToken` lay
/// it out: strict-mode policy, work source, header word, String16 name.
fn kernel_token(header: u32, descriptor: &str) -> Vec<u8> {
    let mut v = Vec::new();
    v.extend(0i32.to_le_bytes());
    v.extend((-1i32).to_le_bytes());
    v.extend(header.to_le_bytes());
    let units: Vec<u16> = descriptor.encode_utf16().collect();
    v.extend((units.len() as i32).to_le_bytes());
    for u in units.iter().chain([&0]) {
        v.extend(u.to_le_bytes());
    }
    v.resize(v.len().next_multiple_of(4), 0);
    v
}

/// One transaction's parcel contents: bytes, fd object offsets, the fds
/// (with what keeps their far ends open) in offset order.
struct Transaction {
    data: Vec<u8>,
    offsets: Vec<u64>,
    fds: Vec<(FdKind, OwnedFd, Option<OwnedFd>)>,
}

fn transaction(input: &mut Input, descriptor: &str) -> (Transaction, bool) {
    let (mut data, right_token) = match input.byte() % 4 {
        0 => (kernel_token(INTERFACE_HEADER, descriptor), true),
        1 => (Vec::new(), false),
        2 => {
            let n = input.byte() as usize % 64;
            let name = String::from_utf8_lossy(input.bytes(n)).into_owned();
            let right = name == descriptor;
            (kernel_token(INTERFACE_HEADER, &name), right)
        }
        _ => {
            let header = input.u32();
            (kernel_token(header, descriptor), header == INTERFACE_HEADER)
        }
    };
    let mut wanted: Vec<(usize, FdKind)> = (0..input.byte() % (MAX_FDS + 1))
        .map(|_| {
            let kind = FdKind::pick(input.byte());
            (input.u16() as usize * 4, kind)
        })
        .collect();
    let token_len = data.len();
    data.extend(input.bytes(MAX_PAYLOAD));
    // Objects go at 4-byte-aligned offsets, in order, as the driver checks.
    let aligned_end = data.len() / 4 * 4;
    for (at, _) in &mut wanted {
        *at = (*at).min(aligned_end);
    }
    wanted.sort_by_key(|&(at, _)| at);
    // An object inside the token spoils it.
    let right_token = right_token && wanted.first().map_or(true, |&(at, _)| at >= token_len);

    let mut out = Transaction {
        data: Vec::with_capacity(data.len() + wanted.len() * FLAT_OBJECT_SIZE),
        offsets: Vec::new(),
        fds: Vec::new(),
    };
    let mut copied = 0;
    for (at, kind) in wanted {
        out.data.extend(&data[copied..at]);
        copied = at;
        let (fd, keep) = kind.open();
        out.offsets.push(out.data.len() as u64);
        out.data.extend(BINDER_TYPE_FD.to_ne_bytes());
        out.data.extend(0u32.to_ne_bytes()); // flags
        out.data.extend((fd.as_raw_fd() as u32).to_ne_bytes()); // handle, the union's
        out.data.extend(0u32.to_ne_bytes()); // first 4 bytes of 8
        out.data.extend(1u64.to_ne_bytes()); // cookie: the sender gave the fd up
        out.fds.push((kind, fd, keep));
    }
    out.data.extend(&data[copied..]);
    (out, right_token)
}

fn no_buffer_to_free(
    _: Option<&Parcel>,
    _: u64,
    _: usize,
    _: u64,
    _: usize,
) -> rsbinder::Result<()> {
    Ok(())
}

/// What rsbinder's kernel dispatch reads before a method
/// (`thread_state::check_interface`): the token's four fields.
fn token_matches(reader: &mut Parcel, descriptor: &str) -> bool {
    let read = |reader: &mut Parcel| -> rsbinder::Result<bool> {
        let _strict_mode: i32 = reader.read()?;
        let _work_source: i32 = reader.read()?;
        let header: u32 = reader.read()?;
        Ok(header == INTERFACE_HEADER && reader.read::<String>()? == descriptor)
    };
    read(reader).unwrap_or(false)
}

fuzz_target!(|bytes: &[u8]| {
    let harness = harness();
    let mut input = Input(bytes);
    let service = &harness.services[input.byte() as usize % 3];
    let code = match CODES.get(input.byte() as usize) {
        Some(&code) => code,
        None => input.u32(),
    };
    let binder = service.built.binder.as_binder();
    let descriptor = binder.descriptor().to_owned();
    let (mut txn, right_token) = transaction(&mut input, &descriptor);

    // SAFETY: `data` and `offsets` are this function's own vectors, neither
    // read nor written nor moved until `reader` is dropped below; the free
    // function does nothing with them. Every offset names a 24-byte fd
    // object inside `data` (aligned, ascending, disjoint) whose handle is
    // an fd in `txn.fds`, open until after `reader` is dropped.
    let mut reader = unsafe {
        Parcel::from_ipc_parts(
            txn.data.as_mut_ptr(),
            txn.data.len(),
            txn.offsets.as_mut_ptr(),
            txn.offsets.len(),
            no_buffer_to_free,
        )
    };
    let mut reply = Parcel::new();
    let is_method_range = (FIRST_CALL_TRANSACTION..=LAST_CALL_TRANSACTION).contains(&code);
    let result = if is_method_range {
        // rsbinder's kernel dispatch (`Transactable::transact`) keeps the
        // token's strict-mode and work-source fields in the thread's
        // binder state, which needs an open driver; there is none here.
        // So read the token as it does and dispatch as its RPC server does
        // after its own token check: `rpc_transact` is that same dispatch
        // to the generated stub, without the token read.
        let matches = token_matches(&mut reader, &descriptor);
        assert!(
            matches || !right_token,
            "the harness wrote a token rsbinder's layout rejects"
        );
        matches.then(|| binder.rpc_transact(code, &mut reader, &mut reply))
    } else {
        // Meta transactions: rsbinder's kernel dispatch entry itself.
        let local = binder.as_transactable().expect("a local binder");
        Some(local.transact(code, &mut reader, &mut reply))
    };
    drop(reader);

    let Some(result) = result else { return };
    reply.set_data_position(0);
    check_reply(service, code, result, &mut reply);
    if code == DUMP_TRANSACTION && result.is_ok() {
        check_dump(&txn, &service.built.name);
    }
});

/// A method's reply is a status, then its value when the status is OK.
fn check_reply(service: &Service, code: u32, result: rsbinder::Result<()>, reply: &mut Parcel) {
    let len = service.built.region.len();
    let method = code
        .checked_sub(FIRST_CALL_TRANSACTION)
        .and_then(|i| METHODS.get(i as usize));
    if let Some(&(name, needed)) = method {
        result.unwrap_or_else(|e| panic!("{name}: no reply: {e:?}"));
        let status: Status = reply.read().expect("a status");
        if service.right < needed {
            assert_eq!(
                status.exception_code(),
                ExceptionCode::Security,
                "{name} by a caller with right {}: {status:?}",
                service.right
            );
            assert_eq!(
                reply.data_avail(),
                0,
                "{name} refused, yet more than a status"
            );
            return;
        }
        assert!(
            status.is_ok(),
            "{name} granted ({}) yet failed: {status:?}",
            service.right
        );
        match name {
            "getBufferSize" => assert_eq!(reply.read::<i64>().unwrap(), len as i64),
            "getBuffer" => check_fd(reply.read().unwrap(), len, OFlags::RDWR),
            "getReadOnlyBuffer" => check_fd(reply.read().unwrap(), len, OFlags::RDONLY),
            _ => {
                let region: Region = reply.read().expect("a Region");
                assert_eq!(region.size, len as i64);
                assert_eq!(region.layoutVersion, layout_version(len));
                let mode = if needed == Right::ReadWrite {
                    OFlags::RDWR
                } else {
                    OFlags::RDONLY
                };
                check_fd(region.fd.expect("Region.fd"), len, mode);
            }
        }
        return;
    }
    match code {
        GET_INTERFACE_VERSION => {
            result.expect("getInterfaceVersion");
            assert!(reply.read::<Status>().unwrap().is_ok());
            assert_eq!(reply.read::<i32>().unwrap(), VERSION);
        }
        GET_INTERFACE_HASH => {
            result.expect("getInterfaceHash");
            assert!(reply.read::<Status>().unwrap().is_ok());
            assert_eq!(reply.read::<String>().unwrap(), HASH);
        }
        INTERFACE_TRANSACTION => {
            result.expect("INTERFACE_TRANSACTION");
            assert_eq!(
                reply.read::<String>().unwrap(),
                service.built.binder.as_binder().descriptor()
            );
        }
        PING_TRANSACTION => result.expect("PING_TRANSACTION"),
        _ => {}
    }
}

/// A handed-out fd is the region: its size, and the access mode promised.
fn check_fd(fd: ParcelFileDescriptor, len: usize, mode: OFlags) {
    let stat = rustix::fs::fstat(fd.as_fd()).expect("fstat");
    assert_eq!(stat.st_size as usize, len, "the fd's size");
    let flags = rustix::fs::fcntl_getfl(fd.as_fd()).expect("F_GETFL");
    assert_eq!(flags & OFlags::ACCMODE, mode, "the fd's access mode");
}

/// A dump that went into a memfd is there and names the service.
fn check_dump(txn: &Transaction, name: &str) {
    // The dump's fd is the object at offset 0, if any.
    let Some((FdKind::Memfd, fd, _)) = (txn.offsets.first() == Some(&0))
        .then(|| txn.fds.first())
        .flatten()
    else {
        return;
    };
    let mut text = vec![0u8; 64 * 1024];
    let n = rustix::io::pread(fd, &mut text, 0).expect("read the dump back");
    let text = String::from_utf8_lossy(&text[..n]);
    assert!(
        text.contains(name),
        "the dump does not name {name}: {text:?}"
    );
}
