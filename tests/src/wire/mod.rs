//! The RPC binder wire as AOSP defines it, for checking rsbinder's bytes:
//! AOSP's golden parcel encodings ([`aosp`]), the wire structs of
//! RpcWireFormat.h ([`format`]), readers for captured streams
//! ([`stream`], [`parcel`]) and a recording socket relay ([`relay`]).

pub mod aosp;
pub mod format;
pub mod parcel;
pub mod relay;
pub mod stream;
