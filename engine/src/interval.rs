//! Intervals: the open interval's per-leaf aggregates, the closed-interval record handed
//! to sinks (the trend store, realtime streams), and the ring of recent intervals.
//!
//! The open interval is a vector of `(leaf, Stats)` that each leaf indexes into, so a
//! sample costs one array write and closing costs O(leaves touched), never O(tree).
//! The ring keeps closed intervals as compact blocks (16 bytes per touched leaf), bounded
//! both in count (`ring`) and in bytes (`ring_bytes`).

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};

use crate::Action;
use crate::histogram::IntervalHist;
use crate::pattern::Pattern;
use crate::shared_paths::PathMemo;
use crate::stats::Stats;
use crate::tree::LeafId;

/// Where the engine reads the time (unix seconds). Tests use [`ManualClock`].
pub trait Clock: Send + Sync {
    /// Seconds since the Unix epoch.
    fn now(&self) -> i64;
}

/// The system's wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    fn now(&self) -> i64 {
        let d = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap_or_default();
        i64::try_from(d.as_secs()).unwrap_or(i64::MAX)
    }
}

/// A clock that moves only when told to.
#[derive(Debug, Default)]
pub struct ManualClock(AtomicI64);

impl ManualClock {
    /// A clock standing at `now`.
    pub fn new(now: i64) -> ManualClock {
        ManualClock(AtomicI64::new(now))
    }
    /// Moves the clock to `now`.
    pub fn set(&self, now: i64) {
        self.0.store(now, Ordering::SeqCst);
    }
    /// Moves the clock forward by `secs`.
    pub fn advance(&self, secs: i64) {
        self.0.fetch_add(secs, Ordering::SeqCst);
    }
}

impl Clock for ManualClock {
    fn now(&self) -> i64 {
        self.0.load(Ordering::SeqCst)
    }
}

/// A string annotation kept beside the tree (docs/CONCEPTS.md, "The push format").
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Marker {
    /// Comma-joined path.
    pub path: String,
    /// Unix seconds.
    pub ts: i64,
    /// The annotation.
    pub text: String,
}

impl Marker {
    /// Bytes the marker holds (its own size, path and text), for the byte bounds.
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Marker>() + self.path.len() + self.text.len()
    }
}

/// One leaf's aggregate within a closed interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct IntervalPoint {
    /// The leaf.
    pub leaf: LeafId,
    /// Its action at close.
    pub action: Action,
    /// The samples that arrived in the interval.
    pub stats: Stats,
    /// The leaf's totals at close (for restoring the tree after a restart).
    pub total: Stats,
    /// Time stamp of the leaf's newest sample.
    pub last_ts: i64,
}

/// A time-stamped sample that belongs to an interval already closed.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct LatePoint {
    /// The leaf.
    pub leaf: LeafId,
    /// Its action.
    pub action: Action,
    /// The sample's time stamp (unix seconds).
    pub ts: i64,
    /// The sample.
    pub value: f64,
}

/// Everything one closed interval brought, handed to every [`IntervalSink`].
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ClosedInterval {
    /// Start of the interval (unix seconds, a multiple of `len`).
    pub start: i64,
    /// Length in seconds.
    pub len: i64,
    /// One point per leaf touched in the interval, in leaf order.
    pub points: Vec<IntervalPoint>,
    /// Time-stamped samples for earlier intervals.
    pub late: Vec<LatePoint>,
    /// Paths of leaves the sinks have not seen yet (new, or moved under `count`).
    pub new_paths: Vec<(LeafId, String)>,
    /// Markers pushed during the interval.
    pub markers: Vec<Marker>,
    /// The sketch and raw samples of each histogram leaf touched, in leaf order (each
    /// leaf also has its point in `points`, with its sum, count, min and max).
    pub hists: Vec<(LeafId, Arc<IntervalHist>)>,
    /// The write-ahead log's sequence number of the last push merged before the
    /// close (0: none logged): once the trend store holds this interval, it holds
    /// every logged push up to it (`crate::wal`).
    pub wal_seq: u64,
    /// The paths of `points`, resolved once for every reader by
    /// [`Engine::interval_paths`](crate::Engine::interval_paths).
    pub resolved: PathMemo,
}

/// Whoever wants each closed interval: the trend store, realtime streams.
///
/// Called on the thread that closes intervals, outside the tree lock; a slow sink
/// delays the next close, so sinks that do I/O hand the work to their own thread.
pub trait IntervalSink: Send + Sync {
    /// One interval closed.
    fn interval_closed(&self, interval: &Arc<ClosedInterval>);

    /// Subtrees were deleted from the tree (`DELETE /api/q`): the sink forgets the
    /// series `pattern` selects, in order with the intervals it was handed (the
    /// engine calls both under one ordering lock), and answers how many it removed;
    /// with `dry_run`, how many it would. `None`: the sink keeps no series.
    ///
    /// # Errors
    /// Why the sink could not remove them (a storage failure, a stopped store).
    fn subtrees_deleted(&self, pattern: &Pattern, dry_run: bool) -> Option<Result<usize, String>> {
        let _ = (pattern, dry_run);
        None
    }
}

/// The interval being filled.
#[derive(Debug)]
pub(crate) struct OpenInterval {
    pub(crate) start: i64,
    pub(crate) len: i64,
    pub(crate) points: Vec<(u32, Stats)>,
    pub(crate) late: Vec<LatePoint>,
    pub(crate) markers: Vec<Marker>,
    /// Bytes held by `markers` ([`Marker::bytes`]).
    pub(crate) marker_bytes: usize,
    /// The interval's sketch and raw samples of each histogram leaf it touched.
    pub(crate) hists: HashMap<u32, IntervalHist>,
}

impl OpenInterval {
    pub(crate) fn new(now: i64, len: i64) -> OpenInterval {
        OpenInterval {
            start: now.div_euclid(len) * len,
            len,
            points: Vec::new(),
            late: Vec::new(),
            markers: Vec::new(),
            marker_bytes: 0,
            hists: HashMap::new(),
        }
    }

    /// Whether `ts` falls before the open interval.
    pub(crate) fn is_late(&self, ts: i64) -> bool {
        ts < self.start
    }
}

/// One closed interval in the ring: a compact entry per touched leaf.
#[derive(Debug, Clone)]
struct Block {
    start: i64,
    entries: Vec<RingEntry>,
    /// Histogram leaves: the interval's stats, sketch and raw samples (shared with the
    /// closed interval, not copied).
    hists: Vec<(u32, Stats, Arc<IntervalHist>)>,
}

/// A histogram leaf over a window of closed intervals (see [`Ring::window_hists`]).
#[derive(Debug, Clone)]
pub(crate) struct WindowHist {
    pub(crate) stats: Stats,
    pub(crate) hist: crate::histogram::Hist,
    /// The raw samples when the window holds one interval of the leaf and all were kept.
    pub(crate) raw: Option<Arc<IntervalHist>>,
}

/// Ring bytes charged for a histogram leaf's interval: its sketch and raw samples.
fn hist_bytes(h: &IntervalHist) -> usize {
    h.bytes() + std::mem::size_of::<(u32, Stats, Arc<IntervalHist>)>()
}

/// 16 bytes: the leaf, its action and sample count packed, and the action's value
/// (for `average` the sum, so that means can be weighted when folded).
#[derive(Debug, Clone, Copy)]
struct RingEntry {
    leaf: u32,
    packed: u32,
    value: f64,
}

const COUNT_BITS: u32 = 29;
const COUNT_MAX: u32 = (1 << COUNT_BITS) - 1;

impl RingEntry {
    fn new(leaf: u32, action: Action, stats: &Stats) -> RingEntry {
        let count = u32::try_from(stats.count)
            .unwrap_or(COUNT_MAX)
            .min(COUNT_MAX);
        let value = match action.scalar() {
            Action::Average => stats.sum,
            other => stats.value(other),
        };
        RingEntry {
            leaf,
            packed: (u32::from(action.code()) << COUNT_BITS) | count,
            value,
        }
    }
    fn action(self) -> Action {
        let code = u8::try_from(self.packed >> COUNT_BITS).unwrap_or(1);
        Action::from_code(code).unwrap_or_default()
    }
    fn count(self) -> u32 {
        self.packed & COUNT_MAX
    }
}

/// The last closed intervals, for realtime windows (`?window=60s`) and sparklines.
#[derive(Debug)]
pub(crate) struct Ring {
    blocks: VecDeque<Block>,
    max_blocks: usize,
    max_bytes: usize,
    bytes: usize,
}

const ENTRY_BYTES: usize = std::mem::size_of::<RingEntry>();

impl Ring {
    pub(crate) fn new(max_blocks: usize, max_bytes: usize) -> Ring {
        Ring {
            blocks: VecDeque::new(),
            max_blocks,
            max_bytes,
            bytes: 0,
        }
    }

    pub(crate) fn push(&mut self, closed: &ClosedInterval) {
        if self.max_blocks == 0 {
            return;
        }
        let mut entries: Vec<RingEntry> = closed
            .points
            .iter()
            .map(|p| RingEntry::new(p.leaf.0, p.action, &p.stats))
            .collect();
        entries.shrink_to_fit();
        self.bytes += entries.len() * ENTRY_BYTES;
        // Points come in the order leaves were first touched: look them up by leaf.
        let stats_of: HashMap<u32, Stats> = if closed.hists.is_empty() {
            HashMap::new()
        } else {
            closed.points.iter().map(|p| (p.leaf.0, p.stats)).collect()
        };
        let hists: Vec<(u32, Stats, Arc<IntervalHist>)> = closed
            .hists
            .iter()
            .filter_map(|(leaf, h)| Some((leaf.0, *stats_of.get(&leaf.0)?, h.clone())))
            .collect();
        self.bytes += hists.iter().map(|h| hist_bytes(&h.2)).sum::<usize>();
        self.blocks.push_back(Block {
            start: closed.start,
            entries,
            hists,
        });
        for late in &closed.late {
            self.add_late(late, closed.len);
        }
        while self.blocks.len() > self.max_blocks
            || (self.bytes > self.max_bytes && self.blocks.len() > 1)
        {
            if let Some(old) = self.blocks.pop_front() {
                self.bytes -= old.entries.len() * ENTRY_BYTES;
                self.bytes -= old.hists.iter().map(|h| hist_bytes(&h.2)).sum::<usize>();
            }
        }
    }

    fn add_late(&mut self, late: &LatePoint, len: i64) {
        let start = late.ts.div_euclid(len) * len;
        if let Some(b) = self.blocks.iter_mut().find(|b| b.start == start) {
            b.entries.push(RingEntry::new(
                late.leaf.0,
                late.action,
                &Stats::one(late.value),
            ));
            self.bytes += ENTRY_BYTES;
        }
    }

    /// Etsy's histogram bins of one leaf over the blocks that start at or after
    /// `since`: each block's counted from its raw samples, and added up (a bin counts
    /// samples); `None` when a block holding the leaf did not keep all of its raw
    /// samples, or none holds it.
    pub(crate) fn window_bins(
        &self,
        since: i64,
        leaf: u32,
        bins: &[Option<i32>],
    ) -> Option<Vec<(crate::Stat, f64)>> {
        let mut acc: Option<Vec<(crate::Stat, f64)>> = None;
        for b in self.blocks.iter().filter(|b| b.start >= since) {
            let Some((_, _, h)) = b.hists.iter().find(|(l, _, _)| *l == leaf) else {
                continue;
            };
            let counts = crate::histogram::etsy_bins(h.complete_raw()?, bins);
            match &mut acc {
                Some(a) => {
                    for (x, (_, c)) in a.iter_mut().zip(counts) {
                        x.1 += c;
                    }
                }
                None => acc = Some(counts),
            }
        }
        acc
    }

    /// Each histogram leaf over the blocks that start at or after `since`: stats and
    /// sketches merged; and how many blocks the window holds.
    pub(crate) fn window_hists(&self, since: i64) -> (HashMap<u32, WindowHist>, usize) {
        let mut out: HashMap<u32, WindowHist> = HashMap::new();
        let mut blocks = 0;
        for b in self.blocks.iter().filter(|b| b.start >= since) {
            blocks += 1;
            for (leaf, stats, h) in &b.hists {
                match out.entry(*leaf) {
                    std::collections::hash_map::Entry::Occupied(mut e) => {
                        let w = e.get_mut();
                        w.stats.merge(stats);
                        w.hist.merge(&h.hist);
                        w.raw = None;
                    }
                    std::collections::hash_map::Entry::Vacant(e) => {
                        e.insert(WindowHist {
                            stats: *stats,
                            hist: h.hist.clone(),
                            raw: h.complete_raw().is_some().then(|| h.clone()),
                        });
                    }
                }
            }
        }
        (out, blocks)
    }

    /// Entries (plain and histogram) of the leaves marked in `dead` (by leaf index),
    /// in every block.
    pub(crate) fn count_entries(&self, dead: &[bool]) -> usize {
        let is = |l: u32| dead.get(l as usize).copied().unwrap_or(false);
        self.blocks
            .iter()
            .map(|b| {
                b.entries.iter().filter(|e| is(e.leaf)).count()
                    + b.hists.iter().filter(|h| is(h.0)).count()
            })
            .sum()
    }

    /// The start of every block held, oldest first.
    pub(crate) fn starts(&self) -> Vec<i64> {
        self.blocks.iter().map(|b| b.start).collect()
    }

    /// Drops the entries of the leaves marked in `dead` (by leaf index) from the block
    /// that starts at `start` (if still held) and says how many went. One block per
    /// call, so that a delete holds the write lock for one interval's entries at a
    /// time.
    pub(crate) fn remove_at(&mut self, start: i64, dead: &[bool]) -> usize {
        let is = |l: u32| dead.get(l as usize).copied().unwrap_or(false);
        let Some(b) = self.blocks.iter_mut().find(|b| b.start == start) else {
            return 0;
        };
        let (entries, hists) = (b.entries.len(), b.hists.len());
        let mut freed = 0;
        b.entries.retain(|e| !is(e.leaf));
        b.hists.retain(|h| {
            let keep = !is(h.0);
            if !keep {
                freed += hist_bytes(&h.2);
            }
            keep
        });
        let gone = entries - b.entries.len();
        self.bytes -= gone * ENTRY_BYTES + freed;
        gone + hists - b.hists.len()
    }

    /// Number of blocks held.
    pub(crate) fn len(&self) -> usize {
        self.blocks.len()
    }

    /// Bytes held by the entries.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }

    /// Each leaf's value over the blocks that start at or after `since`, folded by
    /// action (add sums, average weighs by count, max, min, last = newest).
    pub(crate) fn window(&self, since: i64) -> HashMap<u32, f64> {
        struct Acc {
            action: Action,
            value: f64,
            count: u64,
        }
        let mut acc: HashMap<u32, Acc> = HashMap::new();
        for b in self.blocks.iter().filter(|b| b.start >= since) {
            for e in &b.entries {
                let action = e.action().scalar();
                let a = acc.entry(e.leaf).or_insert(Acc {
                    action,
                    value: match action {
                        Action::Max => f64::NEG_INFINITY,
                        Action::Min => f64::INFINITY,
                        _ => 0.0,
                    },
                    count: 0,
                });
                match a.action {
                    Action::Add | Action::Average => a.value += e.value,
                    Action::Max => a.value = a.value.max(e.value),
                    Action::Min => a.value = a.value.min(e.value),
                    Action::Last | Action::Histogram => a.value = e.value,
                }
                a.count += u64::from(e.count());
            }
        }
        acc.into_iter()
            .map(|(leaf, a)| {
                let v = if a.action == Action::Average {
                    Stats {
                        sum: a.value,
                        count: a.count,
                        ..Stats::EMPTY
                    }
                    .mean()
                } else {
                    a.value
                };
                (leaf, v)
            })
            .collect()
    }

    /// Per-interval values of one leaf, oldest first: `(interval start, value)`.
    pub(crate) fn series(&self, leaf: u32) -> Vec<(i64, f64)> {
        let mut out = Vec::new();
        for b in &self.blocks {
            let mut s = Stats::EMPTY;
            let mut action = Action::Average;
            for e in b.entries.iter().filter(|e| e.leaf == leaf) {
                action = e.action().scalar();
                let n = e.count();
                let v = e.value;
                match action {
                    Action::Average => {
                        s.sum += v;
                        s.count += u64::from(n);
                    }
                    _ => s.merge(&Stats::one(v)),
                }
            }
            if s.count > 0 {
                let v = match action {
                    Action::Average => s.mean(),
                    Action::Add => s.sum,
                    other => s.value(other),
                };
                out.push((b.start, v));
            }
        }
        out
    }
}
