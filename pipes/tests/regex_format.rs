//! `format = 'regex:...'` (issue 17): a log format given as a regex whose named groups
//! are the fields, through real pipelines into a real engine.

use crate::common;

use serde_json::json;
use treestat_pipes::format::Format;
use treestat_pipes::pipeline::{Pipeline, PipelineConfig};

/// The `combined` preset written as a regex (quoted values may hold `\"`).
const COMBINED_RE: &str = r#"regex:^(?P<remote_addr>\S+) \S+ (?P<remote_user>\S+) \[(?P<time_local>[^\]]+)\] "(?P<request>(?:[^"\\]|\\.)*)" (?P<status>\d{3}) (?P<body_bytes_sent>\d+|-) "(?P<http_referer>(?:[^"\\]|\\.)*)" "(?P<http_user_agent>(?:[^"\\]|\\.)*)""#;

const COMBINED_LOG: &str = r#"85.181.35.98 - - [07/Dec/2016:11:05:07 +0100] "GET /ocelot/assets/app.js?v=12 HTTP/1.1" 200 57112 "https://example.org/ocelot" "Mozilla/5.0 (Macintosh; Intel Mac OS X 10_14_0) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/70.0.3538.102 Safari/537.36"
10.0.0.7 - bob [07/Dec/2016:11:05:08 +0100] "POST /api/login HTTP/1.1" 401 12 "-" "curl/7.64.0"
10.0.0.8 - - [07/Dec/2016:11:05:09 +0100] "GET /missing \"x\" HTTP/1.0" 404 - "-" "Mozilla/5.0 (X11; Linux x86_64; rv:49.0) Gecko/20100101 Firefox/49.0"
not a log line at all
"#;

/// Every leaf of the tree but the pipeline's own counters.
fn leaves(engine: &treestat_engine::Engine) -> Vec<(String, f64)> {
    let mut rows = engine.query("").unwrap();
    rows.retain(|(p, _)| !p.starts_with("_treestat"));
    rows.sort_by(|a, b| a.0.cmp(&b.0));
    rows
}

#[test]
fn a_regex_written_like_combined_feeds_the_pipes_as_combined_does() {
    let pipes = json!(["ua", "status", "errors", "url", "bytes"]);
    let by_regex = common::run(
        json!({"name": "web", "format": COMBINED_RE, "pipes": pipes}),
        COMBINED_LOG,
    );
    let by_preset = common::run(
        json!({"name": "web", "format": "combined", "pipes": pipes}),
        COMBINED_LOG,
    );
    let got = leaves(&by_regex);
    assert!(got.len() > 10, "the pipes wrote their trees: {got:?}");
    assert_eq!(got, leaves(&by_preset));
    let v = |path: &str| common::value(&by_regex, path);
    assert_eq!(v("_treestat,pipes,web,lines"), 3.0);
    assert_eq!(v("_treestat,pipes,web,bad_lines"), 1.0);
    assert_eq!(v("status,2xx,200"), 1.0);
    assert_eq!(v("status,4xx,401"), 1.0);
    // uri derived from the `request` group, as from `$request` (escapes kept as is).
    assert_eq!(v(r#"errors,404,/missing \"x\""#), 1.0);
    assert_eq!(v("url,/api/login"), 1.0);
    assert_eq!(v("bytes,total"), 57124.0);
}

#[test]
fn a_log_no_log_format_describes_names_its_fields_directly() {
    // ISO time first, then status, method, path and seconds: no `$request`; `uri` and
    // `request_time` are groups of their own. Trailing `\r` is dropped as for every format.
    let re = r"regex:^(?P<time_iso8601>\S+) (?P<status>\d{3}) (?P<method>[A-Z]+) (?P<uri>\S+) (?P<request_time>[0-9.]+)s$";
    let log = "2026-12-06T05:00:00Z 200 GET /a 0.010s\n\
               2026-12-06T05:00:01Z 503 GET /b 2.000s\r\n\
               2026-12-06T05:00:02Z 200 GET /a 0.030s trailing\n";
    let mut p = common::pipeline(
        json!({"name": "app", "format": re, "pipes": ["status", "url", "request_time"]}),
    );
    assert_eq!(p.format().name(), "regex");
    assert_eq!(
        p.format().schema().names(),
        ["time_iso8601", "status", "method", "uri", "request_time"]
    );
    p.feed_text(log);
    // `$` anchors the pattern: the third line has text after the time and is refused.
    assert_eq!(p.counts(), (2, 1));
    let engine = common::engine();
    p.flush(&engine).unwrap();
    let v = |path: &str| common::value(&engine, path);
    assert_eq!(v("status,2xx,200"), 1.0);
    assert_eq!(v("status,5xx,503"), 1.0);
    assert_eq!(v("url,/a"), 1.0);
    assert_eq!(v("url,/b"), 1.0);
    assert_eq!(v("request_time,max"), 2.0);
}

#[test]
fn the_toml_config_takes_the_regex_in_a_literal_string() {
    let cfg: PipelineConfig = toml::from_str(
        r#"
name = "toml"
format = 'regex:^(?P<remote_addr>\S+) .*" (?P<status>\d{3}) '
pipes = ["status"]
"#,
    )
    .unwrap();
    let mut p = Pipeline::from_config(&cfg).unwrap();
    p.feed_text(COMBINED_LOG);
    assert_eq!(p.counts(), (3, 1));
}

#[test]
fn bad_regexes_and_unknown_group_names_are_refused_with_the_reason() {
    let err = |format: &str| {
        let cfg: PipelineConfig =
            serde_json::from_value(json!({"name": "x", "format": format})).unwrap();
        Pipeline::from_config(&cfg).unwrap_err().to_string()
    };
    let e = err(r"regex:^(?P<status>\d{3}");
    assert!(
        e.contains("bad regex") && e.contains("unclosed group"),
        "{e}"
    );
    let e = err(r"regex:^(?P<stauts>\d{3})");
    assert!(
        e.contains(r#"unknown group name "stauts""#) && e.contains("status"),
        "{e}"
    );
    let e = err(r"regex:^(\S+) (\d{3})");
    assert!(e.contains("no named group"), "{e}");
    let e = err(r"regex:^(?P<status>\d{3}) (?P<status>\d{3})");
    assert!(e.contains("bad regex") && e.contains("duplicate"), "{e}");
    // A regex too big to compile quickly (fuzz finding 7): refused, not compiled for
    // seconds. The old code compiled it.
    let e = err(r"regex:^(?P<remote_addr>\S+) .* (?P<status>\d{20003})");
    assert!(e.contains("bad regex") && e.contains("size limit"), "{e}");
    // Header and upstream families are open, like nginx's variables.
    assert!(
        Format::new(r"regex:(?P<http_x_request_id>\S+) (?P<upstream_cache_status>\S+)").is_ok()
    );
    assert!(Format::new(r"regex:(?P<http_>\S+)").is_err());
}
