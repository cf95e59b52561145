//! SELinux policy sources (`*.te`, `attributes`) and context files, parsed
//! statement by statement (not pattern-matched) so that every name used in a
//! type position can be checked against the declarations.

use std::collections::{BTreeMap, BTreeSet};

/// Platform (system/sepolicy public) types and attributes this policy relies
/// on. Anything else it names must be declared in sepolicy/.
pub const PLATFORM_TYPES: &[&str] = &[
    "domain",               // every process type
    "file_type",            // every file type
    "exec_type",            // entry points for init_daemon_domain
    "vendor_file_type",     // files on /vendor (Treble)
    "tmpfs",                // label of the shmem mount memfds live on
    "servicemanager",       // binder context manager
    "hal_service_type",     // services that are HALs
    "service_manager_type", // anything in service_contexts
    "halserverdomain",      // set by hal_server_domain()
    "halclientdomain",      // set by hal_client_domain()
];

/// Platform te_macros this policy calls, with how many arguments each takes.
pub const PLATFORM_MACROS: &[(&str, usize)] = &[
    ("binder_use", 1),
    ("binder_call", 2),
    ("init_daemon_domain", 1),
    ("hal_server_domain", 2),
    ("hal_client_domain", 2),
    ("hal_attribute_service", 2),
    ("add_service", 2),
];

/// A name used by the policy, and where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Use {
    /// The type or attribute name.
    pub name: String,
    /// `file: statement` for error messages.
    pub at: String,
}

/// One `allow` rule, with the names its sets mention.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Allow {
    /// Source types/attributes.
    pub source: Vec<String>,
    /// Target types/attributes.
    pub target: Vec<String>,
    /// Object classes.
    pub classes: Vec<String>,
    /// Permissions.
    pub perms: Vec<String>,
}

/// What the policy sources declare and use.
#[derive(Debug, Default)]
pub struct Policy {
    /// `type` declarations: name -> attributes given in the declaration or by
    /// `typeattribute`.
    pub types: BTreeMap<String, BTreeSet<String>>,
    /// `attribute` declarations.
    pub attributes: BTreeSet<String>,
    /// Names used in type positions.
    pub uses: Vec<Use>,
    /// Macro calls: (name, args, where).
    pub macros: Vec<(String, Vec<String>, String)>,
    /// `type_transition` rules: (source, target, class, new type).
    pub transitions: Vec<(String, String, String, String)>,
    /// `allow` rules.
    pub allows: Vec<Allow>,
}

impl Policy {
    /// Is `name` declared here (type or attribute)?
    pub fn declares(&self, name: &str) -> bool {
        self.types.contains_key(name) || self.attributes.contains(name)
    }
}

fn tokenize(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let line = line.split('#').next().unwrap_or("");
        let mut word = String::new();
        let mut in_quote = false;
        for c in line.chars() {
            if in_quote {
                word.push(c);
                if c == '"' {
                    out.push(std::mem::take(&mut word));
                    in_quote = false;
                }
            } else if c == '"' {
                word.push(c);
                in_quote = true;
            } else if c.is_alphanumeric() || c == '_' || c == '.' {
                word.push(c);
            } else {
                if !word.is_empty() {
                    out.push(std::mem::take(&mut word));
                }
                if !c.is_whitespace() {
                    out.push(c.to_string());
                }
            }
        }
        if !word.is_empty() {
            out.push(word);
        }
    }
    out
}

/// Reads a type set: a name, or `{ a -b ... }`, `~x`, `*`. Returns the names
/// it mentions (including excluded ones: they must exist too).
fn read_set(toks: &[String], i: &mut usize) -> Result<Vec<String>, String> {
    let mut names = Vec::new();
    let is_name = |t: &str| {
        t.chars()
            .all(|c| c.is_alphanumeric() || c == '_' || c == '.')
    };
    match toks.get(*i).map(String::as_str) {
        Some("{") => {
            *i += 1;
            while let Some(t) = toks.get(*i) {
                *i += 1;
                match t.as_str() {
                    "}" => return Ok(names),
                    "-" | "~" | "*" => {}
                    n if is_name(n) => names.push(n.to_owned()),
                    other => return Err(format!("unexpected {other:?} in a set")),
                }
            }
            Err("unclosed {".into())
        }
        Some("~") => {
            *i += 1;
            read_set(toks, i)
        }
        Some("*") => {
            *i += 1;
            Ok(names)
        }
        Some(n) if is_name(n) => {
            *i += 1;
            Ok(vec![n.to_owned()])
        }
        other => Err(format!("expected a type set, found {other:?}")),
    }
}

fn expect(toks: &[String], i: &mut usize, what: &str) -> Result<(), String> {
    if toks.get(*i).map(String::as_str) == Some(what) {
        *i += 1;
        Ok(())
    } else {
        Err(format!("expected {what:?}, found {:?}", toks.get(*i)))
    }
}

/// Parses one policy source file into `policy`.
pub fn parse_into(policy: &mut Policy, file: &str, text: &str) -> Result<(), String> {
    let toks = tokenize(text);
    let mut i = 0;
    while i < toks.len() {
        let start = i;
        let kw = toks[i].clone();
        i += 1;
        let at = |end: usize| format!("{file}: {}", toks[start..end.min(toks.len())].join(" "));
        match kw.as_str() {
            "type" => {
                let name = toks.get(i).cloned().ok_or("type without a name")?;
                i += 1;
                let mut attrs = BTreeSet::new();
                while toks.get(i).map(String::as_str) == Some(",") {
                    attrs.insert(toks.get(i + 1).cloned().ok_or("dangling ,")?);
                    i += 2;
                }
                expect(&toks, &mut i, ";")?;
                for a in &attrs {
                    policy.uses.push(Use {
                        name: a.clone(),
                        at: at(i),
                    });
                }
                if policy.types.insert(name.clone(), attrs).is_some() {
                    return Err(format!("{}: type {name} declared twice", at(i)));
                }
            }
            "attribute" => {
                let name = toks.get(i).cloned().ok_or("attribute without a name")?;
                i += 1;
                expect(&toks, &mut i, ";")?;
                if !policy.attributes.insert(name.clone()) {
                    return Err(format!("{}: attribute {name} declared twice", at(i)));
                }
            }
            "expandattribute" => {
                let name = toks
                    .get(i)
                    .cloned()
                    .ok_or("expandattribute without a name")?;
                i += 2;
                expect(&toks, &mut i, ";")?;
                policy.uses.push(Use { name, at: at(i) });
            }
            "typeattribute" => {
                let name = toks.get(i).cloned().ok_or("typeattribute without a type")?;
                i += 1;
                let mut attrs = vec![toks
                    .get(i)
                    .cloned()
                    .ok_or("typeattribute without attribute")?];
                i += 1;
                while toks.get(i).map(String::as_str) == Some(",") {
                    attrs.push(toks.get(i + 1).cloned().ok_or("dangling ,")?);
                    i += 2;
                }
                expect(&toks, &mut i, ";")?;
                policy.uses.push(Use {
                    name: name.clone(),
                    at: at(i),
                });
                for a in attrs {
                    policy.uses.push(Use {
                        name: a.clone(),
                        at: at(i),
                    });
                    policy.types.entry(name.clone()).or_default().insert(a);
                }
            }
            "allow" | "neverallow" | "auditallow" | "dontaudit" => {
                let src = read_set(&toks, &mut i)?;
                let tgt = read_set(&toks, &mut i)?;
                expect(&toks, &mut i, ":")?;
                let classes = read_set(&toks, &mut i)?;
                let perms = read_set(&toks, &mut i)?;
                expect(&toks, &mut i, ";")?;
                for n in src.iter().chain(tgt.iter()).filter(|n| *n != "self") {
                    policy.uses.push(Use {
                        name: n.clone(),
                        at: at(i),
                    });
                }
                if kw == "allow" {
                    policy.allows.push(Allow {
                        source: src,
                        target: tgt,
                        classes,
                        perms,
                    });
                }
            }
            "type_transition" => {
                let src = read_set(&toks, &mut i)?;
                let tgt = read_set(&toks, &mut i)?;
                expect(&toks, &mut i, ":")?;
                let class = read_set(&toks, &mut i)?;
                let new = toks
                    .get(i)
                    .cloned()
                    .ok_or("type_transition without a result")?;
                i += 1;
                if toks.get(i).is_some_and(|t| t.starts_with('"')) {
                    i += 1;
                }
                expect(&toks, &mut i, ";")?;
                for n in src.iter().chain(tgt.iter()).chain(std::iter::once(&new)) {
                    policy.uses.push(Use {
                        name: n.clone(),
                        at: at(i),
                    });
                }
                for s in &src {
                    for t in &tgt {
                        for c in &class {
                            policy
                                .transitions
                                .push((s.clone(), t.clone(), c.clone(), new.clone()));
                        }
                    }
                }
            }
            name if toks.get(i).map(String::as_str) == Some("(") => {
                i += 1;
                let mut args = Vec::new();
                loop {
                    args.extend(read_set(&toks, &mut i)?);
                    match toks.get(i).map(String::as_str) {
                        Some(",") => i += 1,
                        Some(")") => {
                            i += 1;
                            break;
                        }
                        other => return Err(format!("{}: bad macro call at {other:?}", at(i))),
                    }
                }
                for a in &args {
                    policy.uses.push(Use {
                        name: a.clone(),
                        at: at(i),
                    });
                }
                policy.macros.push((name.to_owned(), args, at(i)));
            }
            other => return Err(format!("{file}: unknown statement starting with {other:?}")),
        }
    }
    Ok(())
}

/// Parses every policy source (`attributes`, `*.te`) under `dir_rel`.
pub fn load(dir_rel: &str) -> Policy {
    let dir = crate::repo_root().join(dir_rel);
    let mut policy = Policy::default();
    for rel in crate::files_under(&dir) {
        if rel == "attributes" || rel.ends_with(".te") {
            let file = format!("{dir_rel}/{rel}");
            let text = crate::read(&file);
            parse_into(&mut policy, &file, &text).unwrap_or_else(|e| panic!("{file}: {e}"));
        }
    }
    policy
}

/// One line of a context file: the key (a path regex or a service name) and
/// the type of its `user:role:type:level` label.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ContextLine {
    /// Path regex (file_contexts) or service name (service_contexts).
    pub key: String,
    /// The label's type field.
    pub ty: String,
    /// 1-based line number.
    pub line: usize,
}

/// Parses file_contexts or service_contexts: `key [filetype] label`.
pub fn contexts(text: &str) -> Result<Vec<ContextLine>, String> {
    let mut out = Vec::new();
    for (n, raw) in text.lines().enumerate() {
        let line = raw.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let (key, label) = match words.as_slice() {
            [k, l] | [k, _, l] => (*k, *l),
            _ => return Err(format!("line {}: expected `key [type] label`", n + 1)),
        };
        let parts: Vec<&str> = label.split(':').collect();
        if parts.len() < 4 || parts[0] != "u" || parts[1] != "object_r" {
            return Err(format!(
                "line {}: {label:?} is not u:object_r:<type>:<level>",
                n + 1
            ));
        }
        out.push(ContextLine {
            key: key.to_owned(),
            ty: parts[2].to_owned(),
            line: n + 1,
        });
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_statements_and_collects_uses() {
        let mut p = Policy::default();
        let te = "attribute a_client; # c\ntype t, domain;\ntype_transition t tmpfs:file t_tmpfs;\nallow { a_client -x } t_tmpfs:file { read map };\nbinder_call(a_client, t)\n";
        parse_into(&mut p, "x.te", te).unwrap();
        assert!(p.declares("t") && p.declares("a_client"));
        let used: BTreeSet<_> = p.uses.iter().map(|u| u.name.as_str()).collect();
        assert!(used.is_superset(&BTreeSet::from([
            "domain", "tmpfs", "t_tmpfs", "x", "a_client"
        ])));
        assert_eq!(p.macros[0].0, "binder_call");
        assert_eq!(p.transitions[0].3, "t_tmpfs");
        assert!(parse_into(&mut p, "y.te", "allow a b;").is_err());
    }

    #[test]
    fn context_lines() {
        let c = contexts("# x\n/a\\.b  u:object_r:t:s0\n/c -- u:object_r:u:s0\n").unwrap();
        assert_eq!(
            (c[0].key.as_str(), c[0].ty.as_str(), c[0].line),
            ("/a\\.b", "t", 2)
        );
        assert_eq!(c[1].ty, "u");
        assert!(contexts("/a t\n").is_err());
    }
}
