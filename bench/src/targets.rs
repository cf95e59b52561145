//! The targets of the rows: a data table (`bench/targets.toml`, built into
//! the binary and parsed at run time), not code.

use std::collections::BTreeMap;

use serde::Deserialize;

/// One row key's target.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// What the row's measured value is.
    pub value: String,
    /// Printed after the value (`×`, ` ms`, …).
    #[serde(default)]
    pub unit: String,
    /// The value must be at least this.
    pub at_least: Option<f64>,
    /// The value must be at most this.
    pub at_most: Option<f64>,
    /// The row's counts must be exact too.
    #[serde(default)]
    pub exact: bool,
    /// As printed in the report.
    pub text: String,
}

impl Target {
    /// Whether `value` meets the target (`None`: reported only); `exact`
    /// is whether the row's counts were exact (ignored unless required).
    pub fn check(&self, value: f64, exact: bool) -> Option<bool> {
        if self.at_least.is_none() && self.at_most.is_none() {
            return None;
        }
        let low = self.at_least.map_or(true, |b| value >= b);
        let high = self.at_most.map_or(true, |b| value <= b);
        Some(low && high && (exact || !self.exact))
    }
}

/// The rows' targets, in the table's order.
#[derive(Clone, Debug)]
pub struct Targets(Vec<(String, Target)>);

impl Targets {
    /// Parses `text` (the format of `bench/targets.toml`).
    pub fn parse(text: &str) -> Result<Self, String> {
        let map: BTreeMap<String, Target> =
            toml::from_str(text).map_err(|e| format!("targets.toml: {e}"))?;
        for (key, t) in &map {
            if t.exact && t.at_least.is_none() && t.at_most.is_none() {
                return Err(format!("targets.toml: [{key}] is exact but has no bound"));
            }
            if t.text.trim().is_empty() {
                return Err(format!("targets.toml: [{key}] has no text"));
            }
        }
        // The table's own order: its `[key]` header lines, which must name every key once.
        let order: Vec<String> = text
            .lines()
            .filter_map(|l| l.trim().strip_prefix('[')?.strip_suffix(']'))
            .map(|k| k.trim().to_owned())
            .collect();
        let mut sorted = order.clone();
        sorted.sort();
        if !sorted.iter().eq(map.keys()) {
            return Err("targets.toml: write each row as a `[key]` table of its own".into());
        }
        let mut map = map;
        Ok(Self(
            order
                .into_iter()
                .filter_map(|k| map.remove_entry(&k))
                .collect(),
        ))
    }

    /// The table built into the binary.
    pub fn builtin() -> Result<Self, String> {
        Self::parse(include_str!("../targets.toml"))
    }

    /// Every row key and its target, in the table's order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Target)> {
        self.0.iter().map(|(k, t)| (k.as_str(), t))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_table_parses_in_order() {
        let t = Targets::builtin().unwrap();
        let keys: Vec<&str> = t.iter().map(|(k, _)| k).collect();
        assert_eq!(keys[..3], ["P1", "P1b-fault", "P1b-populate"]);
        assert_eq!(keys.last(), Some(&"P8"));
        let p4 = t.iter().find(|(k, _)| *k == "P4").unwrap().1;
        assert!(p4.exact);
        assert_eq!(p4.unit, "×");
    }

    #[test]
    fn check_applies_bounds_and_exactness() {
        let t = Targets::parse(
            "[A]\nvalue = \"x\"\nat_least = 2.0\nexact = true\ntext = \"≥ 2, exact\"\n\
             [B]\nvalue = \"y\"\nat_most = 0.25\ntext = \"≤ 0.25\"\n\
             [C]\nvalue = \"z\"\ntext = \"report\"\n",
        )
        .unwrap();
        let [a, b, c] = [0, 1, 2].map(|i| t.0[i].1.clone());
        assert_eq!(a.check(2.0, true), Some(true));
        assert_eq!(a.check(2.0, false), Some(false));
        assert_eq!(a.check(1.9, true), Some(false));
        assert_eq!(b.check(0.25, false), Some(true));
        assert_eq!(b.check(0.26, true), Some(false));
        assert_eq!(c.check(1e9, true), None);
    }

    #[test]
    fn malformed_tables_are_refused() {
        assert!(Targets::parse("[A]\nvalue = \"x\"\ntext = \"t\"\nat_leest = 1.0\n").is_err());
        assert!(Targets::parse("[A]\nvalue = \"x\"\nexact = true\ntext = \"t\"\n").is_err());
        assert!(Targets::parse("[A]\nvalue = \"x\"\ntext = \" \"\n").is_err());
        assert!(Targets::parse("A = { value = \"x\", text = \"t\" }\n").is_err());
    }
}
