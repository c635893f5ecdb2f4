//! Graphite's time formats for `from`/`until` (graphite-web's `attime`), in UTC:
//! `now`, offsets from now (`-6h`, `now-1d`, `-1h30min`, `+5min`), epoch seconds,
//! `YYYYMMDD` (midnight), `HH:MM_YYYYMMDD`, `HH:MM` (today), `midnight`, `noon`,
//! `today`, `yesterday`, `tomorrow`.
//!
//! Units: `s`/`sec`/`seconds`, `min`/`minutes`, `h`/`hours`, `d`/`days`, `w`/`weeks`,
//! `mon`/`months` (30 days), `y`/`years` (365 days).

use crate::Error;

const DAY: i64 = 86_400;

/// Seconds in one unit, by its name or a prefix graphite-web accepts.
pub fn unit_secs(unit: &str) -> Option<i64> {
    let u = unit.to_ascii_lowercase();
    let is = |full: &str, min: usize| u.len() >= min && full.starts_with(u.as_str());
    Some(if is("seconds", 1) {
        1
    } else if is("minutes", 3) {
        60
    } else if is("hours", 1) {
        3600
    } else if is("days", 1) {
        DAY
    } else if is("weeks", 1) {
        7 * DAY
    } else if is("months", 3) {
        30 * DAY
    } else if is("years", 1) {
        365 * DAY
    } else {
        return None;
    })
}

/// An offset like `-1h30min`, `+5min`, `1d` (sign optional, `+` by default), in seconds.
///
/// # Errors
/// 400 naming the text.
pub fn parse_offset(text: &str) -> Result<i64, Error> {
    let bad = || Error::bad_request(format!("{text:?} is not a time offset (like -1h or 30min)"));
    let t = text.trim();
    let (sign, mut rest) = match t.as_bytes().first() {
        Some(b'-') => (-1, &t[1..]),
        Some(b'+') => (1, &t[1..]),
        _ => (1, t),
    };
    if rest.is_empty() {
        return Err(bad());
    }
    let mut total: i64 = 0;
    while !rest.is_empty() {
        let digits = rest.bytes().take_while(u8::is_ascii_digit).count();
        if digits == 0 {
            return Err(bad());
        }
        let n: i64 = rest[..digits].parse().map_err(|_| bad())?;
        rest = &rest[digits..];
        let letters = rest.bytes().take_while(u8::is_ascii_alphabetic).count();
        let unit = unit_secs(&rest[..letters]).ok_or_else(bad)?;
        rest = &rest[letters..];
        total = n
            .checked_mul(unit)
            .and_then(|v| total.checked_add(v))
            .ok_or_else(bad)?;
    }
    Ok(sign * total)
}

pub use treestat_model::days_from_civil;

fn ymd(s: &str) -> Option<i64> {
    if s.len() != 8 || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let y: i64 = s[..4].parse().ok()?;
    let m: i64 = s[4..6].parse().ok()?;
    let d: i64 = s[6..].parse().ok()?;
    if !(1..=12).contains(&m) || !(1..=31).contains(&d) || y < 1900 {
        return None;
    }
    Some(days_from_civil(y, m, d) * DAY)
}

fn hhmm(s: &str) -> Option<i64> {
    let (h, m) = s.split_once(':')?;
    let h: i64 = h.parse().ok()?;
    let m: i64 = m.parse().ok()?;
    ((0..24).contains(&h) && (0..60).contains(&m)).then_some(h * 3600 + m * 60)
}

/// Resolves a time against `now` (epoch seconds, UTC).
///
/// # Errors
/// 400 naming the text.
pub fn parse_time(text: &str, now: i64) -> Result<i64, Error> {
    let bad = || Error::bad_request(format!("{text:?} is not a time Graphite understands"));
    let s = text.trim().to_ascii_lowercase();
    if s.is_empty() {
        return Err(bad());
    }
    if s.bytes().all(|b| b.is_ascii_digit()) {
        if let Some(t) = ymd(&s) {
            return Ok(t);
        }
        return s.parse().map_err(|_| bad());
    }
    // A reference, then an optional offset.
    let split = s.find(['+', '-']).unwrap_or(s.len());
    let (reference, offset) = s.split_at(split);
    let today = now.div_euclid(DAY) * DAY;
    let base = match reference {
        "" | "now" => now,
        "midnight" | "today" => today,
        "noon" => today + 12 * 3600,
        "yesterday" => today - DAY,
        "tomorrow" => today + DAY,
        r => {
            if let Some((hm, date)) = r.split_once('_') {
                hhmm(hm)
                    .zip(ymd(date))
                    .map(|(a, b)| a + b)
                    .ok_or_else(bad)?
            } else if let Some(hm) = hhmm(r) {
                today + hm
            } else if let Some(t) = ymd(r) {
                t
            } else {
                return Err(bad());
            }
        }
    };
    if offset.is_empty() {
        return Ok(base);
    }
    Ok(base + parse_offset(offset)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_graphite_times() {
        let now = 1_796_555_804;
        assert_eq!(parse_time("now", now).unwrap(), now);
        assert_eq!(parse_time("-6h", now).unwrap(), now - 6 * 3600);
        assert_eq!(parse_time("now-1d", now).unwrap(), now - DAY);
        assert_eq!(parse_time("-1h30min", now).unwrap(), now - 5400);
        assert_eq!(parse_time("-90min", now).unwrap(), now - 5400);
        assert_eq!(parse_time("1700000000", now).unwrap(), 1_700_000_000);
        assert_eq!(parse_time("20240101", now).unwrap(), 1_704_067_200);
        assert_eq!(
            parse_time("13:30_20240101", now).unwrap(),
            1_704_067_200 + 48_600
        );
        assert!(parse_time("-6x", now).is_err());
        assert!(parse_time("soon", now).is_err());
    }
}
