//! The service as a V1 build would be, generated from the frozen V1 dump
//! (aidl_api/vendor.enea.buffer/1), for the evolution tests: a V2 client
//! must detect version 1 and never call what V1 lacks. It serves a sealed
//! memfd (word 0 = 0xdeadcafe) over rsbinder RPC on a Unix socket with fd
//! passing, or over kernel binder registered with the service manager;
//! prints `ready` on stdout once it serves, and answers `calls` on stdin
//! with the calls it got so far. Run by `enea-buffer-v1-server` (socket)
//! and by the evolution test binary itself (kernel binder, where the VM
//! image carries the test binaries but not this crate's other programs).

use std::io::{BufRead, Write};
use std::os::fd::OwnedFd;
use std::path::PathBuf;
use std::sync::Mutex;

use crate::v1::aidl::vendor::enea::buffer::IEneaBuffer::{BnEneaBuffer, IEneaBuffer};
use rsbinder::entry::uri::{KernelEndpoint, WireProfile, WireVersion};
use rsbinder::rpc::FileDescriptorTransportMode;
use rsbinder::{Endpoint, Interface, ParcelFileDescriptor, Status, Uri};
use rustix::fs::{MemfdFlags, SealFlags};

/// Where the V1 service listens.
pub enum Listen {
    /// rsbinder RPC on this Unix socket.
    Socket(PathBuf),
    /// Kernel binder, registered with the service manager.
    Kernel,
}

/// The region's size: the daemon's default.
const SIZE: usize = 10 * 1024;

struct V1 {
    region: OwnedFd,
    calls: &'static Mutex<Vec<&'static str>>,
}

impl Interface for V1 {}

impl V1 {
    fn dup(&self, call: &'static str) -> rsbinder::BinderResult<ParcelFileDescriptor> {
        self.calls.lock().unwrap().push(call);
        let fd = rustix::io::fcntl_dupfd_cloexec(&self.region, 0)
            .map_err(|e| Status::new_service_specific_error(1, Some(format!("dup: {e}"))))?;
        Ok(ParcelFileDescriptor::new(fd))
    }
}

impl IEneaBuffer for V1 {
    fn r#getBuffer(&self) -> rsbinder::BinderResult<ParcelFileDescriptor> {
        self.dup("getBuffer")
    }

    fn r#getBufferSize(&self) -> rsbinder::BinderResult<i64> {
        self.calls.lock().unwrap().push("getBufferSize");
        Ok(SIZE as i64)
    }

    fn r#getReadOnlyBuffer(&self) -> rsbinder::BinderResult<ParcelFileDescriptor> {
        // A V1 service may hand out a read-write fd here; the test does not
        // care about read-only enforcement, only about which calls arrive.
        self.dup("getReadOnlyBuffer")
    }
}

fn region() -> rustix::io::Result<OwnedFd> {
    let fd = rustix::fs::memfd_create("enea-v1", MemfdFlags::CLOEXEC | MemfdFlags::ALLOW_SEALING)?;
    rustix::fs::ftruncate(&fd, SIZE as u64)?;
    rustix::io::pwrite(&fd, &0xdead_cafe_u32.to_ne_bytes(), 0)?;
    rustix::fs::fcntl_add_seals(&fd, SealFlags::SHRINK | SealFlags::GROW | SealFlags::SEAL)?;
    Ok(fd)
}

/// Serves `name` on `listen` until stdin says `quit` or closes.
pub fn run(listen: Listen, name: &str) -> Result<(), String> {
    let region = region().map_err(|e| format!("cannot create the region: {e}"))?;
    let calls: &'static Mutex<Vec<&'static str>> = Box::leak(Box::default());
    let binder = BnEneaBuffer::new_binder(V1 { region, calls });
    let served = match listen {
        Listen::Socket(socket) => {
            let uri = Uri::new(Endpoint::unix(&socket))
                .with_wire(WireProfile::Android13Plus(WireVersion::MAX));
            rsbinder::serve(uri)
                .and_then(|s| s.add(name, binder.as_binder()))
                .map(|s| s.with(|o| o.fd_modes = Some(vec![FileDescriptorTransportMode::Unix])))
                .and_then(|s| s.spawn())
        }
        Listen::Kernel => {
            let device = binder_device().ok_or("no binder device")?;
            let endpoint = KernelEndpoint::default()
                .with_driver(device)
                .with_threads(2);
            rsbinder::serve(Uri::new(endpoint))
                .and_then(|s| s.add(name, binder.as_binder()))
                .and_then(|s| s.spawn())
        }
    };
    let _guard = served.map_err(|status| format!("cannot serve {name}: {status:?}"))?;
    answer_calls(calls);
    Ok(())
}

/// Prints `ready`, then answers stdin until `quit` or its end: `calls`
/// prints the calls served so far. The test servers' control protocol.
pub fn answer_calls(calls: &Mutex<Vec<&'static str>>) {
    println!("ready");
    let _ = std::io::stdout().flush();
    for line in std::io::stdin().lock().lines().map_while(Result::ok) {
        match line.trim() {
            "calls" => println!("calls {}", calls.lock().unwrap().join(",")),
            "quit" => break,
            other => println!("error unknown command {other:?}"),
        }
        let _ = std::io::stdout().flush();
    }
}

/// The kernel binder device, as the daemon looks for it.
pub fn binder_device() -> Option<&'static str> {
    [rsbinder::DEFAULT_BINDER_PATH, rsbinder::LEGACY_BINDER_PATH]
        .into_iter()
        .find(|p| std::path::Path::new(p).exists())
}
