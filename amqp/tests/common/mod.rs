//! The AMQP tests' harness: the broker (`broker.rs`, shared with the root package's
//! end-to-end tests) and lapin helpers that publish and declare as the Psistats client
//! does.

#![allow(dead_code)] // each test binary uses its own part of the harness

mod broker;

pub use broker::*;

use std::time::{Duration, Instant};

use lapin::options::{ExchangeDeclareOptions, QueueDeclareOptions};
use lapin::types::FieldTable;
use lapin::{BasicProperties, Channel, Connection, ConnectionProperties, ExchangeKind};

/// Polls `check` until it holds (or panics with `what` after a generous limit, which
/// only a broken build reaches).
pub async fn wait_until(what: &str, mut check: impl FnMut() -> bool) {
    wait_for(what, || if check() { Ok(()) } else { Err(String::new()) }).await;
}

/// As [`wait_until`], with `check` saying what it saw when it does not hold yet: the
/// panic names the last of it (a value doubled or missing tells two failures apart).
pub async fn wait_for(what: &str, mut check: impl FnMut() -> Result<(), String>) {
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let Err(seen) = check() else { return };
        assert!(
            Instant::now() < deadline,
            "gave up waiting: {what}; last seen: {seen}"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// A publisher that behaves as the Psistats client does: declares the exchange topic,
/// not durable, not auto-delete; its own queue `psistats.<host>` with
/// `x-message-ttl` 10000; publishes JSON with routing key `psistats.<host>`.
pub struct PsistatsClient {
    _conn: Connection,
    pub channel: Channel,
    exchange: String,
    host: String,
}

impl PsistatsClient {
    pub async fn connect(url: &str, exchange: &str, host: &str) -> PsistatsClient {
        let conn = Connection::connect(url, ConnectionProperties::default())
            .await
            .expect("psistats client connects");
        let channel = conn.create_channel().await.expect("channel");
        declare_like_psistats(&channel, exchange).await;
        let mut args = FieldTable::default();
        args.insert(
            "x-message-ttl".into(),
            lapin::types::AMQPValue::LongInt(10_000),
        );
        let queue = format!("psistats.{host}");
        channel
            .queue_declare(queue.as_str().into(), QueueDeclareOptions::default(), args)
            .await
            .expect("psistats queue");
        channel
            .queue_bind(
                queue.as_str().into(),
                exchange.into(),
                queue.as_str().into(),
                Default::default(),
                FieldTable::default(),
            )
            .await
            .expect("psistats bind");
        PsistatsClient {
            _conn: conn,
            channel,
            exchange: exchange.to_string(),
            host: host.to_string(),
        }
    }

    /// Publishes one reporter message.
    pub async fn send(&self, body: &str) {
        publish(
            &self.channel,
            &self.exchange,
            &format!("psistats.{}", self.host),
            body,
        )
        .await;
    }
}

/// Declares an exchange as Psistats does.
pub async fn declare_like_psistats(channel: &Channel, exchange: &str) {
    channel
        .exchange_declare(
            exchange.into(),
            ExchangeKind::Topic,
            ExchangeDeclareOptions::default(),
            FieldTable::default(),
        )
        .await
        .expect("exchange declared as psistats does");
}

/// Publishes `body` as `application/json`.
pub async fn publish(channel: &Channel, exchange: &str, routing_key: &str, body: &str) {
    channel
        .basic_publish(
            exchange.into(),
            routing_key.into(),
            Default::default(),
            body.as_bytes(),
            BasicProperties::default().with_content_type("application/json".into()),
        )
        .await
        .expect("publish")
        .await
        .expect("publish confirm");
}

/// Messages waiting in `queue` (a passive declare).
pub async fn queued(url: &str, queue: &str) -> u32 {
    let conn = Connection::connect(url, ConnectionProperties::default())
        .await
        .expect("connects");
    let channel = conn.create_channel().await.expect("channel");
    let q = channel
        .queue_declare(
            queue.into(),
            QueueDeclareOptions {
                passive: true,
                ..Default::default()
            },
            FieldTable::default(),
        )
        .await
        .expect("queue exists");
    let _ = conn.close(200, "done".into()).await;
    q.message_count()
}
