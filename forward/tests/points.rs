//! What an interval sends, over a real socket to a plain line receiver: per leaf the
//! value `/trend` answers for that interval (read back from a trend store attached to
//! the same engine), at the interval's start, named as treestat's Graphite API names it;
//! `_treestat` left out unless the pattern names it; a pattern selects leaves.

use std::collections::BTreeMap;
use std::sync::Arc;

use treestat_engine::Stat;
use treestat_engine::trend::{MemStorage, TrendConfig, TrendStore};
use treestat_forward::Kind;

use crate::common::{self, Lines, close, config, engine, forwarder, wait_for};

/// `name -> [(ts, value)]` of Graphite lines.
fn parse(lines: &[String]) -> BTreeMap<String, Vec<(i64, f64)>> {
    let mut out: BTreeMap<String, Vec<(i64, f64)>> = BTreeMap::new();
    for l in lines {
        let mut f = l.split(' ');
        let (name, v, ts) = (f.next().unwrap(), f.next().unwrap(), f.next().unwrap());
        assert!(f.next().is_none(), "{l}");
        out.entry(name.to_string())
            .or_default()
            .push((ts.parse().unwrap(), v.parse().unwrap()));
    }
    out
}

#[test]
fn each_leaf_sends_what_trend_shows_for_the_interval_at_its_start() {
    let (e, clock, t0) = engine();
    let store =
        TrendStore::with_storage(Arc::new(MemStorage::default()), &TrendConfig::default()).unwrap();
    store.attach(&e);
    let rx = Lines::listen(0);
    let (f, _t) = forwarder(
        &e,
        &config(Kind::Graphite, &format!("tcp://127.0.0.1:{}", rx.port)),
    );
    e.push_json(
        br#"{"c":{"default_action":"add","hits":[1,2,3.5]},
             "g":{"default_action":"average","load":[1,2,6]},
             "m":{"default_action":"max","x":[4,9,2]},
             "n":{"default_action":"min","x":[4,9,2]},
             "l":{"default_action":"last","x":[4,9,2]},
             "h":{"default_action":"histogram","lat":[10,20,30,40,1000]},
             "cpu":{"10.3.1.12":{"idle":93.5}},
             "_treestat":{"own":1}}"#,
    )
    .unwrap();
    close(&e, &clock);
    e.push_json(br#"{"c":{"hits":4},"g":{"load":10}}"#).unwrap();
    close(&e, &clock);
    // An interval no leaf was touched in sends nothing.
    close(&e, &clock);
    let t1 = t0 + 10;
    store.sync().unwrap();

    // 7 leaves and 7 stats of the histogram, then 2 leaves.
    let got = parse(&rx.wait(6 + 1 + 7 + 2));
    wait_for("the counters", || (f.stats().sent == 16).then_some(()));
    let want_plain: BTreeMap<&str, Vec<(i64, f64)>> = [
        ("c.hits", vec![(t0, 6.5), (t1, 4.0)]),
        ("g.load", vec![(t0, 3.0), (t1, 10.0)]),
        ("m.x", vec![(t0, 9.0)]),
        ("n.x", vec![(t0, 2.0)]),
        ("l.x", vec![(t0, 2.0)]),
        ("h.lat", vec![(t0, 220.0)]),
        ("cpu.10_3_1_12.idle", vec![(t0, 93.5)]),
    ]
    .into_iter()
    .collect();
    for (name, want) in &want_plain {
        assert_eq!(got.get(*name), Some(want), "{name}: {got:?}");
    }
    assert!(!got.keys().any(|k| k.starts_with("_treestat")), "{got:?}");

    // The same values the trend store holds for each interval.
    for s in store.series("**", t0, t0 + 30, 0).unwrap() {
        let name = treestat_graphite::names::name_of_path(&s.path);
        assert_eq!(got.get(&name), Some(&s.points), "{}", s.path);
    }
    // A histogram's stats, one level below its value, as `/trend?stat=` reads them.
    let names = ["count", "sum", "min", "max", "p50", "p90", "p99"];
    let stats: Vec<Stat> = names.iter().map(|n| n.parse().unwrap()).collect();
    let h = store.stat_series("h,lat", t0, t0 + 10, 0, &stats).unwrap();
    let (ts, values) = &h[0].points[0];
    assert_eq!(*ts, t0);
    for (n, v) in names.iter().zip(values) {
        assert_eq!(got[&format!("h.lat.{n}")], vec![(t0, v.unwrap())], "{n}");
    }
    assert_eq!(got["h.lat.count"], vec![(t0, 5.0)]);
    assert_eq!(got["h.lat.max"], vec![(t0, 1000.0)]);
    assert_eq!(got.len(), want_plain.len() + names.len());
}

#[test]
fn the_pattern_selects_leaves_and_may_name_treestat() {
    let (e, clock, t0) = engine();
    let rx = Lines::listen(0);
    let mut c = config(Kind::Graphite, &format!("tcp://127.0.0.1:{}", rx.port));
    c.pattern = "_treestat,**".into();
    c.prefix = "dc1.edge".into();
    let (_f, _t) = forwarder(&e, &c);
    let rx2 = Lines::listen(0);
    let mut c2 = config(Kind::Graphite, &format!("tcp://127.0.0.1:{}", rx2.port));
    c2.pattern = "cpu,*,idle".into();
    c2.histogram_stats = Vec::new();
    let (_f2, _t2) = forwarder(&e, &c2);
    e.push_json(br#"{"cpu":{"a":{"idle":1,"user":2},"b":{"idle":3}},"_treestat":{"own":4}}"#)
        .unwrap();
    close(&e, &clock);
    assert_eq!(rx.wait(1), [format!("dc1.edge._treestat.own 4.0 {t0}")]);
    let mut two = rx2.wait(2);
    two.sort();
    assert_eq!(
        two,
        [
            format!("cpu.a.idle 1.0 {t0}"),
            format!("cpu.b.idle 3.0 {t0}")
        ]
    );
    // Nothing more arrives (each forwarder sent all it had).
    common::wait_for("both to be idle", || {
        (_f.stats().buffered_points == 0 && _f2.stats().buffered_points == 0).then_some(())
    });
    assert_eq!(rx.get().len(), 1);
    assert_eq!(rx2.get().len(), 2);
}

#[test]
fn a_non_finite_stat_is_left_out_and_counted() {
    let (e, clock, t0) = engine();
    let rx = Lines::listen(0);
    let mut c = config(Kind::Graphite, &format!("tcp://127.0.0.1:{}", rx.port));
    c.histogram_stats = vec!["std".into(), "count".into()];
    let (f, t) = forwarder(&e, &c);
    // Finite samples whose squares are not: the standard deviation is infinite.
    e.push_json(br#"{"h":{"default_action":"histogram","x":[1e200,3e200]}}"#)
        .unwrap();
    close(&e, &clock);
    wait_for("the points", || (f.stats().sent == 2).then_some(()));
    let mut got = rx.wait(2);
    got.sort();
    assert_eq!(
        got,
        [format!("h.x 2e200 {t0}"), format!("h.x.count 2.0 {t0}")]
    );
    assert_eq!(f.stats().non_finite, 1);
    assert_eq!(
        t.value(
            "treestat_forward_non_finite_total",
            &[("target", "graphite0")]
        ),
        Some(1.0)
    );
}
