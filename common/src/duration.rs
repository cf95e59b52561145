//! The one duration grammar of both command lines (written by hand:
//! android-15 ships no duration-parsing crate).

use std::time::Duration;

/// Parses `0` or a whole number with one unit: `ms`, `s`, `m` or `h`
/// (`250ms`, `5s`, `1m`, `2h`).
pub fn parse_duration(text: &str) -> Result<Duration, String> {
    let bad = || {
        format!("'{text}' is not a duration: use a whole number and ms, s, m or h (e.g. 250ms, 5s, 1m), or 0")
    };
    let digits_end = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(digits_end);
    let n: u64 = number.parse().map_err(|_| bad())?;
    let millis_per_unit: u64 = match unit {
        "" if n == 0 => 0,
        "ms" => 1,
        "s" => 1_000,
        "m" => 60_000,
        "h" => 3_600_000,
        _ => return Err(bad()),
    };
    n.checked_mul(millis_per_unit)
        .map(Duration::from_millis)
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_scales_its_number() {
        for (text, ms) in [
            ("0", 0),
            ("0ms", 0),
            ("250ms", 250),
            ("5s", 5_000),
            ("2m", 120_000),
            ("1h", 3_600_000),
        ] {
            assert_eq!(
                parse_duration(text),
                Ok(Duration::from_millis(ms)),
                "{text}"
            );
        }
    }

    #[test]
    fn anything_else_is_refused_with_the_grammar() {
        for bad in [
            "",
            "5",
            "s",
            "-1s",
            "1.5s",
            "5 s",
            "5sec",
            "1d",
            "99999999999999999999h",
        ] {
            let e = parse_duration(bad).unwrap_err();
            assert!(
                e.contains("is not a duration") && e.contains("ms, s, m or h"),
                "{bad}: {e}"
            );
        }
        assert!(parse_duration(&format!("{}h", u64::MAX / 1_000_000)).is_err());
    }
}
