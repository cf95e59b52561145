//! The region's control words (the AIDL's layout version 1): whether a
//! region has them, decided here from what the service reported.

use crate::error::{Error, Result};
use vendor_enea_buffer::aidl::vendor::enea::buffer::IEneaBuffer;

/// Byte offset of the waiter count (`IEneaBuffer.WAITERS_OFFSET`).
pub const WAITERS_OFFSET: usize = IEneaBuffer::WAITERS_OFFSET as usize;
/// Bytes reserved at the start of the region (`IEneaBuffer.CONTROL_SIZE`).
pub const CONTROL_SIZE: usize = IEneaBuffer::CONTROL_SIZE as usize;
/// Bytes of a record's header (`IEneaBuffer.RECORD_HEADER_SIZE`).
pub const RECORD_HEADER_SIZE: usize = IEneaBuffer::RECORD_HEADER_SIZE as usize;

/// The layout version this library implements (`IEneaBuffer.LAYOUT_VERSION`).
const LAYOUT_VERSION: i32 = IEneaBuffer::LAYOUT_VERSION;

/// What the service said about the region's control words.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Layout {
    /// Layout version 1: a waiter count, records.
    V1,
    /// No layout: a V1 service (interface version given), or a region too
    /// small for the control words. Notification and records are refused.
    None(i32),
}

impl Layout {
    /// The layout of a region a service of interface `version` described
    /// in a `Region`: layout version 1 needs at least CONTROL_SIZE bytes.
    pub(crate) fn from_region(version: i32, layout_version: i32, size: usize) -> Self {
        if layout_version == LAYOUT_VERSION && size >= CONTROL_SIZE {
            Layout::V1
        } else {
            Layout::None(version)
        }
    }

    /// The layout of a region from a service of interface `version` that
    /// has no `Region` getters (V1): none.
    pub(crate) fn of_old_service(version: i32) -> Self {
        Layout::None(version)
    }

    /// Ok when the region has the layout that `what` needs; else the error
    /// that says why it has none.
    pub(crate) fn require(self, what: &'static str) -> Result<()> {
        match self {
            Layout::V1 => Ok(()),
            Layout::None(version) => Err(Error::Unsupported { what, version }),
        }
    }
}
