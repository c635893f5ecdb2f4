//! The relay (`treestat relay`): listens like a server (TCP lines and UDP datagrams of
//! JSON trees and SimpleStats tuples, HTTP `POST /push` of JSON trees and access-log
//! lines and `PUT /raw` log streams, the lines through the pipes of `[relay.accesslog]`;
//! StatsD on `statsd://` and Graphite plaintext on `graphite://` through the engine's
//! own listeners), merges what agents push into an
//! in-process [`Engine`], and at each interval forwards one tree upstream through the
//! same buffered [`Outbox`] the agent uses (to sharded ingest, an upstream
//! `amqp://...?sharded=1` cuts it into one message per shard key).
//!
//! The merge uses the engine's own interval, closed on the wall clock's interval
//! boundaries as the server closes its own: each forward closes the open interval and
//! sends every touched leaf's interval aggregate under its action (`add` sums what the
//! agents pushed, `average` averages it, ...), grouped into one tree per action with
//! `default_action`, plus the interval's markers. The relay's counters go under
//! `_treestat,relay,<host>` in the same push.
//!
//! Every forwarded tree is dated (`"timestamp"`): the interval's aggregates with the
//! interval's start, markers with their own time. Samples the agents dated before the
//! relay's open interval (replayed from an agent's buffer) are not folded into it: they
//! go upstream as arrays of the raw samples, one tree per action and time stamp, so the
//! server files each in the interval it was measured in.

mod counters;
mod http;
mod limits;
mod listen;
mod logs;

use std::sync::Arc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Map, Value as Json, json};
use treestat_engine::{Action, ClosedInterval, Engine, EngineConfig};

use crate::config::AgentConfig;
pub use counters::{RelayCounters, RelaySnapshot};

use crate::error::{Error, Result};
use crate::transport::{Outbox, OutboxConfig, ServerStats};
use crate::tree::{insert, insert_under, sanitize_key};
use treestat_engine::stop::{CancellationToken, Wait};
use treestat_model::{DEFAULT_ACTION_KEY, TIMESTAMP_KEY};

/// A relay with its sockets bound, not yet running.
pub struct Relay {
    engine: Engine,
    outbox: Outbox,
    host: String,
    listeners: Vec<listen::Bound>,
    counters: Arc<RelayCounters>,
    logs: Arc<logs::RelayLogs>,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("listen", &self.local_addrs())
            .finish()
    }
}

impl Relay {
    /// Binds every `relay.listen` address of `config` and starts the upstream senders
    /// (`relay.upstream`, with the agent's buffer settings).
    ///
    /// # Errors
    /// No listen address or no upstream, an address that cannot be bound (named), or a
    /// spool that cannot be opened.
    pub fn bind(config: &AgentConfig) -> Result<Relay> {
        config.validate()?;
        let rc = &config.relay;
        if rc.listen.is_empty() {
            return Err(Error::config("relay.listen: no address to listen on"));
        }
        if rc.upstream.is_empty() {
            return Err(Error::config("relay.upstream: no server to forward to"));
        }
        let listeners = rc
            .listen
            .iter()
            .map(|u| listen::Bound::bind_listen(u))
            .collect::<Result<Vec<_>>>()?;
        let engine = Engine::new(EngineConfig {
            interval: rc.interval,
            ring: 1,
            ring_bytes: 1 << 20,
            ..EngineConfig::default()
        })
        .map_err(|e| Error::config(format!("relay engine: {e}")))?;
        let logs = Arc::new(logs::RelayLogs::new(&rc.accesslog)?);
        let outbox = Outbox::start(&OutboxConfig::from_agent(config, &rc.upstream)?)?;
        let counters = Arc::new(RelayCounters::default());
        let stats = outbox.stats();
        let upstreams: Vec<String> = stats.iter().map(|s| s.url.clone()).collect();
        RelayCounters::register(&counters, &upstreams);
        *counters.upstream.lock() = stats;
        Ok(Relay {
            engine,
            outbox,
            host: config.host_name(),
            listeners,
            counters,
            logs,
        })
    }

    /// The relay's counters (documents merged and refused), live while it runs.
    pub fn counters(&self) -> Arc<RelayCounters> {
        Arc::clone(&self.counters)
    }

    /// The relay's engine (a cheap-clone handle): what has been merged, with totals
    /// since start, for queries.
    pub fn engine(&self) -> Engine {
        self.engine.clone()
    }

    /// The bound addresses, as URLs (port 0 resolved).
    pub fn local_addrs(&self) -> Vec<String> {
        self.listeners.iter().map(listen::Bound::url).collect()
    }

    /// Runs until `shutdown`: serves the listeners and forwards one tree per interval;
    /// at shutdown forwards what the open interval holds and gives the senders up to
    /// `grace` to deliver.
    pub fn run(self, shutdown: &CancellationToken, grace: Duration) -> Vec<ServerStats> {
        let mut threads: Vec<JoinHandle<()>> = Vec::new();
        for l in self.listeners {
            let (engine, counters, logs, s) = (
                self.engine.clone(),
                Arc::clone(&self.counters),
                Arc::clone(&self.logs),
                shutdown.clone(),
            );
            match l.serve(engine, counters, logs, s) {
                Ok(t) => threads.push(t),
                Err(e) => tracing::error!("relay listener: {e}"),
            }
        }
        loop {
            // On the wall clock's interval boundaries, as the server closes its own: a
            // push dated in second k that arrives just after k ends is then late here
            // and forwarded at its own time, never folded into the next interval.
            let stop = shutdown.wait_until(Instant::now() + until_boundary(&self.engine));
            let closed = if stop {
                Some(self.engine.close_now())
            } else {
                self.engine.close_due()
            };
            // Intervals a listener closed when a push arrived after their boundary come
            // first (they are older), then the one closed here.
            let mut due = std::mem::take(&mut *self.counters.closed.lock());
            due.extend(closed);
            for closed in &due {
                forward(
                    &self.engine,
                    closed,
                    &self.outbox,
                    &self.host,
                    &self.counters,
                );
            }
            *self.counters.upstream.lock() = self.outbox.stats();
            if stop {
                break;
            }
        }
        for t in threads {
            let _ = t.join();
        }
        self.outbox.close(grace)
    }
}

/// Time left until the engine's open interval ends on the wall clock (a few
/// milliseconds more, so the clock has surely passed the boundary).
fn until_boundary(engine: &Engine) -> Duration {
    let stats = engine.stats();
    let end_ms = (stats.open_start + engine.interval_secs()).saturating_mul(1000);
    let now_ms = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    Duration::from_millis(u64::try_from(end_ms - now_ms).unwrap_or(0) + 5)
}

/// Queues the merged tree of the `closed` interval upstream; returns the document
/// (`None` when nothing arrived).
fn forward(
    engine: &Engine,
    closed: &ClosedInterval,
    outbox: &Outbox,
    host: &str,
    counters: &RelayCounters,
) -> Option<Json> {
    let ids: Vec<_> = closed.points.iter().map(|p| p.leaf).collect();
    let paths = engine.leaf_paths(&ids);
    let start = closed.start;
    let mut trees: Vec<(Action, i64, Map<String, Json>)> = Vec::new();
    // A histogram leaf goes upstream as its interval's raw samples (an array: samples
    // for the server's sketch) when the relay kept them all, else as its mean.
    let raw: std::collections::HashMap<_, _> = closed
        .hists
        .iter()
        .filter_map(|(leaf, h)| Some((*leaf, h.complete_raw()?)))
        .collect();
    // Points come in leaf order, so the leaves a push created together come in runs
    // under one parent: each run is placed with one walk from the root.
    let mut run: Option<(usize, String)> = None;
    let mut leaves: Vec<(String, Json)> = Vec::new();
    for (p, path) in closed.points.iter().zip(paths) {
        let Some(path) = path else { continue };
        let value = p.stats.value(p.action);
        if !value.is_finite() {
            continue;
        }
        let i = tree_for(&mut trees, p.action, start);
        let (parent, key) = path.rsplit_once(',').unwrap_or(("", &path));
        if run
            .as_ref()
            .is_none_or(|(t, run_parent)| *t != i || run_parent != parent)
        {
            if let Some((t, run_parent)) = run.take() {
                insert_under(&mut trees[t].2, keys_of(&run_parent), leaves.drain(..));
            }
            run = Some((i, parent.to_string()));
        }
        let json = match raw.get(&p.leaf) {
            Some(samples) if p.action == Action::Histogram => Json::from(samples.to_vec()),
            _ => Json::from(value),
        };
        leaves.push((key.to_string(), json));
    }
    if let Some((t, run_parent)) = run {
        insert_under(&mut trees[t].2, keys_of(&run_parent), leaves);
    }
    let late_ids: Vec<_> = closed.late.iter().map(|p| p.leaf).collect();
    let late_paths = engine.leaf_paths(&late_ids);
    for (p, path) in closed.late.iter().zip(late_paths) {
        let Some(path) = path else { continue };
        if !p.value.is_finite() {
            continue;
        }
        let keys: Vec<String> = path.split(',').map(str::to_string).collect();
        let i = tree_for(&mut trees, p.action, p.ts);
        append_sample(&mut trees[i].2, &keys, p.value);
    }
    for m in &closed.markers {
        let keys: Vec<String> = m.path.split(',').map(str::to_string).collect();
        let i = tree_for(&mut trees, Action::Last, m.ts);
        insert(&mut trees[i].2, &keys, Json::String(m.text.clone()));
    }
    if trees.is_empty() {
        return None;
    }
    let stats = outbox.stats();
    let mut own = counters.snapshot().to_json();
    own.insert(
        "dropped".into(),
        json!(stats.iter().map(|s| s.dropped).sum::<u64>()),
    );
    own.insert(
        "pending".into(),
        json!(stats.iter().map(|s| s.pending).sum::<usize>()),
    );
    own.insert(
        "sent".into(),
        json!(stats.iter().map(|s| s.sent).sum::<u64>()),
    );
    let own = Json::Object(own);
    let i = tree_for(&mut trees, Action::Last, start);
    insert(
        &mut trees[i].2,
        &["_treestat".into(), "relay".into(), sanitize_key(host)],
        own,
    );
    let doc = Json::Array(trees.into_iter().map(|(_, _, t)| Json::Object(t)).collect());
    outbox.send(&doc);
    Some(doc)
}

/// The keys of a path (none for the root's empty path).
fn keys_of(path: &str) -> impl Iterator<Item = &str> {
    path.split(',').filter(|k| !k.is_empty())
}

/// The index of the tree for `action` dated `ts` in `trees`, added (with
/// `default_action` and `timestamp`) if new.
fn tree_for(trees: &mut Vec<(Action, i64, Map<String, Json>)>, action: Action, ts: i64) -> usize {
    if let Some(i) = trees.iter().position(|(a, t, _)| *a == action && *t == ts) {
        return i;
    }
    let mut m = Map::new();
    m.insert(DEFAULT_ACTION_KEY.into(), Json::from(action.as_str()));
    m.insert(TIMESTAMP_KEY.into(), Json::from(ts));
    trees.push((action, ts, m));
    trees.len() - 1
}

/// Adds one raw sample at `keys`: the leaf becomes an array of samples (the engine
/// applies each), so several late samples of one leaf and second all arrive.
fn append_sample(tree: &mut Map<String, Json>, keys: &[String], value: f64) {
    let mut node = &*tree;
    for k in keys.iter().take(keys.len().saturating_sub(1)) {
        match node.get(k) {
            Some(Json::Object(m)) => node = m,
            _ => break,
        }
    }
    let existing = keys.last().and_then(|k| node.get(k)).cloned();
    let leaf = match existing {
        Some(Json::Array(mut v)) => {
            v.push(Json::from(value));
            Json::Array(v)
        }
        _ => Json::Array(vec![Json::from(value)]),
    };
    insert(tree, keys, leaf);
}

/// `treestat relay`: binds `config.relay.listen`, forwards to `config.relay.upstream`
/// every `config.relay.interval`, until `shutdown`. Blocking: call it from a plain
/// thread (or `spawn_blocking`).
///
/// # Errors
/// As [`Relay::bind`].
pub fn run(config: &AgentConfig, shutdown: &CancellationToken) -> Result<Vec<ServerStats>> {
    let relay = Relay::bind(config)?;
    tracing::info!(listen = ?relay.local_addrs(), upstream = ?config.relay.upstream, "relay started");
    Ok(relay.run(shutdown, config.timeout))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn engine() -> Engine {
        Engine::new(EngineConfig {
            interval: Duration::from_secs(10),
            ring: 1,
            ring_bytes: 1 << 20,
            ..EngineConfig::default()
        })
        .unwrap()
    }

    fn no_upstream() -> Outbox {
        Outbox::start(&OutboxConfig {
            servers: Vec::new(),
            timeout: Duration::from_secs(1),
            udp_max_datagram: 1400,
            max_document: 60000,
            buffer_count: 1,
            spool: None,
            max_backoff: Duration::from_secs(1),
            tls: None,
            token: None,
        })
        .unwrap()
    }

    #[test]
    fn forwarded_trees_are_dated_and_late_samples_keep_their_time() {
        let e = engine();
        let late = crate::tree::unix_secs_at(
            Instant::now()
                .checked_sub(Duration::from_secs(120))
                .unwrap(),
        );
        let doc = json!([
            {"default_action": "add", "app": {"a": {"hits": 2}}},
            {"default_action": "add", "timestamp": late, "app": {"b": {"hits": 1}}},
            {"default_action": "add", "timestamp": late, "app": {"b": {"hits": 4}}}
        ]);
        e.push_json(doc.to_string().as_bytes()).unwrap();
        let start = e.stats().open_start;
        let counters = RelayCounters::default();
        let closed = e.close_now();
        let out = forward(&e, &closed, &no_upstream(), "r", &counters).unwrap();
        let trees = out.as_array().unwrap();
        let on_time = trees
            .iter()
            .find(|t| t["default_action"] == "add" && t["timestamp"] == start)
            .unwrap();
        assert_eq!(on_time["app"], json!({"a": {"hits": 2.0}}));
        let replayed = trees
            .iter()
            .find(|t| t["default_action"] == "add" && t["timestamp"] == late)
            .unwrap();
        assert_eq!(replayed["app"], json!({"b": {"hits": [1.0, 4.0]}}));
        // The upstream server applies each sample in the interval of `late`.
        let server = engine();
        server.push_json(out.to_string().as_bytes()).unwrap();
        assert_eq!(server.query("app,b,hits").unwrap()[0].1, 5.0);
        let closed = server.close_now();
        assert_eq!(closed.late.len(), 2);
        assert!(closed.late.iter().all(|p| p.ts == late));
    }

    /// Issue 15: a histogram leaf goes upstream as its interval's samples, so the
    /// server's sketch holds the same distribution (it went as one mean before).
    #[test]
    fn histogram_leaves_are_forwarded_as_their_samples() {
        let e = engine();
        e.push_json(br#"{"default_action":"histogram","app":{"lat":[5,1,250]}}"#)
            .unwrap();
        let start = e.stats().open_start;
        let closed = e.close_now();
        let out = forward(&e, &closed, &no_upstream(), "r", &RelayCounters::default()).unwrap();
        let tree = out
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["default_action"] == "histogram" && t["timestamp"] == start)
            .unwrap();
        assert_eq!(tree["app"], json!({"lat": [5.0, 1.0, 250.0]}));
        let server = engine();
        server.push_json(out.to_string().as_bytes()).unwrap();
        let p = treestat_engine::Pattern::parse("app,lat").unwrap();
        let stats = treestat_engine::parse_stats("count,p100,p0").unwrap();
        assert_eq!(
            server.query_stats(&p, &stats)[0].1,
            [Some(3.0), Some(250.0), Some(1.0)]
        );
    }
}
