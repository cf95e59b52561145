//! `Connection::dump`: the binder dump transaction (what `dumpsys` sends):
//! the service writes its state into an fd the caller passes along.

use std::io::Read;
use std::os::unix::net::UnixStream;

use crate::connect::Connection;
use crate::error::{Error, Result};
use crate::platform;

impl Connection {
    /// The service's dump text (see docs/diagnostics.md for its fields). The service
    /// decides who may read it; a refusal is an [`Error::Call`] that quotes
    /// what the service said.
    pub fn dump(&self) -> Result<String> {
        // A socket pair, not a pipe: std has no pipe on the Rust we support,
        // and a stream socket is as good a writable fd for the service.
        let (mut reader, writer) = UnixStream::pair().map_err(|e| Error::Call {
            call: "dump",
            status: format!("cannot create the fd the service writes into: {e}"),
        })?;
        // Read while the service writes: a large dump would fill the buffer
        // and block the service before the transaction returns.
        let read = std::thread::spawn(move || {
            let mut text = Vec::new();
            reader.read_to_end(&mut text).map(|_| text)
        });
        let sent = platform::dump(self.keepalive(), writer.into(), self.endpoint());
        // The service closed its copy when the call returned; ours went with
        // the transaction, so the reader now sees the end.
        let text = read
            .join()
            .map_err(|_| Error::Call {
                call: "dump",
                status: "the thread reading the dump panicked".into(),
            })?
            .map_err(|e| Error::Call {
                call: "dump",
                status: format!("reading the dump failed: {e}"),
            })?;
        let text = String::from_utf8_lossy(&text).into_owned();
        match sent {
            Ok(()) => Ok(text),
            Err(Error::Call { call, status }) if !text.is_empty() => Err(Error::Call {
                call,
                status: format!("{status}: {}", text.trim_end()),
            }),
            Err(e) => Err(e),
        }
    }
}
