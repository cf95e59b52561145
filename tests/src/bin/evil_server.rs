//! `enea-buffer-evil-server`: a deliberately misbehaving IEneaBuffer server
//! for the client's fail-closed tests. It serves one `--mode` of
//! misbehaviour over rsbinder RPC on a Unix socket with fd passing (the
//! checks it exercises run on the received fd, whatever carried it), prints
//! `ready` on stdout once it serves, and answers `calls` on stdin with the
//! calls it got so far.

use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Mutex;

use clap::{Parser, ValueEnum};
use rsbinder::entry::uri::{WireProfile, WireVersion};
use rsbinder::rpc::FileDescriptorTransportMode;
use rsbinder::{Endpoint, Interface, ParcelFileDescriptor, Status, Uri};
use rustix::fs::{MemfdFlags, SealFlags};
use vendor_enea_buffer::aidl::vendor::enea::buffer::IEneaBuffer::{
    BnEneaBuffer, IEneaBuffer, LAYOUT_VERSION,
};
use vendor_enea_buffer::aidl::vendor::enea::buffer::Region::Region;

/// The size every mode reports (unless it reports 2^40): the daemon's default.
const SIZE: usize = 10 * 1024;

#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
enum Mode {
    /// Well-behaved: a sealed memfd of the reported size (the control).
    Sealed,
    /// An unsealed memfd of the reported size, truncated to 0 after replying.
    Unsealed,
    /// Sealed against growing only, truncated to 0 after replying.
    Shrinkable,
    /// A sealed memfd of 0 bytes (what "ashmem reports 0" used to let through).
    Zero,
    /// A sealed memfd of half the reported size.
    WrongSize,
    /// Reports 2^40 bytes.
    Huge,
    /// Refuses every fd with a service-specific error (out of resources).
    Refuse,
}

#[derive(Parser)]
struct Cli {
    #[arg(long, value_enum)]
    mode: Mode,
    /// Serve RPC on this Unix socket.
    #[arg(long)]
    socket: PathBuf,
    /// Service name: `vendor.enea.buffer.IEneaBuffer/<instance>`.
    #[arg(long, default_value = "vendor.enea.buffer.IEneaBuffer/default")]
    name: String,
}

struct Evil {
    mode: Mode,
    calls: &'static Mutex<Vec<&'static str>>,
}

impl Interface for Evil {}

fn internal(what: &str, e: rustix::io::Errno) -> Status {
    Status::new_service_specific_error(1, Some(format!("{what}: {e}")))
}

impl Evil {
    fn record(&self, call: &'static str) {
        self.calls.lock().unwrap().push(call);
    }

    fn region(&self) -> rsbinder::BinderResult<ParcelFileDescriptor> {
        let (len, seals, truncate_after) = match self.mode {
            Mode::Refuse => {
                return Err(Status::new_service_specific_error(
                    1,
                    Some("out of fds".to_owned()),
                ))
            }
            Mode::Sealed | Mode::Huge => (SIZE, SealFlags::SHRINK | SealFlags::GROW, false),
            Mode::Unsealed => (SIZE, SealFlags::empty(), true),
            Mode::Shrinkable => (SIZE, SealFlags::GROW, true),
            Mode::Zero => (0, SealFlags::SHRINK | SealFlags::GROW, false),
            Mode::WrongSize => (SIZE / 2, SealFlags::SHRINK | SealFlags::GROW, false),
        };
        let fd =
            rustix::fs::memfd_create("enea-evil", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)
                .map_err(|e| internal("memfd_create", e))?;
        rustix::fs::ftruncate(&fd, len as u64).map_err(|e| internal("ftruncate", e))?;
        if len >= 4 {
            rustix::io::pwrite(&fd, &0xdead_cafe_u32.to_ne_bytes(), 0)
                .map_err(|e| internal("pwrite", e))?;
        }
        if !seals.is_empty() {
            rustix::fs::fcntl_add_seals(&fd, seals).map_err(|e| internal("F_ADD_SEALS", e))?;
        }
        let reply = rustix::io::fcntl_dupfd_cloexec(&fd, 0).map_err(|e| internal("dup", e))?;
        if truncate_after {
            // The reply is sent once this call returns; the truncation races it
            // and whatever the client does next, as a real attacker would.
            std::thread::spawn(move || truncate(fd));
        }
        Ok(ParcelFileDescriptor::new(reply))
    }
}

fn truncate(fd: OwnedFd) {
    let _ = rustix::fs::ftruncate(&fd, 0);
}

impl IEneaBuffer for Evil {
    fn r#getBuffer(&self) -> rsbinder::BinderResult<ParcelFileDescriptor> {
        self.record("getBuffer");
        self.region()
    }

    fn r#getBufferSize(&self) -> rsbinder::BinderResult<i64> {
        self.record("getBufferSize");
        Ok(match self.mode {
            Mode::Huge => 1 << 40,
            _ => SIZE as i64,
        })
    }

    fn r#getReadOnlyBuffer(&self) -> rsbinder::BinderResult<ParcelFileDescriptor> {
        self.record("getReadOnlyBuffer");
        self.region()
    }

    fn r#getRegion(&self) -> rsbinder::BinderResult<Region> {
        self.record("getRegion");
        self.v2_region()
    }

    fn r#getReadOnlyRegion(&self) -> rsbinder::BinderResult<Region> {
        self.record("getReadOnlyRegion");
        self.v2_region()
    }
}

impl Evil {
    /// The V2 reply: the same misbehaving fd, with the size every mode reports.
    fn v2_region(&self) -> rsbinder::BinderResult<Region> {
        Ok(Region {
            fd: Some(self.region()?),
            size: match self.mode {
                Mode::Huge => 1 << 40,
                _ => SIZE as i64,
            },
            layoutVersion: LAYOUT_VERSION,
        })
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let calls: &'static Mutex<Vec<&'static str>> = Box::leak(Box::default());
    let binder = BnEneaBuffer::new_binder(Evil {
        mode: cli.mode,
        calls,
    });
    let uri = Uri::new(Endpoint::unix(&cli.socket))
        .with_wire(WireProfile::Android13Plus(WireVersion::MAX));
    let served = rsbinder::serve(uri)
        .and_then(|s| s.add(&cli.name, binder.as_binder()))
        .map(|s| s.with(|o| o.fd_modes = Some(vec![FileDescriptorTransportMode::Unix])))
        .and_then(|s| s.spawn());
    let _guard = match served {
        Ok(guard) => guard,
        Err(status) => {
            eprintln!("evil-server: cannot serve {}: {status:?}", cli.name);
            return ExitCode::FAILURE;
        }
    };
    enea_buffer_tests::v1server::answer_calls(calls);
    ExitCode::SUCCESS
}
