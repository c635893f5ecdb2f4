//! Times: the time grammar (`now`, `-6h`, epoch seconds; treestat-model's, wrapped in
//! this crate's error), fixed-offset time zones, and the civil-calendar arithmetic the
//! time axis needs.
//!
//! Time zones are fixed UTC offsets (`UTC`, `+08:00`, `-0530`) or IANA names
//! (`Europe/Paris`, with DST) resolved through jiff's bundled tz database, so the labels
//! never depend on the host's `/usr/share/zoneinfo`.

use crate::GraphError;

/// The latest time accepted anywhere: 9999-12-31T23:59:59Z (the time grammar's).
pub use treestat_model::MAX_TIME;

const DAY: i64 = 86_400;

/// Parses `from=` / `until=` relative to `now` (unix seconds) with the one time grammar
/// of treestat-model, the same as `/trend` and the CLI: `now`, epoch seconds (also
/// fractional, `1700000000.5`), or an offset from now (`-30s`, `-5m`, `-10min`, `-6h`,
/// `-1d`, `-1w`, `-1mon`, `-1y`, `+1h`, `now-6h`). The result lies in 0..=[`MAX_TIME`].
///
/// # Errors
/// A [`crate::ErrorKind::BadTime`] error describing what is wrong with `text`.
pub fn parse_time(text: &str, now: i64) -> Result<i64, GraphError> {
    treestat_model::parse_time(text, now).map_err(|e| GraphError::time(e.to_string()))
}

/// The zone of the time axis labels: a fixed offset from UTC or an IANA zone.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Tz {
    kind: TzKind,
}

#[derive(Debug, Clone, PartialEq, Eq)]
enum TzKind {
    Fixed(i32),
    Zone(jiff::tz::TimeZone),
}

impl Default for TzKind {
    fn default() -> Self {
        TzKind::Fixed(0)
    }
}

impl Tz {
    /// UTC.
    pub const UTC: Tz = Tz {
        kind: TzKind::Fixed(0),
    };

    /// An offset in seconds east of UTC, within ±14 hours.
    pub fn from_offset_secs(offset: i32) -> Option<Tz> {
        (offset.abs() <= 14 * 3600).then_some(Tz {
            kind: TzKind::Fixed(offset),
        })
    }

    /// Seconds east of UTC at unix time `t`.
    pub fn offset_at(&self, t: i64) -> i32 {
        match &self.kind {
            TzKind::Fixed(o) => *o,
            TzKind::Zone(z) => jiff::Timestamp::from_second(t.clamp(0, MAX_TIME))
                .map(|ts| z.to_offset(ts).seconds())
                .unwrap_or(0),
        }
    }

    /// The zone as it would be written in `tz=`: `UTC`, `+08:00` or `Europe/Paris`.
    pub fn name(&self) -> String {
        match &self.kind {
            TzKind::Fixed(0) => "UTC".to_owned(),
            TzKind::Fixed(o) => {
                let sign = if *o < 0 { '-' } else { '+' };
                let a = o.unsigned_abs();
                format!("{sign}{:02}:{:02}", a / 3600, a % 3600 / 60)
            }
            TzKind::Zone(z) => z.iana_name().unwrap_or("UTC").to_owned(),
        }
    }

    /// The zone as the time axis names it: `UTC`, `UTC+08:00`, the IANA name
    /// (`Europe/Paris`), or for a zone without one (a POSIX `TZ` rule, an unnamed
    /// `/etc/localtime`) its abbreviation at `t` (`EST`).
    pub fn label_at(&self, t: i64) -> String {
        match &self.kind {
            TzKind::Fixed(0) => "UTC".to_owned(),
            TzKind::Fixed(_) => format!("UTC{}", self.name()),
            TzKind::Zone(z) => match z.iana_name() {
                Some(n) if !n.starts_with("Etc/") => n.to_owned(),
                _ => jiff::Timestamp::from_second(t.clamp(0, MAX_TIME))
                    .map(|ts| z.to_offset_info(ts).abbreviation().to_owned())
                    .unwrap_or_else(|_| "UTC".to_owned()),
            },
        }
    }

    /// The zone of this machine, read once: [`Tz::from_env`] of the `TZ` variable and
    /// `/etc/localtime`; UTC when neither names one.
    pub fn local() -> Tz {
        static LOCAL: std::sync::OnceLock<Tz> = std::sync::OnceLock::new();
        LOCAL
            .get_or_init(|| {
                let tz = std::env::var("TZ").ok();
                Tz::from_env(tz.as_deref(), std::path::Path::new("/etc/localtime"))
            })
            .clone()
    }

    /// The zone a `TZ` value and a `localtime` file name, as the C library reads them:
    /// `TZ` first (`Europe/Paris`, `:Europe/Paris`, `+08:00`, a TZif file path, or a
    /// POSIX rule like `EST5EDT,M3.2.0,M11.1.0`); else `localtime`, a link into a
    /// `zoneinfo` folder (its name is looked up in the bundled database) or a TZif file;
    /// else UTC. A `TZ` that cannot be read falls through to `localtime`, as in jiff.
    pub fn from_env(tz: Option<&str>, localtime: &std::path::Path) -> Tz {
        let from_file = |path: &std::path::Path| -> Option<Tz> {
            let target = std::fs::read_link(path).unwrap_or_else(|_| path.to_path_buf());
            let text = target.to_string_lossy();
            if let Some((_, name)) = text.rsplit_once("zoneinfo/")
                && let Ok(tz) = Tz::parse(name)
            {
                return Some(tz);
            }
            let data = std::fs::read(path).ok()?;
            jiff::tz::TimeZone::tzif("", &data).ok().map(|z| Tz {
                kind: TzKind::Zone(z),
            })
        };
        if let Some(v) = tz
            .map(|v| v.trim().trim_start_matches(':'))
            .filter(|v| !v.is_empty())
        {
            let found = if v.starts_with('/') {
                from_file(std::path::Path::new(v))
            } else {
                Tz::parse(v).ok().or_else(|| {
                    jiff::tz::TimeZone::posix(v).ok().map(|z| Tz {
                        kind: TzKind::Zone(z),
                    })
                })
            };
            if let Some(tz) = found {
                return tz;
            }
        }
        from_file(localtime).unwrap_or(Tz::UTC)
    }

    /// Parses `UTC`, `Z`, `GMT`, `+08:00`, `+0800`, `+8`, `-05:30`, `UTC+8`, or an IANA
    /// name such as `Asia/Shanghai` or `America/New_York`.
    ///
    /// # Errors
    /// [`crate::ErrorKind::BadOption`] for `tz`, naming what was not understood.
    pub fn parse(text: &str) -> Result<Tz, GraphError> {
        let s = text.trim();
        let bad = |why: &str| GraphError::option("tz", format!("{s:?}: {why}"));
        let upper = s.to_ascii_uppercase();
        let rest = upper
            .strip_prefix("UTC")
            .or_else(|| upper.strip_prefix("GMT"))
            .unwrap_or(&upper);
        if rest.is_empty() || rest == "Z" {
            return Ok(Tz::UTC);
        }
        if !rest.starts_with(['+', '-']) {
            let plausible = s.len() <= 64
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"/_-+".contains(&b));
            if !plausible {
                return Err(bad(
                    "expected an offset like +08:00 or a zone like Europe/Paris",
                ));
            }
            return jiff::tz::TimeZone::get(s).map(|z| Tz { kind: TzKind::Zone(z) }).map_err(|_| {
                bad("unknown time zone; use an IANA name like Europe/Paris or an offset like +08:00")
            });
        }
        let sign = if rest.starts_with('+') { 1 } else { -1 };
        let body = &rest[1..];
        let (h, m) = match body.split_once(':') {
            Some((h, m)) => (h, m),
            // `+HHMM`; only ASCII can be cut at byte 2 (anything else is refused below).
            None if body.len() == 4 && body.is_ascii() => body.split_at(2),
            None => (body, "0"),
        };
        let num = |x: &str| {
            if !x.is_empty() && x.len() <= 2 && x.bytes().all(|b| b.is_ascii_digit()) {
                x.parse::<i32>().ok()
            } else {
                None
            }
        };
        let (Some(h), Some(m)) = (num(h), num(m)) else {
            return Err(bad("expected an offset like +08:00, -0530 or UTC"));
        };
        if m >= 60 {
            return Err(bad("minutes must be below 60"));
        }
        Tz::from_offset_secs(sign * (h * 3600 + m * 60))
            .ok_or_else(|| bad("offsets range from -14:00 to +14:00"))
    }

    /// Local civil time of a unix time.
    pub(crate) fn civil(&self, t: i64) -> Civil {
        Civil::from_unix(t + i64::from(self.offset_at(t)))
    }

    /// Unix time of a local wall-clock time given as seconds since the local epoch (in a
    /// DST gap or overlap: the reading with the offset in force around it).
    pub(crate) fn unix_of_local(&self, local: i64) -> i64 {
        let guess = local - i64::from(self.offset_at(local));
        local - i64::from(self.offset_at(guess))
    }

    /// Unix time of a local wall-clock time.
    pub(crate) fn unix(&self, c: Civil) -> i64 {
        self.unix_of_local(c.to_unix())
    }
}

/// A broken-down calendar time (proleptic Gregorian).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Civil {
    pub year: i64,
    /// 1..=12
    pub month: u32,
    /// 1..=31
    pub day: u32,
    pub hour: u32,
    pub minute: u32,
    pub second: u32,
}

impl Civil {
    pub fn from_unix(t: i64) -> Civil {
        let days = t.div_euclid(DAY);
        let secs = t.rem_euclid(DAY);
        let (year, month, day) = civil_from_days(days);
        let part = |v: i64| u32::try_from(v).unwrap_or(0);
        Civil {
            year,
            month,
            day,
            hour: part(secs / 3600),
            minute: part(secs % 3600 / 60),
            second: part(secs % 60),
        }
    }

    pub fn to_unix(self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * DAY
            + i64::from(self.hour) * 3600
            + i64::from(self.minute) * 60
            + i64::from(self.second)
    }

    pub fn month_name(&self) -> &'static str {
        const NAMES: [&str; 12] = [
            "Jan", "Feb", "Mar", "Apr", "May", "Jun", "Jul", "Aug", "Sep", "Oct", "Nov", "Dec",
        ];
        NAMES[usize::try_from(self.month.clamp(1, 12) - 1).unwrap_or(0)]
    }
}

/// Days since 1970-01-01 of a civil date.
pub(crate) fn days_from_civil(y: i64, m: u32, d: u32) -> i64 {
    treestat_model::days_from_civil(y, i64::from(m), i64::from(d))
}

/// Civil date of days since 1970-01-01.
pub(crate) fn civil_from_days(z: i64) -> (i64, u32, u32) {
    let (y, m, d) = treestat_model::civil_from_days(z);
    (
        y,
        u32::try_from(m).unwrap_or(1),
        u32::try_from(d).unwrap_or(1),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const NOW: i64 = 1_700_000_000;

    /// The forms themselves are pinned in treestat-model; here: they reach the graph,
    /// including the two it refused before issue 17 (`-5m`, fractional epochs), and a
    /// refusal is a `BadTime` (400) saying why.
    #[test]
    fn the_time_grammar_reaches_the_graph() {
        assert_eq!(parse_time("now", NOW).unwrap(), NOW);
        assert_eq!(parse_time("-5m", NOW).unwrap(), NOW - 300);
        assert_eq!(parse_time("now-1d", NOW).unwrap(), NOW - DAY);
        assert_eq!(parse_time("1700000000.5", NOW).unwrap(), 1_700_000_000);
        for (bad, needle) in [
            ("", "empty"),
            ("-5", "unit"),
            ("-5parsecs", "unknown unit"),
            ("yesterday", "not a time"),
            ("-99999999999999999y", "too large"),
            ("99999999999999", "out of range"),
        ] {
            let e = parse_time(bad, NOW).unwrap_err();
            assert_eq!(e.kind(), crate::ErrorKind::BadTime, "{bad}");
            assert!(e.to_string().contains(needle), "{bad}: {e}");
        }
    }

    /// fuzz/ `graph_options`: a 4-byte offset was cut at byte 2 to read `+HHMM`, which
    /// panicked inside a character (`tz=+a€`, a 500 from `/graph`).
    #[test]
    fn tz_offsets_with_non_ascii_text_are_refused_not_cut() {
        for text in ["+a€", "-€a", "UTC+é1", "+1é", "-\u{10348}"] {
            assert!(Tz::parse(text).is_err(), "{text:?}");
        }
    }

    #[test]
    fn tz_offsets() {
        assert_eq!(Tz::parse("UTC").unwrap(), Tz::UTC);
        assert_eq!(Tz::parse("z").unwrap(), Tz::UTC);
        assert_eq!(Tz::parse("+08:00").unwrap().offset_at(NOW), 8 * 3600);
        assert_eq!(Tz::parse("-0530").unwrap().name(), "-05:30");
        assert_eq!(Tz::parse("UTC+8").unwrap().offset_at(0), 8 * 3600);
        assert!(
            Tz::parse("Mars/Olympus")
                .unwrap_err()
                .to_string()
                .contains("unknown time zone")
        );
        assert!(Tz::parse("<script>").is_err());
        assert!(Tz::parse("+15:00").is_err());
        assert!(Tz::parse("+08:75").is_err());
        assert!(Tz::parse("+1a").is_err());
    }

    #[test]
    fn civil_round_trip() {
        for t in [0, 951_782_400, NOW, 4_107_542_400, MAX_TIME] {
            assert_eq!(Civil::from_unix(t).to_unix(), t);
        }
        let c = Civil::from_unix(NOW);
        assert_eq!(
            (c.year, c.month, c.day, c.hour, c.minute),
            (2023, 11, 14, 22, 13)
        );
        let tz = Tz::parse("+08:00").unwrap();
        assert_eq!(tz.civil(NOW).day, 15);
        assert_eq!(tz.unix(tz.civil(NOW)), NOW);
    }

    /// The server's zone (issue 18): `TZ` wins, then `/etc/localtime` (a link into a
    /// zoneinfo folder, or a TZif file), then UTC.
    #[test]
    fn the_local_zone_comes_from_tz_then_localtime() {
        let dir = std::env::temp_dir().join(format!("treestat-graph-tz-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let none = dir.join("absent");
        assert_eq!(Tz::from_env(None, &none), Tz::UTC);
        assert_eq!(Tz::from_env(Some(""), &none), Tz::UTC);
        assert_eq!(Tz::from_env(Some("Mars/Base"), &none), Tz::UTC);
        let ny = Tz::from_env(Some(":America/New_York"), &none);
        assert_eq!(ny.label_at(NOW), "America/New_York");
        assert_eq!(
            Tz::from_env(Some("+05:30"), &none).label_at(NOW),
            "UTC+05:30"
        );
        let posix = Tz::from_env(Some("EST5EDT,M3.2.0,M11.1.0"), &none);
        assert_eq!(posix.offset_at(NOW), -5 * 3600);
        assert_eq!(posix.label_at(NOW), "EST");
        // A link named like /usr/share/zoneinfo/Asia/Tokyo: only its name is used.
        let link = dir.join("localtime");
        let _ = std::fs::remove_file(&link);
        std::os::unix::fs::symlink("/nonexistent/zoneinfo/Asia/Tokyo", &link).unwrap();
        let tokyo = Tz::from_env(None, &link);
        assert_eq!(
            (tokyo.label_at(NOW), tokyo.offset_at(NOW)),
            ("Asia/Tokyo".into(), 9 * 3600)
        );
        // TZ overrides it.
        assert_eq!(Tz::from_env(Some("UTC"), &link), Tz::UTC);
        std::fs::remove_dir_all(&dir).unwrap();
        assert_eq!(Tz::parse("Etc/UTC").unwrap().label_at(NOW), "UTC");
    }

    #[test]
    fn iana_zones_follow_dst() {
        let paris = Tz::parse("Europe/Paris").unwrap();
        assert_eq!(paris.name(), "Europe/Paris");
        // 2023-07-01 and 2023-12-01, 12:00 UTC.
        assert_eq!(paris.offset_at(1_688_212_800), 7200);
        assert_eq!(paris.offset_at(1_701_432_000), 3600);
        assert_eq!(paris.civil(1_688_212_800).hour, 14);
        let t = 1_701_432_000;
        assert_eq!(paris.unix(paris.civil(t)), t);
        assert_eq!(Tz::parse("Asia/Shanghai").unwrap().offset_at(NOW), 8 * 3600);
    }
}
