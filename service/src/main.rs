//! `vendor.enea.buffer-service`: owns a sealed shared-memory region, serves
//! `vendor.enea.buffer.IEneaBuffer/<instance>` and logs word 0 periodically.

mod calls;
mod config;
mod diagnostics;
mod platform;
mod policy;
mod region;
#[cfg(not(target_os = "android"))]
mod sd_notify;
mod service;
#[cfg(not(target_os = "android"))]
mod socket_lock;
mod stop_signals;

use std::process::ExitCode;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use clap::Parser;
use log::{error, info};

use config::Config;
use diagnostics::Diagnostics;
use policy::Policy;
use region::SharedRegion;
use calls::CallTable;
use service::EneaBufferService;
use stop_signals::StopSignals;

const PROGRAM: &str = "vendor.enea.buffer-service";
/// Worker threads of the tokio runtime: binder calls are short, and the
/// periodic log and signal handling need little.
const RUNTIME_THREADS: usize = 2;

fn main() -> ExitCode {
    // Before any thread exists, so that every thread inherits the blocked mask.
    let stop = StopSignals::install();
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
    let stop = match stop {
        Ok(stop) => stop,
        Err(e) => {
            error!("cannot take over SIGTERM and SIGINT: {e}");
            return ExitCode::FAILURE;
        }
    };
    match run(&config, stop) {
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

fn run(config: &Config, stop: StopSignals) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(RUNTIME_THREADS)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the tokio runtime: {e}"))?;
    let policy = Policy::new(
        &config.access_rules()?,
        config::effective_uid(),
        platform::DEFAULT_RIGHT,
    );
    let region = SharedRegion::create("vendor.enea.buffer", config.size)
        .map(Arc::new)
        .map_err(|e| format!("cannot allocate the shared region: {e}"))?;
    let calls = Arc::new(CallTable::default());
    let diagnostics = Arc::new(Diagnostics::new());
    let service = EneaBufferService::new(
        region.clone(),
        policy.clone(),
        calls.clone(),
        diagnostics.clone(),
        config.service_name(),
    );
    let binder = platform::new_binder(service, runtime.handle().clone());
    let serving =
        platform::start_serving(config, binder, calls.clone()).map_err(|e| e.to_string())?;
    diagnostics.set_transport(serving.description.clone());
    info!("access: {}", policy.describe());
    info!(
        "serving {} ({} bytes, fd {}, base={:#x})",
        serving.description,
        region.len(),
        region.raw_fd(),
        region.base_addr()
    );
    platform::notify_ready();

    runtime.block_on(async {
        let logger = tokio::spawn(log_word0(region.clone(), config.log_period));
        let summaries = tokio::spawn(log_summaries(calls, config.summary_period));
        info!("{} received", stop.wait().await);
        logger.abort();
        summaries.abort();
    });
    info!("stopping: no new clients, finishing calls in flight");
    platform::notify_stopping();
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

/// Logs [`CallTable::take_summary`] at `info` every `period`.
async fn log_summaries(calls: Arc<CallTable>, period: Duration) {
    if period.is_zero() {
        return;
    }
    let mut ticks = tokio::time::interval(period);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    ticks.tick().await;
    loop {
        ticks.tick().await;
        if let Some(summary) = calls.take_summary() {
            info!("calls in the last {period:?}: {summary}");
        }
    }
}
