//! User and group names from passwd- and group-format files
//! (`name:x:id:...`): what the daemon's `--socket-group` names and what the
//! client's "may not connect" message prints.

use std::path::Path;

/// The host's user database.
pub const PASSWD: &str = "/etc/passwd";
/// The host's group database.
pub const GROUP: &str = "/etc/group";

/// The `(name, id)` of every well-formed line of `text`.
fn entries(text: &str) -> impl Iterator<Item = (&str, u32)> {
    text.lines().filter_map(|line| {
        let mut fields = line.split(':');
        let name = fields.next().filter(|n| !n.is_empty())?;
        let id = fields.nth(1)?.parse().ok()?;
        Some((name, id))
    })
}

/// The name `file` gives `id`, if it can be read and names it.
pub fn name_of(file: impl AsRef<Path>, id: u32) -> Option<String> {
    let text = std::fs::read_to_string(file).ok()?;
    let name = entries(&text).find(|&(_, found)| found == id)?.0;
    Some(name.to_owned())
}

/// The id `file` gives `name`, if it can be read and names it.
pub fn id_of(file: impl AsRef<Path>, name: &str) -> Option<u32> {
    let text = std::fs::read_to_string(file).ok()?;
    let id = entries(&text).find(|&(found, _)| found == name)?.1;
    Some(id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_and_ids_come_from_well_formed_lines_only() {
        let file = std::env::temp_dir().join(format!("enea-etc-ids-{}", std::process::id()));
        std::fs::write(
            &file,
            "root:x:0:0::/root:/bin/sh\n:x:5:\nbroken\nshell:x:2000:2000::/:/bin/sh\nodd:x:nan:\n",
        )
        .unwrap();
        assert_eq!(name_of(&file, 0).as_deref(), Some("root"));
        assert_eq!(name_of(&file, 2000).as_deref(), Some("shell"));
        assert_eq!((name_of(&file, 5), name_of(&file, 2001)), (None, None));
        assert_eq!(
            (id_of(&file, "shell"), id_of(&file, "odd")),
            (Some(2000), None)
        );
        assert_eq!(id_of(&file, "broken"), None);
        std::fs::remove_file(&file).unwrap();
        assert_eq!(name_of(&file, 0), None, "an unreadable file names nobody");
    }
}
