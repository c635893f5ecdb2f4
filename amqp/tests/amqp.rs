//! The source and the output against a real RabbitMQ (issue 9, acceptance 4 and 5):
//! Psistats messages published as the original client does reach the tree; a consumer
//! that stops while messages wait in its queue loses none; the output in Psistats format
//! is consumed back by the source. One broker serves every test here; each test has its
//! own exchanges and queue. The broker restart is in `broker_restart.rs`.

mod common;

use std::time::Duration;

use serde_json::json;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;
use treestat_amqp::{AmqpOutput, AmqpOutputConfig, AmqpSource, AmqpSourceConfig, OutputFormat};
use treestat_engine::telemetry::Telemetry;
use treestat_engine::{Action, Engine};

use common::{PsistatsClient, broker, publish, queued, wait_for, wait_until};

/// A running source and its counters.
struct Running {
    shutdown: CancellationToken,
    task: JoinHandle<()>,
    telemetry: Telemetry,
}

impl Running {
    async fn start(cfg: AmqpSourceConfig, engine: &Engine) -> Running {
        let telemetry = Telemetry::default();
        let source = AmqpSource::new(cfg, engine.clone(), &telemetry).expect("valid config");
        let shutdown = CancellationToken::new();
        let task = tokio::spawn(source.run(shutdown.clone()));
        let t = telemetry.clone();
        wait_until("the source consumes", || {
            t.value("treestat_amqp_connected", &[]) == Some(1.0)
        })
        .await;
        Running {
            shutdown,
            task,
            telemetry,
        }
    }

    fn rejects(&self, reason: &str) -> f64 {
        self.telemetry
            .value("treestat_amqp_rejects_total", &[("reason", reason)])
            .unwrap_or(0.0)
    }

    async fn stop(self) {
        self.shutdown.cancel();
        self.task.await.expect("source task ends cleanly");
    }
}

fn source_cfg(url: &str, name: &str) -> AmqpSourceConfig {
    AmqpSourceConfig {
        exchange: format!("psistats-{name}"),
        queue: format!("treestat.test-{name}"),
        tree_exchange: format!("treestat-{name}"),
        reconnect_min: Duration::from_millis(100),
        reconnect_max: Duration::from_secs(1),
        ..AmqpSourceConfig::with_url(url)
    }
}

fn value(engine: &Engine, path: &str) -> Option<f64> {
    let rows = engine.query(path).expect("pattern parses");
    rows.iter().find(|(p, _)| p == path).map(|(_, v)| *v)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn psistats_messages_appear_under_the_host() {
    let Some(b) = broker() else { return };
    let url = b.url();
    let engine = Engine::default();
    // The real names: exchange `psistats`, binding `psistats.#`.
    let cfg = AmqpSourceConfig {
        exchange: "psistats".into(),
        binding_key: "psistats.#".into(),
        ..source_cfg(&url, "accept")
    };
    let src = Running::start(cfg, &engine).await;
    let client = PsistatsClient::connect(&url, "psistats", "web1").await;
    for body in [
        r#"{"cpu": [12.5, 3.0, 0.0, 7.8]}"#,
        r#"{"mem": 34.1}"#,
        r#"{"ipaddr": {"eth0": "10.0.0.5"}}"#,
        r#"{"hddspace": {"/": 41.0}}"#,
        r#"{"hddtemps": {"/dev/sda": {"value": "35", "unit": "C"}}}"#,
        r#"{"sensors": {"Core 0": {"value": 48.0, "unit": "C"}}}"#,
        "{not json",
        "[1, 2]",
    ] {
        client.send(body).await;
    }
    publish(
        &client.channel,
        "treestat-accept",
        "treestat.web1",
        r#"{"load": {"web1": {"1m": 0.5}}}"#,
    )
    .await;

    wait_until("eight leaves, the tree and both rejects", || {
        engine.query("psistats,web1").unwrap().len() == 8
            && value(&engine, "load,web1,1m").is_some()
            && src.rejects("not_json") + src.rejects("not_object") == 2.0
    })
    .await;
    let rows = engine.query("psistats,web1").unwrap();
    let expect = [
        ("psistats,web1,cpu,0", 12.5),
        ("psistats,web1,cpu,1", 3.0),
        ("psistats,web1,cpu,2", 0.0),
        ("psistats,web1,cpu,3", 7.8),
        ("psistats,web1,hddspace,/", 41.0),
        ("psistats,web1,hddtemps,/dev/sda", 35.0),
        ("psistats,web1,mem", 34.1),
        ("psistats,web1,sensors,Core 0", 48.0),
    ];
    let expect: Vec<(String, f64)> = expect.iter().map(|(p, v)| (p.to_string(), *v)).collect();
    assert_eq!(rows, expect);
    let markers = engine.markers("psistats,web1", 0).unwrap();
    assert_eq!(markers.len(), 1);
    assert_eq!(markers[0].path, "psistats,web1,ipaddr,eth0");
    assert_eq!(markers[0].text, "10.0.0.5");
    assert_eq!(src.rejects("not_json"), 1.0);
    assert_eq!(src.rejects("not_object"), 1.0);
    assert_eq!(value(&engine, "load,web1,1m"), Some(0.5));
    src.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopped_consumer_loses_nothing_that_waits_in_its_queue() {
    let Some(b) = broker() else { return };
    let url = b.url();
    let engine = Engine::default();
    // `add` makes the leaf a count of the messages applied.
    let cfg = AmqpSourceConfig {
        action: Action::Add,
        ..source_cfg(&url, "restart")
    };
    let queue = cfg.queue.clone();
    let src = Running::start(cfg.clone(), &engine).await;
    let client = PsistatsClient::connect(&url, "psistats-restart", "h2").await;
    for _ in 0..10 {
        client.send(r#"{"beats": 1}"#).await;
    }
    wait_until("ten beats", || {
        value(&engine, "psistats,h2,beats") == Some(10.0)
    })
    .await;
    src.stop().await;

    for _ in 0..15 {
        client.send(r#"{"beats": 1}"#).await;
    }
    // They wait in the stopped server's queue.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while queued(&url, &queue).await != 15 {
        assert!(std::time::Instant::now() < deadline, "15 messages queued");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    assert_eq!(value(&engine, "psistats,h2,beats"), Some(10.0));

    let src = Running::start(cfg, &engine).await;
    wait_until("all 25 beats", || {
        value(&engine, "psistats,h2,beats") == Some(25.0)
    })
    .await;
    assert_eq!(queued(&url, &queue).await, 0);
    assert_eq!(
        src.telemetry
            .value("treestat_amqp_messages_total", &[("format", "psistats")]),
        Some(15.0)
    );
    src.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_output_in_psistats_format_is_consumed_back_by_the_source() {
    let Some(b) = broker() else { return };
    let url = b.url();
    let engine = Engine::default();
    let src = Running::start(source_cfg(&url, "e2e"), &engine).await;

    let out = AmqpOutput::connect(AmqpOutputConfig {
        url: url.clone(),
        format: OutputFormat::Psistats,
        exchange: Some("psistats-e2e".into()),
        reconnect_min: Duration::from_millis(100),
        ..AmqpOutputConfig::default()
    })
    .expect("output starts");
    // The agent's tree: one tree per action, each with its default_action.
    let tree = json!([
        {"default_action": "average",
         "cpu": {"agent1": {
             "core0": {"user": 10.0, "idle": 80.0, "iowait": 5.0},
             "core1": {"user": 1.0, "idle": 99.0}}},
         "memory": {"agent1": {"total": 200.0, "used": 50.0}},
         "disk": {"agent1": {"/": {"used_percent": 41.0}}},
         "temperature": {"agent1": {"coretemp": {"Core 0": 48.0}}},
         "load": {"agent1": {"1m": 0.5}}},
        {"default_action": "last", "ip": {"agent1": {"eth0": "10.0.0.5"}}}
    ]);
    assert_eq!(out.publish_tree(&tree), 6);

    let json_out = AmqpOutput::connect(AmqpOutputConfig {
        url: url.clone(),
        exchange: Some("treestat-e2e".into()),
        ..AmqpOutputConfig::default()
    })
    .expect("json output starts");
    json_out.publish_tree(&json!([{"default_action": "last",
                                   "uptime": {"agent1": {"seconds": 5}}}]));

    wait_until("every reporter and the JSON tree", || {
        engine.query("psistats,agent1").unwrap().len() == 6
            && value(&engine, "uptime,agent1,seconds").is_some()
            && !engine.markers("psistats,agent1", 0).unwrap().is_empty()
    })
    .await;
    let rows = engine.query("psistats,agent1").unwrap();
    let expect = [
        ("psistats,agent1,cpu,0", 15.0),
        ("psistats,agent1,cpu,1", 1.0),
        ("psistats,agent1,hddspace,/", 41.0),
        ("psistats,agent1,load,1m", 0.5),
        ("psistats,agent1,mem", 25.0),
        ("psistats,agent1,sensors,coretemp Core 0", 48.0),
    ];
    let expect: Vec<(String, f64)> = expect.iter().map(|(p, v)| (p.to_string(), *v)).collect();
    assert_eq!(rows, expect);
    let markers = engine.markers("psistats,agent1", 0).unwrap();
    assert_eq!(markers[0].path, "psistats,agent1,ipaddr,eth0");
    assert_eq!(markers[0].text, "10.0.0.5");
    assert_eq!(value(&engine, "uptime,agent1,seconds"), Some(5.0));

    let (a, j) = tokio::task::spawn_blocking(move || {
        (
            out.close(Duration::from_secs(10)),
            json_out.close(Duration::from_secs(10)),
        )
    })
    .await
    .unwrap();
    assert_eq!((a.published, a.buffered, a.dropped), (6, 0, 0));
    assert_eq!((j.published, j.buffered, j.dropped), (1, 0, 0));
    src.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_push_the_engine_refuses_is_rejected_and_counted() {
    let Some(b) = broker() else { return };
    let url = b.url();
    let engine = Engine::default();
    let cfg = AmqpSourceConfig {
        max_message_bytes: 64,
        ..source_cfg(&url, "refuse")
    };
    // This time the Psistats client declares the exchange before the server does.
    let client = PsistatsClient::connect(&url, "psistats-refuse", "h3").await;
    let src = Running::start(cfg, &engine).await;
    // A tree with a control character in a key, a body over 64 bytes, a routing key
    // without a host: each rejected; then a good message.
    publish(
        &client.channel,
        "treestat-refuse",
        "x",
        r#"{"a\u0001b": 1}"#,
    )
    .await;
    client
        .send(&format!(r#"{{"big": "{}"}}"#, "x".repeat(100)))
        .await;
    publish(
        &client.channel,
        "psistats-refuse",
        "psistats",
        r#"{"mem": 1}"#,
    )
    .await;
    client.send(r#"{"mem": 2}"#).await;
    wait_until("three rejects and one good message", || {
        src.rejects("bad_key") == 1.0
            && src.rejects("too_large") == 1.0
            && src.rejects("routing_key") == 1.0
            && value(&engine, "psistats,h3,mem") == Some(2.0)
    })
    .await;
    assert_eq!(
        queued(&url, "treestat.test-refuse").await,
        0,
        "none requeued"
    );
    src.stop().await;
}

/// Sharded output: a message no shard queue takes yet is returned (mandatory) and stays
/// in the buffer instead of being confirmed into nothing; once a shard is up, each key's
/// message reaches it exactly once (`add` values: a duplicate would double them).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sharded_messages_wait_for_a_shard_and_arrive_once() {
    let Some(b) = broker() else { return };
    let url = b.url();
    let exchange = "treestat.shards.unroutable";
    let out = AmqpOutput::connect(AmqpOutputConfig {
        url: url.clone(),
        sharded: true,
        exchange: Some(exchange.into()),
        reconnect_min: Duration::from_millis(50),
        reconnect_max: Duration::from_millis(200),
        ..AmqpOutputConfig::default()
    })
    .unwrap();
    let n =
        out.publish_tree(&json!({"default_action": "add", "a": {"x": 1}, "b": {"y": 2}, "c": 3}));
    assert_eq!(n, 3, "one message per top-level key");
    // The output has connected and declared the exchange, and tries (and is refused)
    // every backoff; give it a few rounds with no queue bound.
    let deadline = std::time::Instant::now() + Duration::from_secs(60);
    while !exchange_exists(&url, exchange).await {
        assert!(
            std::time::Instant::now() < deadline,
            "the output never declared"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let s = out.stats();
    assert_eq!(
        (s.published, s.buffered, s.dropped),
        (0, 3, 0),
        "kept, not lost"
    );
    let engine = Engine::default();
    let src = Running::start(
        AmqpSourceConfig {
            shard: "s1".into(),
            shard_exchange: exchange.into(),
            reconnect_min: Duration::from_millis(100),
            reconnect_max: Duration::from_secs(1),
            ..AmqpSourceConfig::with_url(&url)
        },
        &engine,
    )
    .await;
    wait_for("the three messages, applied", || {
        let seen = (
            value(&engine, "a,x"),
            value(&engine, "b,y"),
            value(&engine, "c"),
            out.stats(),
        );
        match seen {
            (Some(1.0), Some(2.0), Some(3.0), s) if s.published == 3 => Ok(()),
            other => Err(format!("{other:?}")),
        }
    })
    .await;
    assert_eq!(out.stats().buffered, 0);
    assert_eq!(queued(&url, &format!("{exchange}.s1")).await, 0);
    // Nothing more arrives: each message was published once.
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(value(&engine, "a,x"), Some(1.0));
    src.stop().await;
    tokio::task::spawn_blocking(move || out.close(Duration::from_secs(5)))
        .await
        .unwrap();
}

/// Whether `exchange` exists (a passive declare, on a channel of its own: a refusal
/// closes the channel).
async fn exchange_exists(url: &str, exchange: &str) -> bool {
    let conn = lapin::Connection::connect(url, lapin::ConnectionProperties::default())
        .await
        .expect("connects");
    let channel = conn.create_channel().await.expect("channel");
    let found = channel
        .exchange_declare(
            exchange.into(),
            lapin::ExchangeKind::Custom("x-consistent-hash".into()),
            lapin::options::ExchangeDeclareOptions {
                passive: true,
                ..Default::default()
            },
            lapin::types::FieldTable::default(),
        )
        .await
        .is_ok();
    let _ = conn.close(200, "done".into()).await;
    found
}
