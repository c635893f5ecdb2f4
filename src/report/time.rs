//! Request times as logs write them: `$time_local` (`10/Oct/2000:13:55:36 -0700`),
//! `$time_iso8601` (`2000-10-10T13:55:36-07:00`) or `$msec` (`1700000000.123`).
//!
//! Days and hours are those the log wrote (its own time zone, as GoAccess shows them);
//! the epoch (for the time span) is UTC.

use treestat_model::{civil_from_days, days_from_civil};

/// A parsed request time.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Stamp {
    /// Seconds since the epoch, UTC.
    pub epoch: i64,
    /// The day as logged, `2000-10-10`.
    pub day: String,
    /// The hour of the day as logged, 0 to 23.
    pub hour: u8,
    /// Day and hour, `2000-10-10T13`.
    pub hour_key: String,
}

const MONTHS: [&str; 12] = [
    "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
];

fn num(s: &str) -> Option<i64> {
    if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    s.parse().ok()
}

fn stamp(y: i64, mo: i64, d: i64, h: i64, mi: i64, s: i64, offset: i64) -> Option<Stamp> {
    let valid = (1..=12).contains(&mo)
        && (1..=31).contains(&d)
        && (0..24).contains(&h)
        && (0..60).contains(&mi)
        && (0..=60).contains(&s)
        && (0..=9999).contains(&y);
    if !valid {
        return None;
    }
    let local = days_from_civil(y, mo, d) * 86_400 + h * 3600 + mi * 60 + s;
    let day = format!("{y:04}-{mo:02}-{d:02}");
    Some(Stamp {
        epoch: local - offset,
        hour_key: format!("{day}T{h:02}"),
        day,
        hour: u8::try_from(h).ok()?,
    })
}

/// `+0100`, `-07:00`, `Z`: seconds east of UTC.
fn offset(s: &str) -> Option<i64> {
    if s.is_empty() || s == "Z" {
        return Some(0);
    }
    let sign = match s.as_bytes()[0] {
        b'+' => 1,
        b'-' => -1,
        _ => return None,
    };
    let digits: String = s[1..].chars().filter(|c| *c != ':').collect();
    if digits.len() != 4 {
        return None;
    }
    Some(sign * (num(&digits[..2])? * 3600 + num(&digits[2..])? * 60))
}

/// An epoch second as `2000-10-10T20:55:36Z`.
pub fn fmt_utc(epoch: i64) -> String {
    let (y, m, d) = civil_from_days(epoch.div_euclid(86_400));
    let s = epoch.rem_euclid(86_400);
    format!(
        "{y:04}-{m:02}-{d:02}T{:02}:{:02}:{:02}Z",
        s / 3600,
        s / 60 % 60,
        s % 60
    )
}

/// Parses any of the three forms; `None` for anything else.
pub fn parse_stamp(t: &str) -> Option<Stamp> {
    let t = t.trim();
    let b = t.as_bytes();
    // 10/Oct/2000:13:55:36 -0700
    if b.len() >= 20 && b.get(2) == Some(&b'/') && b.get(6) == Some(&b'/') {
        let name = t.get(3..6)?;
        let mo = MONTHS.iter().position(|m| *m == name)?;
        let (clock, zone) = t[7..].split_once(' ').unwrap_or((&t[7..], ""));
        let mut p = clock.split(':');
        let y = num(p.next()?)?;
        let (h, mi, s) = (num(p.next()?)?, num(p.next()?)?, num(p.next()?)?);
        let mo = i64::try_from(mo).ok()? + 1;
        return stamp(y, mo, num(&t[..2])?, h, mi, s, offset(zone)?);
    }
    // 2000-10-10T13:55:36-07:00
    if b.len() >= 19 && b.get(4) == Some(&b'-') && b.get(10) == Some(&b'T') {
        let (y, mo, d) = (num(&t[..4])?, num(&t[5..7])?, num(&t[8..10])?);
        let (h, mi, s) = (num(&t[11..13])?, num(&t[14..16])?, num(&t[17..19])?);
        let mut zone = &t[19..];
        if let Some(frac) = zone.strip_prefix('.') {
            zone = frac.trim_start_matches(|c: char| c.is_ascii_digit());
        }
        return stamp(y, mo, d, h, mi, s, offset(zone)?);
    }
    // 1700000000.123 (UTC)
    let secs = num(t.split('.').next()?)?;
    let (y, mo, d) = civil_from_days(secs.div_euclid(86_400));
    let sod = secs.rem_euclid(86_400);
    stamp(y, mo, d, sod / 3600, sod / 60 % 60, sod % 60, 0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_three_forms() {
        let a = parse_stamp("10/Oct/2000:13:55:36 -0700").expect("time_local");
        assert_eq!(a.epoch, 971_211_336);
        assert_eq!((a.day.as_str(), a.hour), ("2000-10-10", 13));
        assert_eq!(a.hour_key, "2000-10-10T13");
        let b = parse_stamp("2000-10-10T13:55:36-07:00").expect("iso8601");
        assert_eq!(a, b);
        let c = parse_stamp("971211336.250").expect("msec");
        assert_eq!(
            (c.epoch, c.day.as_str(), c.hour),
            (971_211_336, "2000-10-10", 20)
        );
        assert_eq!(fmt_utc(971_211_336), "2000-10-10T20:55:36Z");
        assert_eq!(
            parse_stamp("2000-10-10T20:55:36.5Z").map(|s| s.epoch),
            Some(971_211_336)
        );
        for bad in [
            "",
            "-",
            "10/Foo/2000:13:55:36 -0700",
            "32/Oct/2000:13:55:36 +0000",
            "x",
        ] {
            assert_eq!(parse_stamp(bad), None, "{bad:?}");
        }
    }
}
