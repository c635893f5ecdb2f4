//! The AMQP source: consume Psistats messages and treestat JSON trees from one queue
//! into the engine, acknowledging each message only after its push is applied.
//!
//! One queue (default `treestat.<hostname>`) is bound to the Psistats exchange and to the
//! tree exchange; a delivery's exchange says which format it is. The queue is not
//! exclusive and not auto-delete, with a TTL and a length limit, so messages that arrive
//! while the server is away wait for it (bounded). Delivery is at least once: a message
//! is acked after [`Engine::apply`] or [`Engine::push_json`] returned, so a server that
//! stops before the ack gets it again; one that cannot be parsed, or that the engine
//! refuses, is rejected without requeue and counted (`treestat_amqp_rejects_total`).
//!
//! Sharded ingest (`shard` set; docs/SCALING.md): the source consumes only its shard's
//! durable queue `<shard_exchange>.<shard>`, bound to the `x-consistent-hash` exchange
//! with the shard's weight as binding key, bounded with `reject-publish` and without TTL;
//! everything on it is a JSON tree. A broker without the consistent-hash plugin is
//! logged as an error naming the plugin and the command that enables it.
//!
//! The broker going away ends the session; [`AmqpSource::run`] reconnects with
//! exponential backoff (`reconnect_min` doubling to `reconnect_max`) until shutdown.

use std::collections::HashMap;

use futures_util::StreamExt;
use lapin::message::Delivery;
use lapin::options::{
    BasicAckOptions, BasicConsumeOptions, BasicQosOptions, BasicRejectOptions, QueueBindOptions,
    QueueDeclareOptions,
};
use lapin::types::{AMQPValue, FieldTable};
use lapin::{Channel, Connection};
use tokio_util::sync::CancellationToken;
use treestat_engine::telemetry::{Counter, Gauge, Telemetry};
use treestat_engine::{Action, Batch, Engine, ErrorKind};

use crate::broker::{self, Backoff};
use crate::config::{AmqpSourceConfig, QueueType, redact};
use crate::error::Error;
use crate::psistats;

/// Reasons a message is rejected, each with its counter.
const REASONS: &[&str] = &[
    "too_large",
    "routing_key",
    "not_json",
    "not_object",
    "too_deep",
];

/// How far in the future a message's time stamp may be before it is ignored (seconds).
const MAX_CLOCK_SKEW: i64 = 60;

/// Counters of the source, registered once in the process [`Telemetry`].
#[derive(Debug, Clone)]
struct Metrics {
    psistats: Counter,
    trees: Counter,
    rejects: HashMap<&'static str, Counter>,
    connects: Counter,
    connected: Gauge,
}

impl Metrics {
    fn new(t: &Telemetry) -> Metrics {
        t.describe(
            "treestat_amqp_messages_total",
            "AMQP messages applied, by format",
        );
        t.describe(
            "treestat_amqp_rejects_total",
            "AMQP messages rejected without requeue, by reason",
        );
        t.describe(
            "treestat_amqp_connects_total",
            "Connections to the AMQP broker",
        );
        t.describe(
            "treestat_amqp_connected",
            "1 while the AMQP source is consuming",
        );
        let reasons = REASONS
            .iter()
            .copied()
            .chain(ErrorKind::ALL.iter().map(|k| k.as_str()));
        Metrics {
            psistats: t.counter("treestat_amqp_messages_total", &[("format", "psistats")]),
            trees: t.counter("treestat_amqp_messages_total", &[("format", "tree")]),
            rejects: reasons
                .map(|r| {
                    (
                        r,
                        t.counter("treestat_amqp_rejects_total", &[("reason", r)]),
                    )
                })
                .collect(),
            connects: t.counter("treestat_amqp_connects_total", &[]),
            connected: t.gauge("treestat_amqp_connected", &[]),
        }
    }

    fn reject(&self, reason: &str) {
        if let Some(c) = self.rejects.get(reason) {
            c.inc();
        }
    }
}

/// The source, built from its config; [`AmqpSource::run`] consumes until shutdown.
#[derive(Debug)]
pub struct AmqpSource {
    cfg: AmqpSourceConfig,
    engine: Engine,
    metrics: Metrics,
}

/// Runs the source with its own counters until `shutdown` fires: what
/// `treestat serve --amqp URL` calls with [`AmqpSourceConfig::with_url`].
///
/// # Errors
/// [`Error::Config`] when the configuration is invalid; broker trouble is retried, not
/// returned.
pub async fn run(
    cfg: AmqpSourceConfig,
    engine: Engine,
    shutdown: CancellationToken,
) -> Result<(), Error> {
    AmqpSource::new(cfg, engine, &Telemetry::default())?
        .run(shutdown)
        .await;
    Ok(())
}

impl AmqpSource {
    /// Checks the config and registers the counters in `telemetry`
    /// (`treestat_amqp_messages_total{format}`, `treestat_amqp_rejects_total{reason}`,
    /// `treestat_amqp_connects_total`, `treestat_amqp_connected`).
    ///
    /// # Errors
    /// [`Error::Config`] naming the bad field.
    pub fn new(
        cfg: AmqpSourceConfig,
        engine: Engine,
        telemetry: &Telemetry,
    ) -> Result<AmqpSource, Error> {
        cfg.validate()?;
        Ok(AmqpSource {
            cfg,
            engine,
            metrics: Metrics::new(telemetry),
        })
    }

    /// Connects, declares, consumes; reconnects with backoff when the broker goes away.
    /// Returns when `shutdown` fires; unacked messages go back to the queue.
    pub async fn run(self, shutdown: CancellationToken) {
        let mut backoff = Backoff::new(self.cfg.reconnect_min, self.cfg.reconnect_max);
        while !shutdown.is_cancelled() {
            match self.session(&shutdown, &mut backoff).await {
                Ok(()) => break,
                Err(e @ Error::MissingPlugin { .. }) => {
                    self.metrics.connected.set(0);
                    tracing::error!(url = %redact(&self.cfg.url), "amqp source: {e}; retrying");
                }
                Err(e) => {
                    self.metrics.connected.set(0);
                    tracing::warn!(url = %redact(&self.cfg.url), error = %e, "amqp source: broker lost, reconnecting");
                }
            }
            if !backoff.wait(&shutdown).await {
                break;
            }
        }
        self.metrics.connected.set(0);
    }

    /// One connection: `Ok` on shutdown, `Err` when the broker failed.
    async fn session(
        &self,
        shutdown: &CancellationToken,
        backoff: &mut Backoff,
    ) -> Result<(), Error> {
        let conn = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            c = broker::connect(&self.cfg.url, "treestat-source") => c?,
        };
        let r = self.consume(&conn, shutdown, backoff).await;
        broker::close(&conn, "treestat source closing").await;
        r
    }

    /// Declares and consumes on `conn`: `Ok` on shutdown, `Err` when the broker failed.
    async fn consume(
        &self,
        conn: &Connection,
        shutdown: &CancellationToken,
        backoff: &mut Backoff,
    ) -> Result<(), Error> {
        let setup = async {
            let channel = conn.create_channel().await?;
            self.declare(&channel).await?;
            let consumer = channel
                .basic_consume(
                    self.cfg.queue_name().as_str().into(),
                    "".into(),
                    BasicConsumeOptions::default(),
                    FieldTable::default(),
                )
                .await?;
            Ok::<_, Error>(consumer)
        };
        // Nothing is in flight yet, so a shutdown may interrupt the setup anywhere.
        let mut consumer = tokio::select! {
            () = shutdown.cancelled() => return Ok(()),
            c = setup => c?,
        };
        self.metrics.connects.inc();
        self.metrics.connected.set(1);
        backoff.reset();
        tracing::info!(queue = %self.cfg.queue_name(), "amqp source: consuming");
        loop {
            // A delivery, once taken, is applied and acked before shutdown is looked at
            // again: the arm body is not cancelled by the other branch.
            tokio::select! {
                () = shutdown.cancelled() => return Ok(()),
                next = consumer.next() => match next {
                    Some(Ok(delivery)) => self.handle(delivery).await?,
                    Some(Err(e)) => return Err(e.into()),
                    None => return Err(Error::Lost("the broker cancelled the consumer")),
                },
            }
        }
    }

    /// Declares both exchanges, the queue, and the bindings (sharded: the shard
    /// exchange, the shard's queue and its binding).
    async fn declare(&self, channel: &Channel) -> Result<(), Error> {
        let cfg = &self.cfg;
        channel
            .basic_qos(cfg.prefetch, BasicQosOptions::default())
            .await?;
        if !cfg.shard.is_empty() {
            return self.declare_shard(channel).await;
        }
        broker::declare_exchange(channel, &cfg.exchange).await?;
        if !cfg.tree_exchange.is_empty() {
            broker::declare_exchange(channel, &cfg.tree_exchange).await?;
        }
        let mut args = FieldTable::default();
        if cfg.message_ttl_ms > 0 {
            args.insert("x-message-ttl".into(), int_arg(cfg.message_ttl_ms));
        }
        if cfg.max_queue_length > 0 {
            args.insert("x-max-length".into(), int_arg(cfg.max_queue_length));
        }
        if cfg.queue_type == QueueType::Quorum {
            args.insert("x-queue-type".into(), str_arg(cfg.queue_type.as_str()));
        }
        let opts = QueueDeclareOptions {
            passive: false,
            durable: cfg.queue_durable,
            exclusive: false,
            auto_delete: false,
            nowait: false,
        };
        channel
            .queue_declare(cfg.queue.as_str().into(), opts, args)
            .await
            .map_err(|source| Error::Declare {
                what: format!(
                    "queue {:?} (durable {}, x-message-ttl {}, x-max-length {}; a queue of \
                     that name declared with other arguments must be deleted first)",
                    cfg.queue, cfg.queue_durable, cfg.message_ttl_ms, cfg.max_queue_length
                ),
                source,
            })?;
        let mut bindings = vec![(&cfg.exchange, &cfg.binding_key)];
        if !cfg.tree_exchange.is_empty() {
            bindings.push((&cfg.tree_exchange, &cfg.tree_binding_key));
        }
        for (exchange, key) in bindings {
            channel
                .queue_bind(
                    cfg.queue.as_str().into(),
                    exchange.as_str().into(),
                    key.as_str().into(),
                    QueueBindOptions::default(),
                    FieldTable::default(),
                )
                .await
                .map_err(|source| Error::Declare {
                    what: format!("binding {:?} -> {exchange:?} key {key:?}", cfg.queue),
                    source,
                })?;
        }
        Ok(())
    }

    /// Sharded ingest: the durable `x-consistent-hash` exchange, this shard's durable
    /// queue (bounded by `max_queue_length` with `reject-publish`, no TTL: a shard's
    /// backlog is data to apply, however late), bound with the shard's weight.
    async fn declare_shard(&self, channel: &Channel) -> Result<(), Error> {
        let cfg = &self.cfg;
        let queue = cfg.queue_name();
        broker::declare_shard_exchange(channel, &cfg.shard_exchange).await?;
        let mut args = FieldTable::default();
        args.insert("x-queue-type".into(), str_arg(cfg.queue_type.as_str()));
        if cfg.max_queue_length > 0 {
            args.insert("x-max-length".into(), int_arg(cfg.max_queue_length));
            args.insert("x-overflow".into(), str_arg("reject-publish"));
        }
        let opts = QueueDeclareOptions {
            passive: false,
            durable: true,
            exclusive: false,
            auto_delete: false,
            nowait: false,
        };
        channel
            .queue_declare(queue.as_str().into(), opts, args)
            .await
            .map_err(|source| Error::Declare {
                what: format!(
                    "queue {queue:?} (durable, x-queue-type {}, x-max-length {}, x-overflow \
                     reject-publish; a queue of that name declared with other arguments must \
                     be deleted first)",
                    cfg.queue_type.as_str(),
                    cfg.max_queue_length
                ),
                source,
            })?;
        // The binding key of a consistent-hash exchange is the weight.
        let weight = cfg.shard_weight.to_string();
        channel
            .queue_bind(
                queue.as_str().into(),
                cfg.shard_exchange.as_str().into(),
                weight.as_str().into(),
                QueueBindOptions::default(),
                FieldTable::default(),
            )
            .await
            .map_err(|source| Error::Declare {
                what: format!(
                    "binding {queue:?} -> {:?} weight {weight}",
                    cfg.shard_exchange
                ),
                source,
            })?;
        Ok(())
    }

    /// Applies one message, then acks it; rejects (no requeue) what cannot be applied.
    ///
    /// # Errors
    /// Only when the ack or reject cannot be sent (the broker is gone).
    async fn handle(&self, delivery: Delivery) -> Result<(), Error> {
        match self.apply(&delivery) {
            Ok(()) => {
                // With `engine.wal = "sync"`, the broker forgets the message only once
                // the log holds it.
                self.engine.wal_synced().await;
                delivery.ack(BasicAckOptions::default()).await?;
            }
            Err(reason) => {
                self.metrics.reject(reason);
                delivery
                    .reject(BasicRejectOptions { requeue: false })
                    .await?;
            }
        }
        Ok(())
    }

    /// Pushes a delivery into the engine; the reject reason when it cannot.
    fn apply(&self, d: &Delivery) -> Result<(), &'static str> {
        let engine_reason = |e: treestat_engine::Error| {
            tracing::debug!(error = %e, "amqp source: push refused");
            e.kind().as_str()
        };
        // A shard's queue is bound to the shard exchange only, which carries trees.
        let from_tree_exchange = !self.cfg.shard.is_empty()
            || (!self.cfg.tree_exchange.is_empty()
                && d.exchange.as_str() == self.cfg.tree_exchange);
        let ts = (*d.properties.timestamp())
            .and_then(|t| i64::try_from(t).ok())
            .filter(|&t| t <= self.engine.now() + MAX_CLOCK_SKEW);
        let limits = Limits {
            max_bytes: self.cfg.max_message_bytes,
            action: self.cfg.action,
        };
        match decode(
            from_tree_exchange,
            d.routing_key.as_str(),
            &d.data,
            ts,
            &limits,
        )? {
            Message::Tree(body) => {
                self.engine.push_json(body).map_err(engine_reason)?;
                self.metrics.trees.inc();
            }
            Message::Psistats(batch) => {
                self.engine.apply(&batch).map_err(engine_reason)?;
                self.metrics.psistats.inc();
            }
        }
        Ok(())
    }
}

/// What a delivery holds for the engine.
#[derive(Debug)]
pub enum Message<'a> {
    /// A treestat JSON tree (from the tree exchange), parsed by [`Engine::push_json`].
    Tree(&'a [u8]),
    /// A Psistats message mapped to updates.
    Psistats(Batch),
}

/// What [`decode`] needs from the source's configuration.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// `max_message_bytes`: larger bodies are refused.
    pub max_bytes: usize,
    /// The action of Psistats samples.
    pub action: Action,
}

/// Decodes one delivery: `from_tree_exchange` says the body is a JSON tree, else it is
/// a Psistats message whose host is in `routing_key`; `ts` (unix seconds, already
/// checked against the clock) dates its samples. Pure, so the fuzz target (`fuzz/`)
/// runs exactly what the consumer runs before the engine.
///
/// # Errors
/// The reject reason (one of the `treestat_amqp_rejects_total` reasons).
#[doc(hidden)]
pub fn decode<'a>(
    from_tree_exchange: bool,
    routing_key: &str,
    body: &'a [u8],
    ts: Option<i64>,
    limits: &Limits,
) -> Result<Message<'a>, &'static str> {
    if body.len() > limits.max_bytes {
        tracing::debug!(bytes = body.len(), "amqp source: message too large");
        return Err("too_large");
    }
    if from_tree_exchange {
        return Ok(Message::Tree(body));
    }
    psistats::host_of(routing_key)
        .and_then(|host| psistats::to_batch(&host, body, limits.action, ts))
        .map(Message::Psistats)
        .map_err(|p| {
            tracing::debug!(problem = %p, "amqp source: bad psistats message");
            p.reason()
        })
}

/// An AMQP string argument.
fn str_arg(v: &str) -> AMQPValue {
    AMQPValue::LongString(v.into())
}

/// An AMQP integer argument; RabbitMQ takes any integer type for TTL and length.
fn int_arg(v: u64) -> AMQPValue {
    AMQPValue::LongLongInt(i64::try_from(v).unwrap_or(i64::MAX))
}
