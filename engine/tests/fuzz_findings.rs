//! Regression tests for what the fuzz targets (fuzz/, fuzz/CAMPAIGN.md) found in the
//! engine's parsers, one test per finding, named after what it guards.

use std::sync::mpsc;
use std::thread;
use std::time::Duration;

use treestat_engine::{Batch, Engine, EngineConfig, Pattern, PushDoc, PushValue};

/// Runs `f` on a thread; fails if it has not returned within `limit` (the old code
/// took far longer: hours, not seconds).
fn within<T: Send + 'static>(limit: Duration, f: impl FnOnce() -> T + Send + 'static) -> T {
    let (tx, rx) = mpsc::channel();
    thread::spawn(move || {
        let _ = tx.send(f());
    });
    rx.recv_timeout(limit)
        .unwrap_or_else(|_| panic!("did not finish within {limit:?}"))
}

/// `n` segments `**`, then `last`.
fn many_deep(n: usize, last: &str) -> String {
    let mut p = "**,".repeat(n);
    p.push_str(last);
    p
}

/// Found writing fuzz/ `pattern` (reading the walk its reference is checked against):
/// `**,**,...,x` over a deep path was walked every way the `**` could split the path,
/// exponential in their number, under the engine's read lock. The old code did not
/// finish this within the 60 s limit (about 10^13 steps); the fix walks each
/// (node, segment) once.
#[test]
fn many_double_stars_over_a_deep_tree_finish() {
    let engine = Engine::new(EngineConfig::default()).unwrap();
    let path = vec!["a"; 24].join(",");
    let mut b = Batch::new();
    b.sample(&path, 7.0, None);
    b.sample("a,b", 1.0, None);
    engine.apply(&b).unwrap();
    let (miss, hit, agg) = within(Duration::from_secs(60), move || {
        (
            engine.query(&many_deep(24, "x")).unwrap(),
            engine.query(&many_deep(24, "a")).unwrap(),
            engine.query(&many_deep(20, "a|sum")).unwrap(),
        )
    });
    assert!(miss.is_empty(), "{miss:?}");
    // The `**` take nothing, `a` the first key: every leaf below `a`.
    assert_eq!(hit, vec![(path.clone(), 7.0), ("a,b".to_string(), 1.0)]);
    assert_eq!(agg, vec![(path, 7.0), ("a,b".to_string(), 1.0)]);
}

/// The same blow-up in `Pattern::matches_path` and `bind` (pushes to `/pull` and
/// `/events` waiters, trend queries, markers), which walk one path.
#[test]
fn many_double_stars_against_one_path_finish() {
    let keys = vec!["a"; 24];
    let (miss, hit, bound) = within(Duration::from_secs(60), move || {
        let miss = Pattern::parse(&many_deep(24, "x")).unwrap();
        let hit = Pattern::parse(&many_deep(24, "a")).unwrap();
        (
            miss.matches_path(&keys) || miss.bind(&keys).is_some(),
            hit.matches_path(&keys),
            hit.bind(&keys),
        )
    });
    assert!(!miss);
    assert!(hit);
    // `**` takes as few levels as it can: all 24 empty, then `a` the first key.
    let mut want = vec![(0, 0); 24];
    want.push((0, 1));
    assert_eq!(bound, Some(want));
}

/// fuzz/ `push_json`: a decimal was read one unit in the last place off the nearest
/// f64 (serde_json's default fast parse), so `6.6666666666666665e+41`, which is how
/// the value of the integer below is written, came back as `6.666666666666667e41`:
/// a pushed value was not what the client sent, and depended on its spelling.
#[test]
fn pushed_decimals_are_read_to_the_nearest_float() {
    let want = 6.666_666_666_666_666_5e41_f64;
    let doc = PushDoc::from_json(
        br#"{"d":6.6666666666666665e+41,"i":666666666666666666666666666666666666666660}"#,
        32,
    )
    .unwrap();
    let values: Vec<f64> = doc.trees[0]
        .entries
        .iter()
        .map(|(_, v)| match v {
            PushValue::Number(x) => *x,
            other => panic!("{other:?}"),
        })
        .collect();
    assert_eq!(values, vec![want, want]);
    let engine = Engine::new(EngineConfig::default()).unwrap();
    engine
        .push_json(br#"{"d":{"default_action":"last","x":0.30000000000000004}}"#)
        .unwrap();
    assert_eq!(
        engine.query("d,x").unwrap(),
        vec![("d,x".to_string(), 0.1 + 0.2)]
    );
}

/// Finding 10 (fuzz `pattern`, run 14): `**,**,_treestat,*` reached the root's
/// `_treestat` through its literal segment after an empty `**`, and the tree walk
/// (`/get`) answered `_treestat,x` where `Pattern::matches_path` (`/pull`, `/events`,
/// trends) did not: the server's own subtree is hidden unless the first segment names it.
#[test]
fn a_deep_segment_before_the_internal_key_does_not_reveal_it() {
    let engine = Engine::new(EngineConfig::default()).unwrap();
    let mut batch = Batch::new();
    batch.sample("_treestat,x", 1.0, None);
    batch.sample("a,x", 2.0, None);
    engine.apply(&batch).unwrap();
    let pattern = Pattern::parse("**,**,_treestat,*").unwrap();
    assert!(!pattern.matches_path(&["_treestat", "x"]));
    assert_eq!(engine.query_pattern(&pattern), Vec::<(String, f64)>::new());
    // Named first, it is answered.
    let named = Pattern::parse("_treestat,*").unwrap();
    assert_eq!(
        engine.query_pattern(&named),
        vec![("_treestat,x".to_string(), 1.0)]
    );
}
