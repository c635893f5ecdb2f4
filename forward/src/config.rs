//! The `[[forward]]` section: where one target is, which leaves go there, and the
//! bounds of its buffer and retries. Validated once by [`ForwardConfig::validate`]
//! (the server refuses to start on an error, naming the section).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use treestat_engine::{Pattern, Stat, de_duration};

use crate::error::{Error, Result};

/// What the target speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    /// Graphite plaintext over TCP (`name value timestamp\n`): carbon-cache,
    /// carbon-relay, go-carbon, VictoriaMetrics' Graphite input.
    Graphite,
    /// Prometheus remote-write 0.1 (snappy protobuf over HTTP POST): Prometheus with
    /// `--web.enable-remote-write-receiver`, VictoriaMetrics, Mimir.
    Prometheus,
}

impl Kind {
    /// The name used in config files and default target names.
    pub fn name(self) -> &'static str {
        match self {
            Kind::Graphite => "graphite",
            Kind::Prometheus => "prometheus",
        }
    }
}

/// One `[[forward]]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ForwardConfig {
    /// `graphite` or `prometheus`. Required.
    pub kind: Kind,
    /// Where: `tcp://host:2003` (graphite; `host:port` alone works too) or
    /// `http://host:9090/api/v1/write` (prometheus; `https://` too). Required.
    pub url: String,
    /// The target's name in the counters (`target` label, `_treestat,forward,<name>`).
    /// Default: the kind and the section's position, `graphite0`, `prometheus1`.
    #[serde(default)]
    pub name: Option<String>,
    /// Graphite only: nodes put before every name, dotted as Graphite writes them
    /// (`"dc1.treestat"` sends `dc1.treestat.cpu.host.idle`). Default: none.
    #[serde(default)]
    pub prefix: String,
    /// Which leaves go: a query pattern (docs/CONCEPTS.md) matched against each leaf's
    /// path as `/get` matches it. Default `**`, every leaf but the server's own
    /// `_treestat` subtree (name it, `_treestat,**`, to send that).
    #[serde(default = "default_pattern")]
    pub pattern: String,
    /// Prometheus only: the metric name (`__name__`) of every series. Default
    /// `treestat`.
    #[serde(default = "default_metric")]
    pub metric: String,
    /// Prometheus only: labels added to every series (as Prometheus'
    /// `external_labels`), e.g. `{ instance = "edge1" }`. Default: none.
    #[serde(default)]
    pub labels: BTreeMap<String, String>,
    /// The stats sent beside a histogram leaf's value (its mean), each as a name of
    /// its own ([stats](docs/CONCEPTS.md#stats)). Default
    /// `["count", "sum", "min", "max", "p50", "p90", "p99"]`; `[]` sends the mean only.
    #[serde(default = "default_histogram_stats")]
    pub histogram_stats: Vec<String>,
    /// Most bytes of points held while the target is slow or down (each point counts
    /// its name's length plus 48 bytes); past it the oldest points are dropped and
    /// counted. Default 67108864 (64 MiB), at least 65536.
    #[serde(default = "default_buffer_bytes")]
    pub buffer_bytes: usize,
    /// Most points in one write (one TCP write, one remote-write request). Default
    /// 5000, 1..=1000000.
    #[serde(default = "default_batch")]
    pub batch: usize,
    /// First pause after a failed connect or send; it doubles with each failure in a
    /// row. Default 500ms.
    #[serde(default = "default_retry_min", deserialize_with = "de_duration")]
    pub retry_min: Duration,
    /// Longest pause between retries. Default 30s.
    #[serde(default = "default_retry_max", deserialize_with = "de_duration")]
    pub retry_max: Duration,
    /// Longest connect, and longest single write or HTTP request, before it counts as
    /// failed. Default 10s.
    #[serde(default = "default_timeout", deserialize_with = "de_duration")]
    pub timeout: Duration,
}

fn default_pattern() -> String {
    "**".into()
}
fn default_metric() -> String {
    "treestat".into()
}
fn default_histogram_stats() -> Vec<String> {
    ["count", "sum", "min", "max", "p50", "p90", "p99"]
        .map(String::from)
        .to_vec()
}
fn default_buffer_bytes() -> usize {
    64 << 20
}
fn default_batch() -> usize {
    5000
}
fn default_retry_min() -> Duration {
    Duration::from_millis(500)
}
fn default_retry_max() -> Duration {
    Duration::from_secs(30)
}
fn default_timeout() -> Duration {
    Duration::from_secs(10)
}

/// Smallest `buffer_bytes` taken.
pub const MIN_BUFFER_BYTES: usize = 64 << 10;
/// Largest `batch` taken.
pub const MAX_BATCH: usize = 1_000_000;

impl ForwardConfig {
    /// A section with every default, for `kind` at `url` (what `serve --forward`
    /// builds).
    pub fn new(kind: Kind, url: &str) -> ForwardConfig {
        ForwardConfig {
            kind,
            url: url.to_string(),
            name: None,
            prefix: String::new(),
            pattern: default_pattern(),
            metric: default_metric(),
            labels: BTreeMap::new(),
            histogram_stats: default_histogram_stats(),
            buffer_bytes: default_buffer_bytes(),
            batch: default_batch(),
            retry_min: default_retry_min(),
            retry_max: default_retry_max(),
            timeout: default_timeout(),
        }
    }

    /// The target's name: `name`, else the kind and the section's position `index`
    /// among all `[[forward]]` sections (`graphite0`, `prometheus1`).
    pub fn target_name(&self, index: usize) -> String {
        self.name
            .clone()
            .unwrap_or_else(|| format!("{}{index}", self.kind.name()))
    }

    /// Reads a target URL given alone (`serve --forward URL`): `tcp://` is Graphite
    /// plaintext, `http://` and `https://` Prometheus remote-write.
    ///
    /// # Errors
    /// Any other scheme.
    pub fn from_url(url: &str) -> Result<ForwardConfig> {
        let kind = if url.starts_with("tcp://") {
            Kind::Graphite
        } else if url.starts_with("http://") || url.starts_with("https://") {
            Kind::Prometheus
        } else {
            return Err(Error::config(format!(
                "forward URL {url:?}: use tcp://host:port (Graphite plaintext) or \
                 http://host:port/api/v1/write (Prometheus remote-write)"
            )));
        };
        Ok(ForwardConfig::new(kind, url))
    }

    /// Checks every field and compiles what the worker needs.
    ///
    /// # Errors
    /// A field out of its range, a pattern or stat that does not parse, a URL that
    /// does not fit the kind, a key given to the other kind.
    pub fn validate(&self) -> Result<Checked> {
        let bad = |why: String| Err(Error::config(format!("[[forward]] {}: {why}", self.url)));
        if self.buffer_bytes < MIN_BUFFER_BYTES {
            return bad(format!("buffer_bytes must be at least {MIN_BUFFER_BYTES}"));
        }
        if self.batch == 0 || self.batch > MAX_BATCH {
            return bad(format!("batch must be 1..={MAX_BATCH}"));
        }
        if self.retry_min.is_zero() || self.retry_min > self.retry_max {
            return bad("retry_min must be above 0 and at most retry_max".into());
        }
        if self.timeout.is_zero() {
            return bad("timeout must be above 0".into());
        }
        let pattern = match Pattern::parse(&self.pattern) {
            Ok(p) if !p.aggregates() => p,
            Ok(_) => {
                return bad(format!(
                    "pattern {:?} folds; give one that selects leaves",
                    self.pattern
                ));
            }
            Err(e) => return bad(format!("pattern: {e}")),
        };
        let mut stats = Vec::new();
        for s in &self.histogram_stats {
            match s.parse::<Stat>() {
                Ok(stat) => stats.push((stat.to_string(), stat)),
                Err(e) => return bad(format!("histogram_stats: {}", e.0)),
            }
        }
        let address = match self.kind {
            Kind::Graphite => {
                if !self.labels.is_empty() || self.metric != default_metric() {
                    return bad(
                        "metric and labels are for kind = \"prometheus\"; graphite takes prefix"
                            .into(),
                    );
                }
                let hostport = self.url.strip_prefix("tcp://").unwrap_or(&self.url);
                let hostport = hostport.trim_end_matches('/');
                if hostport.is_empty() || hostport.contains('/') || !hostport.contains(':') {
                    return bad("a graphite url is tcp://host:port".into());
                }
                if self.prefix.starts_with('.')
                    || self.prefix.ends_with('.')
                    || self.prefix.contains(char::is_whitespace)
                {
                    return bad(
                        "prefix: dotted nodes without blanks, no leading or trailing dot".into(),
                    );
                }
                hostport.to_string()
            }
            Kind::Prometheus => {
                if !self.prefix.is_empty() {
                    return bad(
                        "prefix is for kind = \"graphite\"; prometheus takes metric and labels"
                            .into(),
                    );
                }
                if !(self.url.starts_with("http://") || self.url.starts_with("https://")) {
                    return bad("a prometheus url is http://host:port/api/v1/write".into());
                }
                if !valid_metric_name(&self.metric) {
                    return bad(format!(
                        "metric {:?} is not a Prometheus metric name",
                        self.metric
                    ));
                }
                for k in self.labels.keys() {
                    if !valid_label_name(k) || k == "path" || k == "stat" || level_label(k) {
                        return bad(format!(
                            "label {k:?}: not a Prometheus label name, or one treestat sets (path, stat, l1, l2, ...)"
                        ));
                    }
                }
                self.url.clone()
            }
        };
        Ok(Checked {
            pattern,
            stats,
            address,
        })
    }
}

/// What [`ForwardConfig::validate`] compiled.
#[derive(Debug, Clone)]
pub struct Checked {
    /// The leaves that go.
    pub pattern: Pattern,
    /// The histogram stats, with the names they are sent under.
    pub stats: Vec<(String, Stat)>,
    /// `host:port` (graphite) or the URL (prometheus).
    pub address: String,
}

/// `[a-zA-Z_:][a-zA-Z0-9_:]*`
fn valid_metric_name(s: &str) -> bool {
    let mut chars = s.chars();
    chars
        .next()
        .is_some_and(|c| c.is_ascii_alphabetic() || c == '_' || c == ':')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':')
}

/// `[a-zA-Z_][a-zA-Z0-9_]*`, not starting with `__` (reserved).
fn valid_label_name(s: &str) -> bool {
    let mut chars = s.chars();
    !s.starts_with("__")
        && chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

/// `l1`, `l2`, ...: the level labels treestat sets.
fn level_label(s: &str) -> bool {
    s.strip_prefix('l')
        .is_some_and(|n| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> ForwardConfig {
        toml::from_str(text).unwrap()
    }

    #[test]
    fn defaults_and_validation() {
        let c = parse("kind = \"graphite\"\nurl = \"tcp://127.0.0.1:2003\"\n");
        assert_eq!(
            c,
            ForwardConfig::new(Kind::Graphite, "tcp://127.0.0.1:2003")
        );
        let k = c.validate().unwrap();
        assert_eq!(k.address, "127.0.0.1:2003");
        assert_eq!(k.stats.len(), 7);
        assert!(!k.pattern.matches_path(&["_treestat", "x"]));
        assert!(k.pattern.matches_path(&["cpu", "x"]));
        let c = parse(
            "kind = \"prometheus\"\nurl = \"http://h:9090/api/v1/write\"\nlabels = { dc = \"x\" }\nretry_min = \"1s\"\n",
        );
        assert_eq!(c.retry_min, Duration::from_secs(1));
        c.validate().unwrap();
        for bad in [
            "kind = \"graphite\"\nurl = \"http://h:1/x\"\n",
            "kind = \"graphite\"\nurl = \"tcp://h:1\"\nmetric = \"m\"\n",
            "kind = \"prometheus\"\nurl = \"tcp://h:1\"\n",
            "kind = \"prometheus\"\nurl = \"http://h:1/\"\nprefix = \"a\"\n",
            "kind = \"prometheus\"\nurl = \"http://h:1/\"\nlabels = { l2 = \"x\" }\n",
            "kind = \"prometheus\"\nurl = \"http://h:1/\"\nmetric = \"a-b\"\n",
            "kind = \"graphite\"\nurl = \"tcp://h:1\"\nbuffer_bytes = 10\n",
            "kind = \"graphite\"\nurl = \"tcp://h:1\"\nbatch = 0\n",
            "kind = \"graphite\"\nurl = \"tcp://h:1\"\npattern = \"a|sum\"\n",
            "kind = \"graphite\"\nurl = \"tcp://h:1\"\nhistogram_stats = [\"p99\", \"nope\"]\n",
            "kind = \"graphite\"\nurl = \"tcp://h:1\"\nretry_min = \"1m\"\nretry_max = \"1s\"\n",
        ] {
            assert!(parse(bad).validate().is_err(), "{bad}");
        }
        assert!(
            toml::from_str::<ForwardConfig>("kind = \"graphite\"\nurl = \"tcp://h:1\"\nnope = 1\n")
                .is_err()
        );
        assert_eq!(
            ForwardConfig::from_url("tcp://h:2003").unwrap().kind,
            Kind::Graphite
        );
        assert_eq!(
            ForwardConfig::from_url("http://h/api/v1/write")
                .unwrap()
                .kind,
            Kind::Prometheus
        );
        assert!(ForwardConfig::from_url("udp://h:1").is_err());
    }
}
