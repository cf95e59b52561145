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
    /// No layout: the service implements this interface version (1), which
    /// has none. Notification and records are refused.
    OldService(i32),
    /// No layout: a V2 service reported this layout version (0, or one this
    /// library does not know) for a region of this size, or the region is
    /// smaller than CONTROL_SIZE. Notification and records are refused.
    NotInRegion {
        /// `Region.layoutVersion`.
        layout_version: i32,
        /// The region's size.
        size: usize,
    },
}

impl Layout {
    /// The layout of a region a V2 service described in a `Region`.
    pub(crate) fn from_region(layout_version: i32, size: usize) -> Self {
        if layout_version == LAYOUT_VERSION && size >= CONTROL_SIZE {
            Layout::V1
        } else {
            Layout::NotInRegion {
                layout_version,
                size,
            }
        }
    }

    /// The layout of a region from a service of interface `version` that
    /// has no `Region` getters (V1): none.
    pub(crate) fn of_old_service(version: i32) -> Self {
        Layout::OldService(version)
    }

    /// Ok when the region has the layout that `what` needs; else the error
    /// that says why it has none.
    pub(crate) fn require(self, what: &'static str) -> Result<()> {
        match self {
            Layout::V1 => Ok(()),
            Layout::OldService(version) => Err(Error::Unsupported { what, version }),
            Layout::NotInRegion {
                layout_version,
                size,
            } => Err(Error::NoLayout {
                what,
                layout_version,
                size,
            }),
        }
    }

    /// Ok unless `len` bytes at `offset` overlap the control words that
    /// clients must not write (the waiter count and the reserved words);
    /// always Ok on a region without the layout.
    pub(crate) fn check_write(self, offset: usize, len: usize) -> Result<()> {
        self.check_overlap(offset, len, WAITERS_OFFSET)
    }

    /// Ok unless a 64-bit atomic at `offset` overlaps any control word,
    /// word 0 included: peers use those with 32-bit atomics, and atomics of
    /// two sizes must not meet on the same bytes.
    pub(crate) fn check_atomic_u64(self, offset: usize) -> Result<()> {
        self.check_overlap(offset, 8, 0)
    }

    /// Ok unless the layout is there and `len` bytes at `offset` meet the
    /// bytes from `first` to CONTROL_SIZE.
    fn check_overlap(self, offset: usize, len: usize, first: usize) -> Result<()> {
        let meets = offset < CONTROL_SIZE && offset.saturating_add(len) > first && len > 0;
        if self == Layout::V1 && meets {
            Err(Error::ControlWords { offset, len })
        } else {
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_region_has_the_layout_at_version_1_and_control_size_only() {
        assert_eq!(Layout::from_region(1, CONTROL_SIZE), Layout::V1);
        assert_eq!(Layout::from_region(1, 1 << 20), Layout::V1);
        for (version, size) in [(1, CONTROL_SIZE - 1), (1, 32), (0, 4096), (2, 4096)] {
            assert_eq!(
                Layout::from_region(version, size),
                Layout::NotInRegion {
                    layout_version: version,
                    size
                }
            );
        }
        assert_eq!(Layout::of_old_service(1), Layout::OldService(1));
    }

    /// A V1 service and a region without the layout are refused with
    /// different errors, each naming its own cause.
    #[test]
    fn no_layout_says_whether_the_service_or_the_region_lacks_it() {
        assert!(Layout::V1.require("x").is_ok());
        let old = Layout::of_old_service(1).require("change notification");
        assert!(matches!(old, Err(Error::Unsupported { version: 1, .. })));
        assert_eq!(
            old.unwrap_err().to_string(),
            "change notification needs interface version 2 or later, but the service \
             implements version 1; poll instead"
        );
        let small = Layout::from_region(1, 32).require("change notification");
        assert!(matches!(
            small,
            Err(Error::NoLayout {
                layout_version: 1,
                size: 32,
                ..
            })
        ));
        assert_eq!(
            small.unwrap_err().to_string(),
            "change notification needs the region's control words, but this region has none: \
             the service reported layout version 1 for its 32 bytes, and the control words \
             need layout version 1 and at least 64 bytes; poll instead"
        );
        let none = Layout::from_region(0, 4096).require("a record snapshot or publish");
        assert!(none
            .unwrap_err()
            .to_string()
            .contains("reported layout version 0 for its 4096 bytes"));
    }

    #[test]
    fn writes_to_the_control_words_are_refused_with_the_layout_only() {
        let refused = |offset, len| {
            matches!(
                Layout::V1.check_write(offset, len),
                Err(Error::ControlWords { offset: o, len: l }) if o == offset && l == len
            )
        };
        for (offset, len) in [(0, 5), (4, 4), (3, 2), (8, 1), (63, 1), (60, 8), (0, 4096)] {
            assert!(refused(offset, len), "{offset}+{len}");
        }
        // Word 0, the bytes past the control words, and empty ranges pass.
        for (offset, len) in [(0, 4), (3, 1), (4, 0), (CONTROL_SIZE, 8), (usize::MAX, 2)] {
            assert!(
                Layout::V1.check_write(offset, len).is_ok(),
                "{offset}+{len}"
            );
        }
        for layout in [Layout::OldService(1), Layout::from_region(1, 32)] {
            assert!(layout.check_write(4, 4).is_ok());
            assert!(layout.check_atomic_u64(0).is_ok());
        }
        assert_eq!(
            Layout::V1.check_write(4, 4).unwrap_err().to_string(),
            "4 bytes at offset 4 overlap the region's control words (the waiter count and \
             reserved words up to offset 64), which clients must not write; use word 0 with \
             32-bit operations, anything else from offset 64 on"
        );
    }

    #[test]
    fn a_64_bit_atomic_keeps_off_every_control_word_word_0_included() {
        for offset in [0, 8, 56] {
            assert!(matches!(
                Layout::V1.check_atomic_u64(offset),
                Err(Error::ControlWords { offset: o, len: 8 }) if o == offset
            ));
        }
        assert!(Layout::V1.check_atomic_u64(CONTROL_SIZE).is_ok());
    }
}
