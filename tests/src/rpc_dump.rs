//! The dump transaction over the socket, which the client library cannot
//! send: the dump reads a bare fd object at the start of its parcel, and
//! rsbinder 0.12 has no public writer for one (a `ParcelFileDescriptor`
//! puts `[1][hasComm]` before its fd object).
//!
//! So the request is built with public API (interface token, a
//! `ParcelFileDescriptor`, argc) and sent through a forwarder in this
//! process that cuts the `[1][hasComm]` out of the parcel, fixing the
//! frame's sizes and object table. The daemon sees this
//! process's uid on the connection, as with any client.

use std::io::{IoSlice, IoSliceMut, Read};
use std::mem::MaybeUninit;
use std::os::fd::OwnedFd;
use std::os::unix::net::{UnixListener, UnixStream};
use std::path::{Path, PathBuf};

use rsbinder::entry::uri::{Endpoint, WireProfile, WireVersion};
use rsbinder::rpc::{FileDescriptorTransportMode, RpcProxy};
use rsbinder::{ParcelFileDescriptor, StatusCode};
use rustix::net::{
    recvmsg, sendmsg, RecvAncillaryBuffer, RecvAncillaryMessage, RecvFlags, SendAncillaryBuffer,
    SendAncillaryMessage, SendFlags,
};

use crate::wire::format::{le, WIRE_HEADER, WIRE_TRANSACTION};

/// Sends `calls` dump transactions to the root object at `socket`, each
/// carrying a fresh socket for the text; returns what came back on each (a
/// refusal says why), or why the calls could not be made.
pub fn dump_over_rpc(socket: &Path, calls: usize) -> Result<Vec<String>, String> {
    let failed = |what: &str, s: StatusCode| format!("{what}: {s:?}");
    let dir = std::env::temp_dir().join(format!("enea-rpc-dump-{}", std::process::id()));
    std::fs::create_dir_all(&dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    let forwarder = dir.join("forward.sock");
    let _ = std::fs::remove_file(&forwarder);
    let listener = UnixListener::bind(&forwarder).map_err(|e| format!("bind: {e}"))?;
    let upstream = socket.to_path_buf();
    std::thread::spawn(move || forward_each(listener, upstream));

    let uri = rsbinder::Uri::new(Endpoint::unix(&forwarder))
        .with_wire(WireProfile::Android13Plus(WireVersion::MAX));
    let client = rsbinder::Client::open_with(uri, |o, _| {
        o.fd_mode = Some(FileDescriptorTransportMode::Unix);
    })
    .map_err(|s| failed("connect", s))?;
    let _ = std::fs::remove_dir_all(&dir);
    let session = client
        .session()
        .ok_or_else(|| failed("session", StatusCode::BadType))?;
    let root = session.get_root().map_err(|s| failed("root", s))?;
    let proxy = root
        .as_any()
        .downcast_ref::<RpcProxy>()
        .ok_or_else(|| failed("root", StatusCode::BadType))?;
    let mut said = Vec::with_capacity(calls);
    for _ in 0..calls {
        let (reader, writer) = UnixStream::pair().map_err(|e| format!("socketpair: {e}"))?;
        let mut data = proxy
            .build_request(enea_buffer_client::descriptor())
            .map_err(|s| failed("build", s))?;
        data.write(&ParcelFileDescriptor::new(OwnedFd::from(writer)))
            .map_err(|s| failed("write", s))?;
        data.write(&0i32).map_err(|s| failed("write", s))?;
        // Refused (PermissionDenied) or not, the reply comes once the text
        // is written; only a lost connection ends the calls.
        if let Err(s @ (StatusCode::DeadObject | StatusCode::RpcError)) =
            proxy.transact(rsbinder::DUMP_TRANSACTION, &data, 0)
        {
            return Err(failed("dump", s));
        }
        // Our copy of the writer went with the parcel; the daemon closed its own.
        drop(data);
        let mut text = String::new();
        (&reader)
            .read_to_string(&mut text)
            .map_err(|e| format!("reading the dump: {e}"))?;
        said.push(text);
    }
    Ok(said)
}

/// Relays every connection `listener` accepts to `upstream`.
fn forward_each(listener: UnixListener, upstream: PathBuf) {
    for client in listener.incoming() {
        let (Ok(client), Ok(server)) = (client, UnixStream::connect(&upstream)) else {
            return;
        };
        let (Ok(client2), Ok(server2)) = (client.try_clone(), server.try_clone()) else {
            return;
        };
        // Replies carry no fds: plain bytes.
        std::thread::spawn(move || std::io::copy(&mut &server2, &mut &client2));
        std::thread::spawn(move || forward_up(client, server));
    }
}

/// Client to daemon: bytes as they come, except the frame that carries
/// fds (the dump's), which is cut down first (see the module doc).
fn forward_up(client: UnixStream, server: UnixStream) {
    let mut pending: Vec<u8> = Vec::new();
    let mut fds: Vec<OwnedFd> = Vec::new();
    let mut chunk = vec![0u8; 1 << 16];
    loop {
        let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(8))];
        let mut anc = RecvAncillaryBuffer::new(&mut space);
        let got = match recvmsg(
            &client,
            &mut [IoSliceMut::new(&mut chunk)],
            &mut anc,
            RecvFlags::CMSG_CLOEXEC,
        ) {
            Ok(r) if r.bytes > 0 => r.bytes,
            _ => return,
        };
        for msg in anc.drain() {
            if let RecvAncillaryMessage::ScmRights(got) = msg {
                fds.extend(got);
            }
        }
        pending.extend_from_slice(&chunk[..got]);
        if fds.is_empty() {
            if send(&server, &pending, &[]).is_err() {
                return;
            }
            pending.clear();
            continue;
        }
        // The frame with fds starts after whatever came before it in this read.
        let Some(at) = dump_frame_start(&pending) else {
            continue;
        };
        let body = le(&pending[at + 4..at + 8]) as usize;
        if pending.len() < at + WIRE_HEADER.size + body {
            continue;
        }
        let end = at + WIRE_HEADER.size + body;
        let mut out = pending[..at].to_vec();
        out.extend(cut_to_first_object(&pending[at..end]));
        out.extend_from_slice(&pending[end..]);
        let sent = send(&server, &out, &fds);
        pending.clear();
        fds.clear();
        if sent.is_err() {
            return;
        }
    }
}

/// Where a TRANSACT frame with the dump's code starts in `bytes`.
fn dump_frame_start(bytes: &[u8]) -> Option<usize> {
    let code_at = WIRE_HEADER.size + WIRE_TRANSACTION.field("code").offset;
    let code = rsbinder::DUMP_TRANSACTION.to_le_bytes();
    (0..bytes.len().saturating_sub(code_at + 4))
        .find(|&i| bytes[i..i + 4] == [0; 4] && bytes[i + code_at..i + code_at + 4] == code)
}

/// `frame` (header, transaction, parcel, object table) without the
/// `ParcelFileDescriptor`'s `[1][hasComm]` before its fd object (the first
/// object), the sizes and later object positions moved to match.
fn cut_to_first_object(frame: &[u8]) -> Vec<u8> {
    const PREFIX: usize = 8;
    let txn = WIRE_HEADER.size;
    let data = txn + WIRE_TRANSACTION.size;
    let size_at = txn + WIRE_TRANSACTION.field("parcelDataSize").offset;
    let parcel = le(&frame[size_at..size_at + 4]) as usize;
    let table: Vec<usize> = frame[data + parcel..]
        .chunks_exact(4)
        .map(|w| le(w) as usize)
        .collect();
    let object = table.first().copied().unwrap_or(PREFIX);
    let body = le(&frame[4..8]) as usize - PREFIX;
    let mut out = frame[..data].to_vec();
    out[4..8].copy_from_slice(&(body as u32).to_le_bytes());
    out[size_at..size_at + 4].copy_from_slice(&((parcel - PREFIX) as u32).to_le_bytes());
    out.extend_from_slice(&frame[data..data + object - PREFIX]);
    out.extend_from_slice(&frame[data + object..data + parcel]);
    for pos in table {
        out.extend_from_slice(&((pos - PREFIX) as u32).to_le_bytes());
    }
    out
}

/// Writes all of `bytes`, `fds` with the first part.
fn send(to: &UnixStream, bytes: &[u8], fds: &[OwnedFd]) -> std::io::Result<()> {
    use std::os::fd::AsFd;
    let borrowed: Vec<_> = fds.iter().map(|f| f.as_fd()).collect();
    let mut space = [MaybeUninit::uninit(); rustix::cmsg_space!(ScmRights(8))];
    let mut sent = 0;
    while sent < bytes.len() {
        let mut anc = SendAncillaryBuffer::new(&mut space);
        if sent == 0 && !borrowed.is_empty() {
            anc.push(SendAncillaryMessage::ScmRights(&borrowed));
        }
        sent += sendmsg(
            to,
            &[IoSlice::new(&bytes[sent..])],
            &mut anc,
            SendFlags::NOSIGNAL,
        )?;
    }
    Ok(())
}
