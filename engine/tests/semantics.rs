//! The original's behaviour and docs/CONCEPTS.md as tests: queries over the README's
//! browser tree, actions, conflicts, markers and aggregating queries.

use treestat_engine::{Action, Engine, EngineConfig, ErrorKind};

const BROWSERS: &str =
    r#"{"br":{"ie":{"6":3,"7":{"count":8,"venders":{"sogou":2}}},"webkit":{"14.0":40,"13.0":20}}}"#;

fn engine_with(doc: &str) -> Engine {
    let e = Engine::default();
    e.push_json(doc.as_bytes()).unwrap();
    e
}

fn q(e: &Engine, pattern: &str) -> Vec<(String, f64)> {
    e.query(pattern).unwrap()
}

fn rows(pairs: &[(&str, f64)]) -> Vec<(String, f64)> {
    pairs.iter().map(|(p, v)| ((*p).to_string(), *v)).collect()
}

#[test]
fn original_readme_queries() {
    let e = engine_with(BROWSERS);
    assert_eq!(
        q(&e, "br,webkit"),
        rows(&[("br,webkit,13.0", 20.0), ("br,webkit,14.0", 40.0)])
    );
    assert_eq!(
        q(&e, "br,ie,,venders,sogou"),
        rows(&[("br,ie,7,venders,sogou", 2.0)])
    );
    assert_eq!(
        q(&e, "br,ie,,venders"),
        rows(&[("br,ie,7,venders,sogou", 2.0)])
    );
    assert_eq!(q(&e, "br,,14.0"), rows(&[("br,webkit,14.0", 40.0)]));
    assert_eq!(q(&e, "br,,,sogou"), rows(&[]), "depth differs");
    let seven = rows(&[("br,ie,7,count", 8.0), ("br,ie,7,venders,sogou", 2.0)]);
    assert_eq!(q(&e, "br,ie,7"), seven);
    assert_eq!(q(&e, "br,ie,7,"), seven, "trailing commas are ignored");
    assert_eq!(
        q(&e, ",ie"),
        rows(&[
            ("br,ie,6", 3.0),
            ("br,ie,7,count", 8.0),
            ("br,ie,7,venders,sogou", 2.0)
        ])
    );
    assert_eq!(
        q(&e, ""),
        rows(&[
            ("br,ie,6", 3.0),
            ("br,ie,7,count", 8.0),
            ("br,ie,7,venders,sogou", 2.0),
            ("br,webkit,13.0", 20.0),
            ("br,webkit,14.0", 40.0)
        ])
    );
    assert_eq!(q(&e, "br,ie,6,x"), rows(&[]), "longer than the leaf's path");
    assert_eq!(q(&e, "nothing"), rows(&[]));
}

#[test]
fn globs_and_deep_matches() {
    let e = engine_with(BROWSERS);
    assert_eq!(
        q(&e, "br,webkit,1?.0"),
        rows(&[("br,webkit,13.0", 20.0), ("br,webkit,14.0", 40.0)])
    );
    assert_eq!(q(&e, "**,sogou"), rows(&[("br,ie,7,venders,sogou", 2.0)]));
    assert_eq!(q(&e, "br,**,14.0"), rows(&[("br,webkit,14.0", 40.0)]));
    assert_eq!(q(&e, "b*,i?"), q(&e, "br,ie"));
}

#[test]
fn add_sums_and_average_is_a_running_mean() {
    let e = Engine::default();
    for v in [30, 40, 50] {
        e.push_json(format!(r#"{{"g":{v}}}"#).as_bytes()).unwrap();
        e.push_json(format!(r#"{{"default_action":"add","c":{v}}}"#).as_bytes())
            .unwrap();
    }
    assert_eq!(q(&e, "g"), rows(&[("g", 40.0)]));
    assert_eq!(q(&e, "c"), rows(&[("c", 120.0)]));
}

#[test]
fn a_push_without_action_into_an_add_subtree_adds() {
    let e = Engine::default();
    e.push_json(br#"{"hits":{"default_action":"add","a":1}}"#)
        .unwrap();
    e.push_json(br#"{"hits":{"a":2,"b":5}}"#).unwrap();
    e.push_json(br#"{"hits":{"b":5}}"#).unwrap();
    assert_eq!(q(&e, "hits"), rows(&[("hits,a", 3.0), ("hits,b", 10.0)]));
    assert_eq!(e.leaf_at("hits,b").unwrap().1, Action::Add);
}

#[test]
fn the_newest_explicit_action_wins() {
    let e = Engine::default();
    e.push_json(br#"{"default_action":"max","x":3}"#).unwrap();
    e.push_json(br#"{"x":9}"#).unwrap();
    e.push_json(br#"{"x":1}"#).unwrap();
    assert_eq!(q(&e, "x"), rows(&[("x", 9.0)]));
    e.push_json(br#"{"default_action":"min","x":2}"#).unwrap();
    assert_eq!(q(&e, "x"), rows(&[("x", 1.0)]));
    e.push_json(br#"[{"default_action":"last","x":7},{"y":1}]"#)
        .unwrap();
    assert_eq!(q(&e, "x"), rows(&[("x", 7.0)]));
}

#[test]
fn conflicts_move_numbers_to_count_in_either_order() {
    let e = engine_with(r#"{"1":{"2":3}}"#);
    e.push_json(br#"{"1":4}"#).unwrap();
    assert_eq!(
        e.tree_json("").unwrap(),
        serde_json::json!({"1":{"count":4.0,"2":3.0}})
    );
    let e = engine_with(r#"{"1":4}"#);
    e.push_json(br#"{"1":{"2":3}}"#).unwrap();
    assert_eq!(
        e.tree_json("").unwrap(),
        serde_json::json!({"1":{"count":4.0,"2":3.0}})
    );
}

#[test]
fn values_booleans_nulls_arrays_and_markers() {
    let e = Engine::default();
    e.push_json(br#"{"up":true,"down":false,"none":null,"lat":[1,2,3,null],"note":"deployed v2"}"#)
        .unwrap();
    assert_eq!(q(&e, ""), rows(&[("down", 0.0), ("lat", 2.0), ("up", 1.0)]));
    let marks = e.markers("", 0).unwrap();
    assert_eq!(marks.len(), 1);
    assert_eq!(
        (marks[0].path.as_str(), marks[0].text.as_str()),
        ("note", "deployed v2")
    );
    // A string leaf does not break later pushes or queries at that path.
    e.push_json(br#"{"note":5}"#).unwrap();
    assert_eq!(q(&e, "note"), rows(&[("note", 5.0)]));
    e.push_json(br#"{"a":{"b":"text only"}}"#).unwrap();
    assert_eq!(q(&e, "a"), rows(&[]));
}

#[test]
fn aggregating_queries() {
    let e = engine_with(
        r#"{"ip1":{"cpu":0.2,"net":120},"ip2":{"cpu":0.3,"net":10},"ip3":{"cpu0":0.3,"cpu1":0.6}}"#,
    );
    assert_eq!(q(&e, "*|sum,net"), rows(&[("*,net", 130.0)]));
    assert_eq!(q(&e, "*|avg,net"), rows(&[("*,net", 65.0)]));
    let per_ip = q(&e, "ip*|list,cpu*|avg");
    assert_eq!(per_ip.len(), 3);
    let expect = [("ip1,cpu*", 0.2), ("ip2,cpu*", 0.3), ("ip3,cpu*", 0.45)];
    for ((p, v), (ep, ev)) in per_ip.iter().zip(expect) {
        assert_eq!(p, ep);
        assert!((v - ev).abs() < 1e-12, "{p}: {v} != {ev}");
    }
    assert_eq!(q(&e, "*|count,net"), rows(&[("*,net", 2.0)]));
    assert_eq!(q(&e, "*|max,net"), rows(&[("*,net", 120.0)]));
    assert_eq!(q(&e, "*|min,net"), rows(&[("*,net", 10.0)]));
    assert_eq!(q(&e, "nothing|sum"), rows(&[]));
}

#[test]
fn bad_pushes_are_refused_whole() {
    let e = engine_with(BROWSERS);
    let before = e.tree_json("").unwrap();
    for (doc, kind) in [
        (r#"{"br":{"ok":1,"bad,key":2}}"#, ErrorKind::BadKey),
        (r#"{"br":{"ok":1,"bad\u0001":2}}"#, ErrorKind::BadKey),
        (r#"{"br":{"ok":1,"":2}}"#, ErrorKind::BadKey),
        (r#"[{"br":{"ok":1}},{"x":[1,{}]}]"#, ErrorKind::BadValue),
        (r#"{"br":{"ok":1}"#, ErrorKind::BadDocument),
    ] {
        let err = e.push_json(doc.as_bytes()).unwrap_err();
        assert_eq!(err.kind(), kind, "{doc}: {err}");
        assert_eq!(e.tree_json("").unwrap(), before, "{doc} left a trace");
    }
    let long = format!(r#"{{"ok":1,"{}":1}}"#, "k".repeat(256));
    assert_eq!(
        e.push_json(long.as_bytes()).unwrap_err().kind(),
        ErrorKind::BadKey
    );
    assert_eq!(e.tree_json("").unwrap(), before);
}

#[test]
fn node_limits_refuse_whole_pushes() {
    let mut cfg = EngineConfig::default();
    cfg.limits.max_push_nodes = 5;
    cfg.limits.max_nodes = 8;
    let e = Engine::new(cfg).unwrap();
    let err = e
        .push_json(br#"{"a":{"1":1,"2":1,"3":1,"4":1,"5":1}}"#)
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::PushTooLarge, "{err}");
    assert!(e.query("").unwrap().is_empty());
    e.push_json(br#"{"a":{"1":1,"2":1,"3":1,"4":1}}"#).unwrap();
    // Updating existing nodes needs no room.
    e.push_json(br#"{"a":{"1":1,"2":1,"3":1,"4":1}}"#).unwrap();
    e.push_json(br#"{"b":{"1":1,"2":1}}"#).unwrap();
    let err = e.push_json(br#"{"c":1}"#).unwrap_err();
    assert_eq!(err.kind(), ErrorKind::TreeFull, "{err}");
    assert!(err.message().contains("max_nodes"), "{err}");
    assert_eq!(e.stats().nodes, 8);
}

#[test]
fn config_rules_set_actions_by_pattern() {
    let cfg: EngineConfig = toml::from_str(
        "[[actions]]\npattern = \"br\"\naction = \"add\"\n[[actions]]\npattern = \"**,max_*\"\naction = \"max\"\n",
    )
    .unwrap();
    let e = Engine::new(cfg).unwrap();
    e.push_json(br#"{"br":{"ie":1},"x":{"max_lat":5,"y":2}}"#)
        .unwrap();
    e.push_json(br#"{"br":{"ie":1},"x":{"max_lat":3,"y":4}}"#)
        .unwrap();
    assert_eq!(
        q(&e, ""),
        rows(&[("br,ie", 2.0), ("x,max_lat", 5.0), ("x,y", 3.0)])
    );
}

#[test]
fn batches_apply_atomically_with_actions_and_timestamps() {
    let e = Engine::default();
    let mut b = treestat_engine::Batch::new();
    b.sample("status,2xx,200", 1.0, Some(Action::Add));
    b.sample("status,2xx,200", 1.0, Some(Action::Add));
    b.sample_at("var1", 1_322_721_979, 8.0, None);
    b.marker("deploys", "v2");
    let s = e.apply(&b).unwrap();
    assert_eq!((s.samples, s.leaves, s.markers), (3, 2, 1));
    assert_eq!(q(&e, "status"), rows(&[("status,2xx,200", 2.0)]));
    assert_eq!(q(&e, "var1"), rows(&[("var1", 8.0)]));
    let mut bad = treestat_engine::Batch::new();
    bad.sample("ok", 1.0, None);
    bad.sample("not,ok,", 1.0, None);
    assert_eq!(e.apply(&bad).unwrap_err().kind(), ErrorKind::BadKey);
    assert!(q(&e, "ok").is_empty());
}

#[test]
fn bad_patterns_are_errors() {
    let e = Engine::default();
    assert_eq!(
        e.query("a|median").unwrap_err().kind(),
        ErrorKind::BadPattern
    );
    assert_eq!(e.query("a\nb").unwrap_err().kind(), ErrorKind::BadPattern);
}

#[test]
fn rows_from_elsewhere_aggregate_like_live_queries() {
    let doc =
        r#"{"ip1":{"cpu":0.2,"net":120},"ip2":{"cpu":0.3,"net":10},"ip3":{"cpu0":0.3,"cpu1":0.6}}"#;
    let e = engine_with(doc);
    let all = e.query("").unwrap();
    for pattern in ["*|sum,net", "ip*|list,cpu*|avg", "*|max", "**|count", "ip1"] {
        let p = treestat_engine::Pattern::parse(pattern).unwrap();
        assert_eq!(
            treestat_engine::query::aggregate_rows(&p, &all),
            e.query(pattern).unwrap(),
            "{pattern}"
        );
    }
}

#[test]
fn folded_stats_merge_whole_and_keep_means_exact() {
    let e = Engine::default();
    let mut b = treestat_engine::Batch::new();
    let mut s = treestat_engine::Stats::EMPTY;
    for v in [30.0, 40.0, 50.0] {
        s.add(v, true);
    }
    b.stats("lat", s, None);
    b.stats("hits", treestat_engine::Stats::one(4.0), Some(Action::Add));
    let summary = e.apply(&b).unwrap();
    assert_eq!(summary.samples, 4);
    e.push_json(br#"{"lat":60,"hits":1}"#).unwrap();
    assert_eq!(q(&e, ""), rows(&[("hits", 5.0), ("lat", 45.0)]));
    let mut bad = treestat_engine::Batch::new();
    bad.stats("x", treestat_engine::Stats::EMPTY, None);
    // No samples: nothing to merge, no node made, and no reason to refuse the batch
    // (issue #12: values are skipped alone, never the batch).
    assert_eq!(e.apply(&bad).unwrap().samples, 0);
    assert!(e.leaf_at("x").is_none());
}
