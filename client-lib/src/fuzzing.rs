//! For fuzzers and tests only, not API: may change or go at any time.
//!
//! The checks a [`Connection`](crate::Connection) makes on a region a V2
//! getter returned, without a service: fuzz targets hand in any fd, size
//! and layout version and get back what a client would have mapped. And
//! the copy paths, which tests force one by one.

use std::os::fd::OwnedFd;

use crate::buffer::{KeepAlive, ReadOnlyBuffer, SharedBuffer};
use crate::connect::check_region;
use crate::copy::{self, Path};
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

/// The copy paths this CPU can take, narrowest first: `word`, then `sse2`
/// and `avx2` (x86_64) or `neon` (aarch64).
pub fn copy_paths() -> Vec<&'static str> {
    Path::ALL
        .into_iter()
        .filter(|p| p.available())
        .map(Path::name)
        .collect()
}

/// Makes every copy in this process (`read_at`, `write_at`, records) take
/// the named path, or the widest again with `None`. Refuses a path this CPU
/// cannot take, or an unknown name, saying which ones it can.
pub fn force_copy_path(name: Option<&str>) -> std::result::Result<(), String> {
    let path = match name {
        None => None,
        Some(name) => Some(
            Path::ALL
                .into_iter()
                .find(|p| p.name() == name)
                .ok_or_else(|| {
                    format!(
                        "no copy path is called {name:?}; this CPU has {}",
                        copy_paths().join(", ")
                    )
                })?,
        ),
    };
    copy::force(path)
}

/// The path copies take now.
pub fn copy_path() -> &'static str {
    copy::current().name()
}

/// How many copy bodies (the part past the ends, from 32 bytes) the forced
/// path has copied since it was forced: shows a forced path really ran.
pub fn forced_copy_bodies() -> u64 {
    copy::forced_bodies()
}
