//! Number pipes: `request_time`, `upstream_time` and `bytes`.
//!
//! - `request_time` / `upstream_time` (seconds, as nginx logs them): `<name>,avg`
//!   (`average`), `<name>,max` (`max`), and `<name>,bucket,<le>` (`add`): one count per
//!   request in the first bucket whose upper bound is at least its time, `inf` past the
//!   last. Buckets are disjoint, so a percentile is read by adding counts up to the rank.
//!   An upstream list (`0.001, 0.002` after retries or internal redirects) counts as
//!   its sum: the time the request spent upstream.
//!   Beside them, `histogram` leaves (issue 15), whose sketches give true
//!   percentiles that merge across hosts and time (`?stat=p99`, `|p99` folds):
//!   `<name>,hist` for every request, `<name>,status,<class>xx`, `<name>,host,<host>`
//!   and `<name>,url,<url path>` when the format has `$status`, `$host`, `$uri`
//!   (hosts and URLs capped by the pipe's `cap`, default 1000, as the `host` and `url`
//!   pipes cap them: past the cap they go under `other`). The buckets stay, so readers of them keep working.
//! - `bytes`: `bytes,total` (`add`) and `bytes,avg` (`average`), from `$bytes_sent` or,
//!   failing that, `$body_bytes_sent`.

use super::counts::{Capped, status_code, url_path};
use crate::format::sum_times;
use treestat_pipe_api::{Action, Emit, Pipe, PipeError, Record, Schema, join_path};

/// Default latency bucket bounds in seconds (Prometheus' defaults).
pub const DEFAULT_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// `request_time` or `upstream_time`.
#[derive(Debug)]
pub struct LatencyPipe {
    name: &'static str,
    field_name: &'static str,
    field: usize,
    bounds: Vec<f64>,
    paths: Vec<String>,
    avg: String,
    max: String,
    /// `<name>,hist`.
    hist: String,
    /// The `status`, `host` and `uri` fields, `usize::MAX` when the format lacks one.
    status: usize,
    host: usize,
    uri: usize,
    hosts: Capped,
    urls: Capped,
    /// A path being built.
    path: String,
}

impl LatencyPipe {
    /// The `request_time` pipe; `cap` bounds the distinct hosts and URLs of its
    /// histogram leaves.
    pub fn request_time(buckets: Option<Vec<f64>>, cap: usize) -> Result<LatencyPipe, PipeError> {
        LatencyPipe::new("request_time", "request_time", buckets, cap)
    }

    /// The `upstream_time` pipe (`cap` as for [`LatencyPipe::request_time`]).
    pub fn upstream_time(buckets: Option<Vec<f64>>, cap: usize) -> Result<LatencyPipe, PipeError> {
        LatencyPipe::new("upstream_time", "upstream_response_time", buckets, cap)
    }

    fn new(
        name: &'static str,
        field_name: &'static str,
        buckets: Option<Vec<f64>>,
        cap: usize,
    ) -> Result<LatencyPipe, PipeError> {
        let bounds = buckets.unwrap_or_else(|| DEFAULT_BUCKETS.to_vec());
        if bounds.is_empty()
            || bounds.len() > 64
            || bounds.iter().any(|b| !b.is_finite() || *b <= 0.0)
            || bounds.windows(2).any(|w| w[0] >= w[1])
        {
            return Err(PipeError::new(format!(
                "{name}: buckets must be 1 to 64 positive, increasing numbers of seconds"
            )));
        }
        let mut paths: Vec<String> = bounds
            .iter()
            .map(|b| format!("{name},bucket,{b}"))
            .collect();
        paths.push(format!("{name},bucket,inf"));
        Ok(LatencyPipe {
            name,
            field_name,
            field: usize::MAX,
            bounds,
            paths,
            avg: format!("{name},avg"),
            max: format!("{name},max"),
            hist: format!("{name},hist"),
            status: usize::MAX,
            host: usize::MAX,
            uri: usize::MAX,
            hosts: Capped::new(cap),
            urls: Capped::new(cap),
            path: String::new(),
        })
    }
}

impl Pipe for LatencyPipe {
    fn name(&self) -> &str {
        self.name
    }

    fn init(&mut self, schema: &Schema) -> Result<(), PipeError> {
        self.field = schema.index(self.field_name).ok_or_else(|| {
            PipeError::new(format!(
                "{}: the log format has no ${} field",
                self.name, self.field_name
            ))
        })?;
        self.status = schema.index("status").unwrap_or(usize::MAX);
        self.host = schema.index("host").unwrap_or(usize::MAX);
        self.uri = schema.index("uri").unwrap_or(usize::MAX);
        Ok(())
    }

    fn process(&mut self, record: &Record<'_>, out: &mut dyn Emit) -> Result<(), PipeError> {
        let Some(text) = record.get(self.field) else {
            return Ok(());
        };
        let t = sum_times(text)
            .ok_or_else(|| PipeError::new(format!("{} {text:?} is not a time", self.name)))?;
        let k = self.bounds.partition_point(|b| *b < t);
        out.emit(&self.avg, t, Some(Action::Average));
        out.emit(&self.max, t, Some(Action::Max));
        out.emit(&self.paths[k], 1.0, Some(Action::Add));
        let h = Some(Action::Histogram);
        out.emit(&self.hist, t, h);
        if let Ok(Some(c)) = status_code(record, self.status) {
            let class = format!("{}xx", c / 100);
            join_path(&mut self.path, &[self.name, "status", &class]);
            out.emit(&self.path, t, h);
        }
        if let Some(host) = record.get(self.host) {
            let host = self.hosts.admit(host);
            join_path(&mut self.path, &[self.name, "host", host]);
            out.emit(&self.path, t, h);
        }
        if let Some(uri) = record.get(self.uri) {
            let url = self.urls.admit(url_path(uri));
            join_path(&mut self.path, &[self.name, "url", url]);
            out.emit(&self.path, t, h);
        }
        Ok(())
    }
}

/// The `bytes` pipe.
#[derive(Debug, Default)]
pub struct BytesPipe {
    field: usize,
}

impl Pipe for BytesPipe {
    fn name(&self) -> &str {
        "bytes"
    }

    fn init(&mut self, schema: &Schema) -> Result<(), PipeError> {
        self.field = schema
            .index("bytes_sent")
            .or_else(|| schema.index("body_bytes_sent"))
            .ok_or_else(|| {
                PipeError::new("bytes: the log format has no $bytes_sent or $body_bytes_sent field")
            })?;
        Ok(())
    }

    fn process(&mut self, record: &Record<'_>, out: &mut dyn Emit) -> Result<(), PipeError> {
        let Some(text) = record.get(self.field) else {
            return Ok(());
        };
        let n: u64 = text
            .parse()
            .map_err(|_| PipeError::new(format!("bytes {text:?} is not a byte count")))?;
        // Byte counts stay far below 2^53, where f64 is exact.
        #[allow(clippy::cast_precision_loss)]
        let v = n as f64;
        out.emit("bytes,total", v, Some(Action::Add));
        out.emit("bytes,avg", v, Some(Action::Average));
        Ok(())
    }
}
