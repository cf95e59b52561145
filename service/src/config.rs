//! Command-line configuration of the daemon, validated up front so bad
//! input ends in one clear error line instead of a failure at first use.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

use enea_buffer_common::{parse_duration, MAX_SIZE};

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

    /// Unix socket path for the socket transport [default: $ENEA_BUFFER_SOCKET, else /run/vendor.enea.buffer/socket as root, else $XDG_RUNTIME_DIR/vendor.enea.buffer.sock].
    #[arg(long, value_name = "PATH")]
    pub socket: Option<PathBuf>,

    /// Group (name or number) that owns the socket; its members may connect (mode 0660) [default: the daemon's group].
    #[arg(long, value_name = "GROUP")]
    pub socket_group: Option<String>,

    /// Access rule, repeatable: uid:<N>=<rw|ro|none>, gid:<N>=<rw|ro|none> or others=<rw|ro|none>; overrides the access file.
    #[arg(long = "access", value_name = "RULE", value_parser = crate::policy::parse_rule)]
    pub access: Vec<crate::policy::Rule>,

    /// Access file: one rule per line, as --access takes them; `#` comments [default: /etc/vendor.enea.buffer/access.conf (Android: /vendor/etc/vendor.enea.buffer/access.conf) if it exists].
    #[arg(long, value_name = "PATH")]
    pub access_file: Option<PathBuf>,

    /// Socket transport: close a connection that has sent no call for this long (e.g. 60s); 0 never does.
    #[arg(long, value_name = "DURATION", default_value = "60s", value_parser = parse_duration)]
    pub idle_timeout: Duration,

    /// Socket transport: connections served at once, from all users.
    #[arg(long, value_name = "N", default_value_t = DEFAULT_MAX_CONNECTIONS, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_connections: u32,

    /// Socket transport: connections served at once for one uid.
    #[arg(long, value_name = "N", default_value_t = 32, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub max_connections_per_uid: u32,

    /// How often to log a summary of the calls per uid at info level (per-call lines are debug), and of the warnings about callers the per-uid limit dropped; 0 turns it off.
    #[arg(long, value_name = "DURATION", default_value = "1m", value_parser = parse_duration)]
    pub summary_period: Duration,

    /// Binder device for the kernel transport [default: /dev/binderfs/binder, then /dev/binder].
    #[arg(long, value_name = "PATH")]
    pub binder_device: Option<PathBuf>,

    /// Region size in bytes; suffixes K/KiB, M/MiB, G/GiB are binary multiples.
    #[arg(long, value_name = "BYTES", default_value = "10KiB", value_parser = parse_size)]
    pub size: usize,

    /// Instance name; the service is registered as vendor.enea.buffer.IEneaBuffer/<NAME>.
    #[arg(long, value_name = "NAME", default_value = "default", value_parser = parse_instance)]
    pub instance: String,

    /// How often to log word 0 (e.g. 5s, 250ms, 1m); 0 turns the log off.
    #[arg(long, value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub log_period: Duration,

    /// Register as a lazy HAL: the service manager starts the daemon on the
    /// first look-up and the daemon exits once no client holds the service.
    /// Needs a service manager (kernel binder), so not `--transport socket`.
    #[arg(long)]
    pub lazy: bool,

    /// Log level (off, error, warn, info, debug, trace).
    #[arg(long, value_name = "LEVEL", default_value = "info", value_parser = parse_log_level)]
    pub log_level: log::LevelFilter,
}

impl Config {
    /// The full service name: `<descriptor>/<instance>`.
    pub fn service_name(&self) -> String {
        enea_buffer_common::service_name(&self.instance)
    }

    /// The socket to serve on (see [`enea_buffer_common::server_socket`]).
    // Android serves through servicemanager only and never asks.
    #[cfg_attr(target_os = "android", allow(dead_code))]
    pub fn socket_path(&self) -> Result<PathBuf, String> {
        enea_buffer_common::server_socket(self.socket.as_deref())
    }

    /// The access rules: the access file's, then `--access`'s.
    pub fn access_rules(&self) -> Result<Vec<crate::policy::Rule>, String> {
        let mut rules = match &self.access_file {
            Some(path) => crate::policy::load_file(path)?,
            None => {
                let default = std::path::Path::new(DEFAULT_ACCESS_FILE);
                if default.exists() {
                    crate::policy::load_file(default)?
                } else {
                    Vec::new()
                }
            }
        };
        rules.extend(self.access.iter().copied());
        Ok(rules)
    }
}

/// Socket transport: connections served at once by default (`--max-connections`).
pub const DEFAULT_MAX_CONNECTIONS: u32 = 256;

/// The access file read when `--access-file` is not given, if it exists.
#[cfg(not(target_os = "android"))]
pub const DEFAULT_ACCESS_FILE: &str = "/etc/vendor.enea.buffer/access.conf";
/// The access file read when `--access-file` is not given, if it exists.
#[cfg(target_os = "android")]
pub const DEFAULT_ACCESS_FILE: &str = "/vendor/etc/vendor.enea.buffer/access.conf";

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

/// Parses a log level, naming the valid ones when `text` is none of them
/// (the log crate's own error names none).
pub fn parse_log_level(text: &str) -> Result<log::LevelFilter, String> {
    text.parse().map_err(|_| {
        format!("'{text}' is not a log level: use off, error, warn, info, debug or trace")
    })
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
    fn instance_names_are_checked() {
        assert_eq!(parse_instance("default").as_deref(), Ok("default"));
        assert!(parse_instance("").is_err());
        assert!(parse_instance("a/b").is_err());
        assert!(parse_instance("a b").is_err());
    }

    #[test]
    fn log_levels_are_named_when_refused() {
        assert_eq!(parse_log_level("debug"), Ok(log::LevelFilter::Debug));
        assert_eq!(parse_log_level("OFF"), Ok(log::LevelFilter::Off));
        assert_eq!(
            parse_log_level("chatty").unwrap_err(),
            "'chatty' is not a log level: use off, error, warn, info, debug or trace"
        );
    }
}
