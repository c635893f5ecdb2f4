//! The trend store end to end with a real engine on a manual clock: closed intervals
//! become history, compaction keeps it, a reopen restores the tree, late points land
//! in the interval that holds their time, and markers come back.

use std::sync::Arc;

use treestat_engine::trend::{TrendConfig, TrendStore};
use treestat_engine::{Action, Batch, Engine, EngineConfig, ManualClock};

const T0: i64 = 1_699_999_800; // a multiple of 600 (so of 10 and 30)

fn engine() -> (Engine, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    (
        Engine::with_clock(EngineConfig::default(), clock.clone()).unwrap(),
        clock,
    )
}

#[test]
fn closed_intervals_become_series_that_survive_compaction_and_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = TrendConfig::default();
    let (e, clock) = engine();
    {
        let store = TrendStore::open(dir.path(), &cfg).unwrap();
        store.attach(&e);
        for i in 0..6 {
            e.push_json(
                format!(
                    r#"{{"web":{{"default_action":"add","hits":{i}}},"cpu":{}}}"#,
                    i * 10
                )
                .as_bytes(),
            )
            .unwrap();
            e.push_json(br#"{"cpu":100}"#).unwrap();
            clock.advance(10);
            e.close_due().unwrap();
        }
        store.sync().unwrap();
        assert_eq!(store.persisted_through(), Some(T0 + 60));
        let before = store.series("", T0, T0 + 60, 0).unwrap();
        assert_eq!(before.len(), 2);
        assert_eq!(before[0].path, "cpu");
        assert_eq!(before[0].action, Action::Average);
        assert_eq!(before[0].points[1], (T0 + 10, 55.0));
        assert_eq!(before[1].path, "web,hits");
        assert_eq!(before[1].points.len(), 6);
        assert_eq!(before[1].points[5], (T0 + 50, 5.0));
        // Three points per bucket: add sums, average weighs by count.
        let folded = store.series("", T0, T0 + 60, 2).unwrap();
        assert_eq!(folded[1].step, 30);
        assert_eq!(folded[1].points, vec![(T0, 3.0), (T0 + 30, 12.0)]);
        assert_eq!(
            folded[0].points[0],
            (T0, (0.0 + 100.0 + 10.0 + 100.0 + 20.0 + 100.0) / 6.0)
        );
        let stats = store.compact_all().unwrap();
        assert_eq!(stats.intervals, 6);
        assert_eq!(store.series("", T0, T0 + 60, 0).unwrap(), before);
        assert_eq!(store.series("", T0, T0 + 60, 2).unwrap(), folded);
    }
    let store = TrendStore::open(dir.path(), &cfg).unwrap();
    let fresh = Engine::with_clock(EngineConfig::default(), clock.clone()).unwrap();
    assert_eq!(store.restore_into(&fresh).unwrap(), 2);
    assert_eq!(fresh.query("").unwrap(), e.query("").unwrap());
    assert_eq!(fresh.leaf_at("web,hits").unwrap().1, Action::Add);
    // The restored engine keeps writing to the same series ids.
    store.attach(&fresh);
    fresh.push_json(br#"{"web":{"hits":7}}"#).unwrap();
    clock.advance(10);
    fresh.close_due().unwrap();
    store.sync().unwrap();
    assert_eq!(store.series_count(), 2);
    let web = store.series("web", T0, T0 + 70, 0).unwrap();
    assert_eq!(web[0].points.last(), Some(&(T0 + 60, 7.0)));
    assert_eq!(store.totals().unwrap()[1].2.sum, 15.0 + 7.0);
}

#[test]
fn late_points_land_in_their_interval_and_count_in_totals() {
    let dir = tempfile::tempdir().unwrap();
    let (e, clock) = engine();
    let store = TrendStore::open(dir.path(), &TrendConfig::default()).unwrap();
    store.attach(&e);
    e.push_json(br#"{"default_action":"add","a":1,"b":1}"#)
        .unwrap();
    clock.advance(10);
    e.close_due().unwrap();
    clock.advance(10);
    e.close_due().unwrap();
    store.compact_all().unwrap();
    // Now a late sample for the first interval (already compacted) and one for the
    // second (never written), for a leaf the closing interval does not otherwise touch.
    let mut late = Batch::new();
    late.sample_at("a", T0 + 3, 4.0, None);
    late.sample_at("b", T0 + 15, 2.0, None);
    e.apply(&late).unwrap();
    clock.advance(10);
    e.close_due().unwrap();
    store.sync().unwrap();
    let s = store.series("", T0, T0 + 30, 0).unwrap();
    assert_eq!(s[0].points, vec![(T0, 5.0)]);
    assert_eq!(s[1].points, vec![(T0, 1.0), (T0 + 10, 2.0)]);
    let totals = store.totals().unwrap();
    assert_eq!((totals[0].2.sum, totals[1].2.sum), (5.0, 3.0));
    store.compact_all().unwrap();
    assert_eq!(store.series("", T0, T0 + 30, 0).unwrap(), s);
}

#[test]
fn markers_are_kept_with_their_time() {
    let dir = tempfile::tempdir().unwrap();
    let (e, clock) = engine();
    let store = TrendStore::open(dir.path(), &TrendConfig::default()).unwrap();
    store.attach(&e);
    clock.advance(3);
    e.push_json(br#"{"deploy":{"web":"v1.2"},"cpu":3}"#)
        .unwrap();
    clock.advance(10);
    e.close_due().unwrap();
    store.sync().unwrap();
    let want = store.markers("deploy", T0, T0 + 100).unwrap();
    assert_eq!(want.len(), 1);
    assert_eq!((want[0].ts, want[0].text.as_str()), (T0 + 3, "v1.2"));
    store.compact_all().unwrap();
    assert_eq!(store.markers("", T0, T0 + 100).unwrap(), want);
    assert!(store.markers("cpu", T0, T0 + 100).unwrap().is_empty());
}

#[test]
fn aggregating_patterns_fold_series_like_tree_queries() {
    let dir = tempfile::tempdir().unwrap();
    let (e, clock) = engine();
    let store = TrendStore::open(dir.path(), &TrendConfig::default()).unwrap();
    store.attach(&e);
    for i in 0..3 {
        e.push_json(
            format!(r#"{{"default_action":"add","ip1":{{"net":{i},"cpu":5}},"ip2":{{"net":10}}}}"#)
                .as_bytes(),
        )
        .unwrap();
        clock.advance(10);
        e.close_due().unwrap();
    }
    store.sync().unwrap();
    let sum = store.series("*|sum,net", T0, T0 + 30, 0).unwrap();
    assert_eq!(sum.len(), 1);
    assert_eq!(sum[0].path, "*,net");
    assert_eq!(
        sum[0].points,
        vec![(T0, 10.0), (T0 + 10, 11.0), (T0 + 20, 12.0)]
    );
    let max = store.series("ip*|list,*|max", T0, T0 + 30, 0).unwrap();
    let paths: Vec<&str> = max.iter().map(|s| s.path.as_str()).collect();
    assert_eq!(paths, ["ip1,*", "ip2,*"]);
    assert_eq!(max[0].points[0], (T0, 5.0));
    let err = store.series("**|sum", T0, T0 + 30, 0).unwrap_err();
    assert!(err.message().contains("**"), "{err}");
}
