//! [`ListenConfig`]: the `[listen]` section of the server configuration, the bind
//! addresses and every bound that keeps a hostile client from exhausting memory.

use super::tags::TagConfig;
use crate::config::de_duration;
use std::time::Duration;

use serde::Deserialize;

/// Push listener settings. Unknown keys are refused.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ListenConfig {
    /// TCP address for JSON trees and SimpleStats tuples, one per line (default
    /// `"127.0.0.1:8007"`; `"off"` disables it).
    pub tcp: String,
    /// UDP address for JSON trees, one per datagram (default `"127.0.0.1:8007"`; `"off"`).
    pub udp: String,
    /// UDP address for StatsD lines (default `"127.0.0.1:8125"`; `"off"`).
    pub statsd: String,
    /// TCP address for Graphite plaintext lines (default `"127.0.0.1:2003"`; `"off"`).
    pub graphite: String,
    /// Longest line on a TCP listener, in bytes, without its line ending (default
    /// 65,536). Longer lines are answered `--ERR line too long` and skipped to the next
    /// newline without being buffered.
    pub max_line: usize,
    /// Largest UDP datagram, in bytes (default 65,536; larger ones are counted and
    /// dropped).
    pub max_datagram: usize,
    /// Most open TCP connections per listener (default 1024). At the cap, a new
    /// connection takes the place of the one idle longest, if it has been idle (no
    /// complete line) for `reclaim_after` (counted under reason `idle_reclaimed`);
    /// otherwise the newcomer is closed at once and counted under
    /// `too_many_connections`.
    pub max_connections: usize,
    /// How long a connection must have been idle before a newcomer may take its place
    /// at `max_connections` (default `"1s"`).
    #[serde(deserialize_with = "de_duration")]
    pub reclaim_after: Duration,
    /// A TCP connection that completes no line within this time is closed (slowloris
    /// guard; `"60s"` by default). Also bounds how long a reply may wait for a client
    /// that does not read.
    #[serde(deserialize_with = "de_duration")]
    pub idle_timeout: Duration,
    /// Bytes read from a TCP connection at a time (default 16,384). With `max_line`
    /// it bounds a connection's memory: at most `max_line + read_buffer` bytes.
    pub read_buffer: usize,
    /// Kernel receive buffer asked for each UDP socket, in bytes (default 4 MiB; 0
    /// keeps the system default). A larger buffer absorbs bursts instead of dropping
    /// datagrams; Linux caps it at `net.core.rmem_max`.
    pub udp_recv_buffer: usize,
    /// Most datagrams (UDP) merged into one engine call (default 256). Higher is faster
    /// under load; a bad datagram never fails the others.
    pub max_batch: usize,
    /// Distinct StatsD set (`|s`) members kept per interval, all sets together
    /// (default 1,000,000: at most a few tens of MB, members are kept as 64-bit
    /// hashes). Lines bringing a new member past it are refused under reason
    /// `set_full`; members already seen still count.
    pub statsd_set_members: usize,
    /// Distinct StatsD set names per interval (default 10,000).
    pub statsd_sets: usize,
    /// StatsD gauges whose value is carried into every interval, as Etsy's statsd
    /// flushes every gauge it knows (`deleteGauges: false`): each closed interval then
    /// has a point for them even when no line set them (default 100,000 gauges; 0
    /// carries none, as Etsy's `deleteGauges: true`). Gauges past the bound still take
    /// their lines, but their intervals without lines have no point; their lines are
    /// counted in `treestat_listen_gauges_not_kept_total`.
    pub statsd_gauges: usize,
    /// Etsy statsd's `percentThreshold` (default `[90]`; percents, at most three
    /// decimals, in -100..=100 but not 0; negative ones are Etsy's top thresholds,
    /// `lower_topN`). For each, every closed interval of a histogram leaf (StatsD
    /// timers `|ms` and histograms `|h` among them) whose raw samples were all kept
    /// (`limits.max_histogram_raw`) stores `upper_N`, `mean_N`, `sum_N`, `count_N`
    /// and `sum_squares_N` exactly as Etsy flushes them (with `median`, `std`, `sum`,
    /// `mean`, `sum_squares`), so `/trend?stat=upper_90&points=0` reads Etsy's numbers
    /// per interval. Other thresholds, and rollups over several intervals, are read
    /// from the sketches. Costs 13 bytes per stored value, and only where the sketch
    /// would answer otherwise; `[]` stores only those five overall stats.
    #[serde(deserialize_with = "de_thresholds")]
    pub statsd_percent_threshold: Vec<f64>,
    /// Etsy statsd's `histogram` setting, as `[[listen.statsd_histogram]]` tables
    /// (default none): a histogram leaf whose dotted name contains `metric` (`""`:
    /// every one) takes the first table's `bins`, upper bounds in Etsy's order (numbers
    /// with at most three decimals, and `"inf"`), and each closed interval whose raw
    /// samples were all kept stores Etsy's `bin_<upper>` counts (samples below the
    /// bound and not in an earlier bin; past a last finite bound, in none), read with
    /// `?stat=bin_100,bin_0_5,bin_inf` on `/trend`. 13 bytes per bin per interval.
    pub statsd_histogram: Vec<StatsdHistogram>,
    /// StatsD and Graphite tags as tree levels: the `[listen.tags]` section
    /// ([`TagConfig`]; by default every tag is dropped and counted).
    pub tags: TagConfig,
}

impl Default for ListenConfig {
    fn default() -> ListenConfig {
        ListenConfig {
            tcp: "127.0.0.1:8007".into(),
            udp: "127.0.0.1:8007".into(),
            statsd: "127.0.0.1:8125".into(),
            graphite: "127.0.0.1:2003".into(),
            max_line: 64 << 10,
            max_datagram: 64 << 10,
            max_connections: 1024,
            reclaim_after: Duration::from_secs(1),
            idle_timeout: Duration::from_secs(60),
            read_buffer: 16 << 10,
            udp_recv_buffer: 4 << 20,
            max_batch: 256,
            statsd_set_members: 1_000_000,
            statsd_sets: 10_000,
            statsd_gauges: 100_000,
            statsd_percent_threshold: vec![90.0],
            statsd_histogram: Vec::new(),
            tags: TagConfig::default(),
        }
    }
}

/// A percent threshold in thousandths of a percent, if it is one (nonzero, at most
/// 100 either way, at most three decimals).
fn threshold_milli(pct: f64) -> Option<i32> {
    let m = (pct * 1000.0).round();
    #[allow(clippy::cast_possible_truncation)] // checked to be within ±100,000
    ((pct * 1000.0 - m).abs() < 1e-6 && m != 0.0 && m.abs() <= 100_000.0).then_some(m as i32)
}

fn de_thresholds<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<f64>, D::Error> {
    let v = Vec::<f64>::deserialize(d)?;
    if let Some(bad) = v.iter().find(|&&p| threshold_milli(p).is_none()) {
        return Err(serde::de::Error::custom(format!(
            "statsd_percent_threshold {bad} is not a percent in -100..=100, nonzero, with \
             at most three decimals"
        )));
    }
    Ok(v)
}

/// One `[[listen.statsd_histogram]]` table: Etsy's `{ metric, bins }`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StatsdHistogram {
    /// A part of the dotted name the bins are for (`""`: every histogram leaf).
    pub metric: String,
    /// Upper bounds, in thousandths (`None`: `"inf"`).
    #[serde(deserialize_with = "de_bins")]
    pub bins: Vec<Option<i32>>,
}

fn de_bins<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<Option<i32>>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Bound {
        Number(f64),
        Text(String),
    }
    Vec::<Bound>::deserialize(d)?
        .into_iter()
        .map(|b| match b {
            Bound::Text(t) if t == "inf" => Ok(None),
            Bound::Number(n) => treestat_model::Stat::bin_milli(n).map(Some).ok_or_else(|| {
                serde::de::Error::custom(format!(
                    "histogram bin {n} has more than three decimals or is too large"
                ))
            }),
            Bound::Text(t) => Err(serde::de::Error::custom(format!(
                "histogram bin {t:?} is neither a number nor \"inf\""
            ))),
        })
        .collect()
}

impl ListenConfig {
    /// `statsd_histogram` as the trend store takes it: `(metric, upper bounds)`.
    pub fn histogram_bins(&self) -> Vec<(String, Vec<Option<i32>>)> {
        self.statsd_histogram
            .iter()
            .map(|h| (h.metric.clone(), h.bins.clone()))
            .collect()
    }

    /// `statsd_percent_threshold` in thousandths of a percent, as the trend store and
    /// [`treestat_model::Stat`] take it.
    pub fn percent_thresholds(&self) -> Vec<i32> {
        self.statsd_percent_threshold
            .iter()
            .filter_map(|&p| threshold_milli(p))
            .collect()
    }

    /// `None` when `addr` is `"off"` (or empty): the listener is disabled.
    pub fn enabled(addr: &str) -> Option<&str> {
        let a = addr.trim();
        (!a.is_empty() && !a.eq_ignore_ascii_case("off")).then_some(a)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_and_refuses_unknown_keys() {
        let c: ListenConfig = toml::from_str(
            "tcp = \"off\"\nidle_timeout = \"5s\"\nmax_line = 100\nudp_recv_buffer = 0\n",
        )
        .unwrap();
        assert_eq!(ListenConfig::enabled(&c.tcp), None);
        assert_eq!(ListenConfig::enabled(&c.udp), Some("127.0.0.1:8007"));
        assert_eq!(c.idle_timeout, Duration::from_secs(5));
        assert_eq!(c.max_line, 100);
        assert_eq!(c.udp_recv_buffer, 0);
        assert!(toml::from_str::<ListenConfig>("max_lines = 5").is_err());
        let c: ListenConfig = toml::from_str("statsd_percent_threshold = [90, 99.9, -10]").unwrap();
        assert_eq!(c.percent_thresholds(), [90_000, 99_900, -10_000]);
        let c: ListenConfig =
            toml::from_str("[[statsd_histogram]]\nmetric = \"api\"\nbins = [0.5, 100, \"inf\"]\n")
                .unwrap();
        assert_eq!(c.statsd_histogram[0].bins, [Some(500), Some(100_000), None]);
        for bad in ["bins = [\"x\"]", "bins = [0.0001]", "bins = [1]\nextra = 1"] {
            let t = format!("[[statsd_histogram]]\nmetric = \"\"\n{bad}\n");
            assert!(toml::from_str::<ListenConfig>(&t).is_err(), "{bad}");
        }
        for bad in ["[0]", "[101]", "[-100.5]", "[99.9999]"] {
            assert!(
                toml::from_str::<ListenConfig>(&format!("statsd_percent_threshold = {bad}"))
                    .is_err(),
                "{bad}"
            );
        }
        assert_eq!(
            toml::from_str::<ListenConfig>("").unwrap(),
            ListenConfig::default()
        );
    }
}
