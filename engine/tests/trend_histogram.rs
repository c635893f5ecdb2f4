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
