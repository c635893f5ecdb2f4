//! Prometheus remote-write 0.1: a protobuf `WriteRequest`, snappy block-compressed,
//! POSTed with `Content-Encoding: snappy`, `Content-Type: application/x-protobuf` and
//! `X-Prometheus-Remote-Write-Version: 0.1.0`.
//!
//! The messages are the four of `prometheus/prompb` that a write needs, written as Rust
//! structs with prost's derives (field numbers as in `types.proto` / `remote.proto`), so
//! no protoc runs at build time.
//!
//! Names (docs/ARCHITECTURE.md, "Hand-off of history"): every leaf is one series of the
//! metric `metric` (default `treestat`) with the label `path` holding its treestat path
//! (`cpu,10.3.1.12,idle`) and one label per level, `l1`, `l2`, ... (`l1="cpu"`,
//! `l2="10.3.1.12"`, `l3="idle"`); a histogram's stats are more series with the label
//! `stat` (`stat="p99"`), its value (the mean) has none. Keys are kept as they are:
//! label values carry any UTF-8. So PromQL selects a subtree by levels
//! (`treestat{l1="cpu",l3="idle"}`), folds by level (`sum by (l2) (...)`) and
//! matches paths with treestat-like regexes (`{path=~"cpu,.*,idle"}`).

use std::time::Duration;

use prost::Message;

use crate::error::Error;
use crate::points::Point;
use crate::transport::{Outcome, Transport};

/// `prometheus.WriteRequest` (only the field a write sends).
#[derive(Clone, PartialEq, prost::Message)]
pub struct WriteRequest {
    /// The series.
    #[prost(message, repeated, tag = "1")]
    pub timeseries: Vec<TimeSeries>,
}

/// `prometheus.TimeSeries`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct TimeSeries {
    /// Sorted by name.
    #[prost(message, repeated, tag = "1")]
    pub labels: Vec<Label>,
    /// Oldest first.
    #[prost(message, repeated, tag = "2")]
    pub samples: Vec<Sample>,
}

/// `prometheus.Label`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Label {
    /// Label name.
    #[prost(string, tag = "1")]
    pub name: String,
    /// Label value.
    #[prost(string, tag = "2")]
    pub value: String,
}

/// `prometheus.Sample`.
#[derive(Clone, PartialEq, prost::Message)]
pub struct Sample {
    /// The value.
    #[prost(double, tag = "1")]
    pub value: f64,
    /// Milliseconds since the epoch.
    #[prost(int64, tag = "2")]
    pub timestamp: i64,
}

/// A remote-write target.
#[derive(Debug)]
pub struct Prometheus {
    url: String,
    metric: String,
    labels: Vec<(String, String)>,
    stats: Vec<String>,
    agent: ureq::Agent,
}

impl Prometheus {
    /// A target at `url`.
    pub fn new(
        url: &str,
        metric: &str,
        labels: Vec<(String, String)>,
        stats: Vec<String>,
        timeout: Duration,
    ) -> Prometheus {
        let agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(timeout))
            .build()
            .into();
        Prometheus {
            url: url.to_string(),
            metric: metric.to_string(),
            labels,
            stats,
            agent,
        }
    }
}

/// The labels of one point's series, sorted by name as remote-write requires.
pub fn labels_of(
    metric: &str,
    extra: &[(String, String)],
    stats: &[String],
    p: &Point,
) -> Vec<Label> {
    let label = |name: &str, value: &str| Label {
        name: name.to_string(),
        value: value.to_string(),
    };
    let mut out = vec![label("__name__", metric), label("path", &p.path)];
    for (i, key) in p.path.split(',').enumerate() {
        out.push(label(&format!("l{}", i + 1), key));
    }
    if let Some(name) = p.stat.and_then(|k| stats.get(usize::from(k))) {
        out.push(label("stat", name));
    }
    out.extend(extra.iter().map(|(k, v)| label(k, v)));
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// The request body: the encoded `WriteRequest`, snappy block-compressed.
pub fn body(
    metric: &str,
    extra: &[(String, String)],
    stats: &[String],
    points: &[&Point],
) -> Vec<u8> {
    let req = WriteRequest {
        timeseries: points
            .iter()
            .map(|p| TimeSeries {
                labels: labels_of(metric, extra, stats, p),
                samples: vec![Sample {
                    value: p.value,
                    timestamp: p.ts.saturating_mul(1000),
                }],
            })
            .collect(),
    };
    let raw = req.encode_to_vec();
    // Only fails for inputs over ~4 GiB, which a batch (at most a million points)
    // never reaches.
    snap::raw::Encoder::new()
        .compress_vec(&raw)
        .unwrap_or_default()
}

impl Transport for Prometheus {
    fn send(&mut self, points: &[&Point]) -> Outcome {
        let body = body(&self.metric, &self.labels, &self.stats, points);
        let sent = self
            .agent
            .post(&self.url)
            .header("Content-Encoding", "snappy")
            .header("Content-Type", "application/x-protobuf")
            .header("X-Prometheus-Remote-Write-Version", "0.1.0")
            .header(
                "User-Agent",
                concat!("treestat/", env!("CARGO_PKG_VERSION")),
            )
            .send(&body[..]);
        let mut resp = match sent {
            Ok(r) => r,
            Err(e) => return Outcome::Retry(Error::send(format!("{}: {e}", self.url))),
        };
        let status = resp.status().as_u16();
        if (200..300).contains(&status) {
            return Outcome::Sent;
        }
        let text = resp
            .body_mut()
            .with_config()
            .limit(4096)
            .read_to_string()
            .unwrap_or_default();
        let e = Error::send(format!("{}: {status}: {}", self.url, text.trim()));
        // The remote-write spec: 5xx and 429 are retried, other 4xx are not.
        if status >= 500 || status == 429 {
            Outcome::Retry(e)
        } else {
            Outcome::Rejected(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn labels_are_sorted_and_carry_the_levels() {
        let p = Point {
            path: "cpu,10.3.1.12,idle,a,b,c,d,e,f,g,h".into(),
            stat: Some(0),
            value: 1.0,
            ts: 10,
        };
        let l = labels_of(
            "treestat",
            &[("dc".into(), "x".into())],
            &["p99".into()],
            &p,
        );
        let names: Vec<&str> = l.iter().map(|l| l.name.as_str()).collect();
        let mut sorted = names.clone();
        sorted.sort_unstable();
        assert_eq!(names, sorted);
        let get = |n: &str| l.iter().find(|l| l.name == n).map(|l| l.value.as_str());
        assert_eq!(get("__name__"), Some("treestat"));
        assert_eq!(get("l2"), Some("10.3.1.12"));
        assert_eq!(get("l11"), Some("h"));
        assert_eq!(get("stat"), Some("p99"));
        assert_eq!(get("dc"), Some("x"));
        assert_eq!(get("path"), Some("cpu,10.3.1.12,idle,a,b,c,d,e,f,g,h"));
        // The body decodes back.
        let b = body("treestat", &[], &[], &[&p]);
        let raw = snap::raw::Decoder::new().decompress_vec(&b).unwrap();
        let req = WriteRequest::decode(&raw[..]).unwrap();
        assert_eq!(
            req.timeseries[0].samples[0],
            Sample {
                value: 1.0,
                timestamp: 10_000
            }
        );
    }
}
