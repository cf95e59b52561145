//! Which kernel binder device to open on a Linux host (Android's libbinder
//! knows its own).

use std::path::{Path, PathBuf};

/// The binderfs device rsbinder opens by default.
const BINDERFS_DEVICE: &str = "/dev/binderfs/binder";
/// The misc device of kernels without binderfs.
const LEGACY_DEVICE: &str = "/dev/binder";

/// `explicit` if given, else the first of the binderfs and the legacy
/// device paths that exists; the error names every path it looked at.
pub fn find_binder_device(explicit: Option<&Path>) -> Result<PathBuf, String> {
    let candidates: Vec<PathBuf> = match explicit {
        Some(device) => vec![device.to_path_buf()],
        None => [BINDERFS_DEVICE, LEGACY_DEVICE]
            .iter()
            .map(PathBuf::from)
            .collect(),
    };
    candidates
        .iter()
        .find(|p| p.exists())
        .cloned()
        .ok_or_else(|| {
            let looked: Vec<String> = candidates.iter().map(|p| p.display().to_string()).collect();
            format!("no binder device at {}", looked.join(" or "))
        })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_explicit_device_is_taken_when_it_exists_and_named_when_not() {
        let here = std::env::temp_dir();
        assert_eq!(find_binder_device(Some(&here)).unwrap(), here);
        let e = find_binder_device(Some(Path::new("/nonexistent/binder"))).unwrap_err();
        assert_eq!(e, "no binder device at /nonexistent/binder");
    }

    #[test]
    fn the_defaults_are_the_devices_rsbinder_opens() {
        assert_eq!(BINDERFS_DEVICE, rsbinder::DEFAULT_BINDER_PATH);
        assert_eq!(LEGACY_DEVICE, rsbinder::LEGACY_BINDER_PATH);
    }

    #[test]
    fn the_default_search_names_both_paths() {
        match find_binder_device(None) {
            Ok(found) => assert!(found.exists()),
            Err(e) => assert!(
                e.contains(rsbinder::DEFAULT_BINDER_PATH)
                    && e.contains(rsbinder::LEGACY_BINDER_PATH),
                "{e}"
            ),
        }
    }
}
