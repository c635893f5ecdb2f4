//! The trend store's configuration (`[trend]` in the server config) and the retention
//! spec (`10s:1d,1m:30d,10m:1y`, Graphite's notation: `step:span` archives, finest
//! first).
//!
//! Each archive after the first must have a step that is a multiple of the one before
//! and a longer span, so a coarser archive can always be built by folding finer points.

use crate::config::de_duration;
use std::time::Duration;

use serde::{Deserialize, Deserializer};

use super::error::{Result, TrendError};
use crate::parse_duration;

/// The `[trend]` section of the server configuration. Unknown keys are refused.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TrendConfig {
    /// Archives as `step:span` pairs, finest first (default `"10s:1d,1m:30d,10m:1y"`).
    /// Points older than an archive's span leave it; a query reads the finest archive
    /// that covers its range.
    #[serde(deserialize_with = "de_retention")]
    pub retention: Retention,
    /// Age after which interval blobs are folded into compressed chunks (default
    /// `"10m"`). Younger intervals stay one blob each, cheap to write and to amend with
    /// late points.
    #[serde(deserialize_with = "de_duration")]
    pub compact_after: Duration,
    /// How often the background compactor wakes (default `"5m"`). Each pass
    /// rewrites one chunk per series and archive, so with very many series a longer
    /// period costs less (100k series: about 20 s of one core per pass).
    #[serde(deserialize_with = "de_duration")]
    pub compact_every: Duration,
    /// Closed intervals that may wait for the writer thread (default 64). When the
    /// queue is full (a slow or failing disk) the interval is not stored: it stays in
    /// the engine's ring, is counted in `treestat_trend_dropped_intervals_total`, and
    /// intervals keep closing (the closing thread never waits for the disk).
    pub queue: usize,
    /// A storage call of the writer (a write or a flush) running longer than this
    /// makes `/health` say `degraded` (default `"60s"`): the store is stuck. A
    /// compaction pass of a very large store may hold the writer for a while, hence
    /// the margin.
    #[serde(deserialize_with = "de_duration")]
    pub stall_after: Duration,
    /// sled's page cache in bytes (default 64 MiB).
    pub cache_bytes: u64,
    /// Percent thresholds (thousandths of a percent; negative: Etsy's top ones) whose
    /// `upper_N`, `mean_N`, `sum_N`, `count_N`, `sum_squares_N` each stored interval
    /// of a histogram leaf keeps exactly, computed from its raw samples. Not a key
    /// of `[trend]`: the server sets it from `[listen] statsd_percent_threshold`
    /// (default `[90]`).
    #[serde(skip)]
    pub percent_thresholds: Vec<i32>,
    /// Etsy's histogram bins: `(metric, upper bounds)` (thousandths, `None` for
    /// `inf`); a histogram leaf whose dotted path contains `metric` takes the first
    /// such bins, counted per stored interval from its raw samples. Not a key of
    /// `[trend]`: the server sets it from `[[listen.statsd_histogram]]` (default none).
    #[serde(skip)]
    pub histogram_bins: Vec<(String, Vec<Option<i32>>)>,
}

impl Default for TrendConfig {
    fn default() -> TrendConfig {
        TrendConfig {
            retention: Retention::default(),
            compact_after: Duration::from_secs(600),
            compact_every: Duration::from_secs(300),
            queue: 64,
            stall_after: Duration::from_secs(60),
            cache_bytes: 64 << 20,
            percent_thresholds: vec![90_000],
            histogram_bins: Vec::new(),
        }
    }
}

impl TrendConfig {
    /// Checks the settings that serde cannot.
    ///
    /// # Errors
    /// `Config` naming the bad setting.
    pub fn validate(&self) -> Result<()> {
        if self.queue == 0 {
            return Err(TrendError::config("trend.queue must be at least 1"));
        }
        if self.stall_after.is_zero() {
            return Err(TrendError::config("trend.stall_after must be above 0"));
        }
        if self.compact_every.is_zero() {
            return Err(TrendError::config("trend.compact_every must be above 0"));
        }
        Retention::from_archives(self.retention.archives.clone()).map(|_| ())
    }

    /// `compact_after` in whole seconds.
    pub fn compact_after_secs(&self) -> i64 {
        i64::try_from(self.compact_after.as_secs()).unwrap_or(i64::MAX)
    }
}

/// One archive: points every `step` seconds, kept for `span` seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Archive {
    /// Seconds between points.
    pub step: i64,
    /// Seconds of history kept.
    pub span: i64,
}

/// The archives, finest first.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Retention {
    archives: Vec<Archive>,
}

/// Most archives a retention may have (the archive index is one byte of chunk keys).
pub const MAX_ARCHIVES: usize = 8;

impl Default for Retention {
    fn default() -> Retention {
        Retention {
            archives: vec![
                Archive {
                    step: 10,
                    span: 86_400,
                },
                Archive {
                    step: 60,
                    span: 30 * 86_400,
                },
                Archive {
                    step: 600,
                    span: 365 * 86_400,
                },
            ],
        }
    }
}

impl Retention {
    /// Parses `step:span[,step:span...]`, e.g. `10s:1d,1m:30d,10m:1y`.
    ///
    /// # Errors
    /// `Config` naming the part that does not parse or breaks the ordering rules.
    pub fn parse(text: &str) -> Result<Retention> {
        let mut archives = Vec::new();
        for part in text.split(',').map(str::trim).filter(|p| !p.is_empty()) {
            let (step, span) = part.split_once(':').ok_or_else(|| {
                TrendError::config(format!("retention archive {part:?} is not step:span"))
            })?;
            archives.push(Archive {
                step: secs(step, part)?,
                span: secs(span, part)?,
            });
        }
        Retention::from_archives(archives)
    }

    /// Checks a list of archives: 1..=8 of them, steps of at least 1 s, each step a
    /// multiple of the previous one, spans growing and at least one step long.
    ///
    /// # Errors
    /// `Config` naming the archive that breaks a rule.
    pub fn from_archives(archives: Vec<Archive>) -> Result<Retention> {
        if archives.is_empty() || archives.len() > MAX_ARCHIVES {
            return Err(TrendError::config(format!(
                "retention needs 1 to {MAX_ARCHIVES} archives, got {}",
                archives.len()
            )));
        }
        for (i, a) in archives.iter().enumerate() {
            if a.step < 1 || a.span < a.step {
                return Err(TrendError::config(format!(
                    "retention archive {i}: step must be >= 1s and span >= step"
                )));
            }
            if let Some(prev) = i.checked_sub(1).map(|p| archives[p])
                && (a.step % prev.step != 0 || a.step <= prev.step || a.span <= prev.span)
            {
                return Err(TrendError::config(format!(
                    "retention archive {i}: step must be a larger multiple of the \
                     previous step and span longer than the previous span"
                )));
            }
        }
        Ok(Retention { archives })
    }

    /// The archives, finest first.
    pub fn archives(&self) -> &[Archive] {
        &self.archives
    }
}

impl std::fmt::Display for Retention {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        for (i, a) in self.archives.iter().enumerate() {
            if i > 0 {
                f.write_str(",")?;
            }
            write!(f, "{}s:{}s", a.step, a.span)?;
        }
        Ok(())
    }
}

fn secs(text: &str, part: &str) -> Result<i64> {
    let d = parse_duration(text)
        .map_err(|e| TrendError::config(format!("retention archive {part:?}: {e}")))?;
    let s = i64::try_from(d.as_secs()).unwrap_or(i64::MAX);
    if d.subsec_nanos() != 0 || s == 0 {
        return Err(TrendError::config(format!(
            "retention archive {part:?}: durations must be whole seconds"
        )));
    }
    Ok(s)
}

fn de_retention<'de, D: Deserializer<'de>>(d: D) -> Result<Retention, D::Error> {
    let s = String::deserialize(d)?;
    Retention::parse(&s).map_err(serde::de::Error::custom)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_retention_parses_from_its_text() {
        let r = Retention::parse("10s:1d,1m:30d,10m:1y").unwrap();
        assert_eq!(r, Retention::default());
        assert_eq!(r.to_string(), "10s:86400s,60s:2592000s,600s:31536000s");
    }

    #[test]
    fn bad_retentions_are_refused_with_a_reason() {
        for bad in [
            "",
            "10s",
            "10s:1d,15s:30d",
            "1m:1d,10s:30d",
            "10s:1d,1m:1h",
            "0s:1d",
        ] {
            let e = Retention::parse(bad).unwrap_err();
            assert!(e.message().contains("retention"), "{bad}: {e}");
        }
    }

    #[test]
    fn config_parses_and_refuses_unknown_keys() {
        let c: TrendConfig =
            toml::from_str("retention = \"1m:1d,1h:1y\"\ncompact_after = \"5m\"\nqueue = 8\n")
                .unwrap();
        assert_eq!(c.retention.archives()[1].step, 3600);
        assert_eq!(c.compact_after, Duration::from_secs(300));
        assert_eq!(c.queue, 8);
        c.validate().unwrap();
        assert!(toml::from_str::<TrendConfig>("retension = \"1m:1d\"").is_err());
        assert!(toml::from_str::<TrendConfig>("retention = \"1m\"").is_err());
    }
}
