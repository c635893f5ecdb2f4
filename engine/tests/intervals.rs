//! Interval closing on a controllable clock: values land in the right interval, the ring
//! keeps the configured number, totals are unaffected, sinks see every close.

use std::sync::Arc;

use parking_lot::Mutex;
use treestat_engine::{
    Action, Batch, ClosedInterval, Engine, EngineConfig, IntervalSink, ManualClock,
};

const T0: i64 = 1_700_000_000; // a multiple of 10

fn engine(ring: usize) -> (Engine, Arc<ManualClock>) {
    let clock = Arc::new(ManualClock::new(T0));
    let cfg = EngineConfig {
        ring,
        ..EngineConfig::default()
    };
    (Engine::with_clock(cfg, clock.clone()).unwrap(), clock)
}

#[derive(Default)]
struct Collect(Mutex<Vec<Arc<ClosedInterval>>>);

impl IntervalSink for Collect {
    fn interval_closed(&self, interval: &Arc<ClosedInterval>) {
        self.0.lock().push(interval.clone());
    }
}

#[test]
fn values_land_in_the_interval_they_arrived_in() {
    let (e, clock) = engine(360);
    let sink = Arc::new(Collect::default());
    e.add_sink(sink.clone());
    e.push_json(br#"{"default_action":"add","hits":1,"lat":5}"#)
        .unwrap();
    e.push_json(br#"{"hits":2}"#).unwrap();
    assert!(e.close_due().is_none(), "not due yet");
    clock.advance(10);
    let first = e.close_due().expect("due");
    assert_eq!(first.start, T0);
    assert_eq!(first.len, 10);
    let mut paths: Vec<_> = first.new_paths.iter().map(|p| p.1.clone()).collect();
    paths.sort();
    assert_eq!(paths, ["hits", "lat"]);
    let hits = first
        .points
        .iter()
        .find(|p| Some(p.leaf) == e.leaf_at("hits").map(|l| l.0))
        .unwrap();
    assert_eq!((hits.stats.sum, hits.stats.count), (3.0, 2));
    assert_eq!(hits.action, Action::Add);

    e.push_json(br#"{"hits":10}"#).unwrap();
    clock.advance(10);
    let second = e.close_due().unwrap();
    assert_eq!(second.start, T0 + 10);
    assert_eq!(second.points.len(), 1, "only touched leaves");
    assert_eq!(second.points[0].stats.sum, 10.0);
    assert!(second.new_paths.is_empty(), "paths are announced once");
    // Totals are unaffected by closing.
    assert_eq!(e.query("hits").unwrap(), [("hits".to_string(), 13.0)]);
    assert_eq!(sink.0.lock().len(), 2);
}

#[test]
fn an_idle_gap_starts_the_next_interval_at_the_current_time() {
    let (e, clock) = engine(10);
    e.push_json(br#"{"a":1}"#).unwrap();
    clock.advance(95);
    let c = e.close_due().unwrap();
    assert_eq!(c.start, T0);
    assert_eq!(e.stats().open_start, T0 + 90);
}

#[test]
fn the_ring_keeps_the_configured_number_and_windows_fold_by_action() {
    let (e, clock) = engine(3);
    for i in 1..=5 {
        e.push_json(format!(r#"{{"default_action":"add","c":{i}}}"#).as_bytes())
            .unwrap();
        e.push_json(format!(r#"{{"g":{}}}"#, i * 10).as_bytes())
            .unwrap();
        e.push_json(format!(r#"{{"g":{}}}"#, i * 10 + 2).as_bytes())
            .unwrap();
        clock.advance(10);
        e.close_due().unwrap();
    }
    assert_eq!(e.stats().ring_intervals, 3);
    // The last 20 s: the two newest closed intervals (c = 4 + 5, g = mean of 40,42,50,52).
    let w = e.query_window("", 20).unwrap();
    assert_eq!(w, [("c".to_string(), 9.0), ("g".to_string(), 46.0)]);
    // Asking for more than the ring holds gives what it holds.
    let w = e.query_window("c", 3600).unwrap();
    assert_eq!(w, [("c".to_string(), 12.0)]);
    let series = e.recent_series("c").unwrap();
    assert_eq!(
        series,
        [(
            "c".to_string(),
            vec![(T0 + 20, 3.0), (T0 + 30, 4.0), (T0 + 40, 5.0)]
        )]
    );
    // Totals cover everything.
    assert_eq!(e.query("c").unwrap(), [("c".to_string(), 15.0)]);
}

#[test]
fn timestamped_samples_go_to_the_interval_that_holds_their_time() {
    let (e, clock) = engine(360);
    for _ in 0..3 {
        e.push_json(br#"{"x":1}"#).unwrap();
        clock.advance(10);
        e.close_due().unwrap();
    }
    let mut b = Batch::new();
    b.sample_at("x", T0 + 12, 7.0, None); // the second interval, already closed
    b.sample_at("old", 1_322_721_979, 8.0, Some(Action::Add)); // far older than the ring
    e.apply(&b).unwrap();
    clock.advance(10);
    let c = e.close_due().unwrap();
    assert!(c.points.is_empty());
    let late: Vec<_> = c.late.iter().map(|p| (p.ts, p.value)).collect();
    assert_eq!(late, [(T0 + 12, 7.0), (1_322_721_979, 8.0)]);
    let series = e.recent_series("x").unwrap();
    // Interval T0+10 now holds the samples 1 and 7: mean 4 (x is a gauge).
    assert_eq!(series[0].1[1], (T0 + 10, 4.0));
    // Totals count them like any sample; `last` stays the newest by time stamp.
    assert_eq!(e.leaf_at("old").unwrap().2.sum, 8.0);
    let x = e.leaf_at("x").unwrap().2;
    assert_eq!((x.count, x.sum, x.last), (4, 10.0, 1.0));
}

#[test]
fn markers_are_handed_out_with_their_interval() {
    let (e, clock) = engine(360);
    e.push_json(br#"{"deploy":{"web":"v2 rolled out"}}"#)
        .unwrap();
    clock.advance(10);
    let c = e.close_due().unwrap();
    assert_eq!(c.markers.len(), 1);
    assert_eq!(c.markers[0].path, "deploy,web");
    assert_eq!(c.markers[0].ts, T0);
    assert!(c.points.is_empty());
}

#[test]
fn a_leaf_moved_under_count_is_announced_again() {
    let (e, clock) = engine(360);
    e.push_json(br#"{"a":1}"#).unwrap();
    clock.advance(10);
    e.close_due().unwrap();
    e.push_json(br#"{"a":{"b":2}}"#).unwrap();
    e.push_json(br#"{"a":3}"#).unwrap();
    clock.advance(10);
    let c = e.close_due().unwrap();
    let mut paths: Vec<_> = c.new_paths.iter().map(|p| p.1.as_str()).collect();
    paths.sort_unstable();
    assert_eq!(paths, ["a,b", "a,count"]);
}

#[test]
fn push_events_and_cursors() {
    let (e, _clock) = engine(10);
    let start = e.cursor();
    e.push_json(br#"{"br":{"ie":1}}"#).unwrap();
    e.push_json(br#"{"br":{"ff":2}}"#).unwrap();
    let (events, missed) = e.pushes_since(start);
    assert!(!missed);
    assert_eq!(events.len(), 2);
    let paths = e.leaf_paths(&[events[1].changes[0].0]);
    assert_eq!(paths, [Some("br,ff".to_string())]);
    assert_eq!(events[1].changes[0].1, 2.0);
}

#[test]
fn a_top_level_timestamp_dates_the_whole_tree() {
    let (e, clock) = engine(360);
    for _ in 0..3 {
        clock.advance(10);
        e.close_due().unwrap();
    }
    // Replayed from an agent's buffer: measured 25 s ago, in a closed interval.
    let doc = format!(
        r#"[{{"timestamp":{},"default_action":"add","cpu":{{"h1":{{"n":4}}}},"note":"late"}},{{"cpu":{{"h1":{{"m":1}}}}}}]"#,
        T0 + 5
    );
    e.push_json(doc.as_bytes()).unwrap();
    clock.advance(10);
    let c = e.close_due().unwrap();
    assert_eq!(
        c.late.iter().map(|p| (p.ts, p.value)).collect::<Vec<_>>(),
        [(T0 + 5, 4.0)]
    );
    assert_eq!(
        c.points.len(),
        1,
        "the undated tree is in the open interval"
    );
    assert_eq!(c.markers[0].ts, T0 + 5);
    // Below the top, `timestamp` is an ordinary key.
    e.push_json(br#"{"app":{"timestamp":7}}"#).unwrap();
    assert_eq!(
        e.query("app").unwrap(),
        [("app,timestamp".to_string(), 7.0)]
    );
    assert!(e.push_json(br#"{"timestamp":"yesterday","a":1}"#).is_err());
}

/// Regression: 8 MiB pushes of a million empty markers kept +110 MB each, because every
/// marker went into the push log (for `/pull`) whatever the bounds said.
#[test]
fn marker_floods_stay_within_the_byte_bounds() {
    let clock = Arc::new(ManualClock::new(T0));
    let mut cfg = EngineConfig::default();
    cfg.limits.max_markers = 1_000_000;
    cfg.limits.max_marker_bytes = 1 << 20;
    cfg.pull_log_bytes = 2 << 20;
    let e = Engine::with_clock(cfg, clock.clone()).unwrap();
    let start = e.cursor();
    let mut doc = String::from("{");
    for i in 0..200_000 {
        doc.push_str(&format!(r#""m{i}":"","#));
    }
    doc.push_str(r#""n":1}"#);
    let mut dropped = 0;
    for _ in 0..4 {
        let s = e.push_json(doc.as_bytes()).unwrap();
        assert_eq!(s.samples, 1, "the number beside the markers lands");
        dropped += s.dropped;
    }
    assert!(
        dropped > 700_000,
        "markers past the bound are counted: {dropped}"
    );
    assert_eq!(e.metrics().dropped.get(), dropped as u64);
    let (events, _) = e.pushes_since(start);
    let logged: usize = events.iter().map(|ev| ev.bytes()).sum();
    assert!(logged <= 2 << 20, "the push log holds {logged} bytes");
    let kept = e.markers("", i64::MIN).unwrap();
    let kept_bytes: usize = kept.iter().map(|m| m.bytes()).sum();
    assert!(
        kept_bytes <= 1 << 20,
        "kept markers hold {kept_bytes} bytes"
    );
    assert!(!kept.is_empty());
    clock.advance(10);
    let c = e.close_due().unwrap();
    let open_bytes: usize = c.markers.iter().map(|m| m.bytes()).sum();
    assert!(
        open_bytes <= 1 << 20,
        "the interval held {open_bytes} bytes"
    );
}

/// Regression: pushes of 4M dated samples kept +95 MB each until the interval closed.
#[test]
fn dated_samples_for_closed_intervals_are_bounded_in_bytes() {
    let clock = Arc::new(ManualClock::new(T0));
    let mut cfg = EngineConfig::default();
    cfg.limits.max_late_bytes = 24 * 1000;
    let e = Engine::with_clock(cfg, clock.clone()).unwrap();
    clock.advance(100);
    e.close_due().unwrap();
    let samples = vec!["1"; 1500].join(",");
    let doc = format!(
        r#"{{"timestamp":{},"default_action":"add","old":[{samples}]}}"#,
        T0 + 5
    );
    // 1500 dated samples in one array: refused together, beyond the 1000 the bound holds.
    let s = e.push_json(doc.as_bytes()).unwrap();
    assert_eq!((s.samples, s.dropped), (0, 1500));
    let few = format!(
        r#"{{"timestamp":{},"default_action":"add","old":[1,1,1]}}"#,
        T0 + 5
    );
    for _ in 0..400 {
        e.push_json(few.as_bytes()).unwrap();
    }
    // Samples for the open interval are never refused by the late bound.
    let now = e
        .push_json(br#"{"default_action":"add","new":[1,2,3]}"#)
        .unwrap();
    assert_eq!((now.samples, now.dropped), (3, 0));
    let mut batch = Batch::new();
    batch.sample_at("old2", T0 + 5, 1.0, Some(Action::Add));
    batch.sample_at("old3", T0 + 5, 1.0, Some(Action::Add));
    let s = e.apply(&batch).unwrap();
    assert_eq!(
        (s.samples, s.dropped),
        (1, 1),
        "the last room takes one dated sample; the next is refused alone"
    );
    clock.advance(10);
    let c = e.close_due().unwrap();
    assert_eq!(c.late.len(), 1000, "333 whole pushes of 3, then one");
    // What was refused never entered the totals either.
    assert_eq!(e.query("old").unwrap(), [("old".to_string(), 999.0)]);
    assert_eq!(e.query("old2").unwrap(), [("old2".to_string(), 1.0)]);
    assert_eq!(e.query("old3").unwrap(), []);
}

/// Regression (issue 12): closing named each new leaf by scanning its parent's children
/// under the write lock, O(width) per leaf: announcing a 300k-wide branch took
/// O(width^2) (minutes in a debug build) and every reader's `leaf_paths` did the same.
/// Paths are now O(depth): the close and the readers' paths finish far within a minute.
#[test]
fn a_very_wide_branch_closes_and_names_its_leaves_without_sibling_scans() {
    let mut cfg = EngineConfig::default();
    cfg.limits.max_push_nodes = 1_000_000;
    let e = Engine::with_clock(cfg, Arc::new(ManualClock::new(T0))).unwrap();
    let n = 300_000;
    let mut doc = String::from(r#"{"w":{"#);
    for i in 0..n {
        if i > 0 {
            doc.push(',');
        }
        // Zero-padded: inserted in key order (this test is about naming, not inserting).
        doc.push_str(&format!(r#""k{i:06}":1"#));
    }
    doc.push_str("}}");
    e.push_json(doc.as_bytes()).unwrap();
    let started = std::time::Instant::now();
    let closed = e.close_now();
    assert_eq!(closed.points.len(), n);
    assert_eq!(closed.new_paths.len(), n);
    let ids: Vec<_> = closed.points.iter().map(|p| p.leaf).collect();
    let paths = e.leaf_paths(&ids);
    let shared = e.interval_paths(&closed);
    let took = started.elapsed();
    for (i, (id, path)) in closed.new_paths.iter().enumerate() {
        assert_eq!(*id, ids[i], "new paths come in leaf order");
        assert_eq!(Some(path), paths[i].as_ref());
        assert_eq!(shared.path(u32::try_from(i).unwrap()), Some(path.as_str()));
    }
    assert_eq!(closed.new_paths[123_456].1, "w,k123456");
    assert_eq!(closed.new_paths[7].1, "w,k000007");
    assert!(took < std::time::Duration::from_secs(60), "took {took:?}");
    // Announced: the next close names none of them again.
    e.push_json(br#"{"w":{"k000007":1}}"#).unwrap();
    assert!(e.close_now().new_paths.is_empty());
}

/// Regression (issue 12): each new key of a wide push was inserted on its own, shifting
/// every later sibling: 1M unpadded keys (`k0..k999999`, which do not arrive in key
/// order) into a branch already 1M wide cost O(width x new) memory moves under the write
/// lock (about three minutes here in a debug build). They are now merged in one pass.
#[test]
fn a_wide_push_of_new_keys_in_no_order_merges_in_one_pass() {
    let mut cfg = EngineConfig::default();
    cfg.limits.max_push_nodes = 2_000_000;
    let e = Engine::with_clock(cfg, Arc::new(ManualClock::new(T0))).unwrap();
    let wide = |from: usize, n: usize| {
        let body: Vec<String> = (from..from + n).map(|i| format!(r#""k{i}":1"#)).collect();
        format!(r#"{{"default_action":"add","w":{{{}}}}}"#, body.join(","))
    };
    let started = std::time::Instant::now();
    e.push_json(wide(0, 1_000_000).as_bytes()).unwrap();
    e.push_json(wide(1_000_000, 1_000_000).as_bytes()).unwrap();
    e.push_json(wide(500_000, 1_000).as_bytes()).unwrap();
    let took = started.elapsed();
    assert!(took < std::time::Duration::from_secs(60), "took {took:?}");
    let rows = e.query("w").unwrap();
    assert_eq!(rows.len(), 2_000_000);
    assert!(
        rows.windows(2).all(|p| p[0].0 < p[1].0),
        "children stay sorted"
    );
    assert_eq!(
        e.query("w,k500500").unwrap(),
        [("w,k500500".to_string(), 2.0)]
    );
    assert_eq!(
        e.query("w,k1999999").unwrap(),
        [("w,k1999999".to_string(), 1.0)]
    );
}

/// The one-pass path makes exactly the nodes, actions and values the per-key path makes:
/// the same document merged whole and key by key gives the same tree.
#[test]
fn bulk_and_per_key_merges_build_the_same_tree() {
    let mut entries = Vec::new();
    for i in 0..300 {
        entries.push(match i % 5 {
            0 => format!(r#""n{i}":{i}"#),
            1 => format!(r#""s{i}":{{"default_action":"max","x":{i},"y":{{"z":1}}}}"#),
            2 => format!(r#""a{i}":[1,2,{i}]"#),
            3 => format!(r#""m{i}":"marker""#),
            _ => format!(r#""d{}":{i}"#, i % 7),
        });
    }
    // A key given twice (a number, then a subtree), and one already present.
    entries.push(r#""n0":{"deep":5}"#.to_string());
    entries.push(r#""pre":2"#.to_string());
    let whole = format!(
        r#"{{"top":{{"default_action":"add",{}}}}}"#,
        entries.join(",")
    );
    let bulk = Engine::with_clock(EngineConfig::default(), Arc::new(ManualClock::new(T0))).unwrap();
    bulk.push_json(br#"{"top":{"pre":1}}"#).unwrap();
    bulk.push_json(whole.as_bytes()).unwrap();
    let single =
        Engine::with_clock(EngineConfig::default(), Arc::new(ManualClock::new(T0))).unwrap();
    single.push_json(br#"{"top":{"pre":1}}"#).unwrap();
    for entry in &entries {
        single
            .push_json(format!(r#"{{"top":{{"default_action":"add",{entry}}}}}"#).as_bytes())
            .unwrap();
    }
    let snap = |e: &Engine| {
        e.snapshot()
            .into_iter()
            .map(|(p, a, s, _)| (p, a, s.sum, s.count))
            .collect::<Vec<_>>()
    };
    assert_eq!(snap(&bulk), snap(&single));
    assert_eq!(bulk.stats().nodes, single.stats().nodes);
}

/// Several threads that all find the open interval's time up (the relay's listeners
/// and its loop) close exactly one interval between them, and the next one starts on
/// the clock's interval. Before the time was checked again under the write lock, a
/// second caller closed the interval the first had just opened, and every later
/// interval was dated a step ahead of the clock (the relay's forwards then came
/// seconds late, several seconds merged into one).
#[test]
fn racing_closers_close_one_interval_and_the_clock_keeps_the_dates() {
    let (e, clock) = engine(4);
    let threads = 4;
    for round in 1..=200 {
        e.push_json(br#"{"default_action":"add","a":{"b":1}}"#)
            .unwrap();
        clock.advance(10);
        let barrier = std::sync::Barrier::new(threads);
        let closed = std::thread::scope(|s| {
            let handles: Vec<_> = (0..threads)
                .map(|_| {
                    s.spawn(|| {
                        barrier.wait();
                        e.close_due()
                    })
                })
                .collect();
            handles
                .into_iter()
                .filter_map(|h| h.join().unwrap())
                .collect::<Vec<_>>()
        });
        assert_eq!(
            closed.len(),
            1,
            "round {round}: one close for one due interval"
        );
        assert_eq!(closed[0].start, T0 + (round - 1) * 10);
        assert_eq!(e.stats().open_start, T0 + round * 10, "round {round}");
    }
}
