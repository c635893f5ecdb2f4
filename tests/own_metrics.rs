//! The server's own metrics come from one registry: the engine's push and reject
//! counts and its sizes sit beside every other counter, so they render at `/metrics`
//! under the names scripts rely on and also land in the tree under `_treestat`; and
//! the `process_*` metrics of Prometheus exporters are there with sane values.

use crate::common;

use std::collections::BTreeMap;

use common::{base, get_text, get_values, quiet_config, stop, wait_for};
use treestat::server::Server;

/// Every series `/metrics` showed before the engine's counters joined the registry
/// (issue 17), by name and labels: scripts rely on them, so none may go.
const SERIES_BEFORE: &[&str] = &[
    "treestat_close_lock_seconds",
    "treestat_close_seconds",
    "treestat_dropped_total",
    "treestat_http_bytes_total",
    "treestat_http_event_streams",
    "treestat_http_header_timeouts_total",
    "treestat_http_lines_total",
    "treestat_http_pull_waiters",
    "treestat_http_requests_total",
    "treestat_intervals_total",
    "treestat_markers",
    "treestat_pushes_total",
    "treestat_refused_future_total",
    "treestat_refused_nonfinite_total",
    r#"treestat_rejects_total{reason="bad_document"}"#,
    r#"treestat_rejects_total{reason="bad_key"}"#,
    r#"treestat_rejects_total{reason="bad_pattern"}"#,
    r#"treestat_rejects_total{reason="bad_value"}"#,
    r#"treestat_rejects_total{reason="future_time"}"#,
    r#"treestat_rejects_total{reason="push_too_large"}"#,
    r#"treestat_rejects_total{reason="too_deep"}"#,
    r#"treestat_rejects_total{reason="tree_full"}"#,
    "treestat_ring_bytes",
    "treestat_ring_intervals",
    "treestat_samples_total",
    "treestat_shared_path_resolves_total",
    "treestat_shared_pattern_matches_total",
    "treestat_tree_bytes",
    "treestat_tree_leaves",
    "treestat_tree_nodes",
    "treestat_trend_busy_seconds",
    "treestat_trend_dropped_intervals_total",
    "treestat_trend_failing",
    "treestat_trend_flush_errors_total",
    "treestat_trend_queue_depth",
    "treestat_trend_reopens_total",
    "treestat_trend_write_errors_total",
];

/// `/metrics` as series (name and labels) to value; `# TYPE` lines as name to type.
fn scrape(base: &str) -> (BTreeMap<String, f64>, BTreeMap<String, String>) {
    let text = get_text(&format!("{base}/metrics"));
    let mut series = BTreeMap::new();
    let mut types = BTreeMap::new();
    for line in text.lines() {
        if let Some(t) = line.strip_prefix("# TYPE ") {
            let (name, kind) = t.split_once(' ').unwrap();
            types.insert(name.to_string(), kind.to_string());
        } else if !line.starts_with('#') && !line.is_empty() {
            let (name, value) = line.rsplit_once(' ').unwrap();
            let value = match value {
                "+Inf" => f64::INFINITY,
                v => v.parse().unwrap_or_else(|_| panic!("{line}")),
            };
            assert!(
                series.insert(name.to_string(), value).is_none(),
                "{name} twice"
            );
        }
    }
    (series, types)
}

fn push(base: &str, body: &str) -> u16 {
    let agent: ureq::Agent = ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into();
    agent
        .post(&format!("{base}/push"))
        .header("Content-Type", "application/json")
        .send(body)
        .unwrap()
        .status()
        .as_u16()
}

#[test]
fn push_and_reject_counts_reach_the_tree_and_metrics_keep_their_names() {
    let dir = tempfile::tempdir().unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    let server = rt
        .block_on(Server::start(quiet_config(dir.path())))
        .unwrap();
    let base = base(&server);
    assert_eq!(push(&base, r#"{"web":{"hits":3}}"#), 200);
    assert_eq!(push(&base, r#"{"web":"#), 400);
    assert_eq!(push(&base, r#"{"web":{"hits":1}}"#), 200);

    // The ticker applies the registry to the tree before each close: the engine's
    // counts are there like the HTTP layer's.
    let tree = wait_for("the engine's counts under _treestat", || {
        let v = get_values(&base, "_treestat,**");
        (v.get("_treestat,pushes").copied().unwrap_or(0.0) >= 2.0
            && v.contains_key("_treestat,rejects,bad_document"))
        .then_some(v)
    });
    assert_eq!(tree["_treestat,rejects,bad_document"], 1.0, "{tree:?}");
    assert_eq!(tree["_treestat,rejects,bad_key"], 0.0, "{tree:?}");
    assert!(tree["_treestat,samples"] >= 2.0, "{tree:?}");
    assert!(tree["_treestat,tree,leaves"] >= 1.0, "{tree:?}");
    assert!(tree.contains_key("_treestat,http,requests"), "{tree:?}");
    assert!(
        tree.contains_key("_treestat,process,resident_memory_bytes"),
        "{tree:?}"
    );

    let (series, types) = scrape(&base);
    let missing: Vec<&&str> = SERIES_BEFORE
        .iter()
        .filter(|s| !series.contains_key(**s))
        .collect();
    assert!(missing.is_empty(), "gone from /metrics: {missing:?}");
    assert_eq!(
        series[r#"treestat_rejects_total{reason="bad_document"}"#],
        1.0
    );
    assert!(series["treestat_pushes_total"] >= 2.0);
    assert_eq!(types["treestat_pushes_total"], "counter");
    assert_eq!(types["treestat_tree_nodes"], "gauge");
    assert_eq!(types["treestat_close_seconds"], "gauge");

    // The process_* metrics, read from /proc/self.
    assert_eq!(types["process_cpu_seconds_total"], "counter");
    assert!(series["process_cpu_seconds_total"] > 0.0);
    let rss = series["process_resident_memory_bytes"];
    assert!(
        rss > 1e6 && rss <= series["process_virtual_memory_bytes"],
        "{rss}"
    );
    let fds = series["process_open_fds"];
    assert!(fds >= 4.0 && fds <= series["process_max_fds"], "{fds}");
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs_f64();
    let started = series["process_start_time_seconds"];
    assert!(
        started > now - 3600.0 && started <= now + 1.0,
        "{started} vs {now}"
    );
    stop(&rt, server);
}
