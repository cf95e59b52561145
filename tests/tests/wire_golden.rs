//! The RPC wire this project speaks (rsbinder 0.12's implementation of
//! libbinder's RPC binder), checked against AOSP's own definitions:
//! parcels against the golden hex of binderRpcWireProtocolTest.cpp, wire
//! structs against RpcWireFormat.h, and the bytes of a real `getRegion`
//! call through the daemon's socket, decoded field by field by a decoder
//! written from RpcWireFormat.h (`enea_buffer_tests::wire`).

use std::os::fd::AsFd;

use enea_buffer_client::{ConnectOptions, Connection, Transport};
use enea_buffer_tests::daemon::fresh_dir;
use enea_buffer_tests::wire::aosp::{self, fill};
use enea_buffer_tests::wire::format::{self, Address, Layout};
use enea_buffer_tests::wire::parcel::{hex, Reader};
use enea_buffer_tests::wire::relay::Relay;
use enea_buffer_tests::wire::stream::{self, Decoded, Message};
use enea_buffer_tests::{require_root, Daemon, DaemonOptions, WAIT};
use rsbinder::entry::uri::{WireProfile, WireVersion};
use rsbinder::rpc::{FileDescriptorTransportMode, RpcProxy};
use rsbinder::{
    Client, Endpoint, ExceptionCode, Parcel, ParcelFileDescriptor, RemoteProxy, SIBinder, Status,
    StatusCode, Uri,
};
use vendor_enea_buffer::aidl::vendor::enea::buffer::Region::Region;

/// The interface token of every IEneaBuffer call: the AIDL package and name.
const DESCRIPTOR: &str = "vendor.enea.buffer.IEneaBuffer";

/// AOSP's test parcelable: `writeToParcel` writes `writeInt32(37)`, no size prefix.
struct AParcelable;

impl rsbinder::Parcelable for AParcelable {
    fn write_to_parcel(&self, parcel: &mut Parcel) -> rsbinder::Result<()> {
        parcel.write(&37i32)
    }
    fn read_from_parcel(&mut self, _: &mut Parcel) -> rsbinder::Result<()> {
        Ok(())
    }
}
// The same Serialize path rsbinder-aidl generates for every parcelable (Region too).
rsbinder::impl_serialize_for_parcelable!(AParcelable);

/// A session to the daemon at wire `version` and its root's RPC proxy.
struct Session {
    _client: Client,
    root: SIBinder,
}

impl Session {
    fn open(daemon: &Daemon, version: WireVersion, fds: bool) -> Session {
        let uri =
            Uri::new(Endpoint::unix(&daemon.socket)).with_wire(WireProfile::Android13Plus(version));
        let client = Client::open_with(uri, |o, _| {
            o.timeout = Some(WAIT);
            if fds {
                o.fd_mode = Some(FileDescriptorTransportMode::Unix);
            }
        })
        .unwrap_or_else(|s| panic!("RPC session at wire v{}: {s:?}", version.get()));
        let session = client.session().expect("an RPC session");
        assert_eq!(
            session.wire_protocol_version(),
            Some(version.get()),
            "negotiated wire version"
        );
        let root = session.get_root().expect("the root object");
        Session {
            _client: client,
            root,
        }
    }

    fn proxy(&self) -> &RpcProxy {
        self.root
            .as_any()
            .downcast_ref::<RpcProxy>()
            .expect("the root is an RPC proxy")
    }

    /// A fresh parcel of this session, as rsbinder's stubs start one (no token).
    fn parcel(&self) -> Parcel {
        self.proxy()
            .prepare_transact(false)
            .expect("a request parcel")
    }
}

/// The parcel's data bytes, read back through the public `[u8; 4]` reader.
fn bytes_of(p: &mut Parcel) -> Vec<u8> {
    let size = p.data_size();
    assert_eq!(size % 4, 0, "parcel data is padded to 4 bytes");
    p.set_data_position(0);
    let mut out = Vec::with_capacity(size);
    while out.len() < size {
        let word = <[u8; 4]>::try_from(&mut *p).expect("reading parcel data");
        out.extend_from_slice(&word);
    }
    out
}

/// Writes into a fresh parcel of `s` and returns its bytes as hex.
fn written(s: &Session, write: impl FnOnce(&mut Parcel) -> rsbinder::Result<()>) -> String {
    let mut p = s.parcel();
    write(&mut p).expect("writing the parcel");
    hex(&bytes_of(&mut p))
}

/// rsbinder's bytes for every `kFillFuns` entry this interface uses, by index.
fn rsbinder_entries(s: &Session) -> Vec<(usize, String)> {
    let token = {
        let mut p = s
            .proxy()
            .build_request("tok")
            .expect("request with a token");
        hex(&bytes_of(&mut p))
    };
    vec![
        (fill::INTERFACE_TOKEN_TOK, token),
        (fill::INT32_MINUS_1, written(s, |p| p.write(&-1i32))),
        (fill::INT32_0, written(s, |p| p.write(&0i32))),
        (fill::INT32_17, written(s, |p| p.write(&17i32))),
        (fill::INT64_MINUS_1, written(s, |p| p.write(&-1i64))),
        (fill::INT64_0, written(s, |p| p.write(&0i64))),
        (fill::INT64_17, written(s, |p| p.write(&17i64))),
        (fill::STRING16_EMPTY, written(s, |p| p.write(""))),
        (fill::STRING16_A, written(s, |p| p.write("a"))),
        (fill::STRING16_BABA, written(s, |p| p.write("baba"))),
        (
            fill::STRONG_BINDER_NULL,
            written(s, |p| p.write(&None::<SIBinder>)),
        ),
        (
            fill::NULLABLE_PARCELABLE_NULL,
            written(s, |p| p.write(&None::<AParcelable>)),
        ),
        (
            fill::NULLABLE_PARCELABLE_SET,
            written(s, |p| p.write(&Some(AParcelable))),
        ),
        (fill::PARCELABLE, written(s, |p| p.write(&AParcelable))),
        // What rsbinder-aidl's stubs write before a result (writeNoException).
        (
            fill::NO_EXCEPTION,
            written(s, |p| p.write(&Status::from(StatusCode::Ok))),
        ),
        (
            fill::STATUS_OK,
            written(s, |p| p.write(&Status::from(ExceptionCode::None))),
        ),
        (
            fill::STATUS_SERVICE_SPECIFIC_8,
            written(s, |p| {
                p.write(&Status::new_service_specific_error(8, Some(":/".into())))
            }),
        ),
    ]
}

/// Entry 115 (`fromExceptionCode(7, ":D")`) from its second word on:
/// rsbinder's `ExceptionCode` has no 7, so the code word cannot be
/// reproduced; the message and stack-trace header after it can.
fn exception_tail(s: &Session) -> String {
    let bytes = written(s, |p| {
        p.write(&Status::from((ExceptionCode::UnsupportedOperation, ":D")))
    });
    bytes[8..].to_string()
}

#[test]
fn rsbinder_parcels_match_aosp_golden_at_every_wire_version() {
    assert_eq!(aosp::K_CURRENT_REPR.split('|').count(), aosp::FILL_FUNS);
    let daemon = Daemon::start_with(DaemonOptions::socket());
    let mut mismatches = Vec::new();
    for version in [WireVersion::V0, WireVersion::V1, WireVersion::V2] {
        let s = Session::open(&daemon, version, false);
        let mut compared = 0;
        for (index, got) in rsbinder_entries(&s) {
            compared += 1;
            if got != aosp::entry(index) {
                mismatches.push(format!(
                    "v{}: kFillFuns[{index}] AOSP {} rsbinder {got}",
                    version.get(),
                    aosp::entry(index)
                ));
            }
        }
        let tail = &aosp::entry(fill::STATUS_EXCEPTION_7)[8..];
        if exception_tail(&s) != tail {
            mismatches.push(format!(
                "v{}: kFillFuns[115] after the code word: AOSP {tail} rsbinder {}",
                version.get(),
                exception_tail(&s)
            ));
        }
        assert_eq!(compared, 17, "entries compared at v{}", version.get());
    }
    assert!(
        mismatches.is_empty(),
        "rsbinder's parcel bytes differ from AOSP kCurrentRepr:\n{}",
        mismatches.join("\n")
    );
}

/// The bytes AOSP writes for `Region { fd, size: 17, layoutVersion: 17 }`
/// as a reply value in RPC mode with fd transport (wire v1+), built from
/// the golden scalar words and these AOSP rules (android-14..16):
/// libbinder_rs `impl_serialize_for_parcelable!` writes
/// `NON_NULL_PARCELABLE_FLAG` (int32 1), then `write_to_parcel`, whose
/// `sized_write` prefixes `end - start` (prefix included); a
/// ParcelFileDescriptor is NDK `AParcel_writeParcelFileDescriptor`: int32 1
/// (not null), then `writeParcelFileDescriptor`: int32 0 (no comm fd),
/// then `writeFileDescriptor`'s RPC branch: int32
/// `TYPE_NATIVE_FILE_DESCRIPTOR` (2) and the fd's index in the parcel.
fn aosp_region_17() -> String {
    let one = "01000000";
    let prefix = format!("{:08x}", (4u32 + 16 + 8 + 4).swap_bytes());
    let type_fd = format!("{:08x}", format::TYPE_NATIVE_FILE_DESCRIPTOR.swap_bytes());
    [
        one,
        &prefix,
        one,
        aosp::entry(fill::INT32_0),
        &type_fd,
        aosp::entry(fill::INT32_0),
        aosp::entry(fill::INT64_17),
        aosp::entry(fill::INT32_17),
    ]
    .concat()
}

#[test]
fn rsbinder_region_with_fd_matches_aosp_rules_at_v1_and_v2() {
    let daemon = Daemon::start_with(DaemonOptions::socket());
    for version in [WireVersion::V1, WireVersion::V2] {
        let s = Session::open(&daemon, version, true);
        let null = std::fs::File::open("/dev/null").expect("/dev/null");
        let region = Region {
            fd: Some(ParcelFileDescriptor::new(null)),
            size: 17,
            layoutVersion: 17,
        };
        let got = written(&s, |p| p.write(&region));
        assert_eq!(
            aosp_region_17(),
            got,
            "Region at wire v{} (left AOSP, right rsbinder)",
            version.get()
        );
    }
}

/// The wire structs again, as `#[repr(C)]` Rust, so the compiler lays
/// them out by C's rules independently of the decoder's offset tables.
mod c_mirror {
    #[repr(C)]
    pub struct RpcWireAddress {
        pub options: u32,
        pub address: u32,
    }
    #[repr(C)]
    pub struct RpcConnectionHeader {
        pub version: u32,
        pub options: u8,
        pub file_descriptor_transport_mode: u8,
        pub reservered: [u8; 8],
        pub session_id_size: u16,
    }
    #[repr(C)]
    pub struct RpcNewSessionResponse {
        pub version: u32,
        pub reserved: [u8; 4],
    }
    #[repr(C)]
    pub struct RpcOutgoingConnectionInit {
        pub msg: [u8; 4],
        pub reserved: [u8; 4],
    }
    #[repr(C)]
    pub struct RpcWireHeader {
        pub command: u32,
        pub body_size: u32,
        pub reserved: [u32; 2],
    }
    #[repr(C)]
    pub struct RpcDecStrong {
        pub address: RpcWireAddress,
        pub amount: u32,
        pub reserved: u32,
    }
    #[repr(C)]
    pub struct RpcWireTransaction {
        pub address: RpcWireAddress,
        pub code: u32,
        pub flags: u32,
        pub async_number: u64,
        pub parcel_data_size: u32,
        pub reserved: [u32; 3],
    }
    #[repr(C)]
    pub struct RpcWireReply {
        pub status: i32,
        pub parcel_data_size: u32,
        pub reserved: [u32; 3],
    }
}

/// (size, [(field, offset)]) of a `#[repr(C)]` mirror.
type Mirror = (usize, Vec<(&'static str, usize)>);

/// The [`Mirror`] of `c_mirror::<t>`, fields named as in RpcWireFormat.h.
macro_rules! mirror {
    ($t:ident { $($field:ident : $name:literal),* $(,)? }) => {
        (
            std::mem::size_of::<c_mirror::$t>(),
            vec![$(($name, std::mem::offset_of!(c_mirror::$t, $field))),*],
        )
    };
}

#[test]
fn wire_struct_layouts_match_rpcwireformat_h() {
    for layout in format::ALL {
        let mut end = 0;
        for f in layout.fields {
            assert_eq!(
                f.offset, end,
                "{}.{}: a gap or overlap (-Wpadded)",
                layout.name, f.name
            );
            assert_eq!(
                f.offset % f.align,
                0,
                "{}.{} misaligned",
                layout.name,
                f.name
            );
            end = f.offset + f.size;
        }
        assert_eq!(end, layout.size, "{}: static_assert(sizeof) ", layout.name);
        let align = layout.fields.iter().map(|f| f.align).max().unwrap();
        assert_eq!(layout.size % align, 0, "{}: no tail padding", layout.name);
    }
    let mirrors: [(Layout, Mirror); 8] = [
        (
            format::WIRE_ADDRESS,
            mirror!(RpcWireAddress {
                options: "options",
                address: "address"
            }),
        ),
        (
            format::CONNECTION_HEADER,
            mirror!(RpcConnectionHeader {
                version: "version",
                options: "options",
                file_descriptor_transport_mode: "fileDescriptorTransportMode",
                reservered: "reservered",
                session_id_size: "sessionIdSize",
            }),
        ),
        (
            format::NEW_SESSION_RESPONSE,
            mirror!(RpcNewSessionResponse {
                version: "version",
                reserved: "reserved"
            }),
        ),
        (
            format::OUTGOING_CONNECTION_INIT,
            mirror!(RpcOutgoingConnectionInit {
                msg: "msg",
                reserved: "reserved"
            }),
        ),
        (
            format::WIRE_HEADER,
            mirror!(RpcWireHeader {
                command: "command",
                body_size: "bodySize",
                reserved: "reserved"
            }),
        ),
        (
            format::DEC_STRONG,
            mirror!(RpcDecStrong {
                address: "address",
                amount: "amount",
                reserved: "reserved"
            }),
        ),
        (
            format::WIRE_TRANSACTION,
            mirror!(RpcWireTransaction {
                address: "address",
                code: "code",
                flags: "flags",
                async_number: "asyncNumber",
                parcel_data_size: "parcelDataSize",
                reserved: "reserved",
            }),
        ),
        (
            format::WIRE_REPLY,
            mirror!(RpcWireReply {
                status: "status",
                parcel_data_size: "parcelDataSize",
                reserved: "reserved",
            }),
        ),
    ];
    for (layout, (size, fields)) in mirrors {
        assert_eq!(size, layout.size, "sizeof({})", layout.name);
        assert_eq!(fields.len(), layout.fields.len(), "{} fields", layout.name);
        for (name, offset) in fields {
            assert_eq!(
                offset,
                layout.field(name).offset,
                "offsetof({}, {name})",
                layout.name
            );
        }
    }
}

/// `getRegion`'s transaction code: AIDL numbers methods from
/// `FIRST_CALL_TRANSACTION` (1) in declaration order.
fn get_region_code() -> u32 {
    let aidl = std::fs::read_to_string(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../aidl/vendor/enea/buffer/IEneaBuffer.aidl"
    ))
    .expect("IEneaBuffer.aidl");
    let mut text = String::new();
    let mut rest = aidl.as_str();
    while let Some(start) = rest.find("/*") {
        text.push_str(&rest[..start]);
        let end = rest[start..].find("*/").expect("closed comment");
        rest = &rest[start + end + 2..];
    }
    text.push_str(rest);
    let body = &text[text.find("interface IEneaBuffer").expect("the interface")..];
    let methods: Vec<&str> = body
        .split(';')
        .map(|s| s.trim_start_matches(['{', ' ', '\n']).trim())
        .filter(|s| s.contains('(') && !s.starts_with("const"))
        .collect();
    let index = methods
        .iter()
        .position(|m| m.contains(" getRegion("))
        .expect("getRegion in IEneaBuffer.aidl");
    1 + index as u32
}

/// The `n`-th reply on a connection answers its `n`-th two-way transaction.
fn reply_to<'a>(conn: &'a Decoded, txn: &Message) -> &'a Message {
    let n = conn
        .to_server
        .iter()
        .filter(|m| m.command == format::COMMAND_TRANSACT && m.field("flags") & 1 == 0)
        .position(|m| m.offset == txn.offset)
        .expect("a two-way transaction");
    conn.to_client
        .iter()
        .filter(|m| m.command == format::COMMAND_REPLY)
        .nth(n)
        .expect("its reply was captured")
}

fn assert_zero(bytes: &[u8], what: &str) {
    assert!(
        bytes.iter().all(|&b| b == 0),
        "{what} not zero: {bytes:02x?}"
    );
}

#[test]
fn a_real_get_region_call_decodes_field_by_field() {
    require_root("the relay's socket must be root's for the client to trust it");
    let daemon = Daemon::start_with(DaemonOptions::socket());
    let dir = fresh_dir();
    let relay = Relay::start(&dir, &daemon.socket);
    let conn = Connection::connect(&ConnectOptions {
        socket: relay.path.clone(),
        transport: Transport::Socket,
        ..ConnectOptions::default()
    })
    .expect("connecting through the relay");
    let region = conn.service().r#getRegion().expect("getRegion");

    let captured = relay.captured();
    assert!(!captured.is_empty(), "the relay saw no connection");
    for c in &captured {
        assert_eq!(c.to_server.error, None, "relay client->server");
        assert_eq!(c.to_client.error, None, "relay server->client");
    }
    let first = stream::decode(&captured[0].to_server, &captured[0].to_client, None)
        .expect("decoding the first connection");
    let version = format::NEW_SESSION_RESPONSE.get(
        first.setup.response.as_ref().expect("a new session"),
        "version",
    ) as u32;
    let conns: Vec<Decoded> = captured
        .iter()
        .map(|c| stream::decode(&c.to_server, &c.to_client, Some(version)).expect("decoding"))
        .collect();

    // Connection set-up: RpcConnectionHeader, RpcNewSessionResponse, RpcOutgoingConnectionInit.
    let setup = &first.setup;
    let h = |name| setup.header_field(name);
    assert_eq!(
        h("version"),
        2,
        "client's max version (rsbinder: AOSP android-16's)"
    );
    assert_eq!(h("options"), 0, "an outgoing connection");
    assert_eq!(
        h("fileDescriptorTransportMode"),
        u64::from(format::FD_MODE_UNIX),
        "fd transport mode"
    );
    assert_zero(
        format::CONNECTION_HEADER.raw(&setup.header, "reservered"),
        "header reserved",
    );
    assert_eq!(h("sessionIdSize"), 0, "a new session");
    assert_eq!(version, 2, "negotiated version");
    assert_zero(
        format::NEW_SESSION_RESPONSE.raw(setup.response.as_ref().unwrap(), "reserved"),
        "response reserved",
    );
    assert_eq!(
        format::OUTGOING_CONNECTION_INIT.raw(&setup.init, "msg"),
        format::CONNECTION_INIT_OKAY,
        "connection init"
    );
    assert_zero(
        format::OUTGOING_CONNECTION_INIT.raw(&setup.init, "reserved"),
        "init reserved",
    );

    // Every command on every connection: framing sizes add up (v1+).
    for c in &conns {
        for m in c.to_server.iter().chain(&c.to_client) {
            assert_zero(&m.reserved, "RpcWireHeader.reserved");
            let table = 4 * m.objects.len();
            assert_eq!(
                m.body_size as usize,
                m.fixed.len() + m.data.len() + table,
                "bodySize = struct + parcelDataSize + object table"
            );
        }
    }

    // GET_ROOT: a transaction to the zero address; its reply is a binder.
    let get_root = first
        .to_server
        .iter()
        .find(|m| m.command == format::COMMAND_TRANSACT && m.address().is_special())
        .expect("a special transaction");
    assert_eq!(get_root.field("code"), u64::from(format::SPECIAL_GET_ROOT));
    let root_reply = reply_to(&first, get_root);
    assert_eq!(root_reply.field("status"), 0, "GET_ROOT status");
    let mut r = Reader::new(&root_reply.data);
    assert_eq!(r.i32("binder type").unwrap(), 1, "TYPE_BINDER (non-null)");
    let root_addr = Address::decode(&root_reply.data[r.pos()..r.pos() + 8]);
    r.i64("address").unwrap();
    assert_eq!(
        r.i32("stability").unwrap(),
        0b111111,
        "the root's stability: Stability::VINTF (@VintfStability)"
    );
    assert_eq!(r.remaining(), 0, "GET_ROOT reply length");
    assert_eq!(
        root_addr.options,
        format::ADDRESS_OPTION_CREATED | format::ADDRESS_OPTION_FOR_SERVER,
        "a server-created address (RpcState::onBinderLeaving)"
    );

    // The getRegion transaction.
    let code = get_region_code();
    let found: Vec<(&Decoded, &Message)> = conns
        .iter()
        .flat_map(|c| c.to_server.iter().map(move |m| (c, m)))
        .filter(|(_, m)| m.command == format::COMMAND_TRANSACT && m.field("code") == code.into())
        .collect();
    assert_eq!(found.len(), 1, "one getRegion transaction (code {code})");
    let (c, txn) = found[0];
    assert_eq!(txn.address(), root_addr, "sent to the root object");
    let flags = txn.field("flags") as u32;
    // AOSP's NDK takes only ONEWAY|CLEAR_BUF|PRIVATE_VENDOR and BpBinder
    // strips PRIVATE_VENDOR: a libbinder peer sends no other bit.
    assert_eq!(
        flags & !0x21,
        0,
        "flags {flags:#x}: bits libbinder never sends"
    );
    assert_eq!(flags & 1, 0, "two-way");
    assert_eq!(txn.field("asyncNumber"), 0, "asyncNumber of a two-way call");
    assert_eq!(txn.field("parcelDataSize") as usize, txn.data.len());
    assert_zero(
        format::WIRE_TRANSACTION.raw(&txn.fixed, "reserved"),
        "transaction reserved",
    );
    let mut r = Reader::new(&txn.data);
    assert_eq!(
        r.string16("interface token").unwrap().as_deref(),
        Some(DESCRIPTOR)
    );
    assert_eq!(r.remaining(), 0, "getRegion has no arguments");
    assert!(
        txn.objects.is_empty() && txn.fds.is_empty(),
        "no objects or fds in the request"
    );

    // Its reply: status, then the Region parcelable.
    let reply = reply_to(c, txn);
    assert_eq!(reply.field("status"), 0, "RpcWireReply.status (OK)");
    assert_eq!(reply.field("parcelDataSize") as usize, reply.data.len());
    assert_zero(
        format::WIRE_REPLY.raw(&reply.fixed, "reserved"),
        "reply reserved",
    );
    let mut r = Reader::new(&reply.data);
    assert_eq!(r.i32("exception").unwrap(), 0, "EX_NONE");
    assert_eq!(r.i32("parcelable").unwrap(), 1, "NON_NULL_PARCELABLE_FLAG");
    let start = r.pos();
    let prefix = r.i32("size prefix").unwrap();
    assert_eq!(
        r.i32("fd not null").unwrap(),
        1,
        "ParcelFileDescriptor present"
    );
    assert_eq!(r.i32("comm fd").unwrap(), 0, "no comm fd");
    let type_pos = r.pos() as u32;
    assert_eq!(
        r.i32("object type").unwrap() as u32,
        format::TYPE_NATIVE_FILE_DESCRIPTOR
    );
    assert_eq!(r.i32("fd index").unwrap(), 0, "the parcel's first fd");
    let size = r.i64("size").unwrap();
    let layout = r.i32("layoutVersion").unwrap();
    assert_eq!(
        prefix as usize,
        r.pos() - start,
        "size prefix covers the parcelable"
    );
    assert_eq!(r.remaining(), 0, "nothing after the Region");
    assert_eq!(
        reply.objects,
        vec![type_pos],
        "object table: the fd's position"
    );
    assert_eq!(
        reply.fds,
        vec![(reply.offset, 1)],
        "one fd, sent with the reply's RpcWireHeader"
    );
    assert_eq!(size, region.size, "size on the wire and in the client");
    assert_eq!(size as usize, conn.size(), "getBufferSize agrees");
    assert_eq!(
        layout, region.layoutVersion,
        "layoutVersion on the wire and in the client"
    );
    assert_eq!(layout, 1, "IEneaBuffer.LAYOUT_VERSION");
    let fd = region.fd.as_ref().expect("the client received the fd");
    let owned: &std::os::fd::OwnedFd = fd.as_ref();
    let stat = rustix::fs::fstat(owned.as_fd()).expect("fstat of the received fd");
    assert_eq!(stat.st_size, size, "the received file is the region");
}
