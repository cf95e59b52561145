//! The bench server (IBufferBench over RPC on a Unix socket, configured as
//! the daemon is) and the ping-pong peer that measures the socket floor.

use std::io::{Read, Write};
use std::os::unix::net::UnixListener;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use async_trait::async_trait;
// Configured as the daemon is: its tokio workers and connection cap; `put`
// fills at most the daemon's own region limit.
use enea_buffer_client::MAX_SIZE as MAX_BYTES;
use enea_buffer_service::config::DEFAULT_MAX_CONNECTIONS;
use enea_buffer_service::RUNTIME_THREADS;
use rsbinder::entry::uri::{WireProfile, WireVersion};
use rsbinder::rpc::FileDescriptorTransportMode;
use rsbinder::{Client, Endpoint, Interface, Status, Strong, Uri};

use crate::aidl::vendor::enea::buffer::bench::IBufferBench::{
    BnBufferBench, IBufferBench, IBufferBenchAsyncService,
};

/// Name the bench server publishes.
pub const BENCH_SERVICE: &str = "vendor.enea.buffer.bench.IBufferBench/default";

/// Where `put` copies bytes to, and the counter `increment` bumps.
#[derive(Default)]
struct BenchService {
    buffer: Mutex<Vec<u8>>,
    received: AtomicU64,
    counter: AtomicU64,
}

impl Interface for BenchService {}

#[async_trait]
impl IBufferBenchAsyncService for BenchService {
    async fn r#ping(&self) -> rsbinder::BinderResult<()> {
        Ok(())
    }

    async fn r#put(&self, offset: i64, chunk: &[u8]) -> rsbinder::BinderResult<()> {
        let start = usize::try_from(offset)
            .ok()
            .filter(|o| o.saturating_add(chunk.len()) <= MAX_BYTES)
            .ok_or_else(|| Status::from(rsbinder::StatusCode::BadValue))?;
        let end = start + chunk.len();
        let mut buffer = self.buffer.lock().unwrap_or_else(|e| e.into_inner());
        if buffer.len() < end {
            buffer.resize(end, 0);
        }
        buffer[start..end].copy_from_slice(chunk);
        self.received
            .fetch_add(chunk.len() as u64, Ordering::Relaxed);
        Ok(())
    }

    async fn r#received(&self) -> rsbinder::BinderResult<i64> {
        Ok(self.received.load(Ordering::SeqCst) as i64)
    }

    async fn r#increment(&self) -> rsbinder::BinderResult<()> {
        self.counter.fetch_add(1, Ordering::SeqCst);
        Ok(())
    }

    async fn r#get(&self) -> rsbinder::BinderResult<i64> {
        Ok(self.counter.load(Ordering::SeqCst) as i64)
    }

    async fn r#reset(&self) -> rsbinder::BinderResult<()> {
        self.counter.store(0, Ordering::SeqCst);
        self.received.store(0, Ordering::SeqCst);
        Ok(())
    }
}

/// The daemon's wire: RPC on a Unix socket, android-13+ header.
pub fn wire(socket: &Path) -> Uri {
    Uri::new(Endpoint::unix(socket)).with_wire(WireProfile::Android13Plus(WireVersion::MAX))
}

/// Serves IBufferBench on `socket` until stdin says `quit` or closes;
/// prints `ready` once serving.
pub fn serve(socket: &Path) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(RUNTIME_THREADS)
        .enable_all()
        .build()
        .map_err(|e| format!("tokio runtime: {e}"))?;
    let binder = BnBufferBench::new_async_binder(
        BenchService::default(),
        rsbinder::TokioRuntime(runtime.handle().clone()),
    );
    let guard = rsbinder::serve(wire(socket))
        .and_then(|s| s.add(BENCH_SERVICE, binder.as_binder()))
        .map(|s| {
            s.with(|o| {
                o.fd_modes = Some(vec![FileDescriptorTransportMode::Unix]);
                o.max_connections = Some(DEFAULT_MAX_CONNECTIONS as usize);
            })
        })
        .and_then(|s| s.spawn())
        .map_err(|s| format!("cannot serve on {}: {s:?}", socket.display()))?;
    println!("ready");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    // The suite holds our stdin: its `quit` (or the suite's end) ends the server.
    let _ = std::io::stdin().read_line(&mut String::new());
    guard.stop_and_join();
    Ok(())
}

/// Connects to the bench server at `socket`.
pub fn connect(socket: &Path) -> Result<Strong<dyn IBufferBench>, String> {
    let client = Client::open_with(wire(socket), |o, _| {
        o.fd_mode = Some(FileDescriptorTransportMode::Unix);
        o.timeout = Some(Duration::from_secs(30));
    })
    .map_err(|s| format!("cannot connect to {}: {s:?}", socket.display()))?;
    client
        .try_get::<dyn IBufferBench>(BENCH_SERVICE)
        .map_err(|s| format!("look-up of {BENCH_SERVICE} failed: {s:?}"))?
        .ok_or_else(|| format!("{BENCH_SERVICE} is not served at {}", socket.display()))
}

/// Echoes single bytes on `socket` for one peer; prints `ready` once listening.
pub fn pong(socket: &Path) -> Result<(), String> {
    let listener = UnixListener::bind(socket).map_err(|e| format!("bind: {e}"))?;
    println!("ready");
    std::io::stdout().flush().map_err(|e| e.to_string())?;
    let (mut stream, _) = listener.accept().map_err(|e| format!("accept: {e}"))?;
    let mut byte = [0u8; 1];
    while stream.read_exact(&mut byte).is_ok() {
        if stream.write_all(&byte).is_err() {
            break;
        }
    }
    Ok(())
}
