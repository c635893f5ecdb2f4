//! Python module call overhead: one collection of a gmond module (the channel round trip
//! to the Python thread, taking the GIL, the callbacks, coercion) against the number of
//! metrics it has.

use std::collections::BTreeMap;
use std::path::PathBuf;

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};
use treestat_agent::module::Module;
use treestat_agent::python::PythonHost;

fn module_with(n: usize, dir: &std::path::Path) -> PathBuf {
    let path = dir.join(format!("m{n}.py"));
    std::fs::write(
        &path,
        format!(
            "def cb(name):\n    return 42.5\n\
             def metric_init(params):\n    return [{{'name': 'm%d' % i, 'call_back': cb, \
             'value_type': 'float'}} for i in range({n})]\n"
        ),
    )
    .expect("writing the bench module");
    path
}

fn bench(c: &mut Criterion) {
    let host = PythonHost::start().expect("python thread");
    let dir = tempfile::tempdir().expect("temp dir");
    let mut group = c.benchmark_group("python_collect");
    for n in [1usize, 10, 100] {
        let path = module_with(n, dir.path());
        let mut m = host
            .load(&format!("m{n}"), &path, BTreeMap::new())
            .expect("loading the bench module");
        group.bench_with_input(BenchmarkId::from_parameter(n), &n, |b, _| {
            b.iter(|| m.collect());
        });
    }
    group.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
