//! Property tests: order-independence of `add`, sorted and matching query results, and
//! refused pushes that leave no trace.

use proptest::prelude::*;
use serde_json::{Map, Value, json};
use treestat_engine::{Engine, Pattern};

/// Small key alphabet so that generated pushes collide and conflict often.
fn key() -> impl Strategy<Value = String> {
    prop_oneof![
        Just("a".to_string()),
        Just("b".to_string()),
        Just("b!".to_string()),
        Just("count".to_string()),
        Just("x1".to_string()),
        Just("é".to_string()),
    ]
}

fn tree(depth: u32) -> impl Strategy<Value = Value> {
    let leaf = (0u32..100).prop_map(|n| json!(n));
    leaf.prop_recursive(depth, 24, 4, |inner| {
        prop::collection::btree_map(key(), inner, 1..4)
            .prop_map(|m| Value::Object(m.into_iter().collect::<Map<_, _>>()))
    })
    .prop_filter("a push is an object", Value::is_object)
}

fn add_push() -> impl Strategy<Value = Value> {
    tree(4).prop_map(|mut t| {
        t.as_object_mut()
            .unwrap()
            .insert("default_action".into(), json!("add"));
        t
    })
}

fn pattern() -> impl Strategy<Value = String> {
    let seg = prop_oneof![
        key(),
        Just(String::new()),
        Just("*".to_string()),
        Just("?".to_string()),
        Just("b*".to_string()),
        Just("**".to_string()),
    ];
    prop::collection::vec(seg, 0..4).prop_map(|s| s.join(","))
}

/// Everything observable about the tree, as text.
fn fingerprint(e: &Engine) -> String {
    format!("{:?}|{:?}", e.snapshot(), e.markers("", i64::MIN).unwrap())
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(128))]

    #[test]
    fn add_totals_do_not_depend_on_push_order(pushes in prop::collection::vec(add_push(), 1..6)) {
        let forward = Engine::default();
        let backward = Engine::default();
        for p in &pushes {
            forward.push_json(p.to_string().as_bytes()).unwrap();
        }
        for p in pushes.iter().rev() {
            backward.push_json(p.to_string().as_bytes()).unwrap();
        }
        // Conflicts may place a number under `count` in one order and not the other
        // only when a number and a subtree meet; the totals per path still agree.
        let f = forward.query("").unwrap();
        let b = backward.query("").unwrap();
        prop_assert_eq!(f, b);
    }

    #[test]
    fn query_results_are_sorted_and_match(pushes in prop::collection::vec(tree(4), 1..4), pat in pattern()) {
        let e = Engine::default();
        for p in &pushes {
            e.push_json(p.to_string().as_bytes()).unwrap();
        }
        let compiled = Pattern::parse(&pat).unwrap();
        let rows = e.query(&pat).unwrap();
        prop_assert!(rows.windows(2).all(|w| w[0].0 < w[1].0), "not sorted: {:?}", rows);
        for (path, _) in &rows {
            let keys: Vec<&str> = path.split(',').collect();
            prop_assert!(compiled.matches_path(&keys), "{} does not match {}", path, pat);
        }
        // And nothing that matches is left out.
        let all = e.query("").unwrap();
        let expected = all
            .iter()
            .filter(|(p, _)| compiled.matches_path(&p.split(',').collect::<Vec<_>>()))
            .count();
        prop_assert_eq!(rows.len(), expected);
    }

    #[test]
    fn a_refused_push_leaves_the_tree_unchanged(
        pushes in prop::collection::vec(tree(3), 1..4),
        good in tree(3),
        bad_key in prop_oneof![Just("a,b"), Just("x\u{1}"), Just("")],
    ) {
        let e = Engine::default();
        for p in &pushes {
            e.push_json(p.to_string().as_bytes()).unwrap();
        }
        let before = fingerprint(&e);
        // A good tree with one bad key buried at the end.
        let mut doc = good.clone();
        doc.as_object_mut().unwrap().insert("zz".into(), json!({ bad_key: 1, "note": "m" }));
        prop_assert!(e.push_json(doc.to_string().as_bytes()).is_err());
        let arr = json!([good, {"a": {"deep": [1, "not a number"]}}]);
        prop_assert!(e.push_json(arr.to_string().as_bytes()).is_err());
        prop_assert_eq!(fingerprint(&e), before);
    }
}
