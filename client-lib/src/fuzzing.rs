//! For fuzzers only, not API: may change or go at any time.
//!
//! The checks a [`Connection`](crate::Connection) makes on a region a V2
//! getter returned, without a service: fuzz targets hand in any fd, size
//! and layout version and get back what a client would have mapped.

use std::os::fd::OwnedFd;

use crate::buffer::{KeepAlive, ReadOnlyBuffer, SharedBuffer};
use crate::connect::check_region;
use crate::error::Result;
use crate::mapping::{MapOptions, Mapping};

/// Checks and maps `fd` read-write as `Connection::map` does a region whose
/// getter reported `reported_size` and `layout_version`.
pub fn map_shared(fd: OwnedFd, reported_size: i64, layout_version: i32) -> Result<SharedBuffer> {
    let (region, layout) = check_region(fd, reported_size, layout_version)?;
    let map = Mapping::new(region, true, MapOptions::default())?;
    Ok(SharedBuffer::new(map, layout, KeepAlive::new(())))
}

/// Checks and maps `fd` read-only as `Connection::map_read_only` does.
pub fn map_read_only(
    fd: OwnedFd,
    reported_size: i64,
    layout_version: i32,
) -> Result<ReadOnlyBuffer> {
    let (region, layout) = check_region(fd, reported_size, layout_version)?;
    let map = Mapping::new(region, false, MapOptions::default())?;
    Ok(ReadOnlyBuffer::new(map, layout, KeepAlive::new(())))
}
