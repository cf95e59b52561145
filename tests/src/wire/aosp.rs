//! AOSP's frozen parcel encodings for RPC binder: `kCurrentRepr` of
//! `frameworks/native/libs/binder/tests/binderRpcWireProtocolTest.cpp`,
//! copied as data. The string is byte-identical in android-13.0.0_r52
//! (checked there at wire version 0), android-14.0.0_r55 and android-15
//! (checked at versions 0 and 1) and android-16 (versions 0, 1 and 2:
//! `TEST(RpcWire, V2)`, `static_assert(RPC_WIRE_PROTOCOL_VERSION == 2)`).
//! Read from the LineageOS lineage-20.0/21.0/22.0 mirrors of
//! frameworks/native and omnirom's android-16 mirror.
//!
//! Each `|`-separated entry is the parcel data after one `kFillFuns`
//! write into a fresh parcel marked for RPC (`markForRpc` on a session
//! with `addNullDebuggingClient`, so no fd transport).

/// `kCurrentRepr`, verbatim.
pub const K_CURRENT_REPR: &str = concat!(
    "0300000074006f006b000000|ffffffff|00000000|11000000|00000000|01000000|13270000|",
    "ffffffffffffffff|0000000000000000|1100000000000000|0000000000000000|0100000000000000|",
    "1327000000000000|00000000|cdcccc3d|9a991141|0000000000000000|9a9999999999b93f|",
    "3333333333332240|00000000|61000000|6261626100000000|0000000000000000|0100000061000000|",
    "040000006261626100000000|0000000000000000|0100000061000000|",
    "04000000620061006200610000000000|0000000000000000|03000000ffffffff0000000011000000|",
    "030000000011ff00|01000000|00000000|61000000|3f000000|00000000|80ffffff|00000000|7f000000|",
    "0000000000000000|0100000061000000|04000000610062006100620000000000|ffffffff|",
    "0000000000000000|0100000061000000|04000000610062006100620000000000|ffffffff|",
    "03000000ff001100|00000000|03000000ff001100|ffffffff|0300000000011100|00000000|",
    "0300000000011100|ffffffff|03000000ffffffff0000000011000000|00000000|",
    "03000000ffffffff0000000011000000|ffffffff|",
    "03000000ffffffffffffffff00000000000000001100000000000000|00000000|",
    "03000000ffffffffffffffff00000000000000001100000000000000|ffffffff|",
    "03000000000000000000000001000000000000001100000000000000|00000000|",
    "03000000000000000000000001000000000000001100000000000000|ffffffff|",
    "0300000000000000cdcccc3d9a991141|00000000|0300000000000000cdcccc3d9a991141|ffffffff|",
    "0300000000000000000000009a9999999999b93f3333333333332240|00000000|",
    "0300000000000000000000009a9999999999b93f3333333333332240|ffffffff|",
    "020000000100000000000000|00000000|020000000100000000000000|ffffffff|",
    "0300000061000000000000003f000000|00000000|0300000061000000000000003f000000|ffffffff|",
    "03000000ffffffff00000000000000000100000061000000|00000000|",
    "03000000ffffffff00000000000000000100000061000000|ffffffff|",
    "03000000ffffffff00000000000000000100000061000000|00000000|",
    "03000000ffffffff00000000000000000100000061000000|ffffffff|010000000000000000000000|",
    "00000000|010000000000000000000000|ffffffff|0200000000010000|0200000000010000|ffffffff|",
    "020000000000000001000000|020000000000000001000000|ffffffff|",
    "0200000000000000000000000100000000000000|0200000000000000000000000100000000000000|",
    "ffffffff|010000000100000025000000|010000000100000025000000|00000000|0100000025000000|",
    "0100000025000000|03000000|00000000|ffffffff|03000000|00000000|00000000|",
    "07000000020000003a0044000000000000000000|f8ffffff020000003a002f00000000000000000008000000",
);

/// Entries in `kFillFuns` (and so in [`K_CURRENT_REPR`]).
pub const FILL_FUNS: usize = 117;

/// `kFillFuns` entries this interface's transactions use, by index, with
/// the AOSP statement that produced them.
pub mod fill {
    /// `p->writeInterfaceToken(String16(u"tok"))`
    pub const INTERFACE_TOKEN_TOK: usize = 0;
    /// `p->writeInt32(-1)`
    pub const INT32_MINUS_1: usize = 1;
    /// `p->writeInt32(0)`
    pub const INT32_0: usize = 2;
    /// `p->writeInt32(17)`
    pub const INT32_17: usize = 3;
    /// `p->writeInt64(-1)`
    pub const INT64_MINUS_1: usize = 7;
    /// `p->writeInt64(0)`
    pub const INT64_0: usize = 8;
    /// `p->writeInt64(17)`
    pub const INT64_17: usize = 9;
    /// `p->writeString16(String16(u""))`
    pub const STRING16_EMPTY: usize = 25;
    /// `p->writeString16(String16(u"a"))`
    pub const STRING16_A: usize = 26;
    /// `p->writeString16(String16(u"baba"))`
    pub const STRING16_BABA: usize = 27;
    /// `p->writeStrongBinder(nullptr)`
    pub const STRONG_BINDER_NULL: usize = 28;
    /// `p->writeNullableParcelable(std::optional<AParcelable>(std::nullopt))`
    pub const NULLABLE_PARCELABLE_NULL: usize = 106;
    /// `p->writeNullableParcelable(std::optional<AParcelable>(AParcelable()))`
    /// (`AParcelable::writeToParcel` writes `writeInt32(37)`)
    pub const NULLABLE_PARCELABLE_SET: usize = 107;
    /// `p->writeParcelable(AParcelable())`
    pub const PARCELABLE: usize = 108;
    /// `p->writeNoException()`
    pub const NO_EXCEPTION: usize = 113;
    /// `binder::Status::ok().writeToParcel(p)`
    pub const STATUS_OK: usize = 114;
    /// `binder::Status::fromExceptionCode(7, ":D").writeToParcel(p)`
    pub const STATUS_EXCEPTION_7: usize = 115;
    /// `binder::Status::fromServiceSpecificError(8, ":/").writeToParcel(p)`
    pub const STATUS_SERVICE_SPECIFIC_8: usize = 116;
}

/// Entry `index` of [`K_CURRENT_REPR`] (lower-case hex).
pub fn entry(index: usize) -> &'static str {
    K_CURRENT_REPR
        .split('|')
        .nth(index)
        .unwrap_or_else(|| panic!("kCurrentRepr has no entry {index}"))
}
