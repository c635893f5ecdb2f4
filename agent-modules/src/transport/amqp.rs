//! `amqp://` servers: the push goes to a RabbitMQ exchange through
//! [`treestat_amqp::AmqpOutput`] instead of a socket to a treestat server.
//!
//! The URL is the broker's, with the output's settings as query parameters:
//! `amqp://user:pass@host:port/vhost?format=psistats&exchange=psistats&routing_key=...&buffer=N`.
//! `format` (`json` or its synonym `tree`, the default, or `psistats`), `exchange`,
//! `routing_key`, `buffer`, `buffer_bytes`, and for sharded ingest `sharded` (`1`),
//! `shard_depth` and `max_message_bytes` belong to the agent and are taken out; any other
//! parameter (`heartbeat`, `connection_timeout`, ...) stays in the URL for the AMQP
//! client. The output keeps its own buffer, bounded in messages and in bytes (messages,
//! not pushes), and reconnects by itself; what it drops
//! and what is still buffered at shutdown are counted in the agent's `dropped`.
//!
//! With `sharded=1` each push is cut by shard key into one message per key (and per
//! `max_message_bytes`) published to the `x-consistent-hash` exchange
//! (docs/SCALING.md): a relay forwards once per interval, so that is one message per
//! key per interval, whatever the number of pushes the relay merged.
//!
//! In `psistats` format the agent's own subtree (`_treestat,agent,<host>`, whose host
//! is not at the second level) is left out: Psistats consumers know only host stats.

use std::time::Duration;

use treestat_amqp::encode::Message;
use treestat_amqp::{AmqpOutput, AmqpOutputConfig, OutputFormat};

use super::split::split;

use super::stats::ServerStats;
use crate::error::{Error, Result};

/// The output settings of an `amqp://` server URL.
///
/// # Errors
/// A query parameter of ours with a bad value (named), or a URL the AMQP client refuses.
pub fn output_config(url: &str) -> Result<AmqpOutputConfig> {
    let bad = |why: String| Error::config(format!("server URL {}: {why}", redact(url)));
    let mut parsed = url::Url::parse(url).map_err(|e| bad(e.to_string()))?;
    check_escapes(parsed.query().unwrap_or("")).map_err(bad)?;
    let mut cfg = AmqpOutputConfig::default();
    let mut passed: Vec<(String, String)> = Vec::new();
    for (key, value) in parsed.query_pairs() {
        match &*key {
            "format" => {
                cfg.format = match &*value {
                    "json" | "tree" => OutputFormat::Json,
                    "psistats" => OutputFormat::Psistats,
                    other => {
                        return Err(bad(format!(
                            "format {other:?}: expected json (or tree) or psistats"
                        )));
                    }
                };
            }
            "sharded" => {
                cfg.sharded = match &*value {
                    "1" | "true" | "yes" => true,
                    "0" | "false" | "no" => false,
                    other => return Err(bad(format!("sharded {other:?}: expected 1 or 0"))),
                };
            }
            "shard_depth" => {
                cfg.shard_depth = value
                    .parse()
                    .map_err(|_| bad(format!("shard_depth {value:?}: expected a number")))?;
            }
            "max_message_bytes" => {
                cfg.max_message_bytes = value.parse().map_err(|_| {
                    bad(format!(
                        "max_message_bytes {value:?}: expected a number of bytes"
                    ))
                })?;
            }
            "exchange" => cfg.exchange = Some(value.into_owned()),
            "routing_key" => cfg.routing_key = Some(value.into_owned()),
            "buffer" => {
                cfg.buffer = value
                    .parse()
                    .map_err(|_| bad(format!("buffer {value:?}: expected a number of messages")))?;
            }
            "buffer_bytes" => {
                cfg.buffer_bytes = value.parse().map_err(|_| {
                    bad(format!(
                        "buffer_bytes {value:?}: expected a number of bytes"
                    ))
                })?;
            }
            _ => passed.push((key.into_owned(), value.into_owned())),
        }
    }
    if passed.is_empty() {
        parsed.set_query(None);
    } else {
        parsed.query_pairs_mut().clear().extend_pairs(&passed);
    }
    cfg.url = parsed.into();
    cfg.validate().map_err(|e| bad(e.to_string()))?;
    Ok(cfg)
}

/// `url` with the password replaced by `***`, for logs and stats.
pub fn redact(url: &str) -> String {
    treestat_amqp::redact(url)
}

/// Refuses a `%` not followed by two hex digits: form decoding keeps such an escape as
/// it is, and a typo in an exchange or routing key would then go unnoticed.
fn check_escapes(query: &str) -> std::result::Result<(), String> {
    for pair in query.split('&') {
        let b = pair.as_bytes();
        let hex = |i: usize| b.get(i).is_some_and(u8::is_ascii_hexdigit);
        if let Some((i, _)) = pair
            .match_indices('%')
            .find(|&(i, _)| !(hex(i + 1) && hex(i + 2)))
        {
            let key = pair.split('=').next().unwrap_or(pair);
            return Err(format!("{key}: bad escape at byte {i} of {pair:?}"));
        }
    }
    Ok(())
}

/// `doc` without the `_treestat` group of any of its trees.
fn without_own_stats(doc: &serde_json::Value) -> serde_json::Value {
    let mut doc = doc.clone();
    match &mut doc {
        serde_json::Value::Array(trees) => {
            for t in trees {
                if let Some(m) = t.as_object_mut() {
                    m.remove("_treestat");
                }
            }
        }
        serde_json::Value::Object(m) => {
            m.remove("_treestat");
        }
        _ => {}
    }
    doc
}

/// One `amqp://` server of an outbox.
pub(super) struct AmqpServer {
    name: String,
    psistats: bool,
    /// `sharded=1`: `(shard_depth, max_message_bytes)`.
    sharded: Option<(usize, usize)>,
    output: AmqpOutput,
}

/// Cuts a push into the messages of sharded ingest: one per shard key (the first
/// `depth` path keys, [`treestat_model::shard_key`]), routed by that key; a key's part
/// larger than `max_bytes` is cut further ([`split`]) without losing a leaf's action
/// or time stamp. Returns the messages and the leaves too large to send alone.
pub fn shard_messages(
    doc: &serde_json::Value,
    depth: usize,
    max_bytes: usize,
) -> (Vec<Message>, usize) {
    let mut out = Vec::new();
    let mut too_big = 0;
    for (key, part) in treestat_amqp::encode::shard_groups(doc, depth) {
        let (bodies, lost) = split(&part, max_bytes);
        too_big += lost;
        out.extend(bodies.into_iter().map(|body| Message {
            routing_key: key.clone(),
            body,
        }));
    }
    (out, too_big)
}

impl AmqpServer {
    /// Starts the output (it connects in the background; pushes before the broker
    /// answers are buffered).
    pub(super) fn start(url: &str) -> Result<AmqpServer> {
        let cfg = output_config(url)?;
        let psistats = cfg.format == OutputFormat::Psistats;
        let sharded = cfg
            .sharded
            .then_some((cfg.shard_depth, cfg.max_message_bytes));
        let output = AmqpOutput::connect(cfg)
            .map_err(|e| Error::config(format!("server URL {}: {e}", redact(url))))?;
        Ok(AmqpServer {
            name: redact(url),
            psistats,
            sharded,
            output,
        })
    }

    /// Queues one push (never blocks).
    pub(super) fn send(&self, doc: &serde_json::Value) {
        if let Some((depth, max_bytes)) = self.sharded {
            let (msgs, too_big) = shard_messages(doc, depth, max_bytes);
            if too_big > 0 {
                tracing::warn!(
                    server = %self.name, leaves = too_big,
                    "sharded push: leaves larger than max_message_bytes alone were left out"
                );
            }
            self.output.publish_messages(msgs);
        } else if self.psistats {
            self.output.publish_tree(&without_own_stats(doc));
        } else {
            self.output.publish_tree(doc);
        }
    }

    /// The output's counters as a server's: messages published, dropped and buffered.
    pub(super) fn stats(&self) -> ServerStats {
        let s = self.output.stats();
        ServerStats {
            url: self.name.clone(),
            sent: s.published,
            rejected: 0,
            dropped: s.dropped,
            pending: s.buffered,
            down: !s.connected,
        }
    }

    /// Publishes what is buffered for up to `grace`; what is left is counted dropped.
    pub(super) fn close(self, grace: Duration) -> ServerStats {
        let s = self.output.close(grace);
        ServerStats {
            url: self.name,
            sent: s.published,
            rejected: 0,
            dropped: s.dropped + u64::try_from(s.buffered).unwrap_or(u64::MAX),
            pending: 0,
            down: !s.connected,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_parameters_set_the_output_and_the_rest_reach_the_client() {
        let c = output_config(
            "amqp://u:p@127.0.0.1:5672/%2f?format=psistats&exchange=ps&heartbeat=10&buffer=50&buffer_bytes=4096",
        )
        .unwrap();
        assert_eq!(c.format, OutputFormat::Psistats);
        assert_eq!(c.exchange_name(), "ps");
        assert_eq!((c.buffer, c.buffer_bytes), (50, 4096));
        assert_eq!(c.url, "amqp://u:p@127.0.0.1:5672/%2f?heartbeat=10");
        let c = output_config("amqp://127.0.0.1:5672/%2f?routing_key=treestat.web%2E1").unwrap();
        assert_eq!(c.format, OutputFormat::Json);
        assert_eq!(c.exchange_name(), "treestat");
        assert_eq!(c.json_routing_key(), "treestat.web.1");
        assert_eq!(c.url, "amqp://127.0.0.1:5672/%2f");
    }

    #[test]
    fn sharded_parameters_are_taken_and_checked() {
        let c = output_config(
            "amqp://127.0.0.1:5672/%2f?format=tree&sharded=1&shard_depth=2&max_message_bytes=500",
        )
        .unwrap();
        assert!(c.sharded);
        assert_eq!((c.shard_depth, c.max_message_bytes), (2, 500));
        assert_eq!(c.exchange_name(), "treestat.shards");
        assert_eq!(c.url, "amqp://127.0.0.1:5672/%2f");
        let err = |u: &str| output_config(u).unwrap_err().to_string();
        assert!(err("amqp://h:1/%2f?sharded=maybe").contains("sharded"));
        assert!(err("amqp://h:1/%2f?sharded=1&format=psistats").contains("sharded"));
        assert!(err("amqp://h:1/%2f?sharded=1&shard_depth=0").contains("shard_depth"));
    }

    #[test]
    fn sharded_pushes_become_one_message_per_key_within_the_size_limit() {
        let mut big = serde_json::Map::new();
        for i in 0..100 {
            big.insert(format!("leaf{i}"), serde_json::json!(i));
        }
        let doc = serde_json::json!([
            {"default_action": "add", "timestamp": 1_700_000_000, "web": {"h": {"hits": 1}}, "db": big},
            {"default_action": "last", "web": {"h": {"up": 1}}}
        ]);
        let (msgs, too_big) = shard_messages(&doc, 1, 400);
        assert_eq!(too_big, 0);
        let web: Vec<_> = msgs.iter().filter(|m| m.routing_key == "web").collect();
        assert_eq!(web.len(), 1, "both trees' web parts in one message");
        let db: Vec<_> = msgs.iter().filter(|m| m.routing_key == "db").collect();
        assert!(db.len() > 1 && db.iter().all(|m| m.body.len() <= 400));
        // Every db leaf arrives once, with its tree's action and time stamp.
        let engine =
            treestat_engine::Engine::new(treestat_engine::EngineConfig::default()).unwrap();
        for m in &msgs {
            engine.push_json(&m.body).unwrap();
        }
        let leaves = engine.query("db").unwrap();
        assert_eq!(leaves.len(), 100);
        assert_eq!(engine.query("web,h,up").unwrap()[0].1, 1.0);
    }

    #[test]
    fn psistats_leaves_out_the_agents_own_subtree() {
        let doc = serde_json::json!([
            {"default_action": "average", "mem": {"h": {"used_percent": 42}}},
            {"default_action": "last", "_treestat": {"agent": {"h": {"dropped": 0}}}}
        ]);
        let msgs = treestat_amqp::encode::psistats_messages(&without_own_stats(&doc));
        assert_eq!(msgs.len(), 1, "{msgs:?}");
        assert_eq!(msgs[0].routing_key, "psistats.h");
    }

    #[test]
    fn bad_parameters_are_named_and_the_password_is_not() {
        let err = |u: &str| output_config(u).unwrap_err().to_string();
        let e = err("amqp://u:secret@h:1/%2f?format=xml");
        assert!(
            e.contains("format") && e.contains("xml") && !e.contains("secret"),
            "{e}"
        );
        assert!(err("amqp://h:1/%2f?buffer=0").contains("buffer"));
        assert!(err("amqp://h:1/%2f?buffer=lots").contains("buffer"));
        assert!(err("amqp://h:1/%2f?exchange=%zz").contains("exchange"));
        assert_eq!(
            redact("amqp://guest:guest@h:5672/%2f?format=json"),
            "amqp://guest:***@h:5672/%2f?format=json"
        );
        assert_eq!(redact("amqp://h:5672"), "amqp://h:5672");
    }
}
