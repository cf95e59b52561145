//! Cargo manifests, parsed with the `toml` crate.

use toml::Table;

/// A parsed Cargo.toml.
pub struct Manifest {
    /// Path relative to the repository root.
    pub rel: String,
    /// The document.
    pub doc: Table,
}

/// One `[[bin]]` target.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Bin {
    /// `name`.
    pub name: String,
    /// `path`, relative to the manifest's directory.
    pub path: String,
}

impl Manifest {
    /// Parses `rel` (relative to the repository root).
    pub fn load(rel: &str) -> Manifest {
        let doc = crate::read(rel)
            .parse::<Table>()
            .unwrap_or_else(|e| panic!("{rel}: not valid TOML: {e}"));
        Manifest {
            rel: rel.to_owned(),
            doc,
        }
    }

    /// The explicit `[[bin]]` targets.
    pub fn bins(&self) -> Vec<Bin> {
        let Some(bins) = self.doc.get("bin").and_then(|b| b.as_array()) else {
            return Vec::new();
        };
        bins.iter()
            .map(|b| Bin {
                name: b["name"].as_str().expect("[[bin]] name").to_owned(),
                path: b["path"].as_str().expect("[[bin]] path").to_owned(),
            })
            .collect()
    }

    /// `[lib] name` and `path`, if the manifest has a `[lib]` section.
    pub fn lib(&self) -> Option<Bin> {
        let lib = self.doc.get("lib")?.as_table()?;
        Some(Bin {
            name: lib.get("name")?.as_str()?.to_owned(),
            path: lib.get("path")?.as_str()?.to_owned(),
        })
    }

    /// Names of the normal `[dependencies]` (not dev-/build-dependencies),
    /// including target-specific ones.
    pub fn dependencies(&self) -> Vec<String> {
        let mut out: Vec<String> = Vec::new();
        if let Some(deps) = self.doc.get("dependencies").and_then(|d| d.as_table()) {
            out.extend(deps.keys().cloned());
        }
        if let Some(targets) = self.doc.get("target").and_then(|t| t.as_table()) {
            for spec in targets.values() {
                if let Some(deps) = spec.get("dependencies").and_then(|d| d.as_table()) {
                    out.extend(deps.keys().cloned());
                }
            }
        }
        out.sort();
        out.dedup();
        out
    }
}
