//! Android.bp files, parsed with the `android_bp` Blueprint parser.

use android_bp::{BluePrint, Module, Value};
use std::collections::HashMap;
use std::path::{Path, PathBuf};

/// One parsed Android.bp, with where it lives (Soong resolves a module's
/// paths relative to its Android.bp's directory).
pub struct BpFile {
    /// Path relative to the repository root, e.g. `aidl/Android.bp`.
    pub rel: String,
    /// The directory of that file, relative to the root ("" for the top).
    pub dir: String,
    /// The parsed file, every module with its `defaults` applied as Soong
    /// applies them.
    pub bp: BluePrint,
    /// The parsed file as written.
    pub raw: BluePrint,
}

impl BpFile {
    /// Parses `rel` (relative to the repository root).
    pub fn load(rel: &str) -> BpFile {
        let text = crate::read(rel);
        let raw =
            BluePrint::parse(&text).unwrap_or_else(|e| panic!("{rel}: not valid Blueprint: {e}"));
        let mut bp = raw.clone();
        apply_defaults(rel, &mut bp);
        let dir = Path::new(rel)
            .parent()
            .map(|p| p.to_string_lossy().into_owned())
            .unwrap_or_default();
        BpFile {
            rel: rel.to_owned(),
            dir,
            bp,
            raw,
        }
    }

    /// The module of type `typ` called `name`, if any.
    pub fn module(&self, typ: &str, name: &str) -> Option<&Module> {
        self.bp
            .modules
            .iter()
            .find(|m| m.typ == typ && m.get_string("name").map(String::as_str) == Some(name))
    }

    /// Resolves a path property value to a path relative to the root.
    pub fn resolve(&self, value: &str) -> String {
        if self.dir.is_empty() {
            value.to_owned()
        } else {
            format!("{}/{value}", self.dir)
        }
    }

    /// Absolute path of a property value.
    pub fn abs(&self, value: &str) -> PathBuf {
        crate::repo_root().join(self.resolve(value))
    }
}

/// Soong's `defaults`: a module gets each property of the defaults modules
/// it names that it does not set itself; lists are the defaults' followed
/// by its own. The defaults must be in the same file (ours are).
fn apply_defaults(rel: &str, bp: &mut BluePrint) {
    let defaults: HashMap<String, Module> = bp
        .modules
        .iter()
        .filter(|m| m.typ.ends_with("_defaults"))
        .filter_map(|m| Some((m.get_string("name")?.clone(), m.clone())))
        .collect();
    for m in &mut bp.modules {
        for name in strings(m, "defaults") {
            let d = defaults
                .get(&name)
                .unwrap_or_else(|| panic!("{rel}: defaults {name:?} is not defined in this file"));
            for (key, value) in d.entries.iter().filter(|(k, _)| *k != "name") {
                match (m.entries.get_mut(key), value) {
                    (None, v) => {
                        m.entries.insert(key.clone(), v.clone());
                    }
                    (Some(Value::Array(own)), Value::Array(inherited)) => {
                        let mut merged = inherited.clone();
                        merged.append(own);
                        *own = merged;
                    }
                    (Some(_), _) => {} // the module's own value wins
                }
            }
        }
    }
}

/// Every Android.bp in the repository (outside build output and VCS dirs).
pub fn all_files() -> Vec<BpFile> {
    let root = crate::repo_root();
    crate::files_under(&root)
        .into_iter()
        .filter(|rel| rel.ends_with("Android.bp"))
        .filter(|rel| {
            let first = rel.split('/').next().unwrap_or("");
            !matches!(first, "target" | ".git")
        })
        .filter(|rel| rel == "Android.bp" || rel.ends_with("/Android.bp"))
        .map(|rel| BpFile::load(&rel))
        .collect()
}

/// A string property.
pub fn string<'a>(m: &'a Module, key: &str) -> Option<&'a str> {
    m.get_string(key).map(String::as_str)
}

/// A list-of-strings property (missing = empty). Panics on non-strings:
/// Soong would reject them too.
pub fn strings(m: &Module, key: &str) -> Vec<String> {
    match m.get(key) {
        None => Vec::new(),
        Some(Value::Array(items)) => items
            .iter()
            .map(|v| match v {
                Value::String(s) => s.clone(),
                other => panic!("property {key}: expected strings, found {other:?}"),
            })
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        Some(other) => panic!("property {key}: expected a list, found {other:?}"),
    }
}

/// A boolean property.
pub fn boolean(m: &Module, key: &str) -> Option<bool> {
    m.get_bool(key)
}

/// A nested map property, e.g. `backend: { rust: { enabled: true } }`.
pub fn nested<'a>(m: &'a Module, path: &[&str]) -> Option<&'a Value> {
    let mut value = m.get(path[0])?;
    for key in &path[1..] {
        match value {
            Value::Map(map) => value = map.get(*key)?,
            _ => return None,
        }
    }
    Some(value)
}

/// The `version` strings of `versions_with_info`, in file order.
pub fn versions_with_info(m: &Module) -> Vec<String> {
    let Some(Value::Array(items)) = m.get("versions_with_info") else {
        return Vec::new();
    };
    items
        .iter()
        .map(|item| match item {
            Value::Map(map) => match map.get("version") {
                Some(Value::String(v)) => v.clone(),
                other => panic!("versions_with_info entry without a string version: {other:?}"),
            },
            other => panic!("versions_with_info entry is not a map: {other:?}"),
        })
        .collect()
}
