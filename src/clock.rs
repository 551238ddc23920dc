//! Wall-clock time as Unix milliseconds, and RFC 3339 / date parsing and formatting.
//!
//! Written here rather than pulled in as a crate because pixbin needs only UTC
//! formatting and two input shapes; the civil-date conversion follows the
//! days-from-civil algorithm described by Howard Hinnant ("chrono-Compatible
//! Low-Level Date Algorithms").

use std::time::{SystemTime, UNIX_EPOCH};

/// Milliseconds since the Unix epoch, now.
pub fn now_ms() -> i64 {
    match SystemTime::now().duration_since(UNIX_EPOCH) {
        Ok(d) => d.as_millis() as i64,
        Err(e) => -(e.duration().as_millis() as i64),
    }
}

/// Days since 1970-01-01 for a proleptic Gregorian date.
fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    let y = if m <= 2 { y - 1 } else { y };
    let era = if y >= 0 { y } else { y - 399 } / 400;
    let yoe = y - era * 400;
    let m = m as i64;
    let doy = (153 * (if m > 2 { m - 3 } else { m + 9 }) + 2) / 5 + d as i64 - 1;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468
}

/// (year, month, day) for a count of days since 1970-01-01.
fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let z = z + 719_468;
    let era = if z >= 0 { z } else { z - 146_096 } / 146_097;
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let y = yoe + era * 400;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let d = (doy - (153 * mp + 2) / 5 + 1) as u32;
    let m = if mp < 10 { mp + 3 } else { mp - 9 } as u32;
    (if m <= 2 { y + 1 } else { y }, m, d)
}

/// Formats Unix milliseconds as `YYYY-MM-DDTHH:MM:SSZ` (UTC, second precision).
pub fn rfc3339(ms: i64) -> String {
    let secs = ms.div_euclid(1000);
    let days = secs.div_euclid(86_400);
    let rem = secs.rem_euclid(86_400);
    let (y, m, d) = civil_from_days(days);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        rem / 3600,
        (rem / 60) % 60,
        rem % 60
    )
}

/// Formats the UTC day of Unix milliseconds as `YYYY-MM-DD`.
pub fn date(ms: i64) -> String {
    rfc3339(ms)[..10].to_string()
}

/// The day number (days since the epoch, UTC) of Unix milliseconds.
pub fn day_of(ms: i64) -> i64 {
    ms.div_euclid(86_400_000)
}

fn digits(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

/// Parses `YYYY-MM-DD` (midnight UTC) or an RFC 3339 date-time (`Z` or `±HH:MM`
/// offset, optional fractional seconds) into Unix milliseconds.
pub fn parse_time(s: &str) -> Option<i64> {
    let s = s.trim();
    if s.len() < 10 || !s.is_ascii() {
        return None;
    }
    let (date_part, rest) = s.split_at(10);
    let b = date_part.as_bytes();
    if b[4] != b'-' || b[7] != b'-' {
        return None;
    }
    let y = digits(&date_part[0..4])?;
    let mo = digits(&date_part[5..7])? as u32;
    let d = digits(&date_part[8..10])? as u32;
    if !(1..=12).contains(&mo) || d == 0 || d > days_in_month(y, mo) {
        return None;
    }
    let day_ms = days_from_civil(y, mo, d) * 86_400_000;
    if rest.is_empty() {
        return Some(day_ms);
    }
    let rest = rest.strip_prefix(['T', 't', ' '])?;
    if rest.len() < 8 {
        return None;
    }
    let (hms, mut tail) = rest.split_at(8);
    let hb = hms.as_bytes();
    if hb[2] != b':' || hb[5] != b':' {
        return None;
    }
    let h = digits(&hms[0..2])?;
    let mi = digits(&hms[3..5])?;
    let sec = digits(&hms[6..8])?;
    if h > 23 || mi > 59 || sec > 60 {
        return None;
    }
    let mut frac_ms = 0;
    if let Some(f) = tail.strip_prefix('.') {
        let n = f.bytes().take_while(u8::is_ascii_digit).count();
        if n == 0 {
            return None;
        }
        let mut scaled = format!("{:0<3}", &f[..n.min(3)]);
        scaled.truncate(3);
        frac_ms = digits(&scaled)?;
        tail = &f[n..];
    }
    let offset_min = match tail {
        "Z" | "z" => 0,
        t if t.len() == 6 && (t.starts_with('+') || t.starts_with('-')) && &t[3..4] == ":" => {
            let oh = digits(&t[1..3])?;
            let om = digits(&t[4..6])?;
            if oh > 23 || om > 59 {
                return None;
            }
            let v = oh * 60 + om;
            if t.starts_with('-') { -v } else { v }
        }
        _ => return None,
    };
    Some(day_ms + ((h * 60 + mi - offset_min) * 60 + sec) * 1000 + frac_ms)
}

fn days_in_month(y: i64, m: u32) -> u32 {
    match m {
        2 if (y % 4 == 0 && y % 100 != 0) || y % 400 == 0 => 29,
        2 => 28,
        4 | 6 | 9 | 11 => 30,
        _ => 31,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formats_known_instants() {
        assert_eq!(rfc3339(0), "1970-01-01T00:00:00Z");
        assert_eq!(rfc3339(951_782_400_000), "2000-02-29T00:00:00Z");
        assert_eq!(rfc3339(1_795_000_000_123), "2026-11-18T11:06:40Z");
        assert_eq!(rfc3339(-1000), "1969-12-31T23:59:59Z");
    }

    #[test]
    fn parses_dates_and_times() {
        assert_eq!(parse_time("1970-01-01"), Some(0));
        assert_eq!(parse_time("2000-02-29T00:00:00Z"), Some(951_782_400_000));
        assert_eq!(
            parse_time("2026-11-18T12:06:40.123+01:00"),
            Some(1_795_000_000_123)
        );
        assert_eq!(
            parse_time("2026-11-18T11:06:40.5Z"),
            Some(1_795_000_000_500)
        );
        for bad in [
            "",
            "2026-13-01",
            "2026-02-30",
            "2026-1-01",
            "2026-11-18T25:00:00Z",
            "2026-11-18T10:00:00",
            "x026-11-18",
            "2026-11-18T10:00:00+0100",
        ] {
            assert_eq!(parse_time(bad), None, "{bad}");
        }
    }

    #[test]
    fn round_trips_through_format() {
        for ms in [
            0i64,
            86_399_999,
            1_700_000_000_000,
            4_102_444_800_000,
            -86_400_000 * 400,
        ] {
            let s = rfc3339(ms);
            assert_eq!(parse_time(&s), Some(ms.div_euclid(1000) * 1000), "{s}");
        }
    }
}
