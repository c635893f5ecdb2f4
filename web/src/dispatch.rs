//! The `/pull` dispatcher: one task per server reads the engine's push events and
//! wakes only the waiters whose pattern selects a pushed leaf.
//!
//! Waiters that each subscribed to every push cost every push a wake-up and a match per
//! waiter: 1,024 idle long-polls made a 10k-leaf push cost a second. Here waiters
//! register their pattern; waiters with the same pattern text form one group, and a
//! group whose pattern starts with a literal key is only looked at when the push
//! touched a leaf under that key ([`Engine::top_keys`], no paths built). Only when some
//! group may match are the push's paths resolved (once, shared) and each candidate
//! pattern matched (once). An idle waiter therefore costs a push nothing.
//!
//! Order: the dispatcher subscribes before the first waiter registers, and a waiter
//! registers before it reads the push log, so a push is either in the log it reads or
//! dispatched to it afterwards (duplicates are dropped by sequence number). When the
//! dispatcher lags behind the broadcast, every waiter is told to read the log instead.

use std::collections::HashMap;
use std::sync::Arc;

use parking_lot::Mutex;
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;
use treestat_engine::pattern::Match;
use treestat_engine::{Engine, Pattern, PushEvent};

/// What a waiter is woken with.
#[derive(Debug)]
pub(crate) enum Wake {
    /// A push that touched a leaf its pattern selects.
    Push(Arc<PushEvent>),
    /// Pushes were missed by the dispatcher: read them from the log.
    Lagged,
}

#[derive(Debug)]
struct Group {
    pattern: Pattern,
    waiters: HashMap<u64, mpsc::UnboundedSender<Wake>>,
}

#[derive(Debug, Default)]
struct Registry {
    next: u64,
    /// Groups by pattern text ([`Pattern::cache_key`]).
    groups: HashMap<String, Group>,
    /// Pattern texts whose first segment is a literal key, by that key.
    by_first: HashMap<String, Vec<String>>,
    /// Pattern texts that may match under any first key.
    anywhere: Vec<String>,
    /// Whether the dispatching task runs.
    started: bool,
}

/// The registry of waiting `/pull` requests and the task that wakes them.
#[derive(Debug, Clone, Default)]
pub(crate) struct Dispatcher {
    registry: Arc<Mutex<Registry>>,
}

/// A registration; dropping it unregisters the waiter.
#[derive(Debug)]
pub(crate) struct Registration {
    registry: Arc<Mutex<Registry>>,
    text: String,
    id: u64,
}

fn first_literal(p: &Pattern) -> Option<&str> {
    match p.segments().first().map(|s| &s.matcher) {
        Some(Match::Literal(k)) => Some(k.as_str()),
        _ => None,
    }
}

impl Dispatcher {
    /// Registers a waiter on `pattern`; the receiver gets the pushes that concern it.
    /// Starts the dispatching task on first use (it ends when `shutdown` is cancelled).
    pub(crate) fn register(
        &self,
        engine: &Engine,
        shutdown: &CancellationToken,
        pattern: &Pattern,
    ) -> (Registration, mpsc::UnboundedReceiver<Wake>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let mut reg = self.registry.lock();
        if !reg.started {
            reg.started = true;
            // Subscribed here, before this waiter reads the log: nothing falls between.
            let pushes = engine.subscribe_pushes();
            tokio::spawn(run(
                self.registry.clone(),
                engine.clone(),
                pushes,
                shutdown.clone(),
            ));
        }
        reg.next += 1;
        let id = reg.next;
        let text = pattern.cache_key();
        if !reg.groups.contains_key(&text) {
            match first_literal(pattern) {
                Some(k) => reg
                    .by_first
                    .entry(k.to_string())
                    .or_default()
                    .push(text.clone()),
                None => reg.anywhere.push(text.clone()),
            }
            reg.groups.insert(
                text.clone(),
                Group {
                    pattern: pattern.clone(),
                    waiters: HashMap::new(),
                },
            );
        }
        if let Some(g) = reg.groups.get_mut(&text) {
            g.waiters.insert(id, tx);
        }
        drop(reg);
        (
            Registration {
                registry: self.registry.clone(),
                text,
                id,
            },
            rx,
        )
    }
}

impl Drop for Registration {
    fn drop(&mut self) {
        let mut reg = self.registry.lock();
        let reg = &mut *reg;
        let Some(g) = reg.groups.get_mut(&self.text) else {
            return;
        };
        g.waiters.remove(&self.id);
        if !g.waiters.is_empty() {
            return;
        }
        let first = first_literal(&g.pattern).map(str::to_string);
        reg.groups.remove(&self.text);
        match first {
            Some(k) => {
                if let Some(v) = reg.by_first.get_mut(&k) {
                    v.retain(|t| *t != self.text);
                    if v.is_empty() {
                        reg.by_first.remove(&k);
                    }
                }
            }
            None => reg.anywhere.retain(|t| *t != self.text),
        }
    }
}

async fn run(
    registry: Arc<Mutex<Registry>>,
    engine: Engine,
    mut pushes: tokio::sync::broadcast::Receiver<Arc<PushEvent>>,
    shutdown: CancellationToken,
) {
    loop {
        let got = tokio::select! {
            got = pushes.recv() => got,
            () = shutdown.cancelled() => return,
        };
        match got {
            Ok(ev) => dispatch(&registry, &engine, &ev),
            Err(RecvError::Lagged(_)) => {
                for g in registry.lock().groups.values() {
                    for tx in g.waiters.values() {
                        let _ = tx.send(Wake::Lagged);
                    }
                }
            }
            Err(RecvError::Closed) => return,
        }
    }
}

/// Wakes the waiters whose pattern selects a leaf of `ev`.
fn dispatch(registry: &Mutex<Registry>, engine: &Engine, ev: &Arc<PushEvent>) {
    if ev.changes.is_empty() {
        return;
    }
    let has_literal_groups = !registry.lock().by_first.is_empty();
    let tops = if has_literal_groups {
        engine.top_keys(ev)
    } else {
        Vec::new()
    };
    // The candidate groups: their patterns, and their waiters' senders.
    let candidates: Vec<(Pattern, Vec<mpsc::UnboundedSender<Wake>>)> = {
        let reg = registry.lock();
        let texts = reg
            .anywhere
            .iter()
            .chain(tops.iter().filter_map(|k| reg.by_first.get(k)).flatten());
        texts
            .filter_map(|t| reg.groups.get(t))
            .map(|g| (g.pattern.clone(), g.waiters.values().cloned().collect()))
            .collect()
    };
    if candidates.is_empty() {
        return;
    }
    let paths = engine.event_paths(ev);
    for (pattern, waiters) in candidates {
        if !engine.select(&paths, &pattern).is_empty() {
            for tx in waiters {
                let _ = tx.send(Wake::Push(ev.clone()));
            }
        }
    }
}
