//! [`Engine`]: the shared handle that every source pushes into and every reader queries.
//!
//! One `parking_lot::RwLock` guards the tree, the open interval and the ring: a push is a
//! short write section (validation happens before the lock), queries share the read
//! lock. A std-style blocking lock is right here because no section awaits and each is
//! short; async callers hold it only between awaits. Closed intervals and push events
//! are handed out after unlocking, through sinks and tokio broadcast channels.

mod close;
mod delete;
mod keys;
mod metrics;
mod queries;
mod register;
mod restore;
mod wal;

pub use delete::Deleted;
pub use keys::{KeyEntry, KeyListing};
pub use metrics::EngineMetrics;

use std::collections::VecDeque;
use std::sync::{Arc, OnceLock};

use parking_lot::{Mutex, RwLock};
use tokio::sync::broadcast;

use crate::Action;
use crate::batch::Batch;
use crate::config::EngineConfig;
use crate::error::{Error, ErrorKind};
use crate::interval::{
    Clock, ClosedInterval, IntervalSink, Marker, OpenInterval, Ring, SystemClock,
};
use crate::merge::{Merger, Touched, count_new_batch, count_new_tree};
use crate::pattern::Pattern;
use crate::push::PushDoc;
use crate::shared_paths::{PATHS_PER_LOCK, PathMemo, RECENT_RESOLVED, SharedPaths};
use crate::stats::Stats;
use crate::tree::{LeafId, ROOT, Tree};
use crate::wal::Wal;
use crate::wal::codec;

/// A path and its per-interval values from the ring, oldest first.
pub type RecentSeries = (String, Vec<(i64, f64)>);

/// What a push changed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct PushSummary {
    /// Samples merged.
    pub samples: usize,
    /// Distinct leaves touched.
    pub leaves: usize,
    /// Markers kept.
    pub markers: usize,
    /// Nodes the push added to the tree.
    pub new_nodes: usize,
    /// Samples and markers refused by a byte bound (`limits.max_late_bytes`,
    /// `limits.max_marker_bytes`); the rest of the push landed.
    pub dropped: usize,
    /// Samples skipped because their time stamp lies beyond `engine.max_future`.
    pub refused_future: usize,
    /// Samples skipped because they, or their fold into a total or interval sum,
    /// would not be a finite number.
    pub refused_nonfinite: usize,
}

/// One applied push, as `/pull` waiters see it.
#[derive(Debug, Clone, PartialEq)]
pub struct PushEvent {
    /// Position in the push log; a `/pull` cursor.
    pub seq: u64,
    /// Unix seconds.
    pub ts: i64,
    /// Each touched leaf with its value after the push.
    pub changes: Vec<(LeafId, f64)>,
    /// Markers the push brought.
    pub markers: Vec<Marker>,
    /// The paths of `changes`, resolved once for every reader by
    /// [`Engine::event_paths`].
    pub resolved: PathMemo,
}

/// A point-in-time view of the engine's size.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
pub struct EngineStats {
    /// Nodes in the tree.
    pub nodes: usize,
    /// Leaves in the tree.
    pub leaves: usize,
    /// Approximate heap bytes of the tree.
    pub tree_bytes: usize,
    /// Closed intervals in the ring.
    pub ring_intervals: usize,
    /// Bytes held by the ring.
    pub ring_bytes: usize,
    /// Markers kept.
    pub markers: usize,
    /// Start of the open interval (unix seconds).
    pub open_start: i64,
}

struct State {
    tree: Tree,
    open: OpenInterval,
    ring: Ring,
    markers: VecDeque<Marker>,
    /// Bytes held by `markers`.
    marker_bytes: usize,
    log: VecDeque<Arc<PushEvent>>,
    /// Bytes held by `log` ([`PushEvent::bytes`]).
    log_bytes: usize,
    seq: u64,
    /// The write-ahead log's sequence number of the last push merged (logged now or
    /// replayed); closed intervals carry it.
    wal_seq: u64,
}

impl State {
    /// Keeps a marker beside the tree; the oldest go first past the count or byte bound.
    fn keep_marker(&mut self, m: Marker, limits: &crate::config::Limits) {
        self.marker_bytes += m.bytes();
        self.markers.push_back(m);
        while self.markers.len() > limits.max_markers
            || (self.marker_bytes > limits.max_marker_bytes && self.markers.len() > 1)
        {
            let Some(old) = self.markers.pop_front() else {
                break;
            };
            self.marker_bytes -= old.bytes();
        }
    }

    /// Remembers a push for `/pull?cursor=`; the oldest go first past the count or byte
    /// bound (the newest always stays, so a cursor can move on).
    fn log_push(&mut self, ev: Arc<PushEvent>, max: usize, max_bytes: usize) {
        self.log_bytes += ev.bytes();
        self.log.push_back(ev);
        while self.log.len() > max || (self.log_bytes > max_bytes && self.log.len() > 1) {
            let Some(old) = self.log.pop_front() else {
                break;
            };
            self.log_bytes -= old.bytes();
        }
    }
}

impl PushEvent {
    /// Bytes the event holds, for the push log's byte bound (what is allocated, not
    /// what is used: a collected list may hold up to twice its length).
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<PushEvent>()
            + self.changes.capacity() * std::mem::size_of::<(LeafId, f64)>()
            + self.markers.iter().map(Marker::bytes).sum::<usize>()
    }
}

struct Shared {
    config: EngineConfig,
    rules: Vec<(Pattern, Action)>,
    interval: i64,
    clock: Arc<dyn Clock>,
    state: RwLock<State>,
    sinks: Mutex<Vec<Arc<dyn IntervalSink>>>,
    closed_tx: broadcast::Sender<Arc<ClosedInterval>>,
    pushes_tx: broadcast::Sender<Arc<PushEvent>>,
    metrics: EngineMetrics,
    /// The last resolved shared paths, kept alive for readers still to come.
    recent_paths: Mutex<VecDeque<Arc<SharedPaths>>>,
    /// The write-ahead log, once the server has replayed it and started it.
    wal: OnceLock<Wal>,
    /// Held by a close from before its write section until its sinks have the
    /// interval, and by a delete likewise: the sinks see both in the engine's order.
    sink_order: Mutex<()>,
}

/// What the merge does with the write-ahead log.
enum WalStep {
    /// Nothing: no log, the log is full, or the push is not logged.
    Skip,
    /// Log the body encoded on this thread ([`Wal::admit`]) once merged.
    Log,
    /// A record replayed on start, with its sequence number.
    Replayed(u64),
}

/// The metric engine: a cheap-clone handle (`Arc` inside), `Send + Sync`.
#[derive(Clone)]
pub struct Engine {
    shared: Arc<Shared>,
}

impl std::fmt::Debug for Engine {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Engine")
            .field("stats", &self.stats())
            .finish()
    }
}

impl Default for Engine {
    fn default() -> Engine {
        Engine::new(EngineConfig::default()).unwrap_or_else(|_| unreachable_default())
    }
}

fn unreachable_default() -> Engine {
    // The default config has no rules, so building it cannot fail.
    panic!("the default engine configuration is valid")
}

/// One row of [`Engine::query_stats`]: a path and one value per stat asked (`None`:
/// the leaf, or no leaf folded there, has that stat).
pub type StatRow = (String, Vec<Option<f64>>);

impl Engine {
    /// An engine on the system clock.
    ///
    /// # Errors
    /// `BadPattern` when an action rule's pattern does not parse.
    pub fn new(config: EngineConfig) -> Result<Engine, Error> {
        Engine::with_clock(config, Arc::new(SystemClock))
    }

    /// An engine on a given clock (tests use [`ManualClock`](crate::ManualClock)).
    ///
    /// # Errors
    /// As [`Engine::new`].
    pub fn with_clock(config: EngineConfig, clock: Arc<dyn Clock>) -> Result<Engine, Error> {
        let rules = config
            .actions
            .iter()
            .map(|r| Ok((Pattern::parse(&r.pattern)?.with_internal(true), r.action)))
            .collect::<Result<Vec<_>, Error>>()?;
        let interval = i64::try_from(config.interval.as_secs())
            .unwrap_or(10)
            .max(1);
        let state = State {
            tree: Tree::new(config.root_action),
            open: OpenInterval::new(clock.now(), interval),
            ring: Ring::new(config.ring, config.ring_bytes),
            markers: VecDeque::new(),
            marker_bytes: 0,
            log: VecDeque::new(),
            log_bytes: 0,
            seq: 0,
            wal_seq: 0,
        };
        let (closed_tx, _) = broadcast::channel(64);
        let (pushes_tx, _) = broadcast::channel(1024);
        Ok(Engine {
            shared: Arc::new(Shared {
                config,
                rules,
                interval,
                clock,
                state: RwLock::new(state),
                sinks: Mutex::new(Vec::new()),
                closed_tx,
                pushes_tx,
                metrics: EngineMetrics::default(),
                recent_paths: Mutex::new(VecDeque::new()),
                wal: OnceLock::new(),
                sink_order: Mutex::new(()),
            }),
        })
    }

    /// The configuration the engine was built from.
    pub fn config(&self) -> &EngineConfig {
        &self.shared.config
    }

    /// Interval length in seconds.
    pub fn interval_secs(&self) -> i64 {
        self.shared.interval
    }

    /// The engine's clock reading (unix seconds).
    pub fn now(&self) -> i64 {
        self.shared.clock.now()
    }

    /// The engine's clock (the trend store reads "now" from the same one).
    pub fn clock(&self) -> Arc<dyn Clock> {
        self.shared.clock.clone()
    }

    /// Refuses a push document dated beyond `engine.max_future` (whole: a JSON push is
    /// all or nothing). Listeners that gather several documents call this per line so
    /// that one bad line does not refuse the others.
    ///
    /// # Errors
    /// `FutureTime`, naming the time stamp and the server's clock.
    pub fn check_time(&self, doc: &PushDoc) -> Result<(), Error> {
        let now = self.now();
        let max = now.saturating_add(self.shared.config.max_future_secs());
        match doc.trees.iter().filter_map(|t| t.ts).find(|&ts| ts > max) {
            Some(ts) => {
                self.shared.metrics.refused_future.inc();
                Err(self.reject(Error::new(
                    ErrorKind::FutureTime,
                    format!(
                        "timestamp {ts} is {}s ahead of the server's clock ({now}); \
                         engine.max_future allows {}s",
                        ts - now,
                        self.shared.config.max_future_secs()
                    ),
                )))
            }
            None => Ok(()),
        }
    }

    fn reject(&self, e: Error) -> Error {
        self.shared.metrics.reject(e.kind());
        e
    }

    /// Parses and merges a JSON push (a tree or an array of trees), all or nothing.
    ///
    /// # Errors
    /// The push is refused whole, naming the bad key, value or limit.
    pub fn push_json(&self, doc: &[u8]) -> Result<PushSummary, Error> {
        let doc = PushDoc::from_json(doc, self.shared.config.limits.max_depth)
            .map_err(|e| self.reject(e))?;
        self.push_doc(&doc)
    }

    /// Merges a parsed, validated push document, all or nothing; only a sample whose
    /// fold would not be finite is skipped alone (counted in the summary).
    ///
    /// # Errors
    /// `PushTooLarge` or `TreeFull` when the push would pass a node limit;
    /// `FutureTime` for a `timestamp` beyond `engine.max_future`.
    pub fn push_doc(&self, doc: &PushDoc) -> Result<PushSummary, Error> {
        self.check_time(doc)?;
        let wal = self.wal_step(|out| codec::encode_doc(doc, out))?;
        self.merge_doc(doc, None, wal)
    }

    fn merge_doc(
        &self,
        doc: &PushDoc,
        at: Option<i64>,
        wal: WalStep,
    ) -> Result<PushSummary, Error> {
        self.merge_with(
            doc.max_new_nodes(),
            |tree| {
                doc.trees
                    .iter()
                    .map(|t| count_new_tree(tree, Some(ROOT), t))
                    .sum()
            },
            |m| {
                let mut keys = Vec::new();
                for t in &doc.trees {
                    let ts = t.ts.unwrap_or(m.now);
                    m.merge_tree(ROOT, t, None, ts, &mut keys);
                }
            },
            at,
            wal,
        )
    }

    /// Merges flat updates, all or nothing as to keys and limits. A sample that is not
    /// finite, would make a total non-finite, or is dated beyond `engine.max_future`
    /// is skipped alone and counted in the summary; the other updates land.
    ///
    /// # Errors
    /// `BadKey`, `BadValue`, `TooDeep` naming the update; `PushTooLarge`, `TreeFull`.
    pub fn apply(&self, batch: &Batch) -> Result<PushSummary, Error> {
        batch
            .validate(self.shared.config.limits.max_depth)
            .map_err(|e| self.reject(e))?;
        let wal = self.wal_step(|out| codec::encode_batch(batch, out))?;
        self.merge_batch(batch, None, wal)
    }

    fn merge_batch(
        &self,
        batch: &Batch,
        at: Option<i64>,
        wal: WalStep,
    ) -> Result<PushSummary, Error> {
        let upper = batch
            .updates()
            .iter()
            .map(|u| u.path().split(',').count() as u64)
            .sum::<u64>();
        self.merge_with(
            upper,
            |tree| count_new_batch(tree, batch.updates()),
            |m| {
                for u in batch.updates() {
                    m.apply_update(u);
                }
            },
            at,
            wal,
        )
    }

    fn merge_with(
        &self,
        upper: u64,
        exact: impl FnOnce(&Tree) -> u64,
        apply: impl FnOnce(&mut Merger<'_>),
        at: Option<i64>,
        wal: WalStep,
    ) -> Result<PushSummary, Error> {
        let sh = &*self.shared;
        let now = at.unwrap_or_else(|| sh.clock.now());
        let mut guard = sh.state.write();
        let st = &mut *guard;
        let before = st.tree.node_count();
        let mut m = Merger {
            tree: &mut st.tree,
            open: &mut st.open,
            rules: &sh.rules,
            limits: &sh.config.limits,
            now,
            max_ts: now.saturating_add(sh.config.max_future_secs()),
            touched: Touched::default(),
        };
        m.check_room(upper, exact).map_err(|e| self.reject(e))?;
        apply(&mut m);
        let Touched {
            mut leaves,
            samples,
            markers,
            dropped,
            future,
            nonfinite,
        } = m.touched;
        leaves.sort_unstable();
        leaves.dedup();
        let summary = PushSummary {
            samples,
            leaves: leaves.len(),
            markers: markers.len(),
            new_nodes: st.tree.node_count() - before,
            dropped,
            refused_future: future,
            refused_nonfinite: nonfinite,
        };
        for mk in &markers {
            st.keep_marker(mk.clone(), &sh.config.limits);
        }
        match wal {
            WalStep::Skip => {}
            WalStep::Log => {
                if let Some(w) = sh.wal.get() {
                    // Numbered and queued under the lock: the log's order is the
                    // merge order, and a close sees every push merged before it.
                    st.wal_seq += 1;
                    w.send(st.wal_seq, st.open.start, st.open.len, now);
                }
            }
            WalStep::Replayed(seq) => st.wal_seq = st.wal_seq.max(seq),
        }
        let event = if sh.config.pull_log > 0 || sh.pushes_tx.receiver_count() > 0 {
            st.seq += 1;
            let changes = leaves
                .iter()
                .filter_map(|&l| Some((LeafId(l), st.tree.leaf(LeafId(l))?.value())))
                .collect();
            let ev = Arc::new(PushEvent {
                seq: st.seq,
                ts: now,
                changes,
                markers,
                resolved: PathMemo::default(),
            });
            if sh.config.pull_log > 0 {
                st.log_push(ev.clone(), sh.config.pull_log, sh.config.pull_log_bytes);
            }
            Some(ev)
        } else {
            None
        };
        drop(guard);
        sh.metrics.pushes.inc();
        if summary.dropped > 0 {
            sh.metrics.dropped.add(summary.dropped as u64);
        }
        sh.metrics.samples.add(summary.samples as u64);
        if future > 0 {
            sh.metrics.refused_future.add(future as u64);
        }
        if nonfinite > 0 {
            sh.metrics.refused_nonfinite.add(nonfinite as u64);
            tracing::debug!(
                nonfinite,
                "samples refused: not finite, or would overflow a total"
            );
        }
        if let Some(ev) = event {
            // An error only means nobody is subscribed right now.
            let _ = sh.pushes_tx.send(ev);
        }
        Ok(summary)
    }

    /// The path of a leaf.
    pub fn leaf_path(&self, id: LeafId) -> Option<String> {
        self.shared.state.read().tree.leaf_path(id)
    }

    /// The paths of several leaves at once: O(depth) each, under short read locks
    /// ([`PATHS_PER_LOCK`] paths per hold) so that pushes never wait for all of them.
    pub fn leaf_paths(&self, ids: &[LeafId]) -> Vec<Option<String>> {
        let mut out = Vec::with_capacity(ids.len());
        for chunk in ids.chunks(PATHS_PER_LOCK) {
            let st = self.shared.state.read();
            out.extend(chunk.iter().map(|&id| st.tree.leaf_path(id)));
        }
        out
    }

    /// The paths of a push's `changes`, resolved by the first reader that asks and
    /// shared with every other (`/pull` waiters).
    pub fn event_paths(&self, ev: &PushEvent) -> Arc<SharedPaths> {
        let (paths, fresh) = ev.resolved.get_or_init(|| {
            let ids: Vec<LeafId> = ev.changes.iter().map(|c| c.0).collect();
            self.shared_paths(&ids)
        });
        self.keep_recent(&paths, fresh);
        paths
    }

    /// The paths of a closed interval's `points`, resolved by the first reader that
    /// asks and shared with every other (`/events` streams, the relay).
    pub fn interval_paths(&self, closed: &ClosedInterval) -> Arc<SharedPaths> {
        let (paths, fresh) = closed.resolved.get_or_init(|| {
            let ids: Vec<LeafId> = closed.points.iter().map(|p| p.leaf).collect();
            self.shared_paths(&ids)
        });
        self.keep_recent(&paths, fresh);
        paths
    }

    /// Keeps a new resolution alive for the readers still to come (see [`PathMemo`]).
    fn keep_recent(&self, paths: &Arc<SharedPaths>, fresh: bool) {
        if fresh {
            let mut recent = self.shared.recent_paths.lock();
            if recent.len() >= RECENT_RESOLVED {
                recent.pop_front();
            }
            recent.push_back(paths.clone());
        }
    }

    fn shared_paths(&self, ids: &[LeafId]) -> SharedPaths {
        self.shared.metrics.shared_path_resolves.inc();
        SharedPaths::new(self.leaf_paths(ids))
    }

    /// The distinct first keys of a push's changed leaves, sorted: which patterns
    /// starting with a literal key may concern the push, without building any path.
    pub fn top_keys(&self, ev: &PushEvent) -> Vec<String> {
        let mut keys: std::collections::HashSet<String> = std::collections::HashSet::new();
        let mut last_parent = u32::MAX;
        for chunk in ev.changes.chunks(PATHS_PER_LOCK) {
            let st = self.shared.state.read();
            for (id, _) in chunk {
                // Changes come in leaf order: siblings mostly follow each other.
                let parent = st.tree.leaf_parent(id.0);
                if parent == last_parent {
                    continue;
                }
                last_parent = parent;
                let Some(k) = st.tree.top_key(id.0) else {
                    continue;
                };
                if !keys.contains(k) {
                    keys.insert(k.to_string());
                }
            }
        }
        let mut keys: Vec<String> = keys.into_iter().collect();
        keys.sort_unstable();
        keys
    }

    /// Indices (ascending) of the shared paths that `pattern` selects, computed once per
    /// distinct pattern text for each push or interval.
    pub fn select(&self, paths: &SharedPaths, pattern: &Pattern) -> Arc<[u32]> {
        paths.matching(pattern, || {
            self.shared.metrics.shared_pattern_matches.inc();
        })
    }

    /// A leaf's action and totals by path.
    pub fn leaf_at(&self, path: &str) -> Option<(LeafId, Action, Stats)> {
        let st = self.shared.state.read();
        let node = st.tree.descend(crate::path::split(path))?;
        let id = node.as_leaf()?;
        let leaf = st.tree.leaf(LeafId(id))?;
        Some((LeafId(id), leaf.action, leaf.total))
    }

    /// Markers kept beside the tree whose path the pattern selects, at or after `since`.
    ///
    /// # Errors
    /// `BadPattern`.
    pub fn markers(&self, pattern: &str, since: i64) -> Result<Vec<Marker>, Error> {
        let p = Pattern::parse(pattern)?;
        let st = self.shared.state.read();
        Ok(st
            .markers
            .iter()
            .filter(|m| m.ts >= since && p.matches_path(&m.path.split(',').collect::<Vec<_>>()))
            .cloned()
            .collect())
    }

    /// Size figures for `/metrics`.
    pub fn stats(&self) -> EngineStats {
        let st = self.shared.state.read();
        EngineStats {
            nodes: st.tree.node_count(),
            leaves: st.tree.leaf_count(),
            tree_bytes: st.tree.heap_bytes(),
            ring_intervals: st.ring.len(),
            ring_bytes: st.ring.bytes(),
            markers: st.markers.len(),
            open_start: st.open.start,
        }
    }

    /// Registers a sink for closed intervals (e.g. the trend store).
    pub fn add_sink(&self, sink: Arc<dyn IntervalSink>) {
        self.shared.sinks.lock().push(sink);
    }

    /// Every closed interval from now on.
    pub fn subscribe_intervals(&self) -> broadcast::Receiver<Arc<ClosedInterval>> {
        self.shared.closed_tx.subscribe()
    }

    /// Every applied push from now on.
    pub fn subscribe_pushes(&self) -> broadcast::Receiver<Arc<PushEvent>> {
        self.shared.pushes_tx.subscribe()
    }

    /// The newest push-log position (a cursor meaning "from now on").
    pub fn cursor(&self) -> u64 {
        self.shared.state.read().seq
    }

    /// Pushes after `cursor` still in the log, and whether some were already dropped
    /// from it (the caller then knows it missed pushes).
    pub fn pushes_since(&self, cursor: u64) -> (Vec<Arc<PushEvent>>, bool) {
        let st = self.shared.state.read();
        let events: Vec<_> = st.log.iter().filter(|e| e.seq > cursor).cloned().collect();
        let missed = match st.log.front() {
            Some(first) => first.seq > cursor + 1 && cursor < st.seq,
            None => cursor < st.seq,
        };
        (events, missed)
    }
}
