//! The report's collector: a pipe that sees every parsed line and sums what the
//! report's panels show (per URL, IP, referrer, host, status, day, hour), beside the
//! pipes whose trees give browsers, operating systems and countries.
//!
//! One collector per input file (each file is read on its own thread); the collectors
//! are merged at the end ([`Collector::merge`]).

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use treestat_engine::sketch::Sketch;
use treestat_pipes::api::{Emit, Pipe, PipeError, Record, Schema};
use treestat_pipes::builtin::counts::url_path;
use treestat_pipes::format::sum_times;

use super::distinct::{Distinct, hash_of};
use super::table::{Hit, Row, Table};
use super::time::{Stamp, parse_stamp};

/// Exact unique-visitor counts up to this many, then a HyperLogLog of precision
/// [`VISITORS_P`].
pub const VISITORS_EXACT: usize = 1 << 16;
/// HyperLogLog precision of the report-wide counts (16 KiB, 0.81 % standard error).
pub const VISITORS_P: u8 = 14;
/// Most status codes kept (there are 500 valid ones).
const STATUS_CAP: usize = 500;

/// Rows shown per table, and half the rows held (see [`Table`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Caps {
    /// URLs, 404 URLs, IPs, referrers, referring sites, hosts.
    pub keys: usize,
    /// Days and hours of the timeline.
    pub times: usize,
}

impl Default for Caps {
    fn default() -> Self {
        Caps {
            keys: 1000,
            times: HOURS_SHOWN,
        }
    }
}

/// Hours of the timeline shown (90 days); days and hours hold twice as many.
pub const HOURS_SHOWN: usize = 24 * 90;
/// Per-day and per-hour visitors: exact up to this many, then a sketch of
/// [`TIME_P`].
pub const TIME_EXACT: usize = 256;
/// HyperLogLog precision of per-day and per-hour visitors (4 KiB, 1.63 % standard
/// error).
pub const TIME_P: u8 = 12;

/// Everything the report sums, for one file or (merged) all of them.
#[derive(Debug, Clone)]
pub struct Collector {
    /// Parsed lines.
    pub valid: u64,
    /// Distinct (IP, date, user agent).
    pub visitors: Distinct,
    /// Distinct URL paths.
    pub unique_urls: Distinct,
    /// Distinct referrer URLs.
    pub unique_referrers: Distinct,
    /// Bytes sent.
    pub bytes: u64,
    /// Responses with status 404.
    pub not_found_hits: u64,
    /// Oldest and newest request time (seconds since the epoch, UTC).
    pub first: Option<i64>,
    /// Newest.
    pub last: Option<i64>,
    /// Lines whose time did not parse (left out of the time panels).
    pub untimed: u64,
    /// Per URL path.
    pub urls: Table,
    /// Per URL path of 404 responses.
    pub not_found: Table,
    /// Per client address.
    pub ips: Table,
    /// Per referrer URL.
    pub referrers: Table,
    /// Per referring site (the referrer's host).
    pub sites: Table,
    /// Per virtual host.
    pub hosts: Table,
    /// Per status code.
    pub status: HashMap<u16, Row>,
    /// Per day (`2023-11-01`).
    pub days: Table,
    /// Per hour (`2023-11-01T13`).
    pub hours: Table,
    /// Per hour of the day, 0 to 23.
    pub hour_of_day: Vec<Row>,
    /// Response times (seconds).
    pub times: Sketch,
    /// Which field the response times came from (`request_time`, ...).
    pub time_field: Option<String>,
    /// The format's field names (which panels can have data).
    pub fields: Vec<String>,
}

impl Collector {
    /// An empty collector.
    pub fn new(caps: Caps) -> Collector {
        Collector {
            valid: 0,
            visitors: Distinct::new(VISITORS_EXACT, VISITORS_P),
            unique_urls: Distinct::new(VISITORS_EXACT, VISITORS_P),
            unique_referrers: Distinct::new(VISITORS_EXACT, VISITORS_P),
            bytes: 0,
            not_found_hits: 0,
            first: None,
            last: None,
            untimed: 0,
            urls: Table::new(caps.keys),
            not_found: Table::new(caps.keys),
            ips: Table::new(caps.keys),
            referrers: Table::new(caps.keys),
            sites: Table::new(caps.keys),
            hosts: Table::new(caps.keys),
            status: HashMap::new(),
            days: Table::with_precision(caps.times, TIME_EXACT, TIME_P),
            hours: Table::with_precision(caps.times, TIME_EXACT, TIME_P),
            hour_of_day: vec![Row::with_precision(TIME_EXACT, TIME_P); 24],
            times: Sketch::new(),
            time_field: None,
            fields: Vec::new(),
        }
    }

    /// Adds another file's sums.
    pub fn merge(&mut self, o: &Collector) {
        self.valid += o.valid;
        self.visitors.merge(&o.visitors);
        self.unique_urls.merge(&o.unique_urls);
        self.unique_referrers.merge(&o.unique_referrers);
        self.bytes += o.bytes;
        self.not_found_hits += o.not_found_hits;
        self.first = min_opt(self.first, o.first, i64::min);
        self.last = min_opt(self.last, o.last, i64::max);
        self.untimed += o.untimed;
        self.urls.merge(&o.urls);
        self.not_found.merge(&o.not_found);
        self.ips.merge(&o.ips);
        self.referrers.merge(&o.referrers);
        self.sites.merge(&o.sites);
        self.hosts.merge(&o.hosts);
        for (c, r) in &o.status {
            self.status.entry(*c).or_default().merge(r);
        }
        self.days.merge(&o.days);
        self.hours.merge(&o.hours);
        for (a, b) in self.hour_of_day.iter_mut().zip(&o.hour_of_day) {
            a.merge(b);
        }
        self.times.merge(&o.times);
        if self.time_field.is_none() {
            self.time_field.clone_from(&o.time_field);
        }
        for f in &o.fields {
            if !self.fields.contains(f) {
                self.fields.push(f.clone());
            }
        }
    }
}

fn min_opt(a: Option<i64>, b: Option<i64>, f: fn(i64, i64) -> i64) -> Option<i64> {
    match (a, b) {
        (Some(a), Some(b)) => Some(f(a, b)),
        (a, b) => a.or(b),
    }
}

/// Field indices, `usize::MAX` when the format lacks the field.
#[derive(Debug, Clone, Copy)]
struct Fields {
    addr: usize,
    time: usize,
    uri: usize,
    status: usize,
    bytes: usize,
    referer: usize,
    ua: usize,
    host: usize,
    rt: usize,
}

/// The collector as a pipe: emits nothing into the tree; sums into a shared
/// [`Collector`] that [`ReportPipe::handle`] reads after the run.
pub struct ReportPipe {
    shared: Arc<Mutex<Collector>>,
    f: Fields,
    /// The last time text and what it parsed to (consecutive lines mostly share it).
    last_time: String,
    stamp: Option<Stamp>,
}

impl ReportPipe {
    /// A pipe summing into a new collector.
    pub fn new(caps: Caps) -> ReportPipe {
        let none = usize::MAX;
        ReportPipe {
            shared: Arc::new(Mutex::new(Collector::new(caps))),
            f: Fields {
                addr: none,
                time: none,
                uri: none,
                status: none,
                bytes: none,
                referer: none,
                ua: none,
                host: none,
                rt: none,
            },
            last_time: String::new(),
            stamp: None,
        }
    }

    /// The collector this pipe sums into.
    pub fn handle(&self) -> Arc<Mutex<Collector>> {
        self.shared.clone()
    }
}

fn first_of(schema: &Schema, names: &[&str]) -> Option<(usize, String)> {
    names
        .iter()
        .find_map(|n| schema.index(n).map(|i| (i, (*n).to_string())))
}

/// The host of a referrer URL (`https://example.org/x` -> `example.org`).
fn site_of(url: &str) -> &str {
    let rest = url.split_once("://").map_or(url, |(_, r)| r);
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    &rest[..end]
}

impl Pipe for ReportPipe {
    fn name(&self) -> &str {
        "report"
    }

    fn init(&mut self, schema: &Schema) -> Result<(), PipeError> {
        let idx = |names: &[&str]| first_of(schema, names).map_or(usize::MAX, |(i, _)| i);
        self.f = Fields {
            addr: idx(&["remote_addr", "http_x_forwarded_for"]),
            time: idx(&["time_local", "time_iso8601", "msec"]),
            uri: idx(&["uri", "request_uri"]),
            status: idx(&["status"]),
            bytes: idx(&["body_bytes_sent", "bytes_sent"]),
            referer: idx(&["http_referer"]),
            ua: idx(&["http_user_agent"]),
            host: idx(&["host", "server_name", "http_host"]),
            rt: idx(&["request_time", "upstream_response_time"]),
        };
        let mut c = self.shared.lock();
        c.time_field = first_of(schema, &["request_time", "upstream_response_time"]).map(|x| x.1);
        c.fields = schema.names().to_vec();
        Ok(())
    }

    fn process(&mut self, r: &Record<'_>, _out: &mut dyn Emit) -> Result<(), PipeError> {
        let f = self.f;
        let ip = r
            .get(f.addr)
            .map_or("-", |a| a.split(',').next().unwrap_or(a).trim());
        if let Some(t) = r.get(f.time) {
            if t != self.last_time {
                self.last_time.clear();
                self.last_time.push_str(t);
                self.stamp = parse_stamp(t);
            }
        } else {
            self.stamp = None;
            self.last_time.clear();
        }
        let ua = r.get(f.ua).unwrap_or("");
        let date = self.stamp.as_ref().map_or("", |s| s.day.as_str());
        let hit = Hit {
            visitor: hash_of((ip, date, ua)),
            bytes: r.get(f.bytes).and_then(|b| b.parse().ok()).unwrap_or(0),
            time: r.get(f.rt).and_then(sum_times),
        };
        let status = r
            .get(f.status)
            .and_then(|s| s.parse::<u16>().ok())
            .filter(|c| (100..600).contains(c));
        let mut c = self.shared.lock();
        c.valid += 1;
        c.visitors.insert(hit.visitor);
        c.bytes += hit.bytes;
        if let Some(t) = hit.time {
            c.times.add(t);
        }
        match &self.stamp {
            Some(s) => {
                c.first = Some(c.first.map_or(s.epoch, |x| x.min(s.epoch)));
                c.last = Some(c.last.map_or(s.epoch, |x| x.max(s.epoch)));
                c.days.add(&s.day, &hit);
                c.hours.add(&s.hour_key, &hit);
                c.hour_of_day[usize::from(s.hour)].add(&hit);
            }
            None => c.untimed += 1,
        }
        if let Some(uri) = r.get(f.uri) {
            let url = url_path(uri);
            c.unique_urls.insert(hash_of(url));
            c.urls.add(url, &hit);
            if status == Some(404) {
                c.not_found.add(url, &hit);
            }
        }
        if status == Some(404) {
            c.not_found_hits += 1;
        }
        if let Some(code) = status
            && (c.status.len() < STATUS_CAP || c.status.contains_key(&code))
        {
            c.status.entry(code).or_default().add(&hit);
        }
        if ip != "-" {
            c.ips.add(ip, &hit);
        }
        if let Some(re) = r.get(f.referer) {
            c.unique_referrers.insert(hash_of(re));
            c.referrers.add(re, &hit);
            let site = site_of(re);
            if !site.is_empty() {
                c.sites.add(site, &hit);
            }
        }
        if let Some(h) = r.get(f.host) {
            c.hosts.add(h, &hit);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sites_of_referrers() {
        assert_eq!(site_of("https://example.org/a?b"), "example.org");
        assert_eq!(site_of("http://x.test:8080"), "x.test:8080");
        assert_eq!(site_of("android-app://com.google"), "com.google");
    }
}
