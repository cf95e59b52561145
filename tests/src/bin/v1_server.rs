//! `enea-buffer-v1-server`: the V1 service of the evolution tests
//! (`enea_buffer_tests::v1server`) on a Unix socket.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::Parser;
use enea_buffer_tests::v1server::{run, Listen};

#[derive(Parser)]
struct Cli {
    /// Serve RPC on this Unix socket.
    #[arg(long)]
    socket: PathBuf,
    /// Service name: `vendor.enea.buffer.IEneaBuffer/<instance>`.
    #[arg(long, default_value = "vendor.enea.buffer.IEneaBuffer/default")]
    name: String,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(Listen::Socket(cli.socket), &cli.name) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("v1-server: {e}");
            ExitCode::FAILURE
        }
    }
}
