//! Issue #12 in the trend store: one imported line must not wipe history (move "now"
//! for retention to the year 33658), a store that already holds such a mark heals,
//! imports say what they could not keep, and rollups never overflow to inf.
//! On the code before the fix, `["zz",1e15,1]` imports, after which every read of real
//! data is `[]`, also after reopening (the first two tests fail there).

use std::sync::Arc;

use treestat_engine::trend::{Format, MemStorage, TrendConfig, TrendStore};
use treestat_engine::{Action, Batch, Engine, EngineConfig, ManualClock};

const NOW: i64 = 1_700_000_000;

fn live_store(storage: Arc<MemStorage>) -> (Engine, TrendStore, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(NOW));
    let engine = Engine::with_clock(EngineConfig::default(), clock.clone()).unwrap();
    let store = TrendStore::with_storage(storage, &TrendConfig::default()).unwrap();
    store.attach(&engine);
    for i in 0..6 {
        let mut b = Batch::new();
        b.sample("web,hits", f64::from(i), Some(Action::Add));
        engine.apply(&b).unwrap();
        clock.advance(10);
        engine.close_due().unwrap();
    }
    store.sync().unwrap();
    (engine, store, clock)
}

fn readable(store: &TrendStore) -> usize {
    store
        .series("web,hits", NOW - 3600, NOW + 3600, 0)
        .unwrap()
        .first()
        .map_or(0, |s| s.points.len())
}

#[test]
fn a_future_import_line_is_refused_and_history_stays_readable() {
    let storage = Arc::new(MemStorage::default());
    let (_engine, store, _clock) = live_store(storage.clone());
    assert_eq!(readable(&store), 6);
    let report = store
        .import(
            &b"[\"zz\",1e15,1]\n[\"zz\",1699999000,2]\n"[..],
            Format::Ndjson,
            Action::Average,
        )
        .unwrap();
    assert_eq!((report.imported, report.future, report.skipped), (1, 1, 1));
    assert!(store.newest().unwrap() <= NOW + 60 + 300);
    assert_eq!(readable(&store), 6);
    let mut out = Vec::new();
    store
        .export("", NOW - 3600, NOW + 3600, Format::Ndjson, &mut out)
        .unwrap();
    assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 7);
    drop(store);
    let reopened = TrendStore::with_storage(storage, &TrendConfig::default()).unwrap();
    assert_eq!(readable(&reopened), 6);
}

#[test]
fn a_store_already_holding_a_far_future_mark_heals() {
    let storage = Arc::new(MemStorage::default());
    let (engine, store, _clock) = live_store(storage.clone());
    // Before the fix nothing stopped this line; a clock far ahead lets it in now.
    let far = Arc::new(ManualClock::new(1_000_000_000_000_000));
    store.set_clock(far, 300);
    store
        .import(&b"[\"zz\",1e15,1]\n"[..], Format::Ndjson, Action::Average)
        .unwrap();
    store.set_clock(engine.clock(), 300);
    // "now" for retention is capped by the clock: the old points read again.
    assert!(store.newest().unwrap() <= NOW + 60 + 300);
    assert_eq!(readable(&store), 6);
    store.compact_now().unwrap();
    assert_eq!(readable(&store), 6);
    drop(store);
    // And after a restart (the stored mark is still far ahead, or healed).
    let reopened = TrendStore::with_storage(storage, &TrendConfig::default()).unwrap();
    reopened.attach(&engine);
    assert_eq!(readable(&reopened), 6);
}

#[test]
fn an_import_older_than_retention_says_so() {
    let (_engine, store, _clock) = live_store(Arc::new(MemStorage::default()));
    // The default retention keeps a year; these are ten years old.
    let old = NOW - 10 * 365 * 86_400;
    let text = format!("[\"old\",{old},1]\n[\"old\",{},2]\n", old + 10);
    let report = store
        .import(text.as_bytes(), Format::Ndjson, Action::Average)
        .unwrap();
    assert_eq!((report.imported, report.outside_retention), (0, 2));
    let json = serde_json::to_value(&report).unwrap();
    assert_eq!(json["outside_retention"], 2);
    assert_eq!(json["future"], 0);
}

#[test]
fn rollups_of_huge_values_stay_finite() {
    let (_engine, store, _clock) = live_store(Arc::new(MemStorage::default()));
    let mut text = String::new();
    for i in 0..100 {
        text.push_str(&format!("[\"big\",{},1e307]\n", NOW - 600 + i));
    }
    let report = store
        .import(text.as_bytes(), Format::Ndjson, Action::Add)
        .unwrap();
    assert_eq!(report.imported, 100);
    for points in [0, 1] {
        let s = store.series("big", NOW - 3600, NOW + 60, points).unwrap();
        assert!(
            s[0].points.iter().all(|p| p.1.is_finite()),
            "{:?}",
            s[0].points
        );
    }
    // The coarsest archive folds all of them into one bucket.
    let s = store
        .series("big", NOW - 300 * 86_400, NOW + 60, 0)
        .unwrap();
    assert!(
        s[0].points.iter().all(|p| p.1.is_finite()),
        "{:?}",
        s[0].points
    );
}
