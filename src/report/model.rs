//! The report as JSON (docs/REPORT.md is its schema): what `-o report.json` writes and
//! what the HTML page embeds and draws.

use std::collections::BTreeMap;

use serde_json::{Value, json};
use treestat_engine::Engine;

use super::collect::{Collector, TIME_EXACT, TIME_P, VISITORS_P};
use super::distinct::Distinct;
use super::table::{ROW_EXACT, ROW_P, Row, Table};
use super::time::fmt_utc;

/// The schema version of the JSON form.
pub const SCHEMA: u64 = 1;

/// The percentiles of the response-time panel.
const PERCENTILES: [(&str, f64); 6] = [
    ("p50", 0.5),
    ("p75", 0.75),
    ("p90", 0.9),
    ("p95", 0.95),
    ("p99", 0.99),
    ("p99.9", 0.999),
];

/// What the report was made from, besides the sums.
#[derive(Debug, Clone)]
pub struct Meta {
    /// The format's name or text.
    pub format: String,
    /// Each input and its size in bytes (compressed size for `.gz`; 0 for stdin).
    pub files: Vec<(String, u64)>,
    /// Lines that did not parse.
    pub failed: u64,
    /// When the report was made (seconds since the epoch).
    pub generated_at: i64,
    /// How long reading and summing took, in milliseconds.
    pub generation_ms: u64,
    /// Rows shown per table.
    pub cap: usize,
}

fn row_json(key: &str, r: &Row) -> Value {
    json!({
        "key": key,
        "hits": r.hits,
        // An estimate may pass the hits; there cannot be more visitors than requests.
        "visitors": r.visitors.count().min(r.hits),
        "bytes": r.bytes,
        "time_mean": r.time_mean(),
        "time_max": (r.timed > 0).then_some(r.time_max),
        "error": r.error,
    })
}

/// A table panel: columns shown, rows, and how exact the rows are.
fn table_panel(id: &str, title: &str, t: &Table, missing: Option<&str>) -> Value {
    let rows: Vec<Value> = t.top().iter().map(|(k, r)| row_json(k, r)).collect();
    panel(
        id,
        title,
        "table",
        rows,
        t.is_exact(),
        t.max_error(),
        missing,
    )
    .with_other(&t.evicted, t.evicted_rows)
}

trait WithOther {
    fn with_other(self, r: &Row, rows: u64) -> Value;
}

impl WithOther for Value {
    fn with_other(mut self, r: &Row, rows: u64) -> Value {
        self["evicted"] = json!({ "rows": rows, "hits": r.hits, "bytes": r.bytes });
        self
    }
}

fn panel(
    id: &str,
    title: &str,
    kind: &str,
    rows: Vec<Value>,
    exact: bool,
    max_error: u64,
    missing: Option<&str>,
) -> Value {
    let reason = if rows.is_empty() {
        Some(missing.unwrap_or("no requests had this"))
    } else {
        None
    };
    json!({
        "id": id,
        "title": title,
        "kind": kind,
        "available": reason.is_none(),
        "reason": reason,
        "exact": exact,
        "max_error": max_error,
        "rows": rows,
    })
}

/// Leaves under `top` of the pipes' tree, as `(rest of the path, value)`.
fn leaves(engine: &Engine, top: &str) -> Vec<(Vec<String>, u64)> {
    let rows = engine.query(top).unwrap_or_default();
    let prefix = format!("{top},");
    rows.into_iter()
        .filter_map(|(p, v)| {
            let rest = p.strip_prefix(&prefix)?;
            // Counters of whole requests: integral, non-negative.
            #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
            let n = v.max(0.0).round() as u64;
            Some((rest.split(',').map(str::to_string).collect(), n))
        })
        .collect()
}

/// A two-level panel from the tree (`br,<family>,<version>`): one row per family with
/// its versions as children, most hits first.
fn tree_panel(engine: &Engine, top: &str, id: &str, title: &str, missing: &str) -> Value {
    /// A family's hits and its children's.
    type Group = (u64, Vec<(String, u64)>);
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for (keys, n) in leaves(engine, top) {
        let head = keys.first().cloned().unwrap_or_default();
        let child = keys[1.min(keys.len())..].join(" / ");
        let g = groups.entry(head).or_default();
        g.0 += n;
        // A leaf at the family's own level (`geo,unknown`) has no children.
        if !child.is_empty() {
            g.1.push((child, n));
        }
    }
    let mut rows: Vec<(String, Group)> = groups.into_iter().collect();
    rows.sort_by(|a, b| b.1.0.cmp(&a.1.0).then_with(|| a.0.cmp(&b.0)));
    let rows = rows
        .into_iter()
        .map(|(k, (hits, mut children))| {
            children.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let children: Vec<Value> = children
                .into_iter()
                .map(|(k, n)| json!({ "key": k, "hits": n }))
                .collect();
            json!({ "key": k, "hits": hits, "children": children })
        })
        .collect();
    panel(id, title, "tree", rows, true, 0, Some(missing))
}

fn status_panel(c: &Collector) -> Value {
    let mut classes: BTreeMap<u16, Vec<(u16, &Row)>> = BTreeMap::new();
    for (code, r) in &c.status {
        classes.entry(code / 100).or_default().push((*code, r));
    }
    let rows = classes
        .into_iter()
        .map(|(class, mut codes)| {
            codes.sort_by_key(|(c, _)| *c);
            let mut sum = Row::default();
            let children: Vec<Value> = codes
                .iter()
                .map(|(code, r)| {
                    sum.merge(r);
                    row_json(&code.to_string(), r)
                })
                .collect();
            let mut v = row_json(&format!("{class}xx"), &sum);
            v["children"] = Value::Array(children);
            v
        })
        .collect();
    panel(
        "status",
        "HTTP status codes",
        "tree",
        rows,
        true,
        0,
        Some("the format has no $status"),
    )
}

fn time_panel(id: &str, title: &str, t: &Table, chart: &str) -> Value {
    let mut rows: Vec<(&str, &Row)> = t.all().collect();
    rows.sort_by(|a, b| a.0.cmp(b.0));
    let rows = rows.iter().map(|(k, r)| row_json(k, r)).collect();
    let mut p = panel(
        id,
        title,
        "series",
        rows,
        t.is_exact(),
        t.max_error(),
        Some("no line had a time the report reads ($time_local, $time_iso8601, $msec)"),
    );
    p["chart"] = json!(chart);
    p
}

fn response_panel(c: &Collector) -> Value {
    let s = &c.times;
    let pct: serde_json::Map<String, Value> = PERCENTILES
        .iter()
        .map(|(k, q)| ((*k).to_string(), json!(s.quantile(*q))))
        .collect();
    let buckets: Vec<Value> = s.buckets().map(|(v, n)| json!([v, n])).collect();
    let rows: Vec<Value> = PERCENTILES
        .iter()
        .filter_map(|(k, q)| s.quantile(*q).map(|v| json!({ "key": k, "seconds": v })))
        .collect();
    let mut p = panel(
        "response_time",
        "Response time percentiles",
        "percentiles",
        rows,
        true,
        0,
        Some("the format has no $request_time or $upstream_response_time"),
    );
    p["field"] = json!(c.time_field);
    p["count"] = json!(s.count());
    p["percentiles"] = Value::Object(pct);
    p["buckets"] = Value::Array(buckets);
    p["relative_accuracy"] = json!(treestat_engine::sketch::ALPHA);
    p
}

/// The whole report.
pub fn build(c: &Collector, engine: &Engine, meta: &Meta) -> Value {
    let has = |names: &[&str]| names.iter().any(|n| c.fields.iter().any(|f| f == n));
    let no = |what: &str| format!("the format has no {what}");
    let span = match (c.first, c.last) {
        (Some(a), Some(b)) => b - a,
        _ => 0,
    };
    let log_size: u64 = meta.files.iter().map(|f| f.1).sum();
    let general = json!({
        "requests": c.valid + meta.failed,
        "valid": c.valid,
        "failed": meta.failed,
        "unique_visitors": c.visitors.count().min(c.valid),
        "unique_urls": c.unique_urls.count(),
        "unique_referrers": c.unique_referrers.count(),
        "not_found": c.not_found_hits,
        "bandwidth": c.bytes,
        "log_size": log_size,
        "first": c.first.map(fmt_utc),
        "last": c.last.map(fmt_utc),
        "span_seconds": span,
        "untimed": c.untimed,
        "generation_ms": meta.generation_ms,
    });
    let mut hod = Table::with_precision(24, TIME_EXACT, TIME_P);
    // All 24 hours once any line had a time, so the chart reads as a clock.
    if c.hour_of_day.iter().any(|r| r.hits > 0) {
        for (h, r) in c.hour_of_day.iter().enumerate() {
            hod.row(&format!("{h:02}")).merge(r);
        }
    }
    let mut hours = time_panel(
        "hour_of_day",
        "Time distribution (hour of day)",
        &hod,
        "bars",
    );
    hours["exact"] = json!(true);
    let ref_missing = no("$http_referer");
    let panels = vec![
        time_panel(
            "visitors",
            "Unique visitors and requests per day",
            &c.days,
            "bars",
        ),
        time_panel("timeline", "Requests per hour", &c.hours, "line"),
        table_panel(
            "urls",
            "Requested URLs",
            &c.urls,
            Some(&no("$request or $uri")),
        ),
        table_panel(
            "not_found",
            "Not found URLs (404)",
            &c.not_found,
            Some("no request was answered 404"),
        ),
        table_panel(
            "ips",
            "Visitor hostnames and IPs",
            &c.ips,
            Some(&no("$remote_addr")),
        ),
        tree_panel(
            engine,
            "os",
            "os",
            "Operating systems",
            "the ua pipe did not run or the format has no $http_user_agent",
        ),
        tree_panel(
            engine,
            "br",
            "browsers",
            "Browsers",
            "the ua pipe did not run or the format has no $http_user_agent",
        ),
        hours,
        table_panel(
            "hosts",
            "Virtual hosts",
            &c.hosts,
            Some(&no("$host, $server_name or $http_host")),
        ),
        table_panel(
            "referrers",
            "Referrer URLs",
            &c.referrers,
            Some(if has(&["http_referer"]) {
                "no request had a referrer"
            } else {
                &ref_missing
            }),
        ),
        table_panel(
            "referring_sites",
            "Referring sites",
            &c.sites,
            Some(if has(&["http_referer"]) {
                "no request had a referrer"
            } else {
                &ref_missing
            }),
        ),
        status_panel(c),
        tree_panel(
            engine,
            "geo",
            "geo",
            "Geo location",
            "no geo pipe configured (--pipes ua,geo=GeoLite2-City.mmdb)",
        ),
        response_panel(c),
    ];
    let files: Vec<Value> = meta
        .files
        .iter()
        .map(|(p, b)| json!({ "path": p, "bytes": b }))
        .collect();
    json!({
        "schema": SCHEMA,
        "generator": concat!("treestat ", env!("CARGO_PKG_VERSION")),
        "generated_at": fmt_utc(meta.generated_at),
        "format": meta.format,
        "files": files,
        "general": general,
        "accuracy": {
            "visitors_exact": c.visitors.is_exact(),
            "visitors_std_error": if c.visitors.is_exact() { 0.0 } else { Distinct::std_error(VISITORS_P) },
            "row_visitors_exact_up_to": ROW_EXACT,
            "row_visitors_std_error": Distinct::std_error(ROW_P),
            "time_visitors_exact_up_to": TIME_EXACT,
            "time_visitors_std_error": Distinct::std_error(TIME_P),
            "rows_per_table": meta.cap,
        },
        "panels": panels,
    })
}
