//! Issue 16, the read front's folds: the leaves several engines (shards) answer with
//! [`Engine::query_partial`], folded by [`aggregate_partial`], give exactly what one
//! engine holding every leaf answers with [`Engine::query_pattern`], for every fold
//! (`|sum|avg|min|max|count|pN`), nested folds and `**`.

use treestat_engine::query::aggregate_partial;
use treestat_engine::{Engine, Pattern};

/// One push per top-level key: counters, gauges and a histogram leaf, several levels.
fn docs() -> Vec<String> {
    let mut out = Vec::new();
    for host in 0..12 {
        let lat: Vec<String> = (0..50)
            .map(|i| ((i * 7 + host * 13) % 97 + 1).to_string())
            .collect();
        out.push(format!(
            r#"{{"h{host}":{{"cpu":{{"user":{u},"sys":{s}}},"net":{{"default_action":"add","rx":{rx},"tx":[1,2,{host}]}},"api":{{"default_action":"histogram","latency":[{lat}]}}}}}}"#,
            u = host * 3 + 1,
            s = 40 - host,
            rx = host * 100 + 5,
            lat = lat.join(","),
        ));
    }
    out
}

const PATTERNS: &[&str] = &[
    "*|sum",
    "*|sum,cpu",
    "*,cpu|avg",
    "*|avg,cpu,user",
    "*,*,rx|max",
    "*|min,cpu,*",
    "*|count",
    "*,*|count",
    "*|count,*|sum",
    "*|p95,api,latency",
    "*|p50,api",
    "**,tx|sum",
    "**|avg",
    "h3,*|sum",
    "*|max,*|avg,*|p99",
];

#[test]
fn leaves_folded_across_shards_equal_one_engine() {
    let whole = Engine::default();
    let shards = [Engine::default(), Engine::default(), Engine::default()];
    for (i, d) in docs().iter().enumerate() {
        whole.push_json(d.as_bytes()).unwrap();
        shards[i % 3].push_json(d.as_bytes()).unwrap();
    }
    for text in PATTERNS {
        let p = Pattern::parse(text).unwrap();
        let mut rows: Vec<_> = shards
            .iter()
            .flat_map(|s| s.query_partial(&p, None))
            .collect();
        rows.sort_by(|a, b| a.path.cmp(&b.path));
        let want = whole.query_pattern(&p);
        assert!(!want.is_empty(), "{text}");
        assert_eq!(aggregate_partial(&p, &rows), want, "{text}");
    }
}

#[test]
fn quantile_rows_carry_sketches_and_plain_rows_do_not() {
    let e = Engine::default();
    for d in docs() {
        e.push_json(d.as_bytes()).unwrap();
    }
    let q = e.query_partial(&Pattern::parse("*|p99,api").unwrap(), None);
    assert_eq!(q.len(), 12);
    assert!(q.iter().all(|r| r.sketch.is_some() && r.ts > 0));
    let plain = e.query_partial(&Pattern::parse("*|sum,api").unwrap(), None);
    assert!(plain.iter().all(|r| r.sketch.is_none()));
}
