//! The RPC binder wire as AOSP defines it, for checking rsbinder's bytes:
//! AOSP's golden parcel encodings ([`aosp`]), the wire structs of
//! RpcWireFormat.h ([`format`]) and a parcel reader ([`parcel`]).

pub mod aosp;
pub mod format;
pub mod parcel;
