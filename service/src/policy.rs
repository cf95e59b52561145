//! Who may use the region: a per-caller access policy, checked on every call.
//!
//! A caller is known by the identity its transport vouches for: on kernel
//! binder the driver's calling uid, on the Unix socket `SO_PEERCRED` of the
//! connection (uid and gid). Each caller gets one [`Right`]:
//!
//! | right  | getBufferSize | getReadOnlyBuffer | getBuffer |
//! |--------|---------------|-------------------|-----------|
//! | `rw`   | yes           | yes               | yes       |
//! | `ro`   | yes           | yes               | no        |
//! | `none` | no            | no                | no        |
//!
//! Rules come from an access file and from `--access` flags, one rule each,
//! in the same syntax: `uid:<N>=<right>`, `gid:<N>=<right>` or
//! `others=<right>`. A later rule for the same subject replaces an earlier
//! one, so flags (read after the file) override it. The right of a caller
//! is, first match wins:
//!
//! 1. the `uid:` rule for its uid;
//! 2. `rw` if it is root or the daemon's own uid;
//! 3. the `gid:` rule for its gid (socket transport only: kernel binder
//!    carries no gid);
//! 4. the `others=` rule;
//! 5. the platform default: `none` on a Linux host (secure by default),
//!    `rw` on Android, where SELinux decides who may call the HAL at all.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

/// What a caller may do with the region.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum Right {
    /// Nothing: every call is refused.
    None,
    /// The size and the read-only view.
    ReadOnly,
    /// Everything, the read-write fd included.
    ReadWrite,
}

impl Right {
    fn parse(text: &str) -> Option<Right> {
        match text {
            "none" => Some(Right::None),
            "ro" => Some(Right::ReadOnly),
            "rw" => Some(Right::ReadWrite),
            _ => None,
        }
    }
}

impl fmt::Display for Right {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Right::None => "none",
            Right::ReadOnly => "ro",
            Right::ReadWrite => "rw",
        })
    }
}

/// Whom a rule is about.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Subject {
    /// One uid.
    Uid(u32),
    /// Callers whose (effective) gid is this one.
    Gid(u32),
    /// Everyone no other rule names.
    Others,
}

/// One access rule: `subject` gets `right`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Rule {
    /// Whom it is about.
    pub subject: Subject,
    /// What they get.
    pub right: Right,
}

const RULE_SYNTAX: &str = "use uid:<N>=<rw|ro|none>, gid:<N>=<rw|ro|none> or others=<rw|ro|none>";

/// Parses one rule such as `uid:2000=ro`, `gid:1000=rw` or `others=none`.
pub fn parse_rule(text: &str) -> Result<Rule, String> {
    let bad = || format!("'{text}' is not an access rule: {RULE_SYNTAX}");
    let (who, right) = text.trim().split_once('=').ok_or_else(bad)?;
    let right = Right::parse(right.trim()).ok_or_else(bad)?;
    let who = who.trim();
    let id = |digits: &str| -> Result<u32, String> {
        digits
            .parse::<u32>()
            .ok()
            // (uid_t)-1 means "no id" to the kernel; nobody can hold it.
            .filter(|&n| n != u32::MAX)
            .ok_or_else(bad)
    };
    let subject = if who == "others" {
        Subject::Others
    } else if let Some(n) = who.strip_prefix("uid:") {
        Subject::Uid(id(n)?)
    } else if let Some(n) = who.strip_prefix("gid:") {
        Subject::Gid(id(n)?)
    } else {
        return Err(bad());
    };
    Ok(Rule { subject, right })
}

/// Parses an access file: one rule per line; `#` starts a comment; blank
/// lines are ignored. Errors name the file and the line.
pub fn parse_file(path: &Path, text: &str) -> Result<Vec<Rule>, String> {
    text.lines()
        .enumerate()
        .filter_map(|(n, line)| {
            let line = line.split('#').next().unwrap_or("").trim();
            (!line.is_empty())
                .then(|| parse_rule(line).map_err(|e| format!("{}:{}: {e}", path.display(), n + 1)))
        })
        .collect()
}

/// Reads and parses the access file at `path`.
pub fn load_file(path: &Path) -> Result<Vec<Rule>, String> {
    let text = std::fs::read_to_string(path)
        .map_err(|e| format!("cannot read access file {}: {e}", path.display()))?;
    parse_file(path, &text)
}

/// The policy in force: rules plus the built-in defaults.
#[derive(Clone, Debug)]
pub struct Policy {
    uids: HashMap<u32, Right>,
    gids: HashMap<u32, Right>,
    others: Right,
    owner: u32,
}

impl Policy {
    /// A policy from `rules` (later rules win), for a daemon running as
    /// uid `owner`, where unnamed callers get `default`.
    pub fn new(rules: &[Rule], owner: u32, default: Right) -> Self {
        let mut policy = Policy {
            uids: HashMap::new(),
            gids: HashMap::new(),
            others: default,
            owner,
        };
        for rule in rules {
            match rule.subject {
                Subject::Uid(uid) => {
                    policy.uids.insert(uid, rule.right);
                }
                Subject::Gid(gid) => {
                    policy.gids.insert(gid, rule.right);
                }
                Subject::Others => policy.others = rule.right,
            }
        }
        policy
    }

    /// The right of a caller with `uid` and, when the transport knows it, `gid`.
    pub fn right_of(&self, uid: u32, gid: Option<u32>) -> Right {
        if let Some(&right) = self.uids.get(&uid) {
            return right;
        }
        if uid == 0 || uid == self.owner {
            return Right::ReadWrite;
        }
        if let Some(&right) = gid.and_then(|g| self.gids.get(&g)) {
            return right;
        }
        self.others
    }

    /// One line for the start-up log.
    pub fn describe(&self) -> String {
        let mut parts: Vec<String> = vec![if self.owner == 0 {
            "root rw".to_owned()
        } else {
            format!("root and the daemon's uid {} rw", self.owner)
        }];
        let mut uids: Vec<_> = self.uids.iter().collect();
        uids.sort();
        parts.extend(uids.iter().map(|(u, r)| format!("uid:{u}={r}")));
        let mut gids: Vec<_> = self.gids.iter().collect();
        gids.sort();
        parts.extend(gids.iter().map(|(g, r)| format!("gid:{g}={r}")));
        parts.push(format!("others={}", self.others));
        parts.join(", ")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rules_parse() {
        assert_eq!(
            parse_rule("uid:2000=ro"),
            Ok(Rule {
                subject: Subject::Uid(2000),
                right: Right::ReadOnly
            })
        );
        assert_eq!(
            parse_rule(" gid:0 = rw "),
            Ok(Rule {
                subject: Subject::Gid(0),
                right: Right::ReadWrite
            })
        );
        assert_eq!(
            parse_rule("others=none"),
            Ok(Rule {
                subject: Subject::Others,
                right: Right::None
            })
        );
        for bad in [
            "",
            "uid:2000",
            "uid:2000=write",
            "uid:-1=rw",
            "uid:4294967295=rw",
            "uid:abc=rw",
            "user:shell=rw",
            "others",
            "=rw",
        ] {
            let e = parse_rule(bad).unwrap_err();
            assert!(e.contains("is not an access rule"), "{bad:?}: {e}");
        }
    }

    #[test]
    fn files_skip_comments_and_name_the_bad_line() {
        let path = Path::new("/etc/x.conf");
        let rules = parse_file(path, "# header\n\nuid:1=rw # me\n  others=ro\n").unwrap();
        assert_eq!(rules.len(), 2);
        let e = parse_file(path, "uid:1=rw\nuid:2=maybe\n").unwrap_err();
        assert!(e.starts_with("/etc/x.conf:2: 'uid:2=maybe'"), "{e}");
    }

    #[test]
    fn linux_defaults_give_root_and_the_owner_rw_and_others_nothing() {
        let p = Policy::new(&[], 1000, Right::None);
        assert_eq!(p.right_of(0, Some(0)), Right::ReadWrite);
        assert_eq!(p.right_of(1000, Some(1000)), Right::ReadWrite);
        assert_eq!(p.right_of(2000, Some(2000)), Right::None);
        assert_eq!(p.right_of(2000, None), Right::None);
    }

    #[test]
    fn first_match_wins_uid_then_builtin_then_gid_then_others() {
        let rules = [
            parse_rule("others=ro").unwrap(),
            parse_rule("gid:3000=rw").unwrap(),
            parse_rule("uid:2001=none").unwrap(),
            parse_rule("gid:0=none").unwrap(),
            parse_rule("uid:1000=ro").unwrap(),
        ];
        let p = Policy::new(&rules, 1000, Right::None);
        assert_eq!(p.right_of(2000, Some(2000)), Right::ReadOnly, "others");
        assert_eq!(p.right_of(2000, Some(3000)), Right::ReadWrite, "gid rule");
        assert_eq!(p.right_of(2000, None), Right::ReadOnly, "no gid known");
        assert_eq!(p.right_of(2001, Some(3000)), Right::None, "uid beats gid");
        assert_eq!(p.right_of(0, Some(0)), Right::ReadWrite, "root beats gid");
        assert_eq!(
            p.right_of(1000, Some(3000)),
            Right::ReadOnly,
            "uid beats owner"
        );
    }

    #[test]
    fn later_rules_replace_earlier_ones() {
        let rules = [
            parse_rule("uid:5=rw").unwrap(),
            parse_rule("uid:5=none").unwrap(),
        ];
        assert_eq!(
            Policy::new(&rules, 1, Right::ReadWrite).right_of(5, None),
            Right::None
        );
        // Android's default lets through whatever SELinux does.
        assert_eq!(
            Policy::new(&[], 1, Right::ReadWrite).right_of(7, None),
            Right::ReadWrite
        );
    }
}
