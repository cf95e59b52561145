//! The daemon's life: build the service, publish it, log, stop on a signal.

use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::Duration;

use log::{info, warn};

use crate::caller_log;
use crate::calls::CallTable;
use crate::config::Config;
use crate::platform;
use crate::region::SharedRegion;
use crate::stop_signals::StopSignals;
use crate::{build, ServiceSetup};

/// Worker threads of the tokio runtime: binder calls are short, and the
/// periodic log and signal handling need little.
pub const RUNTIME_THREADS: usize = 2;

/// Serves the service `config` describes until `stop` fires, then stops
/// taking clients and returns once calls in flight are done. Logging must
/// be set up already; the error is one line for the log.
pub fn run(config: &Config, stop: StopSignals) -> Result<(), String> {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(RUNTIME_THREADS)
        .enable_all()
        .build()
        .map_err(|e| format!("cannot start the tokio runtime: {e}"))?;
    let built = build(ServiceSetup::from_config(config)?, runtime.handle().clone())?;
    let serving = platform::start_serving(config, built.binder.clone(), built.transport_events())
        .map_err(|e| e.to_string())?;
    built.diagnostics.set_transport(serving.description.clone());
    let region = built.region;
    info!("access: {}", built.policy.describe());
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
        let summaries = tokio::spawn(log_summaries(built.calls, config.summary_period));
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

/// Logs [`CallTable::take_summary`] at `info` every `period`, and what
/// the per-uid limit of warnings about callers dropped at `warn`.
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
        if let Some(dropped) = caller_log::take_dropped() {
            warn!("{dropped}");
        }
    }
}
