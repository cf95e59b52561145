//! Splits one captured RPC connection (both directions) into the
//! connection set-up structs and the `RpcWireHeader`-framed commands, with
//! the layouts of [`super::format`] only.

use super::format::{
    self, Address, Layout, CONNECTION_HEADER, NEW_SESSION_RESPONSE, OUTGOING_CONNECTION_INIT,
    WIRE_HEADER, WIRE_REPLY, WIRE_TRANSACTION,
};
use super::relay::Direction;

/// The connection set-up: `RpcConnectionHeader` (+ session id), the
/// server's `RpcNewSessionResponse` for a new session, and the
/// `RpcOutgoingConnectionInit` of the side that will send transactions.
#[derive(Clone, Debug)]
pub struct Setup {
    /// The 16 header bytes as the client sent them.
    pub header: Vec<u8>,
    /// The session id that followed the header (empty: new session).
    pub session_id: Vec<u8>,
    /// The 8 response bytes (new session only).
    pub response: Option<Vec<u8>>,
    /// The 8 connection-init bytes.
    pub init: Vec<u8>,
}

impl Setup {
    /// `RpcConnectionHeader.<name>`.
    pub fn header_field(&self, name: &str) -> u64 {
        CONNECTION_HEADER.get(&self.header, name)
    }
}

/// One command: where its `RpcWireHeader` starts in its direction's
/// stream, the header's words, and the decoded body.
#[derive(Clone, Debug)]
pub struct Message {
    /// Offset of the `RpcWireHeader` in the direction's byte stream.
    pub offset: usize,
    /// `RpcWireHeader.command`.
    pub command: u32,
    /// `RpcWireHeader.bodySize`.
    pub body_size: u32,
    /// `RpcWireHeader.reserved`, raw.
    pub reserved: Vec<u8>,
    /// The fixed struct after the header (`RpcWireTransaction`, `RpcWireReply`, `RpcDecStrong`).
    pub fixed: Vec<u8>,
    /// The parcel data that follows the fixed struct.
    pub data: Vec<u8>,
    /// The object table after the parcel data (v1+): byte positions in `data`.
    pub objects: Vec<u32>,
    /// File descriptors that arrived with this message: (stream offset of
    /// the chunk that carried them, count).
    pub fds: Vec<(usize, usize)>,
}

impl Message {
    /// `RpcWireTransaction.address` (a transaction only).
    pub fn address(&self) -> Address {
        assert_eq!(self.command, format::COMMAND_TRANSACT, "not a transaction");
        Address::decode(WIRE_TRANSACTION.raw(&self.fixed, "address"))
    }

    /// A field of the fixed struct of this command's layout.
    pub fn field(&self, name: &str) -> u64 {
        self.layout().get(&self.fixed, name)
    }

    /// The layout of the fixed struct after the header.
    pub fn layout(&self) -> Layout {
        match self.command {
            format::COMMAND_TRANSACT => WIRE_TRANSACTION,
            format::COMMAND_REPLY => WIRE_REPLY,
            _ => format::DEC_STRONG,
        }
    }
}

/// A decoded connection.
#[derive(Clone, Debug)]
pub struct Decoded {
    /// The set-up structs.
    pub setup: Setup,
    /// Commands from the client to the server, in order.
    pub to_server: Vec<Message>,
    /// Commands from the server to the client, in order.
    pub to_client: Vec<Message>,
}

/// A cursor over one direction's bytes.
struct Cursor<'a> {
    bytes: &'a [u8],
    pos: usize,
    what: &'static str,
}

impl<'a> Cursor<'a> {
    fn take(&mut self, n: usize, field: &str) -> Result<&'a [u8], String> {
        let end = self.pos + n;
        if end > self.bytes.len() {
            return Err(format!(
                "{}: {field} needs {n} bytes at offset {}, the stream has {}",
                self.what,
                self.pos,
                self.bytes.len()
            ));
        }
        let out = &self.bytes[self.pos..end];
        self.pos = end;
        Ok(out)
    }
}

/// Decodes a connection whose client sent `to_server` and whose server
/// sent `to_client`. `version` is the session's protocol version for a
/// connection that joins an existing session (no response of its own);
/// a new session's version is the one its response names.
pub fn decode(
    to_server: &Direction,
    to_client: &Direction,
    version: Option<u32>,
) -> Result<Decoded, String> {
    let mut up = Cursor {
        bytes: &to_server.bytes,
        pos: 0,
        what: "client->server",
    };
    let mut down = Cursor {
        bytes: &to_client.bytes,
        pos: 0,
        what: "server->client",
    };
    let header = up
        .take(CONNECTION_HEADER.size, "RpcConnectionHeader")?
        .to_vec();
    let id_len = CONNECTION_HEADER.get(&header, "sessionIdSize") as usize;
    let session_id = up.take(id_len, "session id")?.to_vec();
    let response = if id_len == 0 {
        Some(
            down.take(NEW_SESSION_RESPONSE.size, "RpcNewSessionResponse")?
                .to_vec(),
        )
    } else {
        None
    };
    let version = match (&response, version) {
        (Some(r), _) => NEW_SESSION_RESPONSE.get(r, "version") as u32,
        (None, Some(v)) => v,
        (None, None) => return Err("a joining connection needs the session's version".into()),
    };
    // The side that sends transactions on this connection sends the init.
    let incoming =
        CONNECTION_HEADER.get(&header, "options") as u8 & format::CONNECTION_OPTION_INCOMING != 0;
    let init_side = if incoming { &mut down } else { &mut up };
    let init = init_side
        .take(OUTGOING_CONNECTION_INIT.size, "RpcOutgoingConnectionInit")?
        .to_vec();
    let setup = Setup {
        header,
        session_id,
        response,
        init,
    };
    Ok(Decoded {
        setup,
        to_server: messages(&mut up, to_server, version)?,
        to_client: messages(&mut down, to_client, version)?,
    })
}

/// Every `RpcWireHeader`-framed command from the cursor to the end.
fn messages(cur: &mut Cursor, dir: &Direction, version: u32) -> Result<Vec<Message>, String> {
    let mut out = Vec::new();
    while cur.pos < cur.bytes.len() {
        let offset = cur.pos;
        let header = cur.take(WIRE_HEADER.size, "RpcWireHeader")?;
        let command = WIRE_HEADER.get(header, "command") as u32;
        let body_size = WIRE_HEADER.get(header, "bodySize") as u32;
        let reserved = WIRE_HEADER.raw(header, "reserved").to_vec();
        let body = cur.take(body_size as usize, "command body")?;
        let (fixed_len, data_len) = match command {
            format::COMMAND_TRANSACT => (
                WIRE_TRANSACTION.size,
                (version >= 1).then(|| WIRE_TRANSACTION.get(body, "parcelDataSize") as usize),
            ),
            format::COMMAND_REPLY if version == 0 => (4, None),
            format::COMMAND_REPLY => (
                WIRE_REPLY.size,
                Some(WIRE_REPLY.get(body, "parcelDataSize") as usize),
            ),
            format::COMMAND_DEC_STRONG => (format::DEC_STRONG.size, Some(0)),
            other => return Err(format!("unknown RPC command {other} at offset {offset}")),
        };
        if body.len() < fixed_len {
            return Err(format!(
                "command {command} at {offset}: body of {} bytes is shorter than its {fixed_len}-byte struct",
                body.len()
            ));
        }
        let rest = &body[fixed_len..];
        let data_len = data_len.unwrap_or(rest.len());
        if data_len > rest.len() || (rest.len() - data_len) % 4 != 0 {
            return Err(format!(
                "command {command} at {offset}: parcelDataSize {data_len} does not fit the {} bytes after the struct as data + u32 table",
                rest.len()
            ));
        }
        let objects = rest[data_len..]
            .chunks_exact(4)
            .map(|c| format::le(c) as u32)
            .collect();
        let end = cur.pos;
        out.push(Message {
            offset,
            command,
            body_size,
            reserved,
            fixed: body[..fixed_len].to_vec(),
            data: rest[..data_len].to_vec(),
            objects,
            fds: dir
                .fds
                .iter()
                .filter(|b| b.offset >= offset && b.offset < end)
                .map(|b| (b.offset, b.count))
                .collect(),
        });
    }
    Ok(out)
}
