//! `eneabuf`: poke the vendor.enea.buffer shared region from a shell.

// stdout goes through `run`'s writer, stderr through `say!`: neither may panic.
#![deny(clippy::print_stdout, clippy::print_stderr)]

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use enea_buffer_client::{ConnectOptions, Connection, Transport};

/// Writes a line to stderr and ignores a failed write: a CLI cannot report
/// that it cannot report, and `eprintln!` would panic on a full or closed
/// stderr. Defined before the modules so that they can use it.
macro_rules! say {
    ($($arg:tt)*) => {{
        use std::io::Write as _;
        let _ = writeln!(std::io::stderr(), $($arg)*);
    }};
}

// Beside this file: a crate root in src/bin finds modules in src/bin itself,
// where Cargo would take them for binaries of their own.
#[path = "eneabuf/stop.rs"]
mod stop;
#[path = "eneabuf/watch.rs"]
mod watch;

use stop::Stop;

/// Read and change the shared buffer of the vendor.enea.buffer HAL.
#[derive(Debug, Parser)]
#[command(name = "eneabuf", version)]
struct Cli {
    /// Transport to find the service on.
    #[arg(long, default_value = "auto", global = true)]
    transport: Transport,
    /// Socket path of the daemon (socket transport) [default: $ENEA_BUFFER_SOCKET, else $XDG_RUNTIME_DIR/vendor.enea.buffer.sock if it exists, else /run/vendor.enea.buffer/socket].
    #[arg(long, value_name = "PATH", global = true)]
    socket: Option<PathBuf>,
    /// Binder device [default: /dev/binderfs/binder, then /dev/binder].
    #[arg(long, value_name = "PATH", global = true)]
    binder_device: Option<PathBuf>,
    /// Service instance.
    #[arg(long, value_name = "NAME", default_value = "default", global = true)]
    instance: String,
    /// How long to wait for a silent daemon (e.g. 10s).
    #[arg(long, value_name = "DURATION", default_value = "10s", value_parser = parse_duration, global = true)]
    timeout: Duration,
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Print word 0 of the region.
    Get,
    /// Atomically add to word 0 and print it before and after (the seed client).
    Increment {
        /// Amount to add (wrapping).
        #[arg(long, default_value_t = 1)]
        by: u32,
    },
    /// Print the region's size, transport and file identity.
    Info,
    /// Print the service's dump (the binder dump transaction, as dumpsys sends).
    Dump,
    /// Print word 0 whenever it changes, until interrupted; when the
    /// service dies, wait for it to come back and watch its new region
    /// (see --no-follow). Against a V2
    /// service the writers wake it (no polling); a V1 service is polled,
    /// and so is the region when the caller may only read it (a waiter
    /// counts itself in the region, which takes the read-write view).
    Watch {
        /// How often to look when polling.
        #[arg(long, value_name = "DURATION", default_value = "100ms", value_parser = parse_duration)]
        interval: Duration,
        /// Poll the read-only view; never ask for the read-write one.
        #[arg(long)]
        read_only: bool,
        /// Before sleeping until the next change, poll word 0 for up to
        /// this long, keeping a CPU busy: a change within it is seen at
        /// once, without a wake-up. 0 sleeps at once.
        #[arg(long, value_name = "DURATION", default_value = "0", value_parser = enea_buffer_common::parse_duration)]
        spin: Duration,
        /// Stop after this many changes.
        #[arg(long, value_name = "N")]
        changes: Option<u64>,
        /// Exit with an error when the service dies, instead of waiting
        /// for it to come back and watching its new region.
        #[arg(long)]
        no_follow: bool,
    },
}

/// A timeout or interval: the shared duration grammar, but never zero
/// (a zero timeout would fail every call before it is made).
fn parse_duration(text: &str) -> Result<Duration, String> {
    match enea_buffer_common::parse_duration(text)? {
        Duration::ZERO => Err(format!(
            "'{text}' is zero: give a positive duration (e.g. 250ms, 10s, 1m)"
        )),
        d => Ok(d),
    }
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli, &mut std::io::stdout().lock()) {
        Ok(()) => ExitCode::SUCCESS,
        // The reader is gone (`eneabuf watch | head -1`): nobody wants
        // more output, which is the end, not a failure. Rust ignores
        // SIGPIPE, so the write returns EPIPE instead of killing us.
        Err(Stop::Stdout(e)) if e.kind() == std::io::ErrorKind::BrokenPipe => ExitCode::SUCCESS,
        Err(Stop::Stdout(e)) => {
            say!("eneabuf: cannot write to stdout: {e}");
            ExitCode::FAILURE
        }
        Err(Stop::Client(e)) => {
            say!("eneabuf: {e}");
            ExitCode::FAILURE
        }
        Err(Stop::Message(m)) => {
            say!("eneabuf: {m}");
            ExitCode::FAILURE
        }
    }
}

/// Runs the command; its output goes to `out` (stdout, which is
/// line-buffered: each line reaches the reader as it is written).
fn run(cli: Cli, out: &mut impl Write) -> Result<(), Stop> {
    let defaults = ConnectOptions::default();
    let options = ConnectOptions {
        transport: cli.transport,
        // The default already honours ENEA_BUFFER_SOCKET.
        socket: cli.socket.unwrap_or(defaults.socket),
        binder_device: cli.binder_device,
        instance: cli.instance,
        timeout: cli.timeout,
        ..defaults
    };
    match cli.command {
        Command::Watch {
            interval,
            read_only,
            spin,
            changes,
            no_follow,
        } => {
            let args = watch::Watch {
                interval,
                read_only,
                spin,
                changes,
                follow: !no_follow,
            };
            watch::run(&options, &args, out)?;
        }
        command => call(&options, command, out)?,
    }
    out.flush()?;
    Ok(())
}

/// Runs a command that needs one connection for one call.
fn call(options: &ConnectOptions, command: Command, out: &mut impl Write) -> Result<(), Stop> {
    let conn = Connection::connect(options)?;
    match command {
        Command::Get => {
            let buffer = conn.map_read_only()?;
            writeln!(out, "{:#010x}", buffer.load_u32(0)?)?;
        }
        Command::Increment { by } => {
            let buffer = conn.map()?;
            let before = buffer.fetch_add_u32(0, by)?;
            let base = buffer.base_addr();
            writeln!(out, "base={base:#x} Data={before:#010x}")?;
            writeln!(out, "base={base:#x} Data={:#010x}", before.wrapping_add(by))?;
        }
        Command::Info => {
            let buffer = conn.map_read_only()?;
            let id = buffer.identity()?;
            writeln!(out, "service:   {}", options.service_name())?;
            writeln!(out, "endpoint:  {}", conn.endpoint())?;
            writeln!(out, "transport: {}", conn.transport())?;
            writeln!(out, "size:      {} bytes", conn.size())?;
            writeln!(
                out,
                "fd:        {} (dev {:#x}, inode {})",
                buffer.raw_fd(),
                id.dev,
                id.ino
            )?;
            writeln!(out, "word 0:    {:#010x}", buffer.load_u32(0)?)?;
        }
        Command::Dump => write!(out, "{}", conn.dump()?)?,
        // `run` watches with connections of its own.
        Command::Watch { .. } => {}
    }
    out.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::parse_duration;
    use std::time::Duration;

    #[test]
    fn durations_take_the_shared_grammar_but_not_zero() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        for zero in ["0", "0ms", "0s"] {
            assert!(
                parse_duration(zero).unwrap_err().contains("is zero"),
                "{zero}"
            );
        }
        for bad in ["10", "ms", "-1s", "1.5s", "10d"] {
            assert!(
                parse_duration(bad)
                    .unwrap_err()
                    .contains("is not a duration"),
                "{bad}"
            );
        }
    }
}
