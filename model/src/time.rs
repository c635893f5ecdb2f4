//! The one time grammar: durations (`10s`, `500ms`, `5m`) and time points (`now`,
//! `-5m`, `now-1d`, `1700000000.5`), used by `/trend`, `/graph`, `/export`,
//! `/markers`, the CLI and every duration in the config files.
//!
//! One unit table serves both, so a spelling that works in one place works in all:
//!
//! | unit | spellings | seconds |
//! |---|---|---|
//! | millisecond | `ms`, `msec`, `millisecond(s)` | 0.001 |
//! | second | `s`, `sec(s)`, `second(s)` | 1 |
//! | minute | `m`, `min(s)`, `minute(s)` | 60 |
//! | hour | `h`, `hour(s)` | 3,600 |
//! | day | `d`, `day(s)` | 86,400 |
//! | week | `w`, `week(s)` | 604,800 |
//! | month | `mon`, `month(s)` | 30 days |
//! | year | `y`, `year(s)` | 365 days |
//!
//! A **duration** is a number (fractions allowed) and an optional unit (seconds when
//! none), at most 10^12 seconds. A **time point** is `now`, an offset from now (`-5m`,
//! `+1h`, also written `now-1d`; the unit is required; a fraction of a second is
//! dropped), or epoch seconds (`1700000000`; a fraction is dropped, so `1700000000.5` is
//! `1700000000`). Case and blanks around the parts do not matter (`NOW - 6 h`).
//! A time point lies between 1970 and 9999 ([`MAX_TIME`]): an epoch outside is refused
//! (it is usually milliseconds typed as seconds), an offset reaching past either end is
//! held at that end (`-100y` means "from the start").
//!
//! `m` is minutes, as in config durations; months are `mon`. Graphite reads `m` the
//! same way in its `from=` (`-5m`), which is what users type by habit.

use std::fmt;
use std::time::Duration;

/// The latest time point: 9999-12-31T23:59:59Z, in unix seconds.
pub const MAX_TIME: i64 = 253_402_300_799;

/// The longest duration or offset, in seconds (about 31,700 years).
pub const MAX_SPAN_SECS: f64 = 1e12;

const DAY: f64 = 86_400.0;

/// The unit table (module docs): spellings and their length in seconds.
const UNITS: [(&[&str], f64); 8] = [
    (
        &["ms", "msec", "msecs", "millisecond", "milliseconds"],
        0.001,
    ),
    (&["s", "sec", "secs", "second", "seconds"], 1.0),
    (&["m", "min", "mins", "minute", "minutes"], 60.0),
    (&["h", "hour", "hours"], 3600.0),
    (&["d", "day", "days"], DAY),
    (&["w", "week", "weeks"], 7.0 * DAY),
    (&["mon", "month", "months"], 30.0 * DAY),
    (&["y", "year", "years"], 365.0 * DAY),
];

const TIME_HINT: &str = "use now, epoch seconds, or an offset like -5m, -6h, now-1d";
const UNIT_HINT: &str = "ms, s, m, h, d, w, mon or y";

/// What is wrong with a time or a duration.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimeErrorKind {
    /// Not of any accepted form (empty, a word, two dots, ...).
    Malformed,
    /// An offset without a unit (`-6`): seconds are not assumed for offsets.
    MissingUnit,
    /// A unit not in the table.
    UnknownUnit,
    /// A number beyond [`MAX_SPAN_SECS`] or beyond what fits.
    TooLarge,
    /// An epoch before 1970 or after 9999 ([`MAX_TIME`]).
    OutOfRange,
}

/// A time or duration that does not parse: its kind and a message naming the text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TimeError {
    kind: TimeErrorKind,
    message: String,
}

impl TimeError {
    fn new(kind: TimeErrorKind, message: String) -> TimeError {
        TimeError { kind, message }
    }

    /// What is wrong.
    pub fn kind(&self) -> TimeErrorKind {
        self.kind
    }
}

impl fmt::Display for TimeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for TimeError {}

/// Whether a span needs its unit (offsets) or defaults to seconds (durations).
#[derive(Clone, Copy, PartialEq, Eq)]
enum UnitRule {
    Required,
    SecondsIfNone,
}

/// Parses a duration such as `500ms`, `10s`, `1.5m`, `6h`, `1d`, `1w`, or a plain number
/// of seconds (`15`). See the module docs for every unit.
///
/// # Errors
/// [`TimeErrorKind::Malformed`] for text that is not a number and a unit,
/// [`TimeErrorKind::UnknownUnit`], or [`TimeErrorKind::TooLarge`] beyond
/// [`MAX_SPAN_SECS`].
pub fn parse_duration(text: &str) -> Result<Duration, TimeError> {
    let t = text.trim().to_ascii_lowercase();
    let secs = span_secs(&t, UnitRule::SecondsIfNone).map_err(|kind| {
        let message = match kind {
            TimeErrorKind::UnknownUnit => {
                format!("{text:?}: unknown unit in a duration: use {UNIT_HINT}")
            }
            TimeErrorKind::TooLarge => format!("duration {text:?} is out of range"),
            _ => format!("{text:?} is not a duration (e.g. 500ms, 10s, 5m, 6h, 1d)"),
        };
        TimeError::new(kind, message)
    })?;
    Ok(Duration::from_secs_f64(secs))
}

/// Parses a time point relative to `now` (unix seconds): `now`, an offset (`-5m`,
/// `+1h`, `now-1d`) or epoch seconds (`1700000000`, `1700000000.5`). See the module docs
/// for the whole grammar.
///
/// # Errors
/// A [`TimeError`] whose kind says what is wrong and whose message names `text`.
pub fn parse_time(text: &str, now: i64) -> Result<i64, TimeError> {
    let s = text.trim();
    let lower = s.to_ascii_lowercase();
    let bad = |kind: TimeErrorKind| {
        let message = match kind {
            TimeErrorKind::Malformed if s.is_empty() => format!("empty time: {TIME_HINT}"),
            TimeErrorKind::Malformed => format!("{s:?} is not a time: {TIME_HINT}"),
            TimeErrorKind::MissingUnit => {
                format!("{s:?}: an offset needs a unit ({UNIT_HINT}), as in -6h")
            }
            TimeErrorKind::UnknownUnit => format!("{s:?}: unknown unit: use {UNIT_HINT}"),
            TimeErrorKind::TooLarge => format!("{s:?}: the offset is too large"),
            TimeErrorKind::OutOfRange => {
                format!("{s:?} is out of range (before 1970 or after 9999)")
            }
        };
        TimeError::new(kind, message)
    };
    let rest = match lower.strip_prefix("now") {
        Some(rest) => rest.trim_start(),
        None if lower.starts_with(['-', '+']) => lower.as_str(),
        None => return epoch(&lower).map_err(bad),
    };
    offset_from(now, rest).map_err(bad)
}

/// `now` moved by `rest` (empty, or a sign and a span), held within 0..=MAX_TIME.
fn offset_from(now: i64, rest: &str) -> Result<i64, TimeErrorKind> {
    let (sign, body) = match rest.as_bytes().first() {
        None => return Ok(now.clamp(0, MAX_TIME)),
        Some(b'-') => (-1, &rest[1..]),
        Some(b'+') => (1, &rest[1..]),
        Some(_) => return Err(TimeErrorKind::Malformed),
    };
    let secs = span_secs(body.trim_start(), UnitRule::Required)?;
    // span_secs keeps secs within 0..=1e12, far inside i64; the fraction is dropped.
    #[allow(clippy::cast_possible_truncation)]
    let offset = secs.trunc() as i64;
    let t = now
        .checked_add(sign * offset)
        .ok_or(TimeErrorKind::TooLarge)?;
    Ok(t.clamp(0, MAX_TIME))
}

/// Epoch seconds, whole or fractional (the fraction dropped), within 0..=MAX_TIME.
fn epoch(text: &str) -> Result<i64, TimeErrorKind> {
    if !text.starts_with(|c: char| c.is_ascii_digit() || c == '.') {
        return Err(TimeErrorKind::Malformed);
    }
    let t = if text.bytes().all(|b| b.is_ascii_digit()) {
        text.parse::<i64>().map_err(|_| TimeErrorKind::OutOfRange)?
    } else {
        let v: f64 = text.parse().map_err(|_| TimeErrorKind::Malformed)?;
        // MAX_TIME (< 2^53) is exact as an f64.
        #[allow(clippy::cast_precision_loss)]
        let max = MAX_TIME as f64;
        if !(0.0..=max).contains(&v) {
            return Err(TimeErrorKind::OutOfRange);
        }
        // Checked to lie in 0..=MAX_TIME just above; dropping the fraction is intended.
        #[allow(clippy::cast_possible_truncation)]
        let t = v.trunc() as i64;
        t
    };
    if (0..=MAX_TIME).contains(&t) {
        Ok(t)
    } else {
        Err(TimeErrorKind::OutOfRange)
    }
}

/// A number and a unit (`1.5h`, `10 min`) as seconds, within 0..=MAX_SPAN_SECS.
fn span_secs(text: &str, rule: UnitRule) -> Result<f64, TimeErrorKind> {
    let split = text
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(text.len());
    let (num, unit) = text.split_at(split);
    if !num.bytes().any(|b| b.is_ascii_digit()) {
        return Err(TimeErrorKind::Malformed);
    }
    let n: f64 = num.parse().map_err(|_| TimeErrorKind::Malformed)?;
    let unit = unit.trim();
    let unit_secs = if unit.is_empty() {
        match rule {
            UnitRule::Required => return Err(TimeErrorKind::MissingUnit),
            UnitRule::SecondsIfNone => 1.0,
        }
    } else {
        UNITS
            .iter()
            .find(|(names, _)| names.contains(&unit))
            .map(|&(_, secs)| secs)
            .ok_or(TimeErrorKind::UnknownUnit)?
    };
    let secs = n * unit_secs;
    if secs.is_finite() && secs <= MAX_SPAN_SECS {
        Ok(secs)
    } else {
        Err(TimeErrorKind::TooLarge)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;
    const D: i64 = 86_400;

    #[test]
    fn time_points_of_every_form() {
        for (text, want) in [
            ("now", NOW),
            (" NOW ", NOW),
            ("-5m", NOW - 300),
            ("-1h", NOW - 3600),
            ("now-1d", NOW - D),
            ("now - 6 h", NOW - 6 * 3600),
            ("now-2hours", NOW - 7200),
            ("now+1h", NOW + 3600),
            ("+5m", NOW + 300),
            ("+1h", NOW + 3600),
            ("-30s", NOW - 30),
            ("-10min", NOW - 600),
            ("-10MIN", NOW - 600),
            ("-5minutes", NOW - 300),
            ("-1w", NOW - 7 * D),
            ("-1mon", NOW - 30 * D),
            ("-1y", NOW - 365 * D),
            ("-1.5h", NOW - 5400),
            ("-1500ms", NOW - 1),
            ("1600000000", 1_600_000_000),
            ("1322721979", 1_322_721_979),
            ("1322721979.0", 1_322_721_979),
            ("1700000000.5", 1_700_000_000),
            ("1.7e9", 1_700_000_000),
            ("0", 0),
            ("253402300799", MAX_TIME),
            // An offset past either end is held there.
            ("-100y", 0),
            ("+10000y", MAX_TIME),
        ] {
            assert_eq!(parse_time(text, NOW), Ok(want), "{text:?}");
        }
    }

    #[test]
    fn bad_time_points_say_why() {
        use TimeErrorKind::*;
        for (text, kind, needle) in [
            ("", Malformed, "empty time"),
            ("-", Malformed, "not a time"),
            ("now-", Malformed, "not a time"),
            ("yesterday", Malformed, "not a time"),
            ("nowish", Malformed, "not a time"),
            ("-5.5.5h", Malformed, "not a time"),
            ("inf", Malformed, "not a time"),
            ("NaN", Malformed, "not a time"),
            ("1.2.3", Malformed, "not a time"),
            ("-6", MissingUnit, "needs a unit"),
            ("-1700000000", MissingUnit, "needs a unit"),
            ("-6x", UnknownUnit, "unknown unit"),
            ("-5parsecs", UnknownUnit, "unknown unit"),
            ("-99999999999999999y", TooLarge, "too large"),
            ("99999999999999", OutOfRange, "out of range"),
            ("99999999999999999999999", OutOfRange, "out of range"),
            ("1e300", OutOfRange, "out of range"),
            ("1700000000000", OutOfRange, "out of range"),
        ] {
            let e = parse_time(text, NOW).unwrap_err();
            assert_eq!(e.kind(), kind, "{text:?}: {e}");
            assert!(e.to_string().contains(needle), "{text:?}: {e}");
        }
    }

    #[test]
    fn durations() {
        for (text, want) in [
            ("10s", Duration::from_secs(10)),
            ("1m", Duration::from_secs(60)),
            ("2m", Duration::from_secs(120)),
            ("1min", Duration::from_secs(60)),
            ("1.5m", Duration::from_secs(90)),
            ("500ms", Duration::from_millis(500)),
            ("250ms", Duration::from_millis(250)),
            ("15", Duration::from_secs(15)),
            ("0.5", Duration::from_millis(500)),
            (" 6 h ", Duration::from_secs(6 * 3600)),
            ("1d", Duration::from_secs(86_400)),
            ("1w", Duration::from_secs(604_800)),
            ("1mon", Duration::from_secs(30 * 86_400)),
            ("1y", Duration::from_secs(31_536_000)),
            ("10S", Duration::from_secs(10)),
            ("30seconds", Duration::from_secs(30)),
        ] {
            assert_eq!(parse_duration(text), Ok(want), "{text:?}");
        }
        for (text, kind) in [
            ("ten", TimeErrorKind::Malformed),
            ("", TimeErrorKind::Malformed),
            ("-5s", TimeErrorKind::Malformed),
            ("1parsec", TimeErrorKind::UnknownUnit),
            ("99999999y", TimeErrorKind::TooLarge),
        ] {
            assert_eq!(parse_duration(text).unwrap_err().kind(), kind, "{text:?}");
        }
        assert!(
            parse_duration("ten")
                .unwrap_err()
                .to_string()
                .contains("not a duration")
        );
    }

    /// Offsets and durations read the same table: `-N<unit>` is `now` minus the
    /// duration `N<unit>`, for every spelling.
    #[test]
    fn offsets_and_durations_share_the_units() {
        for (names, secs) in UNITS {
            for name in names {
                let d = parse_duration(&format!("3{name}")).unwrap();
                #[allow(clippy::cast_possible_truncation)]
                let whole = d.as_secs_f64().trunc() as i64;
                assert_eq!(
                    parse_time(&format!("-3{name}"), NOW),
                    Ok(NOW - whole),
                    "{name}"
                );
                assert!((d.as_secs_f64() - 3.0 * secs).abs() < 1e-9, "{name}");
            }
        }
    }
}
