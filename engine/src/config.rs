//! The engine's configuration: interval, ring, limits and action rules.
//!
//! Every field has a default and is documented with its unit; unknown keys are refused
//! so a typo in `conf/treestat.toml` is an error, not a silently ignored setting.

use std::time::Duration;

use serde::{Deserialize, Deserializer};

use crate::Action;

/// The `[engine]` section of the server configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct EngineConfig {
    /// Length of an interval (`"10s"`, `"1m"`; default 10 s). Trend points are one per
    /// interval per touched leaf.
    #[serde(deserialize_with = "de_duration")]
    pub interval: Duration,
    /// Closed intervals kept in memory for realtime windows (default 360: one hour at 10 s).
    pub ring: usize,
    /// Upper bound of the ring's memory in bytes (default 64 MiB; 16 bytes per touched
    /// leaf per interval). The oldest intervals go first when it is reached.
    pub ring_bytes: usize,
    /// Action of the root, inherited by nodes without one (default `average`).
    #[serde(deserialize_with = "de_action")]
    pub root_action: Action,
    /// Actions by path pattern, first match wins, applied to nodes a push creates
    /// without an explicit action (like Graphite's storage-aggregation rules).
    pub actions: Vec<ActionRule>,
    /// Bounds that keep hostile input from exhausting memory.
    pub limits: Limits,
    /// Pushes remembered for `/pull?cursor=` (default 4096).
    pub pull_log: usize,
    /// Upper bound of the `/pull` log's memory in bytes (default 64 MiB; 16 bytes per
    /// changed leaf plus the markers). The oldest pushes go first when it is reached.
    pub pull_log_bytes: usize,
    /// How far ahead of the server's clock a dated sample may be (default `"5m"`,
    /// seconds or a duration). A later sample is refused and counted (`future`): one
    /// sample dated in the year 33658 would otherwise freeze a gauge's `last` and move
    /// the trend store's "now" past every real interval.
    #[serde(deserialize_with = "de_duration")]
    pub max_future: Duration,
    /// The write-ahead log of accepted pushes, in `<server.data>/wal` (default
    /// `"batch"`; docs/OPERATIONS.md, "Write-ahead log"): `"off"` keeps nothing, and a
    /// crash loses the open interval; `"batch"` appends every accepted push (written
    /// every 50 ms) and fsyncs every `wal_flush`, so a power cut loses at most that
    /// window (a killed process at most 50 ms); `"sync"` answers HTTP
    /// pushes (`200`) and TCP lines (`--OK`) only once they are fsynced, one fsync
    /// shared by every sender waiting at the time.
    pub wal: WalMode,
    /// Longest time between fsyncs of the log in `batch` mode (default `"200ms"`, a
    /// duration).
    #[serde(deserialize_with = "de_duration")]
    pub wal_flush: Duration,
    /// Most bytes the log may hold on disk (default 1 GiB). The log holds the open
    /// interval and the closed ones the trend store has not persisted yet, so it is
    /// full only when the store falls far behind (a stuck disk) or pushes exceed
    /// ~50 MB/s at 10 s intervals; replaying 1 GiB on start takes seconds, not minutes.
    pub wal_max_bytes: u64,
    /// What happens to pushes while the log is full (default `"off"`): `"off"` merges
    /// them without logging (counted in `treestat_wal_unlogged_total`); `"refuse"`
    /// refuses them as overload (HTTP 429, `--ERR` on TCP).
    pub wal_full: WalFull,
    /// Etsy's histogram bins per metric (`(dotted name part, upper bounds in
    /// thousandths, None for inf)`), for `bin_N` over `/api/q` windows. Not a key of
    /// `[engine]`: the server sets it from `[[listen.statsd_histogram]]` (default none).
    #[serde(skip)]
    pub histogram_bins: Vec<(String, Vec<Option<i32>>)>,
    /// Size of a log segment file in bytes (default 8 MiB; 0: one segment per
    /// interval, none preallocated). A new segment starts when one is full or a new
    /// interval begins. With `wal = "sync"` each segment is written with zeros and
    /// fsynced by a helper thread before it is needed, so an fsync flushes the records
    /// only, not the file system's block allocation; the log then takes this much disk
    /// per segment it holds (at least one per interval not yet persisted) plus one
    /// spare being prepared. `batch` does not preallocate (it fsyncs 5 times a second).
    pub wal_segment_bytes: u64,
}

/// `engine.wal`: how accepted pushes are logged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WalMode {
    /// Not logged: a crash loses the open interval.
    Off,
    /// Logged, fsynced at most every `wal_flush`.
    #[default]
    Batch,
    /// Logged and fsynced before the push is answered.
    Sync,
}

/// `engine.wal_full`: what a full log does to pushes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum WalFull {
    /// Merge them without logging.
    #[default]
    Off,
    /// Refuse them as overload.
    Refuse,
}

impl EngineConfig {
    /// [`EngineConfig::max_future`] in whole seconds.
    pub fn max_future_secs(&self) -> i64 {
        i64::try_from(self.max_future.as_secs()).unwrap_or(i64::MAX)
    }
}

impl Default for EngineConfig {
    fn default() -> EngineConfig {
        EngineConfig {
            interval: Duration::from_secs(10),
            ring: 360,
            ring_bytes: 64 << 20,
            root_action: Action::Average,
            actions: Vec::new(),
            limits: Limits::default(),
            pull_log: 4096,
            pull_log_bytes: 64 << 20,
            max_future: Duration::from_secs(300),
            wal: WalMode::Batch,
            wal_flush: Duration::from_millis(200),
            wal_max_bytes: 1 << 30,
            wal_full: WalFull::Off,
            histogram_bins: Vec::new(),
            wal_segment_bytes: 8 << 20,
        }
    }
}

/// One action rule: nodes under `pattern` get `action` when created.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ActionRule {
    /// A query pattern (docs/CONCEPTS.md, "Query patterns"), matched against the new
    /// node's path as a prefix.
    pub pattern: String,
    /// The action to give.
    #[serde(deserialize_with = "de_action")]
    pub action: Action,
}

/// Limits on what one push and the whole tree may hold.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Limits {
    /// Deepest path, in keys (default 32).
    pub max_depth: usize,
    /// Most nodes one push may add (default 100,000).
    pub max_push_nodes: usize,
    /// Most nodes in the tree (default 10,000,000).
    pub max_nodes: usize,
    /// Markers kept beside the tree (default 10,000; the oldest go first).
    pub max_markers: usize,
    /// Longest marker text in bytes (default 1024; longer texts are cut).
    pub max_marker_len: usize,
    /// Bytes of markers kept beside the tree, and again of markers held by the open
    /// interval (default 4 MiB each; path, text and bookkeeping counted). Past it the
    /// oldest kept markers go first, and markers pushed into a full open interval are
    /// dropped and counted.
    pub max_marker_bytes: usize,
    /// Bytes of dated samples the open interval may hold for intervals already closed
    /// (default 32 MiB, 24 bytes a sample). Past it, such samples are refused alone and
    /// counted (`dropped` in the push's answer); samples for the open interval still land.
    pub max_late_bytes: usize,
    /// Raw samples a `histogram` leaf keeps per interval so that Etsy statsd's
    /// statistics of that interval are exact (default 8192 samples, 8 bytes each: 64
    /// KiB per leaf per interval at most). Past it the interval's statistics come from
    /// its sketch (within 1 %); 0 keeps none.
    pub max_histogram_raw: usize,
}

impl Default for Limits {
    fn default() -> Limits {
        Limits {
            max_depth: 32,
            max_push_nodes: 100_000,
            max_nodes: 10_000_000,
            max_markers: 10_000,
            max_marker_len: 1024,
            max_marker_bytes: 4 << 20,
            max_late_bytes: 32 << 20,
            max_histogram_raw: crate::histogram::DEFAULT_MAX_RAW,
        }
    }
}

/// Reads an action by name (`add`, `average`, ...); shared by every config section that
/// names one.
///
/// # Errors
/// The name is not an action.
pub fn de_action<'de, D: Deserializer<'de>>(d: D) -> Result<Action, D::Error> {
    let s = String::deserialize(d)?;
    s.parse().map_err(serde::de::Error::custom)
}

/// Reads a duration written as text (`"10s"`, `"500ms"`, `"1m"`, see [`parse_duration`])
/// or as a number of seconds; shared by every config section, so every file takes the
/// same units.
///
/// # Errors
/// The text does not parse, or the number is negative or not finite.
pub fn de_duration<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Raw {
        Secs(f64),
        Text(String),
    }
    match Raw::deserialize(d)? {
        Raw::Secs(s) => Duration::try_from_secs_f64(s).map_err(serde::de::Error::custom),
        Raw::Text(t) => parse_duration(&t).map_err(serde::de::Error::custom),
    }
}

/// Durations in config files are the one time grammar of treestat-model (`500ms`,
/// `10s`, `1m`, `6h`, `1d`, a plain number of seconds).
pub use treestat_model::parse_duration;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn config_durations_take_the_time_grammar() {
        let c: EngineConfig = toml::from_str("interval = \"1m\"").unwrap();
        assert_eq!(c.interval, Duration::from_secs(60));
        let c: EngineConfig = toml::from_str("interval = 2.5").unwrap();
        assert_eq!(c.interval, Duration::from_millis(2500));
        let e = toml::from_str::<EngineConfig>("interval = \"1parsec\"").unwrap_err();
        assert!(e.to_string().contains("unknown unit"), "{e}");
    }

    #[test]
    fn config_parses_and_refuses_unknown_keys() {
        let c: EngineConfig = toml::from_str(
            "interval = \"5s\"\n[[actions]]\npattern = \"br\"\naction = \"add\"\n[limits]\nmax_depth = 8\n",
        )
        .unwrap();
        assert_eq!(c.interval, Duration::from_secs(5));
        assert_eq!(c.actions[0].action, Action::Add);
        assert_eq!(c.limits.max_depth, 8);
        assert!(toml::from_str::<EngineConfig>("intervall = 5").is_err());
        assert_eq!(EngineConfig::default().max_future_secs(), 300);
        let c: EngineConfig = toml::from_str("max_future = \"1h\"").unwrap();
        assert_eq!(c.max_future_secs(), 3600);
        let c: EngineConfig = toml::from_str(
            "wal = \"sync\"\nwal_flush = \"50ms\"\nwal_max_bytes = 4096\nwal_full = \"refuse\"",
        )
        .unwrap();
        assert_eq!(c.wal, WalMode::Sync);
        assert_eq!(c.wal_flush, Duration::from_millis(50));
        assert_eq!((c.wal_max_bytes, c.wal_full), (4096, WalFull::Refuse));
        assert_eq!(c.wal_segment_bytes, 8 << 20);
        let c: EngineConfig = toml::from_str("wal_segment_bytes = 0").unwrap();
        assert_eq!(c.wal_segment_bytes, 0);
        assert!(toml::from_str::<EngineConfig>("wal = \"always\"").is_err());
    }
}
