//! Why a command stopped early, for `main` to report.

use enea_buffer_client::Error;

/// Why `run` stopped early.
pub enum Stop {
    /// The library's error, for the user.
    Client(Error),
    /// A condition the command itself found, said in full.
    Message(String),
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
