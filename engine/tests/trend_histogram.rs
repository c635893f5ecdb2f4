//! Histogram leaves in the trend store (issue 15, step 3; acceptance 2 "rollups preserve
//! it"): each interval's sketch is stored with the interval, `stat_series` reads
//! quantiles per interval, and compaction's rollups merge sketches, so a coarse
//! bucket's p99 is the p99 of the union of its intervals' samples, before and after
//! compaction alike. On real sled files.

use std::sync::Arc;
use std::time::Duration;

use treestat_engine::histogram::clamped_quantile;
use treestat_engine::sketch::Sketch;
use treestat_engine::trend::{TrendConfig, TrendStore};
use treestat_engine::{Action, Batch, Engine, EngineConfig, ManualClock, Stat, parse_stats};

const T0: i64 = 1_700_000_040;

/// Seeded samples: a latency-like spread with a long tail.
fn samples(seed: u64, n: usize) -> Vec<f64> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    (0..n)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let u = f64::from(u32::try_from(x >> 40).unwrap()) / f64::from(1u32 << 24);
            0.5 + 2000.0 * u * u * u
        })
        .collect()
}

fn p(stats: &str) -> Vec<Stat> {
    parse_stats(stats).unwrap()
}

fn q(sk: &Sketch, vs: &[f64], quant: f64) -> f64 {
    let min = vs.iter().copied().fold(f64::INFINITY, f64::min);
    let max = vs.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    clamped_quantile(sk, quant, min, max).unwrap()
}

#[test]
fn interval_sketches_are_stored_and_rollups_merge_them() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = TrendConfig {
        compact_every: Duration::from_secs(86_400),
        ..TrendConfig::default()
    };
    let store = TrendStore::open(dir.path(), &cfg).unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = Engine::with_clock(EngineConfig::default(), clock.clone()).unwrap();
    store.attach(&engine);
    // 12 intervals of 10 s: two whole minutes.
    let mut per_interval = Vec::new();
    for i in 0..12u64 {
        let vs = samples(i + 1, 200 + 37 * usize::try_from(i).unwrap());
        let mut b = Batch::new();
        b.samples("svc,lat", &vs, Some(Action::Histogram));
        b.sample("svc,cpu", 3.0, Some(Action::Average));
        engine.apply(&b).unwrap();
        per_interval.push(vs);
        clock.advance(10);
        engine.close_due().unwrap();
    }
    store.sync().unwrap();
    let stats = p("p50,p99,count,sum_squares");
    let check_intervals = |store: &TrendStore| {
        let s = store
            .stat_series("svc,lat", T0, T0 + 120, 0, &stats)
            .unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].points.len(), 12);
        for ((t, row), vs) in s[0].points.iter().zip(&per_interval) {
            let mut sk = Sketch::new();
            sk.extend(vs);
            assert_eq!(row[0], Some(q(&sk, vs, 0.5)), "p50 at {t}");
            assert_eq!(row[1], Some(q(&sk, vs, 0.99)), "p99 at {t}");
            assert_eq!(row[2], Some(vs.len() as f64));
            let sq: f64 = vs.iter().map(|v| v * v).sum();
            assert!((row[3].unwrap() - sq).abs() <= 1e-9 * sq);
        }
        // A series without a sketch answers what its numbers hold.
        let cpu = store
            .stat_series("svc,cpu", T0, T0 + 120, 0, &p("p99,mean"))
            .unwrap();
        assert_eq!(cpu[0].points[0].1, [None, Some(3.0)]);
    };
    // Whole minutes: each is the union of six intervals.
    let minutes = |points: usize, store: &TrendStore| {
        let s = store
            .stat_series("svc,lat", T0, T0 + 120, points, &p("p99,p50,count"))
            .unwrap();
        assert_eq!(s[0].step, 60);
        assert_eq!(s[0].points.len(), 2);
        for (m, (_, row)) in s[0].points.iter().enumerate() {
            let union: Vec<f64> = per_interval[m * 6..m * 6 + 6].concat();
            let mut sk = Sketch::new();
            sk.extend(&union);
            assert_eq!(row[0], Some(q(&sk, &union, 0.99)), "minute {m}");
            assert_eq!(row[1], Some(q(&sk, &union, 0.5)), "minute {m}");
            assert_eq!(row[2], Some(union.len() as f64));
        }
    };
    check_intervals(&store);
    minutes(2, &store);
    let st = store.compact_all().unwrap();
    assert_eq!(st.intervals, 12);
    // After compaction: the same answers from the chunks (the 10 s archive), and the
    // 1 m archive's rolled-up buckets are the unions' sketches.
    check_intervals(&store);
    minutes(2, &store);
    let s = store
        .stat_series("svc,lat", T0 - 2 * 86_400, T0 + 120, 0, &p("p99"))
        .unwrap();
    assert_eq!(s[0].step, 60, "the 1 m archive");
    let got: Vec<_> = s[0].points.iter().filter(|(t, _)| *t >= T0).collect();
    assert_eq!(got.len(), 2);
    for (m, (_, row)) in got.iter().enumerate() {
        let union: Vec<f64> = per_interval[m * 6..m * 6 + 6].concat();
        let mut sk = Sketch::new();
        sk.extend(&union);
        assert_eq!(row[0], Some(q(&sk, &union, 0.99)), "rolled-up minute {m}");
    }
    // The plain series read as before.
    let plain = store.series("svc,cpu", T0, T0 + 120, 0).unwrap();
    assert_eq!(plain[0].points.len(), 12);
}

/// Etsy's `process_metrics.js` on one interval's values (`1 / rate` weights summed in
/// arrival order for `count`), as the reference: name -> value.
fn etsy(values: &[f64], weights: &[f64], thresholds: &[f64]) -> Vec<(String, f64)> {
    let mut v = values.to_vec();
    v.sort_by(f64::total_cmp);
    let n = v.len();
    let (mut cumul, mut cumul_sq) = (vec![v[0]], vec![v[0] * v[0]]);
    for i in 1..n {
        cumul.push(v[i] + cumul[i - 1]);
        cumul_sq.push(v[i] * v[i] + cumul_sq[i - 1]);
    }
    let nf = n as f64;
    let mean = cumul[n - 1] / nf;
    let diffs: f64 = v.iter().map(|x| (x - mean) * (x - mean)).sum();
    let median = if n % 2 == 1 {
        v[n / 2]
    } else {
        (v[n / 2 - 1] + v[n / 2]) / 2.0
    };
    let count = weights.iter().fold(0.0, |c, w| c + w);
    let mut out: Vec<(String, f64)> = vec![
        ("count".into(), count),
        ("sum".into(), cumul[n - 1]),
        ("mean".into(), mean),
        ("sum_squares".into(), cumul_sq[n - 1]),
        ("std".into(), (diffs / nf).sqrt()),
        ("median".into(), median),
        ("lower".into(), v[0]),
        ("upper".into(), v[n - 1]),
    ];
    for &pct in thresholds {
        #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // a count
        let k = (f64::abs(pct) / 100.0 * nf).round() as usize;
        let (bound, sum, sq) = if pct > 0.0 {
            (v[k - 1], cumul[k - 1], cumul_sq[k - 1])
        } else {
            (
                v[n - k],
                cumul[n - 1] - cumul[n - k - 1],
                cumul_sq[n - 1] - cumul_sq[n - k - 1],
            )
        };
        let name = format!("{pct}").replace('-', "top");
        let bound_name = if pct > 0.0 { "upper_" } else { "lower_" };
        out.push((format!("{bound_name}{name}"), bound));
        out.push((format!("mean_{name}"), sum / k as f64));
        out.push((format!("sum_{name}"), sum));
        out.push((format!("count_{name}"), k as f64));
        out.push((format!("sum_squares_{name}"), sq));
    }
    out
}

/// Issue 15: a stored interval of a histogram leaf answers Etsy's flush exactly after
/// its raw samples are gone (the configured thresholds' `upper_N`, `mean_N`, ...,
/// `median`, `std`, sums in Etsy's sorted order, a sampled timer's weighed `count`),
/// from its blob and, after compaction, from the finest archive's chunk; a rollup of
/// several intervals answers from the merged sketch, its `count` the weights summed.
/// Before, `/trend?stat=median` answered the sketch's 1 % (and `count` the samples).
#[test]
fn stored_intervals_keep_etsys_exact_statistics() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = TrendConfig {
        compact_every: Duration::from_secs(86_400),
        percent_thresholds: vec![90_000, -10_000],
        ..TrendConfig::default()
    };
    let store = TrendStore::open(dir.path(), &cfg).unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = Engine::with_clock(EngineConfig::default(), clock.clone()).unwrap();
    store.attach(&engine);
    let mut expected = Vec::new();
    let mut weight_total = 0.0;
    for i in 0..6u64 {
        // Sevenths, whose sums depend on their order; every third sampled at 0.3.
        let vs: Vec<f64> = samples(i + 1, 150 + 20 * usize::try_from(i).unwrap())
            .iter()
            .map(|v| (v * 7.0).round() / 7.0)
            .collect();
        let mut weights = Vec::new();
        let mut b = Batch::new();
        for (j, &v) in vs.iter().enumerate() {
            if j % 3 == 0 {
                b.push(treestat_engine::Update::Weighted {
                    path: "svc,lat".into(),
                    value: v,
                    weight: 1.0 / 0.3,
                });
                weights.push(1.0 / 0.3);
            } else {
                b.sample("svc,lat", v, Some(Action::Histogram));
                weights.push(1.0);
            }
        }
        engine.apply(&b).unwrap();
        weight_total += weights.iter().sum::<f64>();
        expected.push(etsy(&vs, &weights, &[90.0, -10.0]));
        clock.advance(10);
        engine.close_due().unwrap();
    }
    store.sync().unwrap();
    let names: Vec<&str> = expected[0].iter().map(|(n, _)| n.as_str()).collect();
    let stats = p(&names.join(","));
    let check = |store: &TrendStore, when: &str| {
        let s = store
            .stat_series("svc,lat", T0, T0 + 60, 0, &stats)
            .unwrap();
        assert_eq!(s[0].step, 10);
        assert_eq!(s[0].points.len(), 6);
        for ((t, row), want) in s[0].points.iter().zip(&expected) {
            for ((name, w), got) in want.iter().zip(row) {
                // Weighed counts: the fold of one batch may add a run of 1s at once.
                if *name == "count" {
                    let g = got.unwrap();
                    assert!(
                        (g - w).abs() <= 1e-9 * w,
                        "{when} {name} at {t}: {g} vs {w}"
                    );
                    continue;
                }
                assert_eq!(
                    got.map(f64::to_bits),
                    Some(w.to_bits()),
                    "{when}: {name} at {t}: {got:?} vs {w}"
                );
            }
        }
    };
    check(&store, "from the blobs");
    // The minute: six intervals merged, `count` the weights summed, `median` from the
    // sketch (the intervals' exact medians are no longer the minute's).
    let minute = |store: &TrendStore| {
        let s = store
            .stat_series("svc,lat", T0, T0 + 60, 1, &p("count,median"))
            .unwrap();
        assert_eq!(s[0].points.len(), 1);
        let row = &s[0].points[0].1;
        assert!((row[0].unwrap() - weight_total).abs() <= 1e-9 * weight_total);
        let all: Vec<f64> = expected.iter().map(|e| e[5].1).collect();
        assert!(!all.contains(&row[1].unwrap()), "a sketch median");
    };
    minute(&store);
    let st = store.compact_all().unwrap();
    assert_eq!(st.intervals, 6);
    check(&store, "from the chunks");
    minute(&store);
}

/// A quantile fold over series (`api,*|p99,lat` on `/trend`) merges the hosts'
/// sketches per bucket: the p99 of all hosts' samples, never a p99 of their means;
/// before and after compaction.
#[test]
fn a_quantile_fold_over_series_merges_their_sketches() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = TrendConfig {
        compact_every: Duration::from_secs(86_400),
        ..TrendConfig::default()
    };
    let store = TrendStore::open(dir.path(), &cfg).unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = Engine::with_clock(EngineConfig::default(), clock.clone()).unwrap();
    store.attach(&engine);
    let mut unions = Vec::new();
    for i in 0..3u64 {
        let mut b = Batch::new();
        let mut union = Vec::new();
        for h in 0..4u64 {
            let vs = samples(10 * i + h + 1, 50 + 40 * usize::try_from(h).unwrap());
            b.samples(&format!("api,h{h},lat"), &vs, Some(Action::Histogram));
            union.extend(vs);
        }
        engine.apply(&b).unwrap();
        unions.push(union);
        clock.advance(10);
        engine.close_due().unwrap();
    }
    store.sync().unwrap();
    let pattern = treestat_engine::Pattern::parse("api,*|p99,lat").unwrap();
    let check = |store: &TrendStore| {
        let s = store.quantile_fold(&pattern, T0, T0 + 30, 0).unwrap();
        assert_eq!(s.len(), 1);
        assert_eq!(s[0].path, "api,*,lat");
        assert_eq!(s[0].points.len(), 3);
        for ((_, got), union) in s[0].points.iter().zip(&unions) {
            let mut sk = Sketch::new();
            sk.extend(union);
            assert_eq!(*got, q(&sk, union, 0.99));
        }
    };
    check(&store);
    store.compact_all().unwrap();
    check(&store);
}

/// `?stat=` with an aggregating pattern (`api,*|sum,lat`, `api,*|p99,lat`): per bucket
/// the hosts' samples are pooled, so `count` is the sum of counts, `mean` the pooled
/// sum over the pooled count (never a mean of the hosts' means: their counts differ
/// tenfold here), min and max the extremes, and `p99` the p99 of the union's sketch;
/// `|max` folds each stat's column (the worst host's p99). Per interval and over a
/// bucket of several intervals, before and after compaction. (Before: a 400.)
#[test]
fn stat_folds_pool_the_series_samples() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = TrendConfig {
        compact_every: Duration::from_secs(86_400),
        ..TrendConfig::default()
    };
    let store = TrendStore::open(dir.path(), &cfg).unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let engine = Engine::with_clock(EngineConfig::default(), clock.clone()).unwrap();
    store.attach(&engine);
    // per_host[i][h]: interval i's samples of host h.
    let mut per_host: Vec<Vec<Vec<f64>>> = Vec::new();
    for i in 0..3u64 {
        let mut b = Batch::new();
        let mut hosts = Vec::new();
        for h in 0..3u64 {
            let n = [30, 300, 3000][usize::try_from(h).unwrap()];
            let vs: Vec<f64> = samples(100 * i + h + 7, n)
                .into_iter()
                .map(|v| v * (h + 1) as f64)
                .collect();
            b.samples(&format!("api,h{h},lat"), &vs, Some(Action::Histogram));
            hosts.push(vs);
        }
        engine.apply(&b).unwrap();
        per_host.push(hosts);
        clock.advance(10);
        engine.close_due().unwrap();
    }
    store.sync().unwrap();
    let stats = p("count,sum,mean,min,max,p99,p50");
    let pooled = |vs: &[f64]| -> Vec<f64> {
        let mut sk = Sketch::new();
        sk.extend(vs);
        let sum: f64 = vs.iter().sum();
        vec![
            vs.len() as f64,
            sum,
            sum / vs.len() as f64,
            vs.iter().copied().fold(f64::INFINITY, f64::min),
            vs.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            q(&sk, vs, 0.99),
            q(&sk, vs, 0.5),
        ]
    };
    // Sums add in another order: within 1e-12; the rest are exact, but for a compacted
    // bucket's min and max (stats 3, 4), read from its sketch: within its 1 %.
    let close = |got: &[Option<f64>], want: &[f64], what: &str, compacted: bool| {
        assert_eq!(got.len(), want.len());
        for (k, (g, w)) in got.iter().zip(want).enumerate() {
            let g = g.unwrap_or_else(|| panic!("{what}: stat {k} is null"));
            let tol = if compacted && (k == 3 || k == 4) {
                0.01
            } else {
                1e-12
            };
            assert!(
                (g - w).abs() <= tol * w.abs(),
                "{what}: stat {k}: {g} vs {w}"
            );
        }
    };
    let check = |store: &TrendStore, compacted: bool| {
        for pattern in ["api,*|sum,lat", "api,*|p99,lat", "api,h*|sum,lat"] {
            let s = store.stat_series(pattern, T0, T0 + 30, 0, &stats).unwrap();
            assert_eq!(s.len(), 1, "{pattern}");
            assert_eq!(
                s[0].path,
                format!("{},lat", &pattern[..pattern.find('|').unwrap()])
            );
            assert_eq!(s[0].points.len(), 3, "{pattern}");
            for (i, (_, row)) in s[0].points.iter().enumerate() {
                close(
                    row,
                    &pooled(&per_host[i].concat()),
                    &format!("{pattern} at {i}"),
                    compacted,
                );
            }
            // One bucket over the three intervals: the pool of nine sets.
            let s = store.stat_series(pattern, T0, T0 + 30, 1, &stats).unwrap();
            assert_eq!(s[0].points.len(), 1);
            let all: Vec<f64> = per_host.iter().flatten().flatten().copied().collect();
            close(
                &s[0].points[0].1,
                &pooled(&all),
                &format!("{pattern} in one bucket"),
                compacted,
            );
            // Not a mean of the hosts' means.
            let means: f64 = per_host[0]
                .iter()
                .map(|vs| vs.iter().sum::<f64>() / vs.len() as f64)
                .sum::<f64>()
                / 3.0;
            let s = store
                .stat_series(pattern, T0, T0 + 10, 0, &p("mean"))
                .unwrap();
            assert!((s[0].points[0].1[0].unwrap() - means).abs() > 1.0);
        }
        // `|max`: each host's p99 (its own sketch), the largest of them.
        let s = store
            .stat_series("api,*|max,lat", T0, T0 + 30, 0, &p("p99,count"))
            .unwrap();
        assert_eq!(s[0].path, "api,*,lat");
        for (i, (_, row)) in s[0].points.iter().enumerate() {
            let worst = per_host[i]
                .iter()
                .map(|vs| {
                    let mut sk = Sketch::new();
                    sk.extend(vs);
                    q(&sk, vs, 0.99)
                })
                .fold(f64::NEG_INFINITY, f64::max);
            assert_eq!(row[0], Some(worst), "interval {i}");
            assert_eq!(row[1], Some(3000.0));
        }
    };
    check(&store, false);
    store.compact_all().unwrap();
    check(&store, true);
}

/// Etsy's histogram bins over several intervals (`bin_N` answered `null` before): a
/// trend bucket of six intervals (by `points` and in the rolled-up 1 m archive, before
/// and after compaction) and an `/api/q` window of two intervals answer each bin's
/// count summed over the intervals; an interval past the raw bound makes them unknown.
#[test]
fn bins_add_up_over_intervals() {
    let dir = tempfile::tempdir().unwrap();
    let bins = vec![Some(100_000), Some(500_000), None];
    let cfg = TrendConfig {
        compact_every: Duration::from_secs(86_400),
        histogram_bins: vec![("lat".to_string(), bins.clone())],
        ..TrendConfig::default()
    };
    let store = TrendStore::open(dir.path(), &cfg).unwrap();
    let clock = Arc::new(ManualClock::new(T0));
    let mut ecfg = EngineConfig {
        histogram_bins: cfg.histogram_bins.clone(),
        ..EngineConfig::default()
    };
    ecfg.limits.max_histogram_raw = 1000;
    let engine = Engine::with_clock(ecfg, clock.clone()).unwrap();
    store.attach(&engine);
    // Per interval: below 100, 100..500, 500 and above.
    let count = |vs: &[f64]| -> [f64; 3] {
        let mut c = [0.0; 3];
        for &v in vs {
            c[usize::from(v >= 100.0) + usize::from(v >= 500.0)] += 1.0;
        }
        c
    };
    let names = p("bin_100,bin_500,bin_inf");
    let mut per_interval = Vec::new();
    for i in 0..12u64 {
        // The 12th interval holds more samples than the raw bound keeps.
        let n = if i == 11 {
            1500
        } else {
            100 + 20 * usize::try_from(i).unwrap()
        };
        let vs = samples(i + 40, n);
        let mut b = Batch::new();
        b.samples("svc,lat", &vs, Some(Action::Histogram));
        engine.apply(&b).unwrap();
        per_interval.push(count(&vs));
        clock.advance(10);
        engine.close_due().unwrap();
        if i == 1 {
            // The ring's window of the last two intervals.
            let rows = engine.query_window_stats("svc,lat", 20, &names).unwrap();
            let want: Vec<Option<f64>> = (0..3)
                .map(|k| Some(per_interval[0][k] + per_interval[1][k]))
                .collect();
            assert_eq!(rows[0].1, want, "/api/q window of two intervals");
        }
    }
    // A window holding the interval past the raw bound: unknown.
    let rows = engine
        .query_window_stats("svc,lat", 20, &p("count,bin_100,bin_500,bin_inf"))
        .unwrap();
    assert_eq!(rows[0].1, [Some(1500.0 + 300.0), None, None, None]);
    store.sync().unwrap();
    let minute = |m: usize| -> Vec<Option<f64>> {
        (0..3)
            .map(|k| Some(per_interval[m * 6..m * 6 + 6].iter().map(|c| c[k]).sum()))
            .collect()
    };
    let check = |store: &TrendStore| {
        let s = store
            .stat_series("svc,lat", T0, T0 + 120, 2, &names)
            .unwrap();
        assert_eq!(s[0].step, 60);
        assert_eq!(s[0].points[0].1, minute(0), "the first minute");
        assert_eq!(s[0].points[1].1, [None, None, None], "past the raw bound");
        // One interval still answers its own.
        let s = store
            .stat_series("svc,lat", T0, T0 + 10, 0, &names)
            .unwrap();
        let want: Vec<Option<f64>> = per_interval[0].iter().map(|&c| Some(c)).collect();
        assert_eq!(s[0].points[0].1, want);
    };
    check(&store);
    store.compact_all().unwrap();
    check(&store);
    // The rolled-up 1 m archive.
    let s = store
        .stat_series("svc,lat", T0 - 2 * 86_400, T0 + 120, 0, &names)
        .unwrap();
    assert_eq!(s[0].step, 60);
    let got: Vec<_> = s[0].points.iter().filter(|(t, _)| *t >= T0).collect();
    assert_eq!(got[0].1, minute(0), "the rolled-up minute");
}
