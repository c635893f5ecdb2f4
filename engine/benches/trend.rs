//! Trend store benchmarks (filled in below as the store grows).
use criterion::{Criterion, criterion_group, criterion_main};

fn meta(c: &mut Criterion) {
    let dir = tempfile::tempdir().expect("temp dir");
    let store = treestat_engine::trend::TrendStore::open(dir.path(), &Default::default())
        .expect("open store");
    c.bench_function("trend/meta_put", |b| {
        b.iter(|| store.meta_put("bench/key", b"value").expect("put"));
    });
}

criterion_group!(benches, meta);
criterion_main!(benches);
