//! The relay (`treestat relay`): listens like a server (TCP lines, UDP datagrams, HTTP
//! `POST /push`, all JSON trees), merges what agents push into an in-process
//! [`Engine`], and at each interval forwards one tree upstream through the same
//! buffered [`Outbox`] the agent uses.
//!
//! The merge uses the engine's own interval: each forward closes the open interval and
//! sends every touched leaf's interval aggregate under its action (`add` sums what the
//! agents pushed, `average` averages it, ...), grouped into one tree per action with
//! `default_action`, plus the interval's markers. The relay's counters go under
//! `_treestat,relay,<host>` in the same push.

mod listen;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use serde_json::{Map, Value as Json, json};
use treestat_engine::{Action, Engine, EngineConfig};

use crate::config::{AgentConfig, ServerUrl};
use crate::error::{Error, Result};
use crate::shutdown::Shutdown;
use crate::transport::{Outbox, OutboxConfig, ServerStats};
use crate::tree::{insert, sanitize_key};

/// Counters shared by the listeners.
#[derive(Debug, Default)]
pub struct RelayCounters {
    /// Documents merged.
    pub received: AtomicU64,
    /// Documents refused (not JSON, bad key, over a limit).
    pub rejected: AtomicU64,
}

/// A relay with its sockets bound, not yet running.
pub struct Relay {
    engine: Engine,
    outbox: Outbox,
    interval: Duration,
    host: String,
    listeners: Vec<listen::Bound>,
    counters: Arc<RelayCounters>,
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
            .map(|u| listen::Bound::bind(&ServerUrl::parse(u)?))
            .collect::<Result<Vec<_>>>()?;
        let engine = Engine::new(EngineConfig {
            interval: rc.interval,
            ring: 1,
            ring_bytes: 1 << 20,
            ..EngineConfig::default()
        })
        .map_err(|e| Error::config(format!("relay engine: {e}")))?;
        let outbox = Outbox::start(&OutboxConfig::from_agent(config, &rc.upstream)?)?;
        Ok(Relay {
            engine,
            outbox,
            interval: rc.interval,
            host: config.host_name(),
            listeners,
            counters: Arc::new(RelayCounters::default()),
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
    pub fn run(self, shutdown: &Shutdown, grace: Duration) -> Vec<ServerStats> {
        let mut threads: Vec<JoinHandle<()>> = Vec::new();
        for l in self.listeners {
            let (engine, counters, s) = (
                self.engine.clone(),
                Arc::clone(&self.counters),
                shutdown.clone(),
            );
            match l.serve(engine, counters, s) {
                Ok(t) => threads.push(t),
                Err(e) => tracing::error!("relay listener: {e}"),
            }
        }
        let mut next = Instant::now() + self.interval;
        loop {
            let stop = shutdown.wait_until(next);
            forward(&self.engine, &self.outbox, &self.host, &self.counters);
            if stop {
                break;
            }
            next += self.interval;
            let now = Instant::now();
            while next <= now {
                next += self.interval;
            }
        }
        for t in threads {
            let _ = t.join();
        }
        self.outbox.close(grace)
    }
}

/// Closes the engine's open interval and queues its merged tree upstream; returns the
/// document (`None` when nothing arrived).
fn forward(engine: &Engine, outbox: &Outbox, host: &str, counters: &RelayCounters) -> Option<Json> {
    let closed = engine.close_now();
    let ids: Vec<_> = closed.points.iter().map(|p| p.leaf).collect();
    let paths = engine.leaf_paths(&ids);
    let mut trees: Vec<(Action, Map<String, Json>)> = Vec::new();
    for (p, path) in closed.points.iter().zip(paths) {
        let Some(path) = path else { continue };
        let value = p.stats.value(p.action);
        if !value.is_finite() {
            continue;
        }
        let keys: Vec<String> = path.split(',').map(str::to_string).collect();
        let i = tree_for(&mut trees, p.action);
        insert(&mut trees[i].1, &keys, Json::from(value));
    }
    for m in &closed.markers {
        let keys: Vec<String> = m.path.split(',').map(str::to_string).collect();
        let i = tree_for(&mut trees, Action::Last);
        insert(&mut trees[i].1, &keys, Json::String(m.text.clone()));
    }
    if trees.is_empty() {
        return None;
    }
    let stats = outbox.stats();
    let own = json!({
        "received": counters.received.load(Ordering::Relaxed),
        "rejected": counters.rejected.load(Ordering::Relaxed),
        "dropped": stats.iter().map(|s| s.dropped).sum::<u64>(),
        "pending": stats.iter().map(|s| s.pending).sum::<usize>(),
    });
    let i = tree_for(&mut trees, Action::Last);
    insert(
        &mut trees[i].1,
        &["_treestat".into(), "relay".into(), sanitize_key(host)],
        own,
    );
    let doc = Json::Array(trees.into_iter().map(|(_, t)| Json::Object(t)).collect());
    outbox.send(&doc);
    Some(doc)
}

/// The index of the tree for `action` in `trees`, added (with `default_action`) if new.
fn tree_for(trees: &mut Vec<(Action, Map<String, Json>)>, action: Action) -> usize {
    if let Some(i) = trees.iter().position(|(a, _)| *a == action) {
        return i;
    }
    let mut m = Map::new();
    m.insert("default_action".into(), Json::from(action.as_str()));
    trees.push((action, m));
    trees.len() - 1
}

/// `treestat relay`: binds `config.relay.listen`, forwards to `config.relay.upstream`
/// every `config.relay.interval`, until `shutdown`. Blocking: call it from a plain
/// thread (or `spawn_blocking`).
///
/// # Errors
/// As [`Relay::bind`].
pub fn run(config: &AgentConfig, shutdown: &Shutdown) -> Result<Vec<ServerStats>> {
    let relay = Relay::bind(config)?;
    tracing::info!(listen = ?relay.local_addrs(), upstream = ?config.relay.upstream, "relay started");
    Ok(relay.run(shutdown, config.timeout))
}
