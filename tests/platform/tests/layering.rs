//! Dependencies between the product crates' modules run one way: no module
//! reaches, through `crate::` paths, back into a module that reaches it.

use enea_buffer_platform_checks::{files_under, read, repo_root};
use std::collections::{BTreeMap, BTreeSet};

/// Top-level module -> the top-level modules its non-test code names.
fn graph(src: &str) -> BTreeMap<String, BTreeSet<String>> {
    let mut edges: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let re = regex::Regex::new(r"crate::([a-z_][a-z0-9_]*)").unwrap();
    for rel in files_under(&repo_root().join(src)) {
        if !rel.ends_with(".rs") || rel == "lib.rs" || rel == "main.rs" || rel.starts_with("bin/") {
            continue;
        }
        let module = rel
            .split('/')
            .next()
            .unwrap()
            .trim_end_matches(".rs")
            .to_owned();
        let text = read(&format!("{src}/{rel}"));
        let code = text.split("#[cfg(test)]").next().unwrap_or("");
        let uses = edges.entry(module.clone()).or_default();
        for c in re.captures_iter(code) {
            if c[1] != module {
                uses.insert(c[1].to_owned());
            }
        }
    }
    edges
}

/// A cycle through `from`, if any, as the modules on it.
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
        assert!(edges.len() > 1, "{src}: no modules found");
        if let Some(c) = cycle(&edges) {
            panic!(
                "{src}: modules import each other in a circle: {}",
                c.join(" -> ")
            );
        }
    }
}
