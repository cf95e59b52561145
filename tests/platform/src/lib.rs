//! Host-side consistency checks for the Android platform files.
//!
//! Soong, init, SELinux and VINTF cannot run here, so each of their inputs is
//! parsed with a real parser for its format and the facts they must agree on
//! (binary name, HAL name, instance, version, frozen API hash, declared
//! types) are compared in `tests/consistency.rs`.

pub mod aidl;
pub mod aosp;
pub mod blueprint;
pub mod cargo;
pub mod initrc;
pub mod sepolicy;
pub mod vintf;

use std::path::{Path, PathBuf};

/// The repository root (two levels above this crate). `ENEA_REPO_ROOT`
/// overrides it, so the checks can be pointed at a scratch copy.
pub fn repo_root() -> PathBuf {
    if let Some(root) = std::env::var_os("ENEA_REPO_ROOT") {
        return PathBuf::from(root);
    }
    let here = Path::new(env!("CARGO_MANIFEST_DIR"));
    let here = here.canonicalize().unwrap_or_else(|_| here.to_path_buf());
    here.join("../..")
        .canonicalize()
        .expect("repository root exists")
}

/// Reads a repository file given by its path relative to the root.
pub fn read(rel: &str) -> String {
    let path = repo_root().join(rel);
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{rel}: {e}"))
}

/// Every file under `dir` (recursively, skipping `target/` and `.git/`), as paths relative to `dir` with
/// `/` separators, sorted bytewise.
pub fn files_under(dir: &Path) -> Vec<String> {
    fn walk(base: &Path, dir: &Path, out: &mut Vec<String>) {
        let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        for entry in entries {
            let path = entry.expect("readable directory entry").path();
            if path.is_dir() {
                // Build output and VCS metadata are never inputs.
                let name = path.file_name().unwrap_or_default();
                if name != "target" && name != ".git" {
                    walk(base, &path, out);
                }
            } else {
                let rel = path.strip_prefix(base).expect("under base");
                let parts: Vec<String> = rel
                    .components()
                    .map(|c| c.as_os_str().to_string_lossy().into_owned())
                    .collect();
                out.push(parts.join("/"));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// Rust source without its test-only items: each `#[cfg(test)]` at column 0
/// and the item under it, to the item's closing `}` at column 0 (rustfmt's
/// layout) or its `;`. Test code may import anything; product code may not.
pub fn without_tests(text: &str) -> String {
    let mut out = String::new();
    let mut lines = text.lines();
    while let Some(line) = lines.next() {
        if line.trim_end() != "#[cfg(test)]" {
            out.push_str(line);
            out.push('\n');
            continue;
        }
        // Further attributes, then the item: one line ending in `;`, or a
        // block to its closing `}` at column 0.
        let mut item = lines.next();
        while item.is_some_and(|l| l.starts_with("#[")) {
            item = lines.next();
        }
        if item.is_some_and(|l| l.trim_end().ends_with([';', '}'])) {
            continue;
        }
        for item in lines.by_ref() {
            if item.trim_end() == "}" {
                break;
            }
        }
    }
    out
}
