//! Graphite-style time arguments (`from=`, `until=`, `--from`): `now`, an epoch in
//! seconds, or an offset from now such as `-30s`, `-10min`, `-6h`, `-1d`, `-1w`,
//! `-1mon`, `-1y` (also written `now-6h`).

use super::error::{Result, TrendError};

/// Parses a time argument relative to `now` (unix seconds).
///
/// Units: `s`/`sec`/`seconds`, `min`/`minutes` (also `m`), `h`/`hours`, `d`/`days`,
/// `w`/`weeks`, `mon`/`months` (30 days), `y`/`years` (365 days). A bare number is an
/// epoch time; a fractional epoch (`1322721979.5`) is truncated.
///
/// # Errors
/// `BadQuery` naming the text that does not parse.
pub fn parse_time(text: &str, now: i64) -> Result<i64> {
    let t = text.trim();
    let bad = || {
        TrendError::bad_query(format!(
            "{text:?} is not a time (now, an epoch, or an offset like -6h, -1d, -1w)"
        ))
    };
    if t.is_empty() {
        return Err(bad());
    }
    if t == "now" {
        return Ok(now);
    }
    let rel = t.strip_prefix("now").unwrap_or(t);
    let (sign, body) = match rel.as_bytes().first() {
        Some(b'-') => (-1, &rel[1..]),
        Some(b'+') => (1, &rel[1..]),
        _ if rel.len() == t.len() => {
            let v: f64 = t.parse().map_err(|_| bad())?;
            if !v.is_finite() || v.abs() > 1e15 {
                return Err(bad());
            }
            // Checked to lie well inside i64 just above; truncation is intended.
            #[allow(clippy::cast_possible_truncation)]
            return Ok(v.trunc() as i64);
        }
        _ => return Err(bad()),
    };
    let split = body
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(body.len());
    let (num, unit) = body.split_at(split);
    let n: i64 = num.parse().map_err(|_| bad())?;
    let unit_secs: i64 = match unit {
        "s" | "sec" | "secs" | "second" | "seconds" => 1,
        "m" | "min" | "mins" | "minute" | "minutes" => 60,
        "h" | "hour" | "hours" => 3600,
        "d" | "day" | "days" => 86_400,
        "w" | "week" | "weeks" => 604_800,
        "mon" | "month" | "months" => 30 * 86_400,
        "y" | "year" | "years" => 365 * 86_400,
        _ => return Err(bad()),
    };
    n.checked_mul(unit_secs)
        .and_then(|d| d.checked_mul(sign))
        .and_then(|d| now.checked_add(d))
        .ok_or_else(bad)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn graphite_times() {
        let now = 1_700_000_000;
        assert_eq!(parse_time("now", now).unwrap(), now);
        assert_eq!(parse_time("1322721979", now).unwrap(), 1_322_721_979);
        assert_eq!(parse_time("1322721979.0", now).unwrap(), 1_322_721_979);
        assert_eq!(parse_time("-30s", now).unwrap(), now - 30);
        assert_eq!(parse_time("-10min", now).unwrap(), now - 600);
        assert_eq!(parse_time("-6h", now).unwrap(), now - 6 * 3600);
        assert_eq!(parse_time("-1d", now).unwrap(), now - 86_400);
        assert_eq!(parse_time("-1w", now).unwrap(), now - 604_800);
        assert_eq!(parse_time("-1y", now).unwrap(), now - 365 * 86_400);
        assert_eq!(parse_time("now-1h", now).unwrap(), now - 3600);
        assert_eq!(parse_time("+5m", now).unwrap(), now + 300);
        for bad in [
            "",
            "-",
            "-6",
            "-6x",
            "yesterday",
            "nowish",
            "-99999999999999999y",
            "1e300",
        ] {
            let e = parse_time(bad, now).unwrap_err();
            assert!(e.message().contains("not a time"), "{bad}");
        }
    }
}
