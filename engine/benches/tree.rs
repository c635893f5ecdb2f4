//! Hot paths of the tree (issue 2, acceptance 7): merging a 20-leaf push into a 1M-leaf
//! tree, a literal query of one leaf, and a one-level wildcard over 1M leaves.
//!
//! `cargo bench -p treestat-engine --bench tree`

use std::hint::black_box;

use criterion::{BatchSize, Criterion, Throughput, criterion_group, criterion_main};
use treestat_engine::{Engine, EngineConfig, PushDoc};

const HOSTS: usize = 1000;
const METRICS: usize = 1000;

/// `10.3.<h/250>.<h%250>` hosts, each with `metric000`..`metric999`: 1M leaves.
fn big_engine() -> Engine {
    let cfg = EngineConfig {
        pull_log: 0,
        ..EngineConfig::default()
    };
    let e = Engine::new(cfg).unwrap();
    for h in 0..HOSTS {
        let mut doc = format!(r#"{{"default_action":"add","{}":{{"#, host(h));
        for m in 0..METRICS {
            if m > 0 {
                doc.push(',');
            }
            doc.push_str(&format!(r#""metric{m:03}":{m}"#));
        }
        doc.push_str("}}");
        e.push_json(doc.as_bytes()).unwrap();
    }
    assert_eq!(e.stats().leaves, HOSTS * METRICS);
    e
}

fn host(h: usize) -> String {
    format!("10.3.{}.{}", h / 250, h % 250)
}

fn twenty_leaf_push(h: usize) -> String {
    let mut doc = format!(r#"{{"{}":{{"#, host(h));
    for m in 0..20 {
        if m > 0 {
            doc.push(',');
        }
        doc.push_str(&format!(r#""metric{:03}":{m}"#, m * 37 % METRICS));
    }
    doc.push_str("}}");
    doc
}

fn benches(c: &mut Criterion) {
    let e = big_engine();
    let docs: Vec<String> = (0..64).map(|i| twenty_leaf_push(i * 13 % HOSTS)).collect();
    let parsed: Vec<PushDoc> = docs
        .iter()
        .map(|d| PushDoc::from_json(d.as_bytes(), 32).unwrap())
        .collect();

    let mut g = c.benchmark_group("merge_1M");
    g.throughput(Throughput::Elements(20));
    let mut i = 0;
    g.bench_function("merge_20_leaves_parsed", |b| {
        b.iter(|| {
            i = (i + 1) % parsed.len();
            black_box(e.push_doc(&parsed[i]).unwrap())
        })
    });
    g.bench_function("parse_and_merge_20_leaves", |b| {
        b.iter(|| {
            i = (i + 1) % docs.len();
            black_box(e.push_json(docs[i].as_bytes()).unwrap())
        })
    });
    g.finish();

    let mut g = c.benchmark_group("query_1M");
    g.bench_function("literal_one_leaf", |b| {
        b.iter(|| black_box(e.query(black_box("10.3.2.117,metric500")).unwrap()))
    });
    g.sample_size(20);
    g.bench_function("wildcard_one_level", |b| {
        b.iter(|| black_box(e.query(black_box(",metric500")).unwrap()))
    });
    g.bench_function("aggregate_sum_over_hosts", |b| {
        b.iter(|| black_box(e.query(black_box("*|sum,metric500")).unwrap()))
    });
    g.finish();

    let mut g = c.benchmark_group("build");
    g.sample_size(10);
    g.bench_function("fresh_tree_1000_leaves_per_push", |b| {
        b.iter_batched(
            Engine::default,
            |fresh| {
                let mut doc = String::from(r#"{"h":{"#);
                for m in 0..1000 {
                    if m > 0 {
                        doc.push(',');
                    }
                    doc.push_str(&format!(r#""m{m}":1"#));
                }
                doc.push_str("}}");
                fresh.push_json(doc.as_bytes()).unwrap()
            },
            BatchSize::LargeInput,
        )
    });
    g.finish();
}

criterion_group!(tree, benches);
criterion_main!(tree);
