//! The `[amqp]` source configuration and the AMQP output configuration.
//!
//! Both are serde structs with `deny_unknown_fields`: a typo in the config file is an
//! error, not a silently ignored key. Every field has a documented default, so
//! `treestat serve --amqp URL` is `AmqpSourceConfig { url, ..Default::default() }`.
//! [`AmqpSourceConfig::validate`] and [`AmqpOutputConfig::validate`] catch what serde
//! cannot (a bad URL, min backoff above max) before anything connects.

use std::time::Duration;
use treestat_engine::{de_action, de_duration};

use serde::Deserialize;
use treestat_engine::Action;

use crate::error::Error;

/// The broker URL used when none is given: a RabbitMQ on this host, default vhost.
pub const DEFAULT_URL: &str = "amqp://guest:guest@127.0.0.1:5672/%2f";

/// The source: consume Psistats messages and treestat JSON trees from a broker.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AmqpSourceConfig {
    /// Broker URL (default `amqp://guest:guest@127.0.0.1:5672/%2f`; the vhost is
    /// URL-encoded, `%2f` is `/`). Only `amqp://` (no TLS).
    pub url: String,
    /// The Psistats exchange (default `psistats`). Declared as the Psistats client does:
    /// topic, not durable, not auto-delete, so either side may declare it first.
    pub exchange: String,
    /// Binding key on [`exchange`](Self::exchange) (default `psistats.#`: every host).
    pub binding_key: String,
    /// This server's own queue (default `treestat.<hostname>`). Not exclusive, not
    /// auto-delete: it outlives a server restart and keeps what arrives meanwhile.
    pub queue: String,
    /// Whether the queue survives a broker restart (default `false`; Psistats messages
    /// are transient and its exchange is not durable, so a durable queue keeps nothing
    /// more across a broker restart).
    pub queue_durable: bool,
    /// `x-message-ttl` of the queue in milliseconds (default 600000: ten minutes, long
    /// enough to cover a server restart or upgrade; older host stats are dropped by the
    /// broker). `0` sets no TTL.
    pub message_ttl_ms: u64,
    /// `x-max-length` of the queue in messages (default 100000; the oldest go first), so
    /// a server that stays away cannot fill the broker. `0` sets no limit.
    pub max_queue_length: u64,
    /// The exchange for treestat JSON trees (default `treestat`; topic, not durable, not
    /// auto-delete). Empty: do not bind one.
    pub tree_exchange: String,
    /// Binding key on [`tree_exchange`](Self::tree_exchange) (default `#`: everything).
    pub tree_binding_key: String,
    /// Unacknowledged messages the broker may send ahead (default 100).
    pub prefetch: u16,
    /// Largest message body accepted, in bytes (default 1 MiB); larger ones are
    /// rejected and counted.
    pub max_message_bytes: usize,
    /// Action of the Psistats gauges (default `average`: the interval's point is the mean
    /// of the samples it got, as Graphite does for gauges).
    #[serde(deserialize_with = "de_action")]
    pub action: Action,
    /// First pause before reconnecting (default `1s`); doubles after each failure.
    #[serde(deserialize_with = "de_duration")]
    pub reconnect_min: Duration,
    /// Longest pause before reconnecting (default `30s`).
    #[serde(deserialize_with = "de_duration")]
    pub reconnect_max: Duration,
    /// Sharded ingest (docs/SCALING.md): this engine's shard name (default empty: not
    /// sharded). When set, the source consumes only the durable queue
    /// `<shard_exchange>.<shard>` (`queue`, `queue_durable`, the Psistats and tree
    /// exchanges and `message_ttl_ms` are not used), bound to
    /// [`shard_exchange`](Self::shard_exchange) with [`shard_weight`](Self::shard_weight);
    /// `max_queue_length` bounds it with `x-overflow = reject-publish`, so a full queue
    /// refuses new messages (the publishers keep them) instead of dropping old ones.
    pub shard: String,
    /// This shard's weight on the consistent-hash ring (default 1): a shard of weight 2
    /// gets about twice the keys of a shard of weight 1. At least 1.
    pub shard_weight: u32,
    /// The `x-consistent-hash` exchange of sharded ingest (default `treestat.shards`;
    /// durable). Needs the broker plugin `rabbitmq_consistent_hash_exchange`.
    pub shard_exchange: String,
    /// `x-queue-type` of the queue (default `classic`): `quorum` replicates it over a
    /// RabbitMQ cluster so a broker node may fail without loss. A quorum queue is
    /// always durable (with `shard` unset, `queue_durable` must then be `true`).
    pub queue_type: QueueType,
}

/// The `x-queue-type` of the source's queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum QueueType {
    /// A classic queue on one broker node.
    #[default]
    Classic,
    /// A quorum queue, replicated (Raft) over the cluster's nodes.
    Quorum,
}

impl QueueType {
    /// The `x-queue-type` argument's value.
    pub fn as_str(self) -> &'static str {
        match self {
            QueueType::Classic => "classic",
            QueueType::Quorum => "quorum",
        }
    }
}

impl std::str::FromStr for QueueType {
    type Err = String;

    fn from_str(s: &str) -> Result<QueueType, String> {
        match s {
            "classic" => Ok(QueueType::Classic),
            "quorum" => Ok(QueueType::Quorum),
            other => Err(format!("queue type {other:?}: expected classic or quorum")),
        }
    }
}

/// The exchange of sharded ingest when none is configured.
pub const DEFAULT_SHARD_EXCHANGE: &str = "treestat.shards";

impl Default for AmqpSourceConfig {
    fn default() -> AmqpSourceConfig {
        AmqpSourceConfig {
            url: DEFAULT_URL.to_string(),
            exchange: "psistats".to_string(),
            binding_key: "psistats.#".to_string(),
            queue: format!("treestat.{}", hostname()),
            queue_durable: false,
            message_ttl_ms: 600_000,
            max_queue_length: 100_000,
            tree_exchange: "treestat".to_string(),
            tree_binding_key: "#".to_string(),
            prefetch: 100,
            max_message_bytes: 1 << 20,
            action: Action::Average,
            reconnect_min: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(30),
            shard: String::new(),
            shard_weight: 1,
            shard_exchange: DEFAULT_SHARD_EXCHANGE.to_string(),
            queue_type: QueueType::Classic,
        }
    }
}

impl AmqpSourceConfig {
    /// The queue consumed: `<shard_exchange>.<shard>` when sharded, else `queue`.
    pub fn queue_name(&self) -> String {
        if self.shard.is_empty() {
            self.queue.clone()
        } else {
            format!("{}.{}", self.shard_exchange, self.shard)
        }
    }

    /// The defaults with a broker URL: what `treestat serve --amqp URL` runs.
    pub fn with_url(url: &str) -> AmqpSourceConfig {
        AmqpSourceConfig {
            url: url.to_string(),
            ..AmqpSourceConfig::default()
        }
    }

    /// Checks what serde cannot.
    ///
    /// # Errors
    /// [`Error::Config`] naming the field.
    pub fn validate(&self) -> Result<(), Error> {
        check_url(&self.url)?;
        check_name("exchange", &self.exchange, false)?;
        check_name("binding_key", &self.binding_key, false)?;
        check_name("queue", &self.queue, false)?;
        check_name("tree_exchange", &self.tree_exchange, true)?;
        check_name("tree_binding_key", &self.tree_binding_key, true)?;
        if self.tree_exchange == self.exchange {
            return Err(Error::Config(format!(
                "tree_exchange and exchange are both {:?}: a message's format is known by \
                 its exchange, so they must differ (or tree_exchange = \"\")",
                self.exchange
            )));
        }
        if self.prefetch == 0 {
            return Err(Error::Config(
                "prefetch must be at least 1 (0 would mean unbounded)".into(),
            ));
        }
        if self.max_message_bytes == 0 {
            return Err(Error::Config("max_message_bytes must be at least 1".into()));
        }
        if !self.shard.is_empty() {
            check_name("shard_exchange", &self.shard_exchange, false)?;
            check_name("shard (as the queue name)", &self.queue_name(), false)?;
            if self.shard_weight == 0 {
                return Err(Error::Config("shard_weight must be at least 1".into()));
            }
            for other in [&self.exchange, &self.tree_exchange] {
                if *other == self.shard_exchange {
                    return Err(Error::Config(format!(
                        "shard_exchange {other:?} is also a topic exchange of this source; \
                         it must have a name of its own"
                    )));
                }
            }
        } else if self.queue_type == QueueType::Quorum && !self.queue_durable {
            return Err(Error::Config(
                "queue_type = \"quorum\" needs queue_durable = true (quorum queues are \
                 always durable)"
                    .into(),
            ));
        }
        check_backoff(self.reconnect_min, self.reconnect_max)
    }
}

/// What the output publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// The agent's tree as one treestat JSON document per publish (also spelled
    /// `tree`).
    #[default]
    #[serde(alias = "tree")]
    Json,
    /// One Psistats message per host and reporter, routing key `psistats.<host>`.
    Psistats,
}

/// The output: publish the agent's (or relay's) tree to a broker.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AmqpOutputConfig {
    /// Broker URL (default as [`AmqpSourceConfig::url`]).
    pub url: String,
    /// `json` (default) or `psistats`.
    pub format: OutputFormat,
    /// Exchange (default: `treestat` for `json`, `psistats` for `psistats`), declared
    /// topic, not durable, not auto-delete, as the source declares it.
    pub exchange: Option<String>,
    /// Routing key of `json` messages (default `treestat.<hostname>`). `psistats`
    /// messages always use `psistats.<host>` with the host from the tree.
    pub routing_key: Option<String>,
    /// Messages kept while the broker is away (default 10000); beyond it the oldest are
    /// dropped and counted.
    pub buffer: usize,
    /// Bytes of message bodies kept while the broker is away (default 67108864,
    /// 64 MiB); beyond it the oldest are dropped and counted, as for
    /// [`buffer`](Self::buffer). The newest message is kept even when it alone is
    /// larger.
    pub buffer_bytes: usize,
    /// Sharded ingest (default `false`; docs/SCALING.md): each push is cut by shard key
    /// (the first [`shard_depth`](Self::shard_depth) path keys) into one message per key,
    /// routed by that key through the `x-consistent-hash` exchange (default
    /// `treestat.shards`, durable) to the shard that owns it. Messages are persistent
    /// and mandatory: one no shard queue takes is kept and retried, not lost. `json`
    /// format only.
    pub sharded: bool,
    /// Path keys that make the shard key (default 1: the top-level key). Every
    /// publisher of one deployment must use the same depth.
    pub shard_depth: usize,
    /// Largest message body in bytes (default 1048576, the source's
    /// `max_message_bytes`): a key's part above it is cut into several messages.
    pub max_message_bytes: usize,
    /// First pause before reconnecting (default `1s`); doubles after each failure.
    #[serde(deserialize_with = "de_duration")]
    pub reconnect_min: Duration,
    /// Longest pause before reconnecting (default `30s`).
    #[serde(deserialize_with = "de_duration")]
    pub reconnect_max: Duration,
}

impl Default for AmqpOutputConfig {
    fn default() -> AmqpOutputConfig {
        AmqpOutputConfig {
            url: DEFAULT_URL.to_string(),
            format: OutputFormat::Json,
            exchange: None,
            routing_key: None,
            buffer: 10_000,
            buffer_bytes: 64 << 20,
            sharded: false,
            shard_depth: treestat_model::DEFAULT_SHARD_DEPTH,
            max_message_bytes: 1 << 20,
            reconnect_min: Duration::from_secs(1),
            reconnect_max: Duration::from_secs(30),
        }
    }
}

impl AmqpOutputConfig {
    /// The exchange messages go to.
    pub fn exchange_name(&self) -> String {
        match (&self.exchange, self.format) {
            (Some(e), _) => e.clone(),
            (None, _) if self.sharded => DEFAULT_SHARD_EXCHANGE.to_string(),
            (None, OutputFormat::Json) => "treestat".to_string(),
            (None, OutputFormat::Psistats) => "psistats".to_string(),
        }
    }

    /// The routing key of `json` messages.
    pub fn json_routing_key(&self) -> String {
        self.routing_key
            .clone()
            .unwrap_or_else(|| format!("treestat.{}", hostname()))
    }

    /// Checks what serde cannot.
    ///
    /// # Errors
    /// [`Error::Config`] naming the field.
    pub fn validate(&self) -> Result<(), Error> {
        check_url(&self.url)?;
        check_name("exchange", &self.exchange_name(), false)?;
        if let Some(k) = &self.routing_key {
            check_name("routing_key", k, true)?;
        }
        if self.buffer == 0 {
            return Err(Error::Config("buffer must be at least 1 message".into()));
        }
        if self.buffer_bytes == 0 {
            return Err(Error::Config("buffer_bytes must be at least 1".into()));
        }
        if self.sharded && self.format != OutputFormat::Json {
            return Err(Error::Config(
                "sharded needs format = json (tree): Psistats messages are routed by host".into(),
            ));
        }
        if self.shard_depth == 0 {
            return Err(Error::Config("shard_depth must be at least 1".into()));
        }
        if self.max_message_bytes == 0 {
            return Err(Error::Config("max_message_bytes must be at least 1".into()));
        }
        check_backoff(self.reconnect_min, self.reconnect_max)
    }
}

/// This machine's host name (`/proc/sys/kernel/hostname`, then `$HOSTNAME`, then
/// `localhost`).
pub fn hostname() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .or_else(|| std::env::var("HOSTNAME").ok())
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "localhost".to_string())
}

fn check_url(url: &str) -> Result<(), Error> {
    let shown = redact(url);
    let parsed: lapin::uri::AMQPUri = url
        .parse()
        .map_err(|e| Error::Config(format!("url {shown:?} is not an AMQP URL: {e}")))?;
    if parsed.scheme != lapin::uri::AMQPScheme::AMQP {
        return Err(Error::Config(format!(
            "url {shown:?}: only amqp:// is supported (this build has no TLS)"
        )));
    }
    Ok(())
}

/// `url` with its password replaced by `***`, for logs, stats and error messages. A URL
/// the `url` crate cannot parse shows its scheme only: whatever follows may hold a
/// password.
pub fn redact(url: &str) -> String {
    match url::Url::parse(url) {
        Ok(mut u) => {
            if u.password().is_some() {
                // Only URLs that cannot have a password refuse one; this one has one.
                let _ = u.set_password(Some("***"));
            }
            u.to_string()
        }
        Err(_) => match url.split_once("://") {
            Some((scheme, _)) => format!("{scheme}://***"),
            None => "***".to_string(),
        },
    }
}

/// AMQP names (short strings) are at most 255 bytes.
fn check_name(field: &str, value: &str, may_be_empty: bool) -> Result<(), Error> {
    if value.is_empty() && !may_be_empty {
        return Err(Error::Config(format!("{field} must not be empty")));
    }
    if value.len() > 255 {
        return Err(Error::Config(format!(
            "{field} is {} bytes long; AMQP names hold at most 255",
            value.len()
        )));
    }
    Ok(())
}

fn check_backoff(min: Duration, max: Duration) -> Result<(), Error> {
    if min.is_zero() {
        return Err(Error::Config("reconnect_min must be above zero".into()));
    }
    if min > max {
        return Err(Error::Config(format!(
            "reconnect_min ({min:?}) is above reconnect_max ({max:?})"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redact_hides_the_password_and_only_it() {
        assert_eq!(
            redact("amqp://u:secret@127.0.0.1:5672/%2f"),
            "amqp://u:***@127.0.0.1:5672/%2f"
        );
        assert_eq!(redact("amqp://127.0.0.1"), "amqp://127.0.0.1");
        assert_eq!(redact("amqp://u@h:5672/v"), "amqp://u@h:5672/v");
        // An `@` in the query is not the end of the credentials (the hand-written
        // redaction searched the last `@` of the whole URL and cut the host out).
        assert_eq!(
            redact("amqp://u:p%40ss@h:5672/%2f?routing_key=a@b"),
            "amqp://u:***@h:5672/%2f?routing_key=a@b"
        );
        assert_eq!(redact("amqp://u:secret@h:99999/"), "amqp://***");
    }

    #[test]
    fn defaults_validate_and_name_the_host() {
        let c = AmqpSourceConfig::default();
        c.validate().unwrap();
        assert_eq!(c.exchange, "psistats");
        assert_eq!(c.binding_key, "psistats.#");
        assert_eq!(c.queue, format!("treestat.{}", hostname()));
        assert_eq!(c.action, Action::Average);
        AmqpOutputConfig::default().validate().unwrap();
    }

    #[test]
    fn toml_section_parses_with_durations_and_refuses_typos() {
        let c: AmqpSourceConfig = toml::from_str(
            r#"
            url = "amqp://u:p@127.0.0.1:5673/%2f"
            queue = "treestat.main"
            action = "last"
            reconnect_min = "250ms"
            reconnect_max = 5
            "#,
        )
        .unwrap();
        assert_eq!(c.queue, "treestat.main");
        assert_eq!(c.action, Action::Last);
        assert_eq!(c.reconnect_min, Duration::from_millis(250));
        assert_eq!(c.reconnect_max, Duration::from_secs(5));
        c.validate().unwrap();
        let err = toml::from_str::<AmqpSourceConfig>("exchang = \"x\"").unwrap_err();
        assert!(err.to_string().contains("exchang"), "{err}");
        let o: AmqpOutputConfig = toml::from_str("format = \"psistats\"").unwrap();
        assert_eq!(o.exchange_name(), "psistats");
    }

    /// Every key of the commented `[amqp]` example in conf/treestat.toml parses, with
    /// the value it documents as the default where it is one.
    #[test]
    fn the_documented_amqp_section_parses() {
        let conf = include_str!("../../conf/treestat.toml");
        let start = conf.find("# [amqp]\n").expect("an [amqp] example");
        let section: String = conf[start..]
            .lines()
            .skip(1)
            .take_while(|l| l.starts_with('#'))
            .filter_map(|l| l.strip_prefix("# "))
            .filter(|l| l.contains(" = "))
            .map(|l| format!("{l}\n"))
            .collect();
        let c: AmqpSourceConfig = toml::from_str(&section).unwrap();
        assert_eq!(c.shard, "");
        assert_eq!(c.shard_weight, 1);
        assert_eq!(c.shard_exchange, DEFAULT_SHARD_EXCHANGE);
        assert_eq!(c.queue_type, QueueType::Classic);
        assert!(section.contains("shard_weight"), "{section}");
        let q: AmqpSourceConfig = toml::from_str("shard = \"a\"\nqueue_type = \"quorum\"").unwrap();
        q.validate().unwrap();
        assert_eq!(q.queue_name(), "treestat.shards.a");
    }

    #[test]
    fn validate_names_the_field() {
        let bad = |f: fn(&mut AmqpSourceConfig)| {
            let mut c = AmqpSourceConfig::default();
            f(&mut c);
            c.validate().unwrap_err().to_string()
        };
        assert!(bad(|c| c.url = "http://x".into()).contains("url"));
        assert!(bad(|c| c.url = "amqps://127.0.0.1".into()).contains("TLS"));
        assert!(bad(|c| c.queue = String::new()).contains("queue"));
        assert!(bad(|c| c.tree_exchange = "psistats".into()).contains("tree_exchange"));
        assert!(bad(|c| c.reconnect_min = Duration::from_secs(60)).contains("reconnect_min"));
        assert!(bad(|c| c.prefetch = 0).contains("prefetch"));
        assert!(bad(|c| c.queue_type = QueueType::Quorum).contains("queue_durable"));
        assert!(
            bad(|c| {
                c.shard = "a".into();
                c.shard_weight = 0;
            })
            .contains("shard_weight")
        );
        assert!(
            bad(|c| {
                c.shard = "a".into();
                c.shard_exchange = "treestat".into();
            })
            .contains("shard_exchange")
        );
        let out = |f: fn(&mut AmqpOutputConfig)| {
            let mut c = AmqpOutputConfig::default();
            f(&mut c);
            c.validate().map_err(|e| e.to_string())
        };
        assert!(
            out(|c| {
                c.sharded = true;
                c.format = OutputFormat::Psistats;
            })
            .unwrap_err()
            .contains("sharded")
        );
        assert!(
            out(|c| c.shard_depth = 0)
                .unwrap_err()
                .contains("shard_depth")
        );
        let mut sharded = AmqpOutputConfig {
            sharded: true,
            ..AmqpOutputConfig::default()
        };
        assert_eq!(sharded.exchange_name(), DEFAULT_SHARD_EXCHANGE);
        sharded.exchange = Some("s".into());
        assert_eq!(sharded.exchange_name(), "s");
    }
}
