//! `vendor.enea.buffer-service`: owns a sealed shared-memory region, serves
//! `vendor.enea.buffer.IEneaBuffer/<instance>` and logs word 0 periodically.
//! Flags, logging and signals here; the daemon itself is the library.

use std::process::ExitCode;

use clap::Parser;
use log::error;

use enea_buffer_service::config::Config;
use enea_buffer_service::platform;
use enea_buffer_service::stop_signals::StopSignals;

const PROGRAM: &str = "vendor.enea.buffer-service";

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
    match enea_buffer_service::run(&config, stop) {
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
