//! Trend store benchmarks (`cargo bench -p treestat-engine --bench trend`):
//!
//! - `trend/close_persist_100k`: closing an interval in which 100k leaves were touched
//!   and waiting until its blob is written and flushed by the writer thread;
//!   `trend/close_only_100k` is the part the closing thread pays.
//! - `trend/query_day_1_path` and `trend/query_day_100_paths`: a one-day query at 10 s
//!   over compacted chunks plus the uncompacted tail of interval blobs;
//!   `trend/values_day_100_paths` the same 100 series through the value reader of the
//!   Graphite API (`TrendStore::for_each_value`).
//! - Printed once: bytes on disk per point after compaction (sled directory size), and
//!   a simulated year at 10 s written with the bulk path (`import_compacted`) with its
//!   disk size. `TREND_BENCH_YEAR_SERIES` sets how many series (default 1000; the
//!   figure for 10k series is 10x, every series costs the same).

use std::hint::black_box;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, criterion_group, criterion_main};
use treestat_engine::trend::{TrendConfig, TrendStore};
use treestat_engine::{Action, Batch, Engine, EngineConfig, Limits, ManualClock};

const DAY: i64 = 86_400;
const T_END: i64 = 1_700_006_400; // a multiple of 3600

/// A small deterministic generator (xorshift64*).
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn small(&mut self, n: u64) -> f64 {
        f64::from(u32::try_from(self.next() % n).unwrap_or(0))
    }
}

/// Values shaped like real metrics, by series kind: request counts per interval
/// (integers wandering), a gauge with one decimal, a mostly-constant flag, a ratio with
/// two decimals.
fn values(series: u64, n: usize) -> Vec<f64> {
    let mut r = Rng(series.wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1);
    let mut v = 100.0 + r.small(100);
    (0..n)
        .map(|_| match series % 4 {
            0 => {
                v = (v + r.small(21) - 10.0).max(0.0);
                v
            }
            1 => {
                v = ((v * 10.0 + r.small(11) - 5.0).round()) / 10.0;
                v
            }
            2 => {
                if r.next().is_multiple_of(500) {
                    v += 1.0;
                }
                v
            }
            _ => (r.small(10_000)) / 100.0,
        })
        .collect()
}

fn dir_size(dir: &Path) -> u64 {
    let mut total = 0;
    if let Ok(rd) = std::fs::read_dir(dir) {
        for e in rd.flatten() {
            let Ok(md) = e.metadata() else { continue };
            total += if md.is_dir() {
                dir_size(&e.path())
            } else {
                md.len()
            };
        }
    }
    total
}

fn close_persist(c: &mut Criterion) {
    const LEAVES: usize = 100_000;
    let dir = tempfile::tempdir().expect("temp dir");
    let store = TrendStore::open(dir.path(), &TrendConfig::default()).expect("open");
    let clock = Arc::new(ManualClock::new(T_END));
    let cfg = EngineConfig {
        limits: Limits {
            max_push_nodes: 1_000_000,
            ..Limits::default()
        },
        ..EngineConfig::default()
    };
    let engine = Engine::with_clock(cfg, clock.clone()).expect("engine");
    store.attach(&engine);
    let paths: Vec<String> = (0..LEAVES)
        .map(|i| format!("host{},cpu{},v", i / 100, i % 100))
        .collect();
    let push = |round: u64| {
        let mut b = Batch::new();
        for (i, p) in paths.iter().enumerate() {
            b.sample(
                p,
                f64::from(u32::try_from((i as u64 + round) % 1000).unwrap_or(0)),
                None,
            );
        }
        engine.apply(&b).expect("push");
    };
    let mut round = 0;
    let mut group = c.benchmark_group("trend");
    group.sample_size(10);
    group.bench_function("close_persist_100k", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                round += 1;
                push(round);
                clock.advance(10);
                let t = Instant::now();
                let closed = engine.close_now();
                store.sync().expect("sync");
                spent += t.elapsed();
                assert_eq!(closed.points.len(), LEAVES);
            }
            spent
        });
    });
    group.bench_function("close_only_100k", |b| {
        b.iter_custom(|iters| {
            let mut spent = Duration::ZERO;
            for _ in 0..iters {
                round += 1;
                push(round);
                clock.advance(10);
                let t = Instant::now();
                black_box(engine.close_now());
                spent += t.elapsed();
                store.sync().expect("sync");
            }
            spent
        });
    });
    group.finish();
    // What the background compactor then pays for those intervals (one pass each,
    // as it would run every `compact_every`).
    let t = Instant::now();
    let st = store.compact_all().expect("compact");
    println!(
        "trend/compact_100k: folded {} intervals of {LEAVES} leaves into {} chunks in {:.2} s",
        st.intervals,
        st.chunks_written,
        t.elapsed().as_secs_f64()
    );
}

/// 100 series: one day at 10 s compacted, then 60 intervals (10 minutes) still in
/// interval blobs, as a running server has them.
fn query_store(dir: &Path) -> TrendStore {
    let store = TrendStore::open(dir, &TrendConfig::default()).expect("open");
    let start = T_END - DAY;
    for s in 0..100u64 {
        let vals = values(s, usize::try_from(DAY / 10).unwrap_or(0));
        let samples: Vec<(i64, f64)> = vals
            .iter()
            .enumerate()
            .map(|(i, &v)| (start + i64::try_from(i).unwrap_or(0) * 10, v))
            .collect();
        store
            .import_compacted(&format!("bench,s{s:03}"), Action::Average, &samples)
            .expect("import");
    }
    let clock = Arc::new(ManualClock::new(T_END));
    let engine = Engine::with_clock(EngineConfig::default(), clock.clone()).expect("engine");
    store.attach(&engine);
    for i in 0..60 {
        let mut b = Batch::new();
        for s in 0..100 {
            b.sample(
                &format!("bench,s{s:03}"),
                f64::from(i + s),
                Some(Action::Average),
            );
        }
        engine.apply(&b).expect("push");
        clock.advance(10);
        engine.close_due().expect("due");
    }
    store.sync().expect("sync");
    store
}

fn queries(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = query_store(dir.path());
    let newest = store.newest().expect("newest");
    let one = store
        .series("bench,s042", newest - DAY, newest, 0)
        .expect("query");
    assert_eq!(one[0].step, 10);
    assert!(one[0].points.len() > 8000);
    let mut group = c.benchmark_group("trend");
    group.bench_function("query_day_1_path", |b| {
        b.iter(|| {
            black_box(
                store
                    .series("bench,s042", newest - DAY, newest, 0)
                    .expect("query"),
            )
        });
    });
    group.bench_function("query_day_100_paths", |b| {
        b.iter(|| {
            let s = store
                .series("bench,*", newest - DAY, newest, 0)
                .expect("query");
            assert_eq!(s.len(), 100);
            black_box(s)
        });
    });
    let paths: Vec<String> = (0..100).map(|s| format!("bench,s{s:03}")).collect();
    let paths: Vec<&str> = paths.iter().map(String::as_str).collect();
    group.bench_function("values_day_100_paths", |b| {
        b.iter(|| {
            let mut sum = 0.0;
            let mut n = 0usize;
            store
                .for_each_value(&paths, newest - DAY, newest, |_, _, x| {
                    sum += x;
                    n += 1;
                })
                .expect("values");
            assert!(n > 800_000);
            black_box(sum)
        });
    });
    group.bench_function("query_day_100_paths_800_points", |b| {
        b.iter(|| {
            black_box(
                store
                    .series("bench,*", newest - DAY, newest, 800)
                    .expect("query"),
            )
        });
    });
    group.finish();
}

/// Writes `series` series of `secs` seconds at 10 s ending at `T_END` with the bulk
/// path; returns (seconds taken, bytes on disk, points written).
fn bulk(dir: &Path, series: u64, secs: i64) -> (f64, u64, u64) {
    let t = Instant::now();
    let store = TrendStore::open(dir, &TrendConfig::default()).expect("open");
    let n = usize::try_from(secs / 10).unwrap_or(0);
    let start = T_END - secs;
    let mut points = 0;
    for s in 0..series {
        let samples: Vec<(i64, f64)> = values(s, n)
            .into_iter()
            .enumerate()
            .map(|(i, v)| (start + i64::try_from(i).unwrap_or(0) * 10, v))
            .collect();
        points += store
            .import_compacted(
                &format!("sim,host{:03},m{s}", s / 10),
                Action::Average,
                &samples,
            )
            .expect("import");
    }
    store.compact_now().expect("compact");
    store.flush().expect("flush");
    println!("trend/usage: {:?}", store.usage().expect("usage"));
    drop(store);
    (t.elapsed().as_secs_f64(), dir_size(dir), points)
}

fn disk(_c: &mut Criterion) {
    // One day at 10 s: every point lands in the 10 s archive (and rolled up in the
    // 1 m and 10 m ones: 1 + 1/6 + 1/60 stored points per raw point).
    let dir = tempfile::tempdir().expect("temp dir");
    let (secs, bytes, points) = bulk(dir.path(), 1000, DAY);
    #[allow(clippy::cast_precision_loss)] // figures for people
    let (b, p) = (bytes as f64, points as f64);
    println!(
        "trend/disk_day: 1000 series x 1 day at 10 s = {points} points in {secs:.1} s; sled dir {bytes} bytes = {:.2} bytes per raw point, {:.2} per stored point (all archives)",
        b / p,
        b / (p * (1.0 + 1.0 / 6.0 + 1.0 / 60.0))
    );
    let series: u64 = std::env::var("TREND_BENCH_YEAR_SERIES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1000);
    let dir = tempfile::tempdir().expect("temp dir");
    let (secs, bytes, points) = bulk(dir.path(), series, 365 * DAY);
    #[allow(clippy::cast_precision_loss)] // figures for people
    let kept = (series * (8640 + 43_200 + 52_560)) as f64;
    #[allow(clippy::cast_precision_loss)]
    let b = bytes as f64;
    println!(
        "trend/disk_year: {series} series x 1 year at 10 s = {points} samples written in {secs:.1} s; sled dir {bytes} bytes ({:.1} MB), {:.2} bytes per retained point (10s:1d,1m:30d,10m:1y)",
        b / 1e6,
        b / kept
    );
}

criterion_group!(benches, close_persist, queries, disk);
criterion_main!(benches);
