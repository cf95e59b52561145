//! Command-line configuration of the daemon, validated up front so bad
//! input ends in one clear error line instead of a failure at first use.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// Interface descriptor, as generated from the AIDL.
pub const DESCRIPTOR: &str = "vendor.enea.buffer.IEneaBuffer";
/// Where the daemon listens when it serves over a Unix socket and no
/// `--socket` / [`SOCKET_ENV`] says otherwise.
pub const DEFAULT_SOCKET: &str = "/tmp/vendor.enea.buffer.sock";
/// Environment variable naming the socket when `--socket` is not given
/// (read by hand: AOSP's libclap is built without clap's `env` feature).
pub const SOCKET_ENV: &str = "ENEA_BUFFER_SOCKET";
/// Largest region the daemon agrees to allocate.
pub const MAX_SIZE: usize = 1 << 30;

/// Which binder transport to serve on.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Transport {
    /// Kernel binder if a binder device and a service manager answer, else the Unix socket.
    Auto,
    /// Kernel binder through the service manager only.
    Binder,
    /// rsbinder RPC over a Unix socket (fd passing on), only.
    Socket,
}

/// vendor.enea.buffer HAL daemon: owns a sealed shared-memory region and
/// hands its file descriptor to clients over binder.
#[derive(Debug, Parser)]
#[command(name = "vendor.enea.buffer-service", version)]
pub struct Config {
    /// Transport to serve on.
    #[arg(long, value_enum, default_value_t = Transport::Auto)]
    pub transport: Transport,

    /// Unix socket path for the socket transport [default: $ENEA_BUFFER_SOCKET, else /tmp/vendor.enea.buffer.sock].
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,

    /// Binder device for the kernel transport [default: /dev/binderfs/binder, then /dev/binder].
    #[arg(long, value_name = "PATH")]
    pub binder_device: Option<PathBuf>,

    /// Region size in bytes; suffixes K/KiB, M/MiB, G/GiB are binary multiples.
    #[arg(long, value_name = "BYTES", default_value = "10KiB", value_parser = parse_size)]
    pub size: usize,

    /// Instance name; the service is registered as vendor.enea.buffer.IEneaBuffer/<NAME>.
    #[arg(long, value_name = "NAME", default_value = "default", value_parser = parse_instance)]
    pub instance: String,

    /// How often to log word 0 (e.g. 5s, 250ms); 0 turns the log off.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = humantime::parse_duration)]
    pub log_period: Duration,

    /// Log level (error, warn, info, debug, trace).
    #[arg(long, value_name = "LEVEL", default_value = "info")]
    pub log_level: log::LevelFilter,
}

impl Config {
    /// The full service name: `<descriptor>/<instance>`.
    pub fn service_name(&self) -> String {
        format!("{DESCRIPTOR}/{}", self.instance)
    }

    /// The socket to serve on: `--socket`, else a non-empty
    /// [`SOCKET_ENV`], else [`DEFAULT_SOCKET`].
    // Android serves through servicemanager only and never asks.
    #[cfg_attr(target_os = "android", allow(dead_code))]
    pub fn socket_path(&self) -> PathBuf {
        socket_path(self.socket.as_deref(), std::env::var_os(SOCKET_ENV))
    }
}

/// `flag`, else a non-empty `env`, else [`DEFAULT_SOCKET`].
fn socket_path(flag: Option<&std::path::Path>, env: Option<std::ffi::OsString>) -> PathBuf {
    flag.map(PathBuf::from)
        .or_else(|| env.filter(|v| !v.is_empty()).map(PathBuf::from))
        .unwrap_or_else(|| PathBuf::from(DEFAULT_SOCKET))
}

/// Parses a byte count such as `10240`, `10K`, `10KiB` or `64MiB`.
pub fn parse_size(text: &str) -> Result<usize, String> {
    let t = text.trim();
    let digits_end = t.find(|c: char| !c.is_ascii_digit()).unwrap_or(t.len());
    let (number, unit) = t.split_at(digits_end);
    let multiplier: u64 = match unit {
        "" | "B" => 1,
        "K" | "KiB" => 1 << 10,
        "M" | "MiB" => 1 << 20,
        "G" | "GiB" => 1 << 30,
        _ => return Err(format!("'{text}' is not a size: expected a number of bytes, optionally followed by K, KiB, M, MiB, G or GiB")),
    };
    let n: u64 = number.parse().map_err(|_| {
        format!("'{text}' is not a size: expected a number of bytes, optionally followed by K, KiB, M, MiB, G or GiB")
    })?;
    let bytes = n
        .checked_mul(multiplier)
        .filter(|&b| b <= MAX_SIZE as u64)
        .ok_or_else(|| format!("{text} is too large: the limit is {MAX_SIZE} bytes (1 GiB)"))?;
    if bytes < 4 {
        return Err(format!(
            "{text} is too small: the region must hold at least one 32-bit word (4 bytes)"
        ));
    }
    Ok(bytes as usize)
}

/// Accepts an instance name the service manager and VINTF can carry.
pub fn parse_instance(text: &str) -> Result<String, String> {
    let ok = !text.is_empty()
        && text.len() <= 64
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'));
    if ok {
        Ok(text.to_owned())
    } else {
        Err(format!(
            "'{text}' is not an instance name: use 1 to 64 characters from [A-Za-z0-9_.-]"
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_suffixes() {
        assert_eq!(parse_size("10240"), Ok(10240));
        assert_eq!(parse_size("10K"), Ok(10240));
        assert_eq!(parse_size("10KiB"), Ok(10240));
        assert_eq!(parse_size("64MiB"), Ok(64 << 20));
        assert_eq!(parse_size("1G"), Ok(1 << 30));
    }

    #[test]
    fn bad_sizes_are_refused_with_a_reason() {
        assert!(parse_size("0").unwrap_err().contains("too small"));
        assert!(parse_size("3").unwrap_err().contains("too small"));
        assert!(parse_size("2G").unwrap_err().contains("too large"));
        assert!(parse_size("99999999999999999999")
            .unwrap_err()
            .contains("not a size"));
        assert!(parse_size("ten").unwrap_err().contains("not a size"));
        assert!(parse_size("10 KB").unwrap_err().contains("not a size"));
        assert!(parse_size("").unwrap_err().contains("not a size"));
    }

    #[test]
    fn socket_comes_from_the_flag_then_the_environment_then_the_default() {
        let flag = std::path::Path::new("/run/flag.sock");
        let env = || Some(std::ffi::OsString::from("/run/env.sock"));
        assert_eq!(socket_path(Some(flag), env()), flag);
        assert_eq!(socket_path(None, env()), PathBuf::from("/run/env.sock"));
        assert_eq!(
            socket_path(None, Some("".into())),
            PathBuf::from(DEFAULT_SOCKET)
        );
        assert_eq!(socket_path(None, None), PathBuf::from(DEFAULT_SOCKET));
    }

    #[test]
    fn instance_names_are_checked() {
        assert_eq!(parse_instance("default").as_deref(), Ok("default"));
        assert!(parse_instance("").is_err());
        assert!(parse_instance("a/b").is_err());
        assert!(parse_instance("a b").is_err());
    }
}
