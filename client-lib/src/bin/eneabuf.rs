//! `eneabuf`: poke the vendor.enea.buffer shared region from a shell.

use std::io::Write;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};
use enea_buffer_client::{ConnectOptions, Connection, Error, Transport};

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
    /// Print word 0 whenever it changes, until interrupted. Against a V2
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
        /// Stop after this many changes.
        #[arg(long, value_name = "N")]
        changes: Option<u64>,
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

/// Why `run` stopped early.
enum Stop {
    /// The library's error, for the user.
    Client(Error),
    /// Writing to stdout failed.
    Stdout(std::io::Error),
}

impl From<Error> for Stop {
    fn from(e: Error) -> Self {
        Stop::Client(e)
    }
}

impl From<std::io::Error> for Stop {
    fn from(e: std::io::Error) -> Self {
        Stop::Stdout(e)
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
            eprintln!("eneabuf: cannot write to stdout: {e}");
            ExitCode::FAILURE
        }
        Err(Stop::Client(e)) => {
            eprintln!("eneabuf: {e}");
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
    let conn = Connection::connect(&options)?;
    match cli.command {
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
        Command::Watch {
            interval,
            read_only,
            changes,
        } => {
            let mut seen = 0;
            let why_poll = if conn.interface_version() < 2 {
                format!(
                    "the service (interface version {}) has no change notification",
                    conn.interface_version()
                )
            } else if read_only {
                "--read-only: change notification needs the read-write view".to_owned()
            } else {
                match conn.map() {
                    // Woken by writers through the futex word: idle, no wake-ups.
                    Ok(buffer) if buffer.has_layout() => {
                        let mut last = buffer.load_u32(0)?;
                        writeln!(out, "{last:#010x}")?;
                        while changes.map_or(true, |n| seen < n) {
                            if let Some(now) = buffer.wait_u32_change(0, last, None)? {
                                writeln!(out, "{now:#010x}")?;
                                last = now;
                                seen += 1;
                            }
                        }
                        return Ok(());
                    }
                    Ok(_) => "the region is too small for the waiter word".to_owned(),
                    // Refused (policy or SELinux): a reader may still poll.
                    Err(e @ (Error::Call { .. } | Error::Refused { .. })) => {
                        format!("change notification needs the read-write view ({e})")
                    }
                    Err(e) => return Err(e.into()),
                }
            };
            eprintln!("eneabuf: {why_poll}; polling every {interval:?}");
            let buffer = conn.map_read_only()?;
            let mut last = buffer.load_u32(0)?;
            writeln!(out, "{last:#010x}")?;
            while changes.map_or(true, |n| seen < n) {
                std::thread::sleep(interval);
                let now = buffer.load_u32(0)?;
                if now != last {
                    writeln!(out, "{now:#010x}")?;
                    last = now;
                    seen += 1;
                }
            }
        }
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
