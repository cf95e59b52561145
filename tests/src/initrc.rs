//! Reads a `service` definition from an Android init.rc file, so tests can
//! start the daemon exactly as init would: same path, arguments, user, group.

use std::path::Path;

/// One `service` block of an init.rc.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ServiceDef {
    /// The service name (`service <name> ...`).
    pub name: String,
    /// Executable path.
    pub path: String,
    /// Arguments after the path.
    pub args: Vec<String>,
    /// `user` option (init's default is root).
    pub user: String,
    /// `group` option: primary group first, then supplementary ones.
    pub groups: Vec<String>,
    /// `class` option.
    pub classes: Vec<String>,
    /// `interface <kind> <name>` options.
    pub interfaces: Vec<(String, String)>,
}

/// Parses the `service` block called `name` out of init.rc text.
pub fn parse_service(text: &str, name: &str) -> Result<ServiceDef, String> {
    let mut found: Option<ServiceDef> = None;
    for (n, raw) in text.lines().enumerate() {
        let line = raw.split('#').next().unwrap_or("").trim();
        if line.is_empty() {
            continue;
        }
        let words: Vec<&str> = line.split_whitespace().collect();
        let is_section = matches!(words[0], "service" | "on" | "import");
        if is_section {
            if found.is_some() {
                break;
            }
            if words[0] == "service" && words.get(1) == Some(&name) {
                let path = words
                    .get(2)
                    .ok_or_else(|| format!("line {}: service {name} has no path", n + 1))?;
                found = Some(ServiceDef {
                    name: name.to_owned(),
                    path: (*path).to_owned(),
                    args: words[3..].iter().map(|s| s.to_string()).collect(),
                    user: "root".into(),
                    groups: Vec::new(),
                    classes: Vec::new(),
                    interfaces: Vec::new(),
                });
            }
            continue;
        }
        let Some(def) = found.as_mut() else { continue };
        match words[0] {
            "user" => def.user = words.get(1).copied().unwrap_or("root").to_owned(),
            "group" => def.groups = words[1..].iter().map(|s| s.to_string()).collect(),
            "class" => def.classes = words[1..].iter().map(|s| s.to_string()).collect(),
            "interface" if words.len() == 3 => def
                .interfaces
                .push((words[1].to_owned(), words[2].to_owned())),
            _ => {}
        }
    }
    found.ok_or_else(|| format!("no `service {name}` block"))
}

/// Reads and parses `name` from the init.rc at `path`.
pub fn load_service(path: &Path, name: &str) -> Result<ServiceDef, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    parse_service(&text, name).map_err(|e| format!("{}: {e}", path.display()))
}

/// Looks `name` up in an /etc/passwd- or /etc/group-style file: its numeric id.
pub fn lookup_id(file: &Path, name: &str) -> Result<u32, String> {
    let text = std::fs::read_to_string(file).map_err(|e| format!("{}: {e}", file.display()))?;
    text.lines()
        .map(|l| l.split(':').collect::<Vec<_>>())
        .find(|f| f.first() == Some(&name))
        .and_then(|f| f.get(2).and_then(|id| id.parse().ok()))
        .ok_or_else(|| format!("{name} is not in {}", file.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_service_block_and_stops_at_the_next_section() {
        let rc = "on boot\n    start x\n\nservice svc /vendor/bin/hw/svc --a 1 # comment\n    class hal\n    user nobody\n    group nobody readproc\n    interface aidl pkg.IFoo/default\n\nservice other /bin/other\n    user root\n";
        let def = parse_service(rc, "svc").unwrap();
        assert_eq!(def.path, "/vendor/bin/hw/svc");
        assert_eq!(def.args, ["--a", "1"]);
        assert_eq!(def.user, "nobody");
        assert_eq!(def.groups, ["nobody", "readproc"]);
        assert_eq!(def.classes, ["hal"]);
        assert_eq!(def.interfaces, [("aidl".into(), "pkg.IFoo/default".into())]);
        assert!(parse_service(rc, "missing").is_err());
    }
}
