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
}

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
        }
    }
}

impl AmqpSourceConfig {
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
        check_backoff(self.reconnect_min, self.reconnect_max)
    }
}

/// What the output publishes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum OutputFormat {
    /// The agent's tree as one treestat JSON document per publish.
    #[default]
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
    }
}
