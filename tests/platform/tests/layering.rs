//! Dependencies between the product crates' modules run one way: no module
//! reaches, through `crate::` paths (single or grouped), root items or the
//! root's own code, back into a module that reaches it.

use enea_buffer_platform_checks::{files_under, read, repo_root, without_tests};
use regex::Regex;
use std::collections::{BTreeMap, BTreeSet};

/// The crate root's node in the graph.
const ROOT: &str = "lib.rs";

/// A file's non-test code without comment lines: a doc link is not a
/// dependency.
fn code_of(rel: &str) -> String {
    without_tests(&read(rel))
        .lines()
        .filter(|l| !l.trim_start().starts_with("//"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// The first segment of every path a `crate::` reference names: `crate::a::X`
/// gives `a`, `crate::{a::X, b::{Y, Z}, W}` gives `a`, `b` and `W`.
fn crate_refs(code: &str) -> Vec<String> {
    let mut out = Vec::new();
    for (at, _) in code.match_indices("crate::") {
        let rest = &code[at + "crate::".len()..];
        if let Some(group) = rest.strip_prefix('{') {
            // Top-level names of the group: those at brace depth 0 after `{`.
            let (mut depth, mut start) = (0usize, true);
            let mut name = String::new();
            for c in group.chars() {
                match c {
                    '{' => depth += 1,
                    '}' if depth == 0 => break,
                    '}' => depth -= 1,
                    ',' if depth == 0 => start = true,
                    c if start && (c.is_alphanumeric() || c == '_') => name.push(c),
                    _ if start && !name.is_empty() => {
                        out.push(std::mem::take(&mut name));
                        start = false;
                    }
                    _ => {}
                }
            }
            if !name.is_empty() {
                out.push(name);
            }
        } else {
            let name: String = rest
                .chars()
                .take_while(|c| c.is_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

/// The crate root's re-exports `pub use module::{A, B as C}`: exported name
/// -> the module that defines it, for the crate's own modules.
fn reexports(root: &str, modules: &BTreeSet<String>) -> BTreeMap<String, String> {
    let stmt = Regex::new(r"(?s)pub use ([a-z_][a-z0-9_]*)::(\{[^;]*\}|[A-Za-z0-9_ ]+);").unwrap();
    let mut out = BTreeMap::new();
    for c in stmt.captures_iter(root) {
        if !modules.contains(&c[1]) {
            continue;
        }
        for item in c[2].trim_matches(['{', '}']).split(',') {
            let exported = item.split(" as ").last().unwrap_or("").trim();
            if !exported.is_empty() {
                out.insert(exported.to_owned(), c[1].to_owned());
            }
        }
    }
    out
}

/// Top-level module (or the root) -> the top-level modules its non-test
/// code depends on. A root item counts as its defining module when the root
/// only re-exports it, as the root itself otherwise.
fn graph(src: &str) -> BTreeMap<String, BTreeSet<String>> {
    let files: Vec<String> = files_under(&repo_root().join(src))
        .into_iter()
        .filter(|rel| rel.ends_with(".rs") && rel != "main.rs" && !rel.starts_with("bin/"))
        .collect();
    let module_of = |rel: &str| -> String {
        match rel {
            ROOT => ROOT.to_owned(),
            _ => rel
                .split('/')
                .next()
                .unwrap()
                .trim_end_matches(".rs")
                .to_owned(),
        }
    };
    let modules: BTreeSet<String> = files.iter().map(|f| module_of(f)).collect();
    let root = code_of(&format!("{src}/{ROOT}"));
    let exported = reexports(&root, &modules);

    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    // The root's own code depends on the modules it names outside its
    // `mod` declarations and re-exports.
    let declarations =
        Regex::new(r"(?m)^(?:pub(?:\([a-z]+\))? )?mod [a-z0-9_]+;|(?s)pub use [^;]*;").unwrap();
    let root_code = declarations.replace_all(&root, "");
    let named = Regex::new(r"(?:^|[^:A-Za-z0-9_])([a-z_][a-z0-9_]*)::").unwrap();
    let uses = edges.entry(ROOT.to_owned()).or_default();
    for c in named.captures_iter(&root_code) {
        if modules.contains(&c[1]) && &c[1] != ROOT {
            uses.insert(c[1].to_owned());
        }
    }
    for c in crate_refs(&root_code) {
        if modules.contains(&c) {
            uses.insert(c);
        }
    }

    for rel in files.iter().filter(|f| *f != ROOT) {
        let module = module_of(rel);
        let code = code_of(&format!("{src}/{rel}"));
        let uses = edges.entry(module.clone()).or_default();
        for name in crate_refs(&code) {
            let target = if modules.contains(&name) {
                name
            } else {
                exported
                    .get(&name)
                    .cloned()
                    .unwrap_or_else(|| ROOT.to_owned())
            };
            if target != module {
                uses.insert(target);
            }
        }
    }
    edges
}

/// A cycle in `edges`, if any, as the modules on it.
fn cycle(edges: &BTreeMap<String, BTreeSet<String>>) -> Option<Vec<String>> {
    fn visit(
        m: &str,
        edges: &BTreeMap<String, BTreeSet<String>>,
        path: &mut Vec<String>,
        done: &mut BTreeSet<String>,
    ) -> Option<Vec<String>> {
        if let Some(at) = path.iter().position(|p| p == m) {
            let mut c = path[at..].to_vec();
            c.push(m.to_owned());
            return Some(c);
        }
        if done.contains(m) {
            return None;
        }
        path.push(m.to_owned());
        for next in edges.get(m).into_iter().flatten() {
            if let Some(c) = visit(next, edges, path, done) {
                return Some(c);
            }
        }
        path.pop();
        done.insert(m.to_owned());
        None
    }
    let mut done = BTreeSet::new();
    edges
        .keys()
        .find_map(|m| visit(m, edges, &mut Vec::new(), &mut done))
}

#[test]
fn product_modules_import_each_other_one_way() {
    for src in [
        "service/src",
        "client-lib/src",
        "common/src",
        "client-ffi/src",
    ] {
        let edges = graph(src);
        assert!(edges.len() > 2, "{src}: no modules found");
        if let Some(c) = cycle(&edges) {
            panic!(
                "{src}: modules import each other in a circle: {}",
                c.join(" -> ")
            );
        }
    }
}

#[test]
fn grouped_imports_and_root_items_are_seen() {
    assert_eq!(
        crate_refs("use crate::{a::X, b::{Y, Z}, W};\nuse crate::c::V;"),
        ["a", "b", "W", "c"]
    );
    let modules = ["a", "b"].map(String::from).into();
    let exported = reexports(
        "pub use a::{X, Y as Z};\npub use b::W;\npub use ext::Q;",
        &modules,
    );
    assert_eq!(
        exported.into_iter().collect::<Vec<_>>(),
        [("W", "b"), ("X", "a"), ("Z", "a")].map(|(k, v)| (k.to_owned(), v.to_owned()))
    );
    let code =
        "#[cfg(test)]\nmod tests {\n    use crate::a;\n}\nfn f() {}\n#[cfg(test)]\nuse crate::b;\n";
    assert_eq!(without_tests(code), "fn f() {}\n");
}
