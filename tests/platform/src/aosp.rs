//! `tests/android/aosp-crates.toml`: what AOSP builds for each Soong module
//! the Android.bp files name (crate, version, features), and which host
//! Cargo dependencies stand for it. `tests/android/check.py` builds against
//! the same table.

use toml::Table;

/// The table file, relative to the repository root.
pub const TABLE: &str = "tests/android/aosp-crates.toml";

/// One `[[module]]` row.
#[derive(Debug, Clone)]
pub struct Module {
    /// The Soong module name (`libtokio`).
    pub soong: String,
    /// The crate name Rust code uses.
    pub krate: String,
    /// AOSP's version, for third-party crates.
    pub version: Option<String>,
    /// AOSP's feature list, for third-party crates.
    pub features: Option<Vec<String>>,
    /// Host Cargo dependencies that stand for this module on Linux.
    pub host: Vec<String>,
}

/// The parsed table.
pub struct Aosp {
    /// `[toolchain] rust`.
    pub rust: String,
    /// Every `[[module]]`.
    pub modules: Vec<Module>,
}

fn strings(v: &toml::Value, what: &str) -> Vec<String> {
    v.as_array()
        .unwrap_or_else(|| panic!("{TABLE}: {what} is not an array"))
        .iter()
        .map(|s| {
            s.as_str()
                .unwrap_or_else(|| panic!("{TABLE}: {what} holds a non-string"))
                .to_owned()
        })
        .collect()
}

impl Aosp {
    /// Reads and parses the table.
    pub fn load() -> Aosp {
        let doc: Table = crate::read(TABLE)
            .parse()
            .unwrap_or_else(|e| panic!("{TABLE}: not valid TOML: {e}"));
        let rust = doc["toolchain"]["rust"]
            .as_str()
            .unwrap_or_else(|| panic!("{TABLE}: [toolchain] rust missing"))
            .to_owned();
        let modules = doc["module"]
            .as_array()
            .unwrap_or_else(|| panic!("{TABLE}: no [[module]] rows"))
            .iter()
            .map(|m| {
                let s = |k: &str| m.get(k).and_then(|v| v.as_str()).map(str::to_owned);
                Module {
                    soong: s("soong").unwrap_or_else(|| panic!("{TABLE}: a row has no soong")),
                    krate: s("crate").unwrap_or_else(|| panic!("{TABLE}: a row has no crate")),
                    version: s("version"),
                    features: m.get("features").map(|f| strings(f, "features")),
                    host: m
                        .get("host")
                        .map(|h| strings(h, "host"))
                        .unwrap_or_default(),
                }
            })
            .collect();
        Aosp { rust, modules }
    }

    /// The row whose `host` lists Cargo dependency `dep`.
    pub fn for_host_dependency(&self, dep: &str) -> Option<&Module> {
        self.modules
            .iter()
            .find(|m| m.host.iter().any(|h| h == dep))
    }
}
