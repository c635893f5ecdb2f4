//! Golden tests, the way google/mtail tests its programs: a sample log through a
//! pipeline into a real engine, the resulting tree compared with
//! `tests/golden/<case>.json`. Run with `TREESTAT_BLESS=1` to rewrite the files after a
//! deliberate change, and read the diff.

use crate::common;

use serde_json::json;

fn read(path: &std::path::Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn golden(
    case: &str,
    format: &str,
    pipes: serde_json::Value,
    log: &std::path::Path,
) -> treestat_engine::Engine {
    let engine = common::run(
        json!({"name": case, "format": format, "pipes": pipes}),
        &read(log),
    );
    common::check_golden(case, &engine);
    engine
}

const ALL: [&str; 8] = [
    "ua",
    "status",
    "errors",
    "bytes",
    "request_time",
    "upstream_time",
    "url",
    "host",
];

#[test]
fn every_builtin_pipe_alone_over_the_peach_log() {
    for pipe in ALL {
        golden(
            &format!("pipe-{pipe}"),
            "peach",
            json!([pipe]),
            &common::local("golden/peach.log"),
        );
    }
}

#[test]
fn preset_peach_with_every_pipe() {
    let e = golden(
        "preset-peach",
        "peach",
        json!(ALL),
        &common::local("golden/peach.log"),
    );
    assert_eq!(common::value(&e, "_treestat,pipes,preset-peach,lines"), 7.0);
    assert_eq!(
        common::value(&e, "_treestat,pipes,preset-peach,bad_lines"),
        2.0
    );
    // 0.000, 1.000 : 0.500 sums to 1.5: the time spent upstream over the retries.
    assert_eq!(common::value(&e, "upstream_time,max"), 1.5);
}

#[test]
fn preset_combined_matches_mtails_numbers() {
    let e = golden(
        "preset-combined",
        "combined",
        json!([]),
        &common::testdata("logs/mtail-apache-combined.log"),
    );
    // mtail-apache-combined.golden: 4 requests and 2602 bytes with status 200, one 304.
    assert_eq!(common::value(&e, "status,2xx,200"), 4.0);
    assert_eq!(common::value(&e, "status,3xx,304"), 1.0);
    assert_eq!(common::value(&e, "bytes,total"), 2602.0);
}

#[test]
fn preset_common_matches_mtails_numbers() {
    let e = golden(
        "preset-common",
        "common",
        json!(["status", "bytes", "url", "errors"]),
        &common::testdata("logs/mtail-apache-common.log"),
    );
    // mtail-apache-common.golden: 200 -> 1880 bytes, 404 -> 19 bytes, one each and a 304.
    assert_eq!(common::value(&e, "bytes,total"), 1899.0);
    assert_eq!(common::value(&e, "status,4xx,404"), 1.0);
    assert_eq!(common::value(&e, "errors,404,/docs/nx"), 1.0);
}

#[test]
fn custom_log_format_reads_extra_fields() {
    let e = golden(
        "custom-mtail-common",
        r#"$remote_addr - $remote_user [$time_local] "$request" $status $body_bytes_sent $request_time "$http_referer" "$http_user_agent""#,
        json!(["status", "request_time", "ua"]),
        &common::testdata("logs/mtail-apache-common.log"),
    );
    assert_eq!(common::value(&e, "request_time,max"), 8680.0);
}

#[test]
fn preset_vcombined() {
    let e = golden(
        "preset-vcombined",
        "vcombined",
        json!(["host", "status", "ua", "bytes"]),
        &common::local("golden/vcombined.log"),
    );
    // The last line has no port after the host: not vcombined, a bad line.
    assert_eq!(
        common::value(&e, "_treestat,pipes,preset-vcombined,bad_lines"),
        1.0
    );
    assert_eq!(common::value(&e, "host,example.org"), 2.0);
}

#[test]
fn beats_nginx_edge_cases() {
    let e = golden(
        "beats-nginx-combined",
        "combined",
        json!([]),
        &common::testdata("logs/beats-nginx-access.log"),
    );
    // An empty request "" with 400 still counts its status; extra trailing fields are ignored.
    assert_eq!(common::value(&e, "status,4xx,400"), 1.0);
    assert_eq!(
        common::value(&e, "_treestat,pipes,beats-nginx-combined,lines"),
        7.0
    );
}

#[test]
fn beats_apache_common_and_combined_mixed() {
    golden(
        "beats-apache-combined",
        "combined",
        json!([]),
        &common::testdata("logs/beats-apache-access.log"),
    );
    let e = golden(
        "beats-apache-common",
        "common",
        json!(["status", "bytes", "url"]),
        &common::testdata("logs/beats-apache-access.log"),
    );
    // `"-"` requests with 408 have no URL but count their status.
    assert_eq!(common::value(&e, "status,4xx,408"), 2.0);
}

#[test]
fn geo_against_the_maxmind_test_database() {
    let db = common::testdata("geoip/GeoLite2-City-Test.mmdb");
    let e = golden(
        "geo-city",
        "combined",
        json!([{"pipe": "geo", "path": db}]),
        &common::local("golden/geo.log"),
    );
    assert_eq!(common::value(&e, "geo,EU,GB,London"), 3.0);
    assert_eq!(common::value(&e, "geo,EU,SE,Linköping"), 1.0);
    assert_eq!(common::value(&e, "geo,NA,US,Milton"), 1.0);
    assert_eq!(common::value(&e, "geo,AS,CN,Changchun"), 1.0);
    assert_eq!(common::value(&e, "geo,unknown"), 2.0);
}

#[test]
fn ua_with_uap_core_rules() {
    let regexes = common::testdata("uap/regexes.yaml");
    let e = golden(
        "ua-uap-core",
        "combined",
        json!([{"pipe": "ua", "path": regexes}]),
        &common::testdata("logs/beats-nginx-access.log"),
    );
    assert_eq!(common::value(&e, "br,Firefox,49.0"), 2.0);
}

#[test]
fn a_missing_database_or_field_is_a_clear_error() {
    let cfg: treestat_pipes::PipelineConfig = serde_json::from_value(
        json!({"format": "common", "pipes": [{"pipe": "geo", "path": "/nonexistent.mmdb"}]}),
    )
    .unwrap();
    let e = treestat_pipes::Pipeline::from_config(&cfg).unwrap_err();
    assert!(e.to_string().contains("/nonexistent.mmdb"), "{e}");
    let cfg: treestat_pipes::PipelineConfig =
        serde_json::from_value(json!({"format": "common", "pipes": ["ua"]})).unwrap();
    let e = treestat_pipes::Pipeline::from_config(&cfg).unwrap_err();
    assert!(e.to_string().contains("http_user_agent"), "{e}");
    let cfg: treestat_pipes::PipelineConfig =
        serde_json::from_value(json!({"pipes": ["nope"]})).unwrap();
    let e = treestat_pipes::Pipeline::from_config(&cfg).unwrap_err();
    assert!(e.to_string().contains("unknown pipe \"nope\""), "{e}");
}

/// Issue 15: `request_time` records every request into histogram leaves (overall, per
/// status class, host and URL) whose sketches hold each sample, through the pipeline's
/// per-interval fold; the buckets stay beside them.
#[test]
fn request_time_records_into_histogram_leaves() {
    let e = golden(
        "pipe-request_time",
        "peach",
        json!(["request_time"]),
        &common::local("golden/peach.log"),
    );
    let stats = treestat_engine::parse_stats("count,p0,p100,max").unwrap();
    let pattern = treestat_engine::Pattern::parse("request_time,hist").unwrap();
    let rows = e.query_stats(&pattern, &stats);
    assert_eq!(rows.len(), 1);
    // 7 requests; the sketch's ends are the true min and max (12 s).
    assert_eq!(rows[0].1, [Some(7.0), Some(0.0), Some(12.0), Some(12.0)]);
    // The p100 over every status class is the overall max: the union's sketch.
    let all = e.query("request_time,status,*|p100").unwrap();
    assert_eq!(all, [("request_time,status,*".to_string(), 12.0)]);
    let (_, action, _) = e.leaf_at("request_time,host,hdn.xnimg.cn").unwrap();
    assert_eq!(action, treestat_engine::Action::Histogram);
    assert!(e.leaf_at("request_time,bucket,inf").is_some());
}
