//! VINTF manifest and compatibility-matrix fragments, parsed with roxmltree.

use roxmltree::{Document, Node};

/// One `<hal format="aidl">` entry, reduced to what clients resolve.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AidlHal {
    /// `<name>`: the AIDL package.
    pub name: String,
    /// `<version>` values (a matrix may give a range `a-b`; kept as text).
    pub versions: Vec<String>,
    /// `(interface, instance)` pairs from `<fqname>` or `<interface>`.
    pub instances: Vec<(String, String)>,
    /// The `optional` attribute, if present.
    pub optional: Option<String>,
}

/// The root element's name and `type` attribute, and its AIDL HALs.
#[derive(Debug)]
pub struct Fragment {
    /// `manifest` or `compatibility-matrix`.
    pub root: String,
    /// `device` or `framework`.
    pub kind: String,
    /// Every `<hal format="aidl">`.
    pub hals: Vec<AidlHal>,
}

fn child_texts(node: Node<'_, '_>, tag: &str) -> Vec<String> {
    node.children()
        .filter(|c| c.has_tag_name(tag))
        .map(|c| c.text().unwrap_or("").trim().to_owned())
        .collect()
}

/// Parses a manifest or matrix fragment.
pub fn parse(text: &str) -> Result<Fragment, String> {
    let doc = Document::parse(text).map_err(|e| e.to_string())?;
    let root = doc.root_element();
    let mut hals = Vec::new();
    for hal in root.children().filter(|c| c.has_tag_name("hal")) {
        if hal.attribute("format") != Some("aidl") {
            continue;
        }
        let name = child_texts(hal, "name")
            .into_iter()
            .next()
            .ok_or("<hal> without <name>")?;
        let mut instances = Vec::new();
        for fq in child_texts(hal, "fqname") {
            let (iface, inst) = fq
                .split_once('/')
                .ok_or(format!("<fqname>{fq}</fqname> has no /"))?;
            instances.push((iface.to_owned(), inst.to_owned()));
        }
        for iface in hal.children().filter(|c| c.has_tag_name("interface")) {
            let iname = child_texts(iface, "name")
                .into_iter()
                .next()
                .ok_or("<interface> without <name>")?;
            for inst in child_texts(iface, "instance") {
                instances.push((iname.clone(), inst));
            }
        }
        hals.push(AidlHal {
            name,
            versions: child_texts(hal, "version"),
            instances,
            optional: hal.attribute("optional").map(str::to_owned),
        });
    }
    Ok(Fragment {
        root: root.tag_name().name().to_owned(),
        kind: root.attribute("type").unwrap_or("").to_owned(),
        hals,
    })
}

/// Does a matrix `<version>` (`N` or `A-B`) include `v`?
pub fn version_covers(spec: &str, v: u32) -> bool {
    match spec.split_once('-') {
        Some((a, b)) => match (a.trim().parse::<u32>(), b.trim().parse::<u32>()) {
            (Ok(a), Ok(b)) => (a..=b).contains(&v),
            _ => false,
        },
        None => spec.trim().parse::<u32>() == Ok(v),
    }
}
