//! libbinder's RPC wire structs, written from AOSP's
//! `frameworks/native/libs/binder/RpcWireFormat.h` (identical in
//! android-14.0.0_r55, android-15 and the android-16 version that freezes
//! wire version 2), not from rsbinder: field tables and a decoder, so the
//! tests can read captured bytes without trusting the encoder under test.
//!
//! The header compiles with `-Wpadded` as an error, so every struct is its
//! fields back to back; `static_assert`s fix the sizes ([`Layout::size`]).

/// One field of a wire struct: byte offset and size (arrays: total size).
#[derive(Clone, Copy, Debug)]
pub struct Field {
    /// The field's name in RpcWireFormat.h.
    pub name: &'static str,
    /// Byte offset from the start of the struct.
    pub offset: usize,
    /// Size in bytes (for an array, the whole array).
    pub size: usize,
    /// C alignment of the field's element type.
    pub align: usize,
}

/// A wire struct: its fields and the size RpcWireFormat.h `static_assert`s.
#[derive(Clone, Copy, Debug)]
pub struct Layout {
    /// The struct's name in RpcWireFormat.h.
    pub name: &'static str,
    /// `static_assert(sizeof(<name>) == size)`.
    pub size: usize,
    /// Fields in declaration order.
    pub fields: &'static [Field],
}

impl Layout {
    /// The field called `name`; panics on a name the header does not have.
    pub fn field(&self, name: &str) -> Field {
        *self
            .fields
            .iter()
            .find(|f| f.name == name)
            .unwrap_or_else(|| panic!("{} has no field {name}", self.name))
    }

    /// Little-endian unsigned value of field `name` in `bytes` (a struct of this layout).
    pub fn get(&self, bytes: &[u8], name: &str) -> u64 {
        let f = self.field(name);
        assert!(
            bytes.len() >= f.offset + f.size,
            "{}: {} bytes do not reach {}.{name}",
            self.name,
            bytes.len(),
            self.name
        );
        le(&bytes[f.offset..f.offset + f.size])
    }

    /// The raw bytes of field `name` in `bytes`.
    pub fn raw<'a>(&self, bytes: &'a [u8], name: &str) -> &'a [u8] {
        let f = self.field(name);
        &bytes[f.offset..f.offset + f.size]
    }
}

const fn f(name: &'static str, offset: usize, size: usize, align: usize) -> Field {
    Field {
        name,
        offset,
        size,
        align,
    }
}

/// `struct RpcWireAddress { uint32_t options; uint32_t address; }`, == sizeof(uint64_t).
pub const WIRE_ADDRESS: Layout = Layout {
    name: "RpcWireAddress",
    size: 8,
    fields: &[f("options", 0, 4, 4), f("address", 4, 4, 4)],
};

/// `struct RpcConnectionHeader`, == 16; `sessionIdSize` bytes of session id follow.
pub const CONNECTION_HEADER: Layout = Layout {
    name: "RpcConnectionHeader",
    size: 16,
    fields: &[
        f("version", 0, 4, 4),
        f("options", 4, 1, 1),
        f("fileDescriptorTransportMode", 5, 1, 1),
        f("reservered", 6, 8, 1),
        f("sessionIdSize", 14, 2, 2),
    ],
};

/// `struct RpcNewSessionResponse`, == 8.
pub const NEW_SESSION_RESPONSE: Layout = Layout {
    name: "RpcNewSessionResponse",
    size: 8,
    fields: &[f("version", 0, 4, 4), f("reserved", 4, 4, 1)],
};

/// `struct RpcOutgoingConnectionInit`, == 8; `msg` is `RPC_CONNECTION_INIT_OKAY`.
pub const OUTGOING_CONNECTION_INIT: Layout = Layout {
    name: "RpcOutgoingConnectionInit",
    size: 8,
    fields: &[f("msg", 0, 4, 1), f("reserved", 4, 4, 1)],
};

/// `struct RpcWireHeader`, == 16; the body named by `command` follows.
pub const WIRE_HEADER: Layout = Layout {
    name: "RpcWireHeader",
    size: 16,
    fields: &[
        f("command", 0, 4, 4),
        f("bodySize", 4, 4, 4),
        f("reserved", 8, 8, 4),
    ],
};

/// `struct RpcDecStrong`, == 16.
pub const DEC_STRONG: Layout = Layout {
    name: "RpcDecStrong",
    size: 16,
    fields: &[
        f("address", 0, 8, 4),
        f("amount", 8, 4, 4),
        f("reserved", 12, 4, 4),
    ],
};

/// `struct RpcWireTransaction`, == 40; parcel data and object table follow.
pub const WIRE_TRANSACTION: Layout = Layout {
    name: "RpcWireTransaction",
    size: 40,
    fields: &[
        f("address", 0, 8, 4),
        f("code", 8, 4, 4),
        f("flags", 12, 4, 4),
        f("asyncNumber", 16, 8, 8),
        f("parcelDataSize", 24, 4, 4),
        f("reserved", 28, 12, 4),
    ],
};

/// `struct RpcWireReply`, == 20 (`wireSize`: 4 at protocol version 0).
pub const WIRE_REPLY: Layout = Layout {
    name: "RpcWireReply",
    size: 20,
    fields: &[
        f("status", 0, 4, 4),
        f("parcelDataSize", 4, 4, 4),
        f("reserved", 8, 12, 4),
    ],
};

/// Every struct with a `static_assert` in RpcWireFormat.h.
pub const ALL: [Layout; 8] = [
    WIRE_ADDRESS,
    CONNECTION_HEADER,
    NEW_SESSION_RESPONSE,
    OUTGOING_CONNECTION_INIT,
    WIRE_HEADER,
    DEC_STRONG,
    WIRE_TRANSACTION,
    WIRE_REPLY,
];

/// `RPC_COMMAND_TRANSACT`.
pub const COMMAND_TRANSACT: u32 = 0;
/// `RPC_COMMAND_REPLY`.
pub const COMMAND_REPLY: u32 = 1;
/// `RPC_COMMAND_DEC_STRONG`.
pub const COMMAND_DEC_STRONG: u32 = 2;
/// `RPC_SPECIAL_TRANSACT_GET_ROOT` (a transaction to address 0).
pub const SPECIAL_GET_ROOT: u32 = 0;
/// `RPC_CONNECTION_OPTION_INCOMING`.
pub const CONNECTION_OPTION_INCOMING: u8 = 0x1;
/// `RPC_WIRE_ADDRESS_OPTION_CREATED`.
pub const ADDRESS_OPTION_CREATED: u32 = 1 << 0;
/// `RPC_WIRE_ADDRESS_OPTION_FOR_SERVER`.
pub const ADDRESS_OPTION_FOR_SERVER: u32 = 1 << 1;
/// `RPC_CONNECTION_INIT_OKAY` ("cci" and its NUL).
pub const CONNECTION_INIT_OKAY: [u8; 4] = *b"cci\0";
/// `RpcSession::FileDescriptorTransportMode::UNIX` (include/binder/RpcSession.h).
pub const FD_MODE_UNIX: u8 = 1;
/// `Parcel::RpcFields::TYPE_NATIVE_FILE_DESCRIPTOR` (include/binder/Parcel.h).
pub const TYPE_NATIVE_FILE_DESCRIPTOR: u32 = 2;

/// Little-endian value of up to 8 bytes.
pub fn le(bytes: &[u8]) -> u64 {
    assert!(bytes.len() <= 8, "{} bytes do not fit a u64", bytes.len());
    bytes
        .iter()
        .rev()
        .fold(0u64, |acc, &b| (acc << 8) | u64::from(b))
}

/// An `RpcWireAddress` as its two words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Address {
    /// `RPC_WIRE_ADDRESS_OPTION_*` bits.
    pub options: u32,
    /// The object's number in its creator's table.
    pub address: u32,
}

impl Address {
    /// Decodes the 8 bytes of an `RpcWireAddress`.
    pub fn decode(bytes: &[u8]) -> Address {
        Address {
            options: WIRE_ADDRESS.get(bytes, "options") as u32,
            address: WIRE_ADDRESS.get(bytes, "address") as u32,
        }
    }

    /// The all-zero address of the special transactions.
    pub fn is_special(&self) -> bool {
        self.options == 0 && self.address == 0
    }
}
