//! The targets of the summary rows: a data table (`bench/targets.toml`,
//! built into the binary and parsed at run time), not code.

use std::collections::BTreeMap;

use serde::Deserialize;

/// The table as shipped.
pub const TABLE: &str = include_str!("../targets.toml");

/// One row key's target.
#[derive(Clone, Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Target {
    /// What the row's measured value is (documentation only).
    pub value: String,
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
    /// Whether `value` meets the target (`None`: reported only). `exact`
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

/// Row key → target, and the keys in the order the table lists them.
#[derive(Clone, Debug)]
pub struct Targets {
    map: BTreeMap<String, Target>,
    order: Vec<String>,
}

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
        // The table's own order (the report lists the targets so): its
        // `[key]` header lines, which name every key exactly once.
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
        Ok(Self { map, order })
    }

    /// The table built into the binary.
    pub fn builtin() -> Result<Self, String> {
        Self::parse(TABLE)
    }

    /// The target of row `key`.
    pub fn get(&self, key: &str) -> Result<&Target, String> {
        self.map
            .get(key)
            .ok_or_else(|| format!("targets.toml has no target for row {key}"))
    }

    /// Every row key the table has, in the table's order.
    pub fn keys(&self) -> impl Iterator<Item = &str> {
        self.order.iter().map(String::as_str)
    }
}

/// The row id a key is printed as: `P1b-populate` → `P1b`.
pub fn row_id(key: &str) -> &str {
    key.split_once('-').map_or(key, |(id, _)| id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_builtin_table_parses() {
        let t = Targets::builtin().unwrap();
        assert_eq!(t.get("P6").unwrap().at_most, Some(0.25));
        assert!(t.get("P4").unwrap().exact);
        assert!(t.get("nope").is_err());
        let keys: Vec<&str> = t.keys().collect();
        assert_eq!(keys[..3], ["P1", "P1b-fault", "P1b-populate"]);
        assert_eq!(keys.last(), Some(&"P7"));
    }

    #[test]
    fn check_applies_bounds_and_exactness() {
        let t = Targets::parse(
            "[A]\nvalue = \"x\"\nat_least = 2.0\nexact = true\ntext = \"≥ 2, exact\"\n\
             [B]\nvalue = \"y\"\nat_most = 0.25\ntext = \"≤ 0.25\"\n\
             [C]\nvalue = \"z\"\ntext = \"report\"\n",
        )
        .unwrap();
        let a = t.get("A").unwrap();
        assert_eq!(a.check(2.0, true), Some(true));
        assert_eq!(a.check(2.0, false), Some(false));
        assert_eq!(a.check(1.9, true), Some(false));
        let b = t.get("B").unwrap();
        assert_eq!(b.check(0.25, false), Some(true));
        assert_eq!(b.check(0.26, true), Some(false));
        assert_eq!(t.get("C").unwrap().check(1e9, true), None);
    }

    #[test]
    fn malformed_tables_are_refused() {
        assert!(Targets::parse("[A]\nvalue = \"x\"\ntext = \"t\"\nat_leest = 1.0\n").is_err());
        assert!(Targets::parse("[A]\nvalue = \"x\"\nexact = true\ntext = \"t\"\n").is_err());
        assert!(Targets::parse("[A]\nvalue = \"x\"\ntext = \" \"\n").is_err());
        assert!(Targets::parse("A = { value = \"x\", text = \"t\" }\n").is_err());
    }

    #[test]
    fn row_ids() {
        assert_eq!(row_id("P1b-populate"), "P1b");
        assert_eq!(row_id("P4"), "P4");
        assert_eq!(row_id("P5-rss-growth"), "P5");
    }
}
