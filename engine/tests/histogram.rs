//! The `histogram` action (issue 15): pushes choose it as any action, arrays are
//! samples, `/get` keeps the mean, `?stat=` reads quantiles and Etsy statsd's
//! statistics, a closed interval carries each histogram leaf's sketch and raw samples.

use treestat_engine::histogram::{StatSource, eval_stats};
use treestat_engine::{
    Action, ActionRule, Batch, Engine, EngineConfig, Pattern, Stat, parse_stats,
};

fn stats(list: &str) -> Vec<Stat> {
    parse_stats(list).unwrap()
}

fn one_row(e: &Engine, pattern: &str, list: &str) -> Vec<Option<f64>> {
    let rows = e.query_stats(&Pattern::parse(pattern).unwrap(), &stats(list));
    assert_eq!(rows.len(), 1, "{rows:?}");
    rows.into_iter().next().unwrap().1
}

#[test]
fn a_pushed_array_is_samples_of_a_histogram_leaf() {
    let e = Engine::default();
    let values: Vec<String> = (1..=1000).map(|i| i.to_string()).collect();
    let doc = format!(
        r#"{{"default_action":"histogram","api":{{"latency":[{}]}}}}"#,
        values.join(",")
    );
    let s = e.push_json(doc.as_bytes()).unwrap();
    assert_eq!(s.samples, 1000);
    // `/get` keeps answering the mean.
    assert_eq!(
        e.query("api").unwrap(),
        [("api,latency".to_string(), 500.5)]
    );
    let row = one_row(&e, "api", "count,sum,mean,min,max,p50,p99,p100");
    assert_eq!(
        &row[..5],
        &[
            Some(1000.0),
            Some(500_500.0),
            Some(500.5),
            Some(1.0),
            Some(1000.0)
        ]
    );
    // Quantiles within 1 % of the sample of the nearest rank (the ceil(q n)-th).
    for (got, want) in row[5..].iter().zip([500.0, 990.0, 1000.0]) {
        let got = got.unwrap();
        assert!((got - want).abs() <= 0.01 * want, "{got} vs {want}");
    }
    let (_, action, _) = e.leaf_at("api,latency").unwrap();
    assert_eq!(action, Action::Histogram);
}

#[test]
fn a_config_rule_makes_histograms_and_other_leaves_answer_what_they_hold() {
    let e = Engine::new(EngineConfig {
        actions: vec![ActionRule {
            pattern: "t".into(),
            action: Action::Histogram,
        }],
        ..EngineConfig::default()
    })
    .unwrap();
    e.push_json(br#"{"t":{"a":[1,2,3,4]},"g":{"a":[5,7]}}"#)
        .unwrap();
    let row = one_row(&e, "t", "p50,mean,max");
    assert!((row[0].unwrap() - 2.0).abs() <= 0.02, "{row:?}");
    assert_eq!(&row[1..], [Some(2.5), Some(4.0)]);
    // A plain `average` leaf has no sketch: no quantile, but its mean and bounds.
    assert_eq!(
        one_row(&e, "g", "p50,mean,upper"),
        [None, Some(6.0), Some(7.0)]
    );
}

#[test]
fn non_finite_samples_are_refused_alone_and_counted() {
    let e = Engine::default();
    let mut b = Batch::new();
    b.samples(
        "h",
        &[1.0, f64::NAN, 3.0, f64::INFINITY],
        Some(Action::Histogram),
    );
    b.sample("h", f64::NEG_INFINITY, Some(Action::Histogram));
    b.sample("h", 5.0, Some(Action::Histogram));
    let s = e.apply(&b).unwrap();
    assert_eq!((s.samples, s.refused_nonfinite), (3, 3));
    assert_eq!(
        one_row(&e, "h", "count,p100,sum_squares"),
        [Some(3.0), Some(5.0), Some(35.0)]
    );
    // Only refused values: no node.
    let mut b = Batch::new();
    b.samples("nothing", &[f64::NAN], Some(Action::Histogram));
    e.apply(&b).unwrap();
    assert!(e.leaf_at("nothing").is_none());
}

#[test]
fn one_sample_at_a_time_and_many_at_once_make_the_same_leaf() {
    let vs: Vec<f64> = (0..5000).map(|i| f64::from(i % 977) * 0.25 - 3.0).collect();
    let one = Engine::default();
    let mut b = Batch::new();
    for &v in &vs {
        b.sample("x,h", v, Some(Action::Histogram));
    }
    one.apply(&b).unwrap();
    let many = Engine::default();
    let mut b = Batch::new();
    b.samples("x,h", &vs, Some(Action::Histogram));
    many.apply(&b).unwrap();
    let list = "count,sum,min,max,p1,p50,p99,p99.9,sum_squares,std,median";
    assert_eq!(one_row(&one, "x", list), one_row(&many, "x", list));
    let (a, b) = (one.close_now(), many.close_now());
    assert_eq!(a.points.len(), 1);
    assert_eq!(a.points[0].stats, b.points[0].stats);
    assert_eq!(a.hists, b.hists);
}

/// One interval of one leaf gives the numbers Etsy statsd 0.9.0 flushes for the same
/// samples (its `lib/process_metrics.js` run under node: 10 s flush, threshold 90).
#[test]
fn a_closed_interval_reads_etsys_flush() {
    let e = Engine::default();
    let vs = [
        12.0, 3.5, 250.0, 7.25, 7.25, 99.0, 1.0, 42.0, 18.5, 0.5, 64.0, 33.0,
    ];
    let mut b = Batch::new();
    for v in vs {
        b.sample("svc,db", v, Some(Action::Histogram));
    }
    e.apply(&b).unwrap();
    // A sample in the next interval must not leak into this one.
    let closed = e.close_now();
    e.apply(&b).unwrap();
    assert_eq!(closed.hists.len(), 1);
    let (leaf, h) = &closed.hists[0];
    let point = closed.points.iter().find(|p| p.leaf == *leaf).unwrap();
    let src = StatSource {
        stats: &point.stats,
        hist: Some(&h.hist),
        raw: h.complete_raw(),
        secs: Some(10.0),
    };
    let names = "count,count_ps,sum,sum_squares,mean,median,lower,upper,std,upper_90,mean_90,sum_90,count_90,sum_squares_90";
    let got = eval_stats(&stats(names), &src);
    // node -e 'require("./lib/process_metrics.js").process_metrics({counters:{},
    //   timers:{t:[...]},timer_counters:{t:12},pctThreshold:[90],histogram:[]},[],10000,0,
    //   m => console.log(JSON.stringify(m.timer_data.t)))'
    let etsy = [
        12.0,
        1.2,
        538.0,
        79_854.875,
        44.833_333_333_333_336,
        15.25,
        0.5,
        250.0,
        68.150_899_765_805_65,
        99.0,
        26.181_818_181_818_183,
        288.0,
        11.0,
        17_354.875,
    ];
    for ((name, got), want) in names.split(',').zip(&got).zip(etsy) {
        assert_eq!(*got, Some(want), "{name}");
    }
}

#[test]
fn raw_samples_are_bounded_per_interval() {
    let mut config = EngineConfig::default();
    config.limits.max_histogram_raw = 100;
    let e = Engine::new(config).unwrap();
    let vs: Vec<f64> = (1..=1000).map(f64::from).collect();
    let mut b = Batch::new();
    b.samples("h", &vs, Some(Action::Histogram));
    e.apply(&b).unwrap();
    let closed = e.close_now();
    let h = &closed.hists[0].1;
    assert!(h.overflowed && h.raw.is_empty() && h.complete_raw().is_none());
    assert_eq!(h.hist.sketch.count(), 1000);
    // The next interval starts with no raw samples and keeps them again.
    e.apply(&b).unwrap();
    let mut b = Batch::new();
    b.samples("small", &[1.0, 2.0], Some(Action::Histogram));
    e.apply(&b).unwrap();
    let closed = e.close_now();
    let small = closed
        .hists
        .iter()
        .map(|(_, h)| h)
        .find(|h| h.hist.sketch.count() == 2);
    assert_eq!(small.unwrap().complete_raw(), Some(&[1.0, 2.0][..]));
}

/// Issue 15: a percentile is the sample of the nearest rank (the `ceil(q n)`-th), so
/// `p99` of `{12, 20, 250}` is 250, as Etsy's `upper_90` reads it (the rank
/// `floor(q (n - 1))` read 20 before); the same for a `|p99` fold over plain values.
#[test]
fn percentiles_of_tiny_sets_are_nearest_ranks() {
    let e = Engine::default();
    e.push_json(br#"{"default_action":"histogram","t":{"a":[12,20,250],"b":[1,2,3,4]}}"#)
        .unwrap();
    let near = |got: Option<f64>, want: f64| {
        let got = got.unwrap();
        assert!((got - want).abs() <= 0.01 * want, "{got} vs {want}");
    };
    let a = one_row(&e, "t,a", "p99,p90,p50,p0,upper_90");
    near(a[0], 250.0);
    near(a[1], 250.0);
    near(a[2], 20.0);
    assert_eq!(a[3], Some(12.0));
    let b = one_row(&e, "t,b", "p50,p75,p25");
    near(b[0], 2.0);
    near(b[1], 3.0);
    near(b[2], 1.0);
    e.push_json(br#"{"u":{"x":12,"y":20,"z":250}}"#).unwrap();
    assert_eq!(e.query("u,*|p99").unwrap(), [("u,*".to_string(), 250.0)]);
}
