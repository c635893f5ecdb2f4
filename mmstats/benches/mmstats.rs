//! Criterion benchmarks of the writer's hot path (a counter increment, a gauge set) and
//! of reading a whole stats file through its mapping.

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use treestat_mmstats::{MmStats, StatsFile};

fn bench(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let mut b = MmStats::builder("bench.");
    let hits = b.counter("hits");
    let load = b.gauge("load");
    for i in 0..20 {
        let _ = b.counter(&format!("extra.counter{i}"));
    }
    let _ = b.text("state", 32);
    let stats = b.create(Some(dir.path())).expect("create");
    let mut hits = stats.handle(hits).expect("handle");
    let mut load = stats.handle(load).expect("handle");

    c.bench_function("counter_inc", |bench| bench.iter(|| hits.inc()));
    c.bench_function("gauge_set", |bench| bench.iter(|| load.set(black_box(0.5))));

    let file = StatsFile::open(stats.path()).expect("open");
    c.bench_function("read_file_28_fields_mapped", |bench| {
        bench.iter(|| black_box(file.read().expect("read")))
    });
    c.bench_function("open_and_read_file_28_fields", |bench| {
        bench.iter(|| black_box(treestat_mmstats::read_file(stats.path()).expect("read")))
    });
}

criterion_group!(benches, bench);
criterion_main!(benches);
