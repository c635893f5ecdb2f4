//! Histogram leaves (issue 15, acceptance 3): samples merged per second on one core
//! when a batch brings them folded per leaf (`Update::Samples`, as the line protocols
//! fold), sampled StatsD timer samples (`|ms|@0.1`) one by one as `Update::Weighted`
//! against folded per leaf as `Update::WeightedSamples`, the quantile fold
//! `api,*|p99,latency` over 10,000 leaves, and the bytes a
//! histogram leaf holds in memory and its interval sketch takes encoded.
//!
//! `cargo bench -p treestat-engine --bench histogram`

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use treestat_engine::histogram::{Hist, IntervalHist};
use treestat_engine::sketch::Sketch;
use treestat_engine::{Action, Batch, Engine, EngineConfig, Update};

/// Latency-like samples in milliseconds: log-normal around 20 ms (a seeded xorshift
/// and Box-Muller, so every run measures the same numbers).
fn latencies(n: usize, seed: u64) -> Vec<f64> {
    let mut x = seed | 1;
    let mut uniform = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        #[allow(clippy::cast_precision_loss)]
        let u = (x >> 11) as f64 / (1u64 << 53) as f64;
        u.max(1e-12)
    };
    (0..n)
        .map(|_| {
            let z = (-2.0 * uniform().ln()).sqrt() * (std::f64::consts::TAU * uniform()).cos();
            (3.0 + 1.2 * z).exp()
        })
        .collect()
}

fn engine() -> Engine {
    Engine::new(EngineConfig {
        pull_log: 0,
        ..EngineConfig::default()
    })
    .unwrap()
}

/// Bytes per histogram leaf, printed once: the tree's heap with 10,000 histogram
/// leaves against the same leaves as `average`, and the encoded interval sketch.
fn report_bytes() {
    let vs = latencies(1000, 7);
    let leaves = 10_000;
    let mut sizes = Vec::new();
    for action in [Action::Average, Action::Histogram] {
        let e = engine();
        let mut b = Batch::new();
        for h in 0..leaves {
            b.samples(&format!("api,h{h:05},latency"), &vs, Some(action));
        }
        e.apply(&b).unwrap();
        sizes.push(e.stats().tree_bytes);
    }
    let per_leaf = (sizes[1] - sizes[0]) / leaves;
    let mut ih = IntervalHist::default();
    let mut total = Hist::default();
    for &v in &vs {
        ih.add(v, 8192);
        total.add(v);
    }
    let mut enc = Vec::new();
    ih.hist.sketch.encode(&mut enc);
    let wide = latencies(100_000, 11);
    let mut s = Sketch::new();
    s.extend(&wide);
    let mut enc_wide = Vec::new();
    s.encode(&mut enc_wide);
    println!(
        "histogram leaf, 1000 log-normal samples: +{per_leaf} B in the tree's heap per leaf \
         (totals sketch, {} buckets); open interval +{} B (sketch and 1000 raw samples); \
         interval sketch encoded {} B (100k samples: {} buckets, {} B)",
        total.sketch.buckets().count(),
        ih.bytes(),
        enc.len(),
        s.buckets().count(),
        enc_wide.len()
    );
}

/// This thread's CPU seconds (user + system) from /proc: the machine is shared, and
/// wall time under a load of 10 on 2 cores says little about the code.
fn thread_cpu_secs() -> f64 {
    let stat = std::fs::read_to_string("/proc/thread-self/stat").unwrap_or_default();
    // Fields after the command's closing parenthesis; utime and stime are 14 and 15.
    let rest = stat.rsplit_once(')').map_or("", |r| r.1);
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11).and_then(|t| t.parse().ok()).unwrap_or(0)
        + f.get(12).and_then(|t| t.parse().ok()).unwrap_or(0);
    #[allow(clippy::cast_precision_loss)]
    let secs = ticks as f64 / 100.0;
    secs
}

/// Runs `f` until it has used 5 CPU seconds and returns CPU seconds per call.
fn cpu_per_call(mut f: impl FnMut()) -> f64 {
    f();
    let start = thread_cpu_secs();
    let mut n = 0u32;
    while thread_cpu_secs() - start < 5.0 {
        f();
        n += 1;
    }
    (thread_cpu_secs() - start) / f64::from(n)
}

fn benches(c: &mut Criterion) {
    report_bytes();
    let mut g = c.benchmark_group("histogram");
    // 64 leaves x 16,384 samples = 1,048,576 samples per batch, one interval each.
    let per_leaf = 16_384;
    let leaves = 64;
    let mut batch = Batch::new();
    for l in 0..leaves {
        batch.samples(
            &format!("svc,api{l:02},latency"),
            &latencies(per_leaf, 1 + l as u64),
            Some(Action::Histogram),
        );
    }
    g.throughput(Throughput::Elements((per_leaf * leaves) as u64));
    let e = engine();
    let cpu = cpu_per_call(|| {
        e.apply(&batch).unwrap();
        e.close_now();
    });
    #[allow(clippy::cast_precision_loss)]
    let rate = (per_leaf * leaves) as f64 / cpu / 1e6;
    println!("CPU time: {rate:.1} M samples/s (1M samples per batch and interval)");
    // Sampled timer lines (rate 0.1): the same 1M samples as weighted updates, one per
    // sample (how the listeners handed them over before) and folded per leaf (now).
    let mut one_by_one = Batch::new();
    let mut folded = Batch::new();
    for l in 0..leaves {
        let path = format!("svc,api{l:02},sampled");
        let vs = latencies(per_leaf, 1 + l as u64);
        for &value in &vs {
            one_by_one.push(Update::Weighted {
                path: path.clone(),
                value,
                weight: 10.0,
            });
        }
        folded.push(Update::WeightedSamples {
            path,
            samples: vs.iter().map(|&v| (v, 10.0)).collect(),
        });
    }
    for (name, batch) in [
        ("one Update::Weighted per sample", &one_by_one),
        ("folded per leaf (Update::WeightedSamples)", &folded),
    ] {
        let e = engine();
        let cpu = cpu_per_call(|| {
            e.apply(batch).unwrap();
            e.close_now();
        });
        #[allow(clippy::cast_precision_loss)]
        let rate = (per_leaf * leaves) as f64 / cpu / 1e6;
        println!(
            "CPU time: sampled timers, {name}: {rate:.1} M samples/s (1M per batch and interval)"
        );
    }
    let e = engine();
    g.bench_function(
        "apply 1M sampled timer samples folded per leaf, then close",
        |b| {
            b.iter(|| {
                e.apply(&folded).unwrap();
                e.close_now();
            });
        },
    );
    drop((one_by_one, folded));
    let e = engine();
    g.bench_function("apply 1M samples folded per leaf, then close", |b| {
        b.iter(|| {
            e.apply(&batch).unwrap();
            e.close_now();
        });
    });
    let e = engine();
    g.bench_function("apply 1M samples folded per leaf, raw bound passed", |b| {
        b.iter(|| e.apply(&batch).unwrap());
    });
    // The fold over 10,000 leaves of 200 samples each.
    let e = engine();
    let mut b = Batch::new();
    for h in 0..10_000u64 {
        b.samples(
            &format!("api,h{h:05},latency"),
            &latencies(200, 100 + h),
            Some(Action::Histogram),
        );
    }
    e.apply(&b).unwrap();
    for pattern in [
        "api,*|p99,latency",
        "api,*|sum,latency",
        "api,*,latency|p99",
    ] {
        let cpu = cpu_per_call(|| {
            e.query(pattern).unwrap();
        });
        println!("CPU time: {pattern} over 10k leaves: {:.1} ms", cpu * 1e3);
    }
    g.throughput(Throughput::Elements(10_000));
    g.sample_size(20);
    g.bench_function("api,*|p99,latency over 10k leaves", |b| {
        b.iter(|| {
            let rows = e.query("api,*|p99,latency").unwrap();
            assert_eq!(rows.len(), 1);
        });
    });
    g.bench_function(
        "api,*|sum,latency over 10k leaves (the fold without sketches)",
        |b| {
            b.iter(|| {
                let rows = e.query("api,*|sum,latency").unwrap();
                assert_eq!(rows.len(), 1);
            });
        },
    );
    g.bench_function("api,*,latency|p99 over 10k leaves (per host)", |b| {
        b.iter(|| {
            let rows = e.query("api,*,latency|p99").unwrap();
            assert_eq!(rows.len(), 10_000);
        });
    });
    g.finish();
}

criterion_group!(histogram, benches);
criterion_main!(histogram);
