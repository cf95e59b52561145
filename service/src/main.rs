//! `vendor.enea.buffer-service`: owns a sealed shared-memory region, serves
//! `vendor.enea.buffer.IEneaBuffer/<instance>` and logs word 0 periodically.

mod config;
mod platform;
mod region;
mod service;
#[cfg(not(target_os = "android"))]
mod socket_lock;

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use log::{error, info};

use config::Config;
use region::SharedRegion;
use service::EneaBufferService;

const PROGRAM: &str = "vendor.enea.buffer-service";
/// Worker threads of the tokio runtime: binder calls are short, and the
/// periodic log and signal handling need little.
const RUNTIME_THREADS: usize = 2;

fn main() -> ExitCode {
    let config = match Config::try_parse() {
        Ok(config) => config,
        Err(e) if !e.use_stderr() => {
            // --help / --version.
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("{PROGRAM}: {}", first_line(&e.to_string()));
            return ExitCode::from(2);
        }
    };
    platform::init_logging(config.log_level);
    match run(&config) {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            error!("{message}");
            ExitCode::FAILURE
        }
    }
}

/// Clap's message without its usage footer: one clear line.
fn first_line(message: &str) -> &str {
    let line = message.lines().next().unwrap_or(message);
    line.strip_prefix("error: ").unwrap_or(line)
}

fn run(config: &Config) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(RUNTIME_THREADS)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the tokio runtime: {e}"))?;

    // Handlers first: a SIGTERM that arrives as soon as we serve must stop us gracefully.
    let stop = {
        let _in_runtime = runtime.enter();
        StopSignals::install()?
    };
    let region = SharedRegion::create("vendor.enea.buffer", config.size)
        .map(Arc::new)
        .map_err(|e| format!("cannot allocate the shared region: {e}"))?;
    let binder = platform::new_binder(
        EneaBufferService::new(region.clone()),
        runtime.handle().clone(),
    );
    let serving = platform::start_serving(config, binder).map_err(|e| e.to_string())?;
    info!(
        "serving {} ({} bytes, fd {}, base={:#x})",
        serving.description,
        region.len(),
        region.raw_fd(),
        region.base_addr()
    );

    runtime.block_on(async {
        let logger = tokio::spawn(log_word0(region.clone(), config.log_period));
        stop.wait().await;
        logger.abort();
    });
    info!("stopping: no new clients, finishing calls in flight");
    serving.stop();
    info!("stopped");
    Ok(())
}

/// The seed server's loop: log the region's address and word 0.
async fn log_word0(region: Arc<SharedRegion>, period: Duration) {
    if period.is_zero() {
        return;
    }
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        info!(
            "base={:#x} Data={:#010x}",
            region.base_addr(),
            region.word0().load(Ordering::SeqCst)
        );
    }
}

/// SIGTERM (init's `stop`) and SIGINT (Ctrl-C) handlers.
struct StopSignals {
    term: tokio::signal::unix::Signal,
    int: tokio::signal::unix::Signal,
}

impl StopSignals {
    /// Installs both handlers; must run inside the tokio runtime.
    fn install() -> Result<Self, String> {
        use tokio::signal::unix::{signal, SignalKind};
        Ok(Self {
            term: signal(SignalKind::terminate()).map_err(|e| format!("SIGTERM handler: {e}"))?,
            int: signal(SignalKind::interrupt()).map_err(|e| format!("SIGINT handler: {e}"))?,
        })
    }

    /// Resolves when either signal arrives.
    async fn wait(mut self) {
        tokio::select! {
            _ = self.term.recv() => info!("SIGTERM received"),
            _ = self.int.recv() => info!("SIGINT received"),
        }
    }
}
