//! The one duration grammar of the configuration, the command line, key
//! policies and `expires`: a whole number and a unit, `ms`, `s`, `m`, `h`, `d`
//! or `w` (`500ms`, `90s`, `30m`, `12h`, `7d`, `4w`). Where a bare number has
//! always meant seconds (configuration values), the caller says so; elsewhere
//! the unit is required, so `7` is never silently seven seconds.

use std::time::Duration;

use anyhow::{Context, bail};

/// What a number without a unit means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Bare {
    /// Seconds (configuration values).
    Seconds,
    /// Nothing: the unit is required.
    Refused,
}

/// Parses a duration of the grammar above. Bounds (above zero, at most some
/// length) are the caller's policy.
pub fn parse_duration(s: &str, bare: Bare) -> anyhow::Result<Duration> {
    let s = s.trim();
    let split = s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len());
    let (num, unit) = s.split_at(split);
    if num.is_empty() {
        bail!("expected a number followed by ms, s, m, h, d or w");
    }
    let n: u64 = num.parse().context("duration too large")?;
    let ms: u64 = match unit {
        "ms" => 1,
        "s" => 1000,
        "" if bare == Bare::Seconds => 1000,
        "" => bail!("a duration needs a unit: ms, s, m, h, d or w"),
        "m" => 60_000,
        "h" => 3_600_000,
        "d" => 86_400_000,
        "w" => 7 * 86_400_000,
        other => bail!("unknown duration unit {other:?} (use ms, s, m, h, d or w)"),
    };
    Ok(Duration::from_millis(
        n.checked_mul(ms).context("duration too large")?,
    ))
}

/// Longest expiry anyone can write down: about 100 years (keeps ms arithmetic far
/// from overflow).
const MAX_SPEC: Duration = Duration::from_secs(100 * 366 * 86_400);

/// An expiry length (`90s`, `30m`, `12h`, `7d`, `4w`): the one duration grammar
/// (`duration`) with the unit required, in whole seconds (expiries are stored
/// as seconds), above zero and under [`MAX_SPEC`].
pub fn expiry_duration(s: &str) -> anyhow::Result<Duration> {
    let d = parse_duration(s, Bare::Refused)?;
    if d.is_zero() {
        bail!("a duration must be above zero");
    }
    if d.subsec_nanos() != 0 {
        bail!("an expiry is a whole number of seconds");
    }
    if d > MAX_SPEC {
        bail!("a duration must be under 100 years");
    }
    Ok(d)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_unit_parses_the_same_everywhere() {
        let secs = Duration::from_secs;
        for bare in [Bare::Seconds, Bare::Refused] {
            let p = |s| parse_duration(s, bare).unwrap();
            assert_eq!(p("500ms"), Duration::from_millis(500));
            assert_eq!(p("90s"), secs(90));
            assert_eq!(p(" 30m "), secs(1800));
            assert_eq!(p("12h"), secs(12 * 3600));
            assert_eq!(p("7d"), secs(7 * 86_400));
            assert_eq!(p("1w"), secs(7 * 86_400));
            for bad in [
                "",
                "s",
                "1y",
                "-1s",
                "1.5h",
                "1 h",
                "1H",
                "99999999999999999999s",
            ] {
                assert!(parse_duration(bad, bare).is_err(), "{bad:?}");
            }
            assert!(parse_duration(&format!("{}w", u64::MAX / 1000), bare).is_err());
        }
        assert_eq!(parse_duration("30", Bare::Seconds).unwrap(), secs(30));
        assert!(parse_duration("30", Bare::Refused).is_err());
    }
}
