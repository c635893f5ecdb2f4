//! How the trend store is doing, for `/metrics` and `/health` (issue #12): storage
//! errors, the writer's queue, intervals dropped because the writer could not keep up,
//! and a heartbeat that shows a writer stuck inside the storage.
//!
//! The engine's closing thread never waits for the store: when the writer's queue is
//! full the interval is dropped from the store (it stays in the engine's ring) and
//! counted, and the paths and totals it carried are kept in [`Pending`] for the next
//! interval the writer stores, so no series is lost and restart totals stay right.
//!
//! An *episode* is a stretch of failures: the first error logs an ERROR, the first
//! success after it an INFO with what the episode cost; errors in between are counted,
//! not logged one by one.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use parking_lot::Mutex;

use crate::telemetry::{Counter, Telemetry};
use crate::{Action, ClosedInterval, LeafId, Stats};

/// What the store's health is made of; shared by the sink, the writer and the probe
/// (an `Arc` of its own, so it keeps no storage open).
pub(crate) struct StoreHealth {
    /// Failed writes of interval blobs (each attempt counts).
    pub(crate) write_errors: Counter,
    /// Failed flushes.
    pub(crate) flush_errors: Counter,
    /// Closed intervals not stored because the writer's queue was full.
    pub(crate) dropped_intervals: Counter,
    /// Times the storage was reopened to recover from an error.
    pub(crate) reopens: Counter,
    /// Intervals waiting in the writer's queue.
    pub(crate) queued: AtomicI64,
    /// Capacity of that queue.
    pub(crate) capacity: usize,
    /// Milliseconds since the epoch when the writer's current storage call began
    /// (0: idle).
    busy_since_ms: AtomicI64,
    /// A write or flush failed and none has succeeded since.
    failing: AtomicBool,
    /// Intervals are being dropped at the queue (since the last one accepted).
    dropping: AtomicBool,
    /// Errors and drops in the current episode, for the recovery log line.
    episode_errors: AtomicU64,
    episode_dropped: AtomicU64,
    last_error: Mutex<String>,
    /// A writer call running longer than this counts as stuck.
    stall_after: Duration,
    /// Paths and totals of dropped intervals, for the next interval stored.
    pending: Mutex<Pending>,
}

/// What dropped intervals carried that later ones will not repeat.
#[derive(Default)]
pub(crate) struct Pending {
    /// Paths announced by a dropped interval (each leaf is announced once).
    pub(crate) paths: Vec<(LeafId, String)>,
    /// Newest totals per leaf: action, totals, newest sample time.
    pub(crate) totals: HashMap<u32, (Action, Stats, i64)>,
}

fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX))
}

impl StoreHealth {
    pub(crate) fn new(capacity: usize, stall_after: Duration) -> StoreHealth {
        StoreHealth {
            write_errors: Counter::default(),
            flush_errors: Counter::default(),
            dropped_intervals: Counter::default(),
            reopens: Counter::default(),
            queued: AtomicI64::new(0),
            capacity,
            busy_since_ms: AtomicI64::new(0),
            failing: AtomicBool::new(false),
            dropping: AtomicBool::new(false),
            episode_errors: AtomicU64::new(0),
            episode_dropped: AtomicU64::new(0),
            last_error: Mutex::new(String::new()),
            stall_after,
            pending: Mutex::new(Pending::default()),
        }
    }

    /// The writer starts a storage call (the heartbeat).
    pub(crate) fn busy(&self) {
        self.busy_since_ms.store(now_ms().max(1), Ordering::Relaxed);
    }

    /// The writer's storage call returned.
    pub(crate) fn idle(&self) {
        self.busy_since_ms.store(0, Ordering::Relaxed);
    }

    /// How long the writer's current storage call has run (zero when idle).
    pub(crate) fn busy_for(&self) -> Duration {
        let since = self.busy_since_ms.load(Ordering::Relaxed);
        if since == 0 {
            return Duration::ZERO;
        }
        Duration::from_millis(u64::try_from(now_ms() - since).unwrap_or(0))
    }

    /// Whether a write or flush failed and none succeeded since.
    pub(crate) fn failing(&self) -> bool {
        self.failing.load(Ordering::Relaxed)
    }

    /// A write (`flush: false`) or flush failed: counted; logged once per episode.
    pub(crate) fn storage_error(&self, flush: bool, e: &dyn std::fmt::Display) {
        if flush {
            self.flush_errors.inc();
        } else {
            self.write_errors.inc();
        }
        self.episode_errors.fetch_add(1, Ordering::Relaxed);
        *self.last_error.lock() = e.to_string();
        if !self.failing.swap(true, Ordering::Relaxed) {
            let what = if flush { "flush" } else { "write" };
            tracing::error!(
                "trend store: {what} failed: {e}; intervals keep closing in memory, the \
                 writer retries (and reopens the store) until it succeeds"
            );
        }
    }

    /// Reopening the storage after an error failed too: that is the reason shown.
    pub(crate) fn reopen_failed(&self, e: &dyn std::fmt::Display) {
        *self.last_error.lock() = format!("reopening the store after an error: {e}");
    }

    /// A write and flush succeeded: ends an episode (logged once).
    pub(crate) fn storage_ok(&self) {
        if self.failing.swap(false, Ordering::Relaxed) {
            tracing::info!(
                errors = self.episode_errors.swap(0, Ordering::Relaxed),
                dropped_intervals = self.episode_dropped.load(Ordering::Relaxed),
                "trend store: writing again"
            );
        }
    }

    /// The queue was full: the interval is not stored. Its paths and totals are kept
    /// for the next interval that is.
    pub(crate) fn dropped(&self, iv: &ClosedInterval) {
        self.dropped_intervals.inc();
        self.episode_dropped.fetch_add(1, Ordering::Relaxed);
        {
            let mut p = self.pending.lock();
            p.paths.extend(iv.new_paths.iter().cloned());
            for pt in &iv.points {
                p.totals
                    .insert(pt.leaf.0, (pt.action, pt.total, pt.last_ts));
            }
        }
        if !self.dropping.swap(true, Ordering::Relaxed) {
            tracing::error!(
                start = iv.start,
                queue = self.capacity,
                "trend store: the writer's queue is full; closed intervals are kept in \
                 memory only (the ring) and dropped from the store until it catches up"
            );
        }
    }

    /// The queue took an interval again after drops.
    pub(crate) fn accepted(&self) {
        if self.dropping.load(Ordering::Relaxed) && self.dropping.swap(false, Ordering::Relaxed) {
            tracing::info!(
                dropped_intervals = self.episode_dropped.swap(0, Ordering::Relaxed),
                "trend store: the writer's queue accepts intervals again"
            );
        }
    }

    /// Takes what dropped intervals left for the writer.
    pub(crate) fn take_pending(&self) -> Pending {
        std::mem::take(&mut *self.pending.lock())
    }

    /// Why the store is degraded now (empty: healthy).
    pub(crate) fn reasons(&self) -> Vec<String> {
        let mut out = Vec::new();
        if self.failing() {
            out.push(format!(
                "storage errors ({} write, {} flush so far): {}",
                self.write_errors.get(),
                self.flush_errors.get(),
                self.last_error.lock()
            ));
        }
        let busy = self.busy_for();
        if busy >= self.stall_after {
            out.push(format!(
                "the writer has been inside one storage call for {} s",
                busy.as_secs()
            ));
        }
        if self.dropping.load(Ordering::Relaxed) {
            out.push(format!(
                "the writer's queue is full ({} intervals): closed intervals are dropped \
                 from the store ({} so far)",
                self.capacity,
                self.dropped_intervals.get()
            ));
        }
        out
    }

    /// Puts the figures in `/metrics` (and the tree) and the reasons in `/health`.
    pub(crate) fn register(self: &std::sync::Arc<Self>, t: &Telemetry) {
        for (name, help, c) in [
            (
                "treestat_trend_write_errors_total",
                "Trend store writes that failed (each retry counts).",
                &self.write_errors,
            ),
            (
                "treestat_trend_flush_errors_total",
                "Trend store flushes that failed (each retry counts).",
                &self.flush_errors,
            ),
            (
                "treestat_trend_dropped_intervals_total",
                "Closed intervals not stored because the writer's queue was full.",
                &self.dropped_intervals,
            ),
            (
                "treestat_trend_reopens_total",
                "Times the trend store was reopened to recover from storage errors.",
                &self.reopens,
            ),
        ] {
            t.describe(name, help);
            t.register_counter(name, &[], c);
        }
        let h = self.clone();
        t.describe(
            "treestat_trend_queue_depth",
            "Closed intervals waiting for the trend store's writer.",
        );
        #[allow(clippy::cast_precision_loss)] // small counts
        t.gauge_fn("treestat_trend_queue_depth", &[], move || {
            h.queued.load(Ordering::Relaxed) as f64
        });
        let h = self.clone();
        t.describe(
            "treestat_trend_failing",
            "1 while trend store writes fail (from the first error to the next success).",
        );
        t.gauge_fn("treestat_trend_failing", &[], move || {
            f64::from(u8::from(h.failing()))
        });
        let h = self.clone();
        t.describe(
            "treestat_trend_busy_seconds",
            "How long the trend writer's current storage call has run (0: idle).",
        );
        t.gauge_fn("treestat_trend_busy_seconds", &[], move || {
            h.busy_for().as_secs_f64()
        });
        let h = self.clone();
        t.health().probe("trend_store", move || h.reasons());
    }
}
