//! End-to-end rates against a running broker: how fast the source drains a backlog of
//! Psistats messages into the engine (ack after apply), and how fast the output gets
//! trees confirmed by the broker.
//!
//! `cargo run --release -p treestat-amqp --example throughput -- amqp://guest:guest@127.0.0.1:5672/%2f 20000`

use std::time::{Duration, Instant};

use lapin::options::{BasicPublishOptions, ConfirmSelectOptions};
use lapin::{BasicProperties, Connection, ConnectionProperties};
use serde_json::json;
use tokio_util::sync::CancellationToken;
use treestat_amqp::{AmqpOutput, AmqpOutputConfig, AmqpSource, AmqpSourceConfig};
use treestat_engine::telemetry::Telemetry;
use treestat_engine::{Action, Engine};

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    let mut args = std::env::args().skip(1);
    let url = args.next().ok_or("usage: throughput AMQP_URL [MESSAGES]")?;
    let n: u32 = args.next().map_or(Ok(20_000), |s| s.parse())?;

    let engine = Engine::default();
    let cfg = AmqpSourceConfig {
        exchange: "psistats-throughput".into(),
        queue: "treestat.throughput".into(),
        tree_exchange: "treestat-throughput".into(),
        action: Action::Add,
        max_queue_length: 0,
        ..AmqpSourceConfig::with_url(&url)
    };
    // Declare the queue once, then stop, so the backlog builds up with no consumer.
    let run = |engine: Engine| {
        let telemetry = Telemetry::default();
        let source = AmqpSource::new(cfg.clone(), engine, &telemetry)?;
        let stop = CancellationToken::new();
        let task = tokio::spawn(source.run(stop.clone()));
        Ok::<_, treestat_amqp::Error>((telemetry, stop, task))
    };
    let (t, stop, task) = run(engine.clone())?;
    while t.value("treestat_amqp_connected", &[]) != Some(1.0) {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    stop.cancel();
    task.await?;

    let conn = Connection::connect(&url, ConnectionProperties::default()).await?;
    let ch = conn.create_channel().await?;
    ch.confirm_select(ConfirmSelectOptions::default()).await?;
    let body = br#"{"cpu": [12.5, 3.0, 0.0, 7.8]}"#;
    let started = Instant::now();
    let mut confirms = Vec::new();
    for _ in 0..n {
        let props = BasicProperties::default().with_content_type("application/json".into());
        let c = ch
            .basic_publish(
                "psistats-throughput".into(),
                "psistats.bench".into(),
                BasicPublishOptions::default(),
                body,
                props,
            )
            .await?;
        confirms.push(c);
    }
    for c in confirms {
        c.await?;
    }
    let published = started.elapsed();

    let started = Instant::now();
    let (_t, stop, task) = run(engine.clone())?;
    let want = f64::from(n);
    loop {
        let rows = engine.query("psistats,bench,cpu,0")?;
        if rows.first().is_some_and(|(_, v)| *v >= 12.5 * want) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let drained = started.elapsed();
    stop.cancel();
    task.await?;
    let rate = |d: Duration| want / d.as_secs_f64();
    println!(
        "source: {n} Psistats messages published (confirmed) in {published:.2?}; drained into the engine in {drained:.2?} = {:.0} msg/s",
        rate(drained)
    );

    let out = AmqpOutput::connect(AmqpOutputConfig {
        url: url.clone(),
        exchange: Some("treestat-throughput".into()),
        buffer: usize::try_from(n)?,
        ..AmqpOutputConfig::default()
    })?;
    let tree = json!([{"default_action": "average",
        "cpu": {"bench": {"core0": {"user": 1.0, "idle": 99.0}}},
        "memory": {"bench": {"total": 200.0, "used": 50.0}}}]);
    let started = Instant::now();
    for _ in 0..n {
        out.publish_tree(&tree);
    }
    while out.stats().published < u64::from(n) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    let sent = started.elapsed();
    let stats = tokio::task::spawn_blocking(move || out.close(Duration::from_secs(5))).await?;
    println!(
        "output: {n} JSON trees confirmed by the broker in {sent:.2?} = {:.0} msg/s (dropped {})",
        rate(sent),
        stats.dropped
    );
    // The trees went to the tree exchange, into the source's queue: delete it so a
    // second run starts clean.
    ch.queue_delete(
        "treestat.throughput".into(),
        lapin::options::QueueDeleteOptions::default(),
    )
    .await?;
    let _ = conn.close(200, "done".into()).await;
    Ok(())
}
