//! Cost of the pure halves: a Psistats message into a batch (per message the source
//! receives), a batch applied to the engine, and an agent tree into Psistats messages.

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use serde_json::json;
use treestat_amqp::{encode, psistats};
use treestat_engine::{Action, Engine};

fn decode(c: &mut Criterion) {
    let cpu = br#"{"cpu": [12.5, 3.0, 0.0, 7.8, 1.0, 2.0, 3.0, 4.0]}"#;
    let sensors = br#"{"sensors": {"Core 0": {"value": 48.0, "unit": "C"}, "Core 1": {"value": 47.0, "unit": "C"}}}"#;
    let mut g = c.benchmark_group("psistats_to_batch");
    g.throughput(Throughput::Elements(1));
    g.bench_function("cpu_8_cores", |b| {
        b.iter(|| psistats::to_batch("web1", cpu, Action::Average, None).unwrap())
    });
    g.bench_function("sensors_2", |b| {
        b.iter(|| psistats::to_batch("web1", sensors, Action::Average, None).unwrap())
    });
    let engine = Engine::default();
    g.bench_function("cpu_8_cores_decode_and_apply", |b| {
        b.iter(|| {
            let batch = psistats::to_batch("web1", cpu, Action::Average, None).unwrap();
            engine.apply(&batch).unwrap()
        })
    });
    g.finish();
}

fn encode_tree(c: &mut Criterion) {
    let cores: serde_json::Map<String, serde_json::Value> = (0..8)
        .map(|n| {
            (
                format!("core{n}"),
                json!({"user": 10.0, "idle": 80.0, "iowait": 1.0}),
            )
        })
        .collect();
    let tree = json!([
        {"default_action": "average",
         "cpu": {"h1": cores},
         "memory": {"h1": {"total": 200.0, "used": 50.0}},
         "disk": {"h1": {"/": {"used_percent": 41.0}, "/home": {"used_percent": 7.0}}},
         "temperature": {"h1": {"coretemp": {"Core 0": 48.0, "Core 1": 47.0}}}},
        {"default_action": "last", "ip": {"h1": {"eth0": "10.0.0.5"}}}
    ]);
    c.bench_function("agent_tree_to_psistats_messages", |b| {
        b.iter(|| encode::psistats_messages(&tree))
    });
}

criterion_group!(benches, decode, encode_tree);
criterion_main!(benches);
