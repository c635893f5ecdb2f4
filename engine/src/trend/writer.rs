//! The writer thread: turns each closed interval into one interval blob, folds late
//! points into the blob of the interval that holds their time, and flushes.
//!
//! It owns the map from the engine's leaf ids to series ids (filled from each
//! interval's `new_paths`) and the last known totals of every series, so that a leaf
//! touched only by late points still gets its totals persisted (the engine reports
//! totals only for leaves in `points`; the writer repeats the engine's fold).
//!
//! A storage failure does not lose the batch in hand: the writer counts the error
//! (logged once per episode), waits (1 s, doubling up to 10 s), reopens the storage
//! (sled stays broken after an I/O error until reopened) and writes the batch again,
//! until it succeeds or the store shuts down. Meanwhile the queue fills and the
//! engine's sink drops further intervals (counted); their paths and totals reach the
//! store with the next interval written. Each storage call is timed by a heartbeat, so
//! a call that never returns shows in `/health`.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::sync::mpsc::{Receiver, Sender};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use super::TrendError;
use super::blob::{IntervalBlob, Rec, ts_key};
use super::error::Result;
use super::shared::{Core, WAL_KEY};
use super::storage::{Op, Space};
use crate::histogram::exact_stats;
use crate::{ClosedInterval, Stats};

/// What the writer thread is asked to do.
pub(crate) enum Msg {
    /// Store one closed interval.
    Interval(Arc<ClosedInterval>),
    /// Answer once everything before is written and flushed.
    Sync(Sender<Result<()>>),
    /// Forget the series a pattern selects (a delete), after every interval queued
    /// before; answer how many went.
    Delete(crate::Pattern, Sender<Result<usize>>),
    /// Finish what is queued and stop.
    Stop,
}

/// Most queued messages written before one flush.
const BATCH: usize = 32;

/// First pause after a storage error; it doubles up to [`RETRY_MAX`].
const RETRY_FIRST: Duration = Duration::from_secs(1);
/// Longest pause between attempts while the storage fails.
const RETRY_MAX: Duration = Duration::from_secs(10);

/// Late samples of one stored interval: `(series, action, time, value)`.
type LateSamples = Vec<(u32, crate::Action, i64, f64)>;

/// One closed interval made ready to store: everything but the storage calls, so a
/// failed write can be retried without interning paths or folding totals twice.
struct Prepared {
    start: i64,
    len: i64,
    /// The write-ahead log's sequence number the interval covers (0: none).
    wal_seq: u64,
    blob: Vec<u8>,
    /// Late samples by the start of the interval that holds them.
    late: BTreeMap<i64, LateSamples>,
}

/// Which storage call failed.
struct Failed {
    flush: bool,
    error: TrendError,
}

pub(crate) fn spawn(
    core: Arc<Core>,
    rx: Receiver<Msg>,
    totals: HashMap<u32, Rec>,
) -> Result<JoinHandle<()>> {
    let mut w = Writer {
        core,
        leaves: Vec::new(),
        totals: Vec::new(),
    };
    for t in totals.into_values() {
        w.set_total(t);
    }
    std::thread::Builder::new()
        .name("trend-writer".into())
        .spawn(move || w.run(&rx))
        .map_err(TrendError::from)
}

struct Writer {
    core: Arc<Core>,
    /// Engine leaf id -> series id (`u32::MAX`: not announced). Both ids are dense
    /// indexes, so vectors beat maps here.
    leaves: Vec<u32>,
    /// Series id -> last known totals.
    totals: Vec<Option<Rec>>,
}

impl Writer {
    fn series_of(&self, leaf: u32) -> Option<u32> {
        self.leaves
            .get(leaf as usize)
            .copied()
            .filter(|&id| id != u32::MAX)
    }

    fn set_series(&mut self, leaf: u32, id: u32) {
        let i = leaf as usize;
        if self.leaves.len() <= i {
            self.leaves.resize(i + 1, u32::MAX);
        }
        self.leaves[i] = id;
    }

    fn total(&self, id: u32) -> Option<Rec> {
        self.totals.get(id as usize).copied().flatten()
    }

    fn set_total(&mut self, t: Rec) {
        let i = t.id as usize;
        if self.totals.len() <= i {
            self.totals.resize(i + 1, None);
        }
        self.totals[i] = Some(t);
    }

    fn run(&mut self, rx: &Receiver<Msg>) {
        while let Ok(first) = rx.recv() {
            let mut batch = vec![first];
            // A delete ends the batch: the intervals before it are stored first, and
            // none after it is prepared (its paths interned) before it.
            while batch.len() < BATCH && !matches!(batch.last(), Some(Msg::Delete(..))) {
                match rx.try_recv() {
                    Ok(m) => batch.push(m),
                    Err(_) => break,
                }
            }
            let mut items = Vec::new();
            let mut waiters = Vec::new();
            let mut stop = false;
            let mut delete = None;
            for m in batch {
                match m {
                    Msg::Interval(iv) => {
                        self.core.health.queued.fetch_sub(1, Ordering::Relaxed);
                        items.push(self.prepare(&iv));
                    }
                    Msg::Sync(tx) => waiters.push(tx),
                    Msg::Delete(p, tx) => delete = Some((p, tx)),
                    Msg::Stop => stop = true,
                }
            }
            let flushed = self.store(&items);
            let end = items.iter().map(|p| p.start.saturating_add(p.len)).max();
            if let (Some(end), Ok(())) = (end, &flushed) {
                let wal = items.iter().map(|p| p.wal_seq).max().unwrap_or(0);
                self.core.wal_mark.fetch_max(wal, Ordering::AcqRel);
                let mut p = self.core.persisted.lock();
                *p = (*p).max(end);
                self.core.persisted_cv.notify_all();
            }
            if let Some((pattern, tx)) = delete {
                let _ = tx.send(self.delete(&pattern));
            }
            for w in waiters {
                let _ = w.send(flushed.clone());
            }
            if stop {
                return;
            }
        }
    }

    /// Writes the batch and flushes, retrying through storage errors (reopening the
    /// storage between attempts) until it succeeds or the store is shutting down.
    fn store(&self, items: &[Prepared]) -> Result<()> {
        let h = &*self.core.health;
        let mut pause = RETRY_FIRST;
        loop {
            h.busy();
            let done = self.persist(items);
            h.idle();
            let failed = match done {
                Ok(()) => {
                    h.storage_ok();
                    return Ok(());
                }
                Err(f) => f,
            };
            h.storage_error(failed.flush, &failed.error);
            if !self.wait(pause) {
                self.core
                    .dropped
                    .fetch_add(items.len() as u64, Ordering::Relaxed);
                tracing::error!(
                    intervals = items.len(),
                    "trend store: shutting down while the storage fails; intervals not stored"
                );
                return Err(failed.error);
            }
            pause = (pause * 2).min(RETRY_MAX);
            h.busy();
            let reopened = self.core.storage.reopen();
            h.idle();
            match reopened {
                Ok(()) => h.reopens.inc(),
                Err(e) => {
                    tracing::debug!("trend store: reopen failed: {e}");
                    h.reopen_failed(&e);
                }
            }
        }
    }

    /// Sleeps `pause` unless the store is closing; whether to go on.
    fn wait(&self, pause: Duration) -> bool {
        let until = Instant::now() + pause;
        while Instant::now() < until {
            if self.core.closing.load(Ordering::SeqCst) {
                return false;
            }
            std::thread::sleep(Duration::from_millis(20).min(pause));
        }
        !self.core.closing.load(Ordering::SeqCst)
    }

    fn persist(&self, items: &[Prepared]) -> Result<(), Failed> {
        for p in items {
            self.persist_one(p).map_err(|error| Failed {
                flush: false,
                error,
            })?;
        }
        self.core
            .storage
            .flush()
            .map_err(|error| Failed { flush: true, error })
    }

    fn persist_one(&self, p: &Prepared) -> Result<()> {
        let core = &self.core;
        let _w = core.write_lock.lock();
        let mut ops = Vec::with_capacity(p.late.len() + 1);
        for (&start, samples) in &p.late {
            let key = ts_key(start);
            let mut old = match core.storage.get(Space::Intervals, &key)? {
                Some(b) => IntervalBlob::decode(&b)?,
                None => IntervalBlob {
                    start,
                    len: p.len,
                    ..IntervalBlob::default()
                },
            };
            add_late(&mut old, samples);
            ops.push(Op::Put(Space::Intervals, key.to_vec(), old.encode()));
        }
        core.bump_newest(p.start.saturating_add(p.len));
        // The write-ahead log's mark goes in the same atomic write as the interval it
        // covers: a mark without its interval would skip pushes on replay, an interval
        // without its mark would merge them twice.
        let mark = (p.wal_seq > core.wal_mark.load(Ordering::Acquire)).then(|| {
            Op::Put(
                Space::State,
                WAL_KEY.to_vec(),
                p.wal_seq.to_le_bytes().to_vec(),
            )
        });
        if ops.is_empty() && mark.is_none() {
            // The common case without a log: one insert, atomic by itself (the newest
            // mark is recomputed from the blobs on open).
            return core
                .storage
                .put(Space::Intervals, &ts_key(p.start), &p.blob);
        }
        ops.push(Op::Put(
            Space::Intervals,
            ts_key(p.start).to_vec(),
            p.blob.clone(),
        ));
        ops.extend(mark);
        core.storage.apply(ops)
    }

    /// Forgets the series `pattern` selects ([`super::delete::forget`]) and this
    /// writer's leaves and totals of them.
    fn delete(&mut self, pattern: &crate::Pattern) -> Result<usize> {
        let h = &*self.core.health;
        h.busy();
        let gone = super::delete::forget(&self.core, pattern);
        h.idle();
        let gone = gone?;
        let ids: HashSet<u32> = gone.iter().copied().collect();
        for l in &mut self.leaves {
            if ids.contains(l) {
                *l = u32::MAX;
            }
        }
        for &id in &gone {
            if let Some(t) = self.totals.get_mut(id as usize) {
                *t = None;
            }
        }
        Ok(gone.len())
    }

    fn prepare(&mut self, iv: &ClosedInterval) -> Prepared {
        let mut blob = IntervalBlob {
            start: iv.start,
            len: iv.len,
            markers: iv.markers.clone(),
            ..IntervalBlob::default()
        };
        // What intervals dropped at the queue announced (paths) and left at (totals).
        let pending = self.core.health.take_pending();
        {
            let core = self.core.clone();
            let mut index = core.index.write();
            for (leaf, path) in pending.paths.iter().chain(&iv.new_paths) {
                let (id, fresh) = index.intern(path);
                self.set_series(leaf.0, id);
                if fresh {
                    blob.paths.push((id, path.clone()));
                }
            }
        }
        // Vectors sorted once rather than maps: 100k points per interval is the
        // case to be fast for (the engine hands them in leaf order, nearly sorted).
        let mut points: Vec<Rec> = Vec::with_capacity(iv.points.len());
        let mut totals: Vec<Rec> = Vec::with_capacity(iv.points.len() + pending.totals.len());
        // First, so this interval's own totals win (see the dedup below).
        for (leaf, (action, stats, last_ts)) in pending.totals {
            if let Some(id) = self.series_of(leaf) {
                totals.push(Rec {
                    id,
                    action,
                    stats,
                    last_ts,
                });
            }
        }
        for p in &iv.points {
            let Some(id) = self.series_of(p.leaf.0) else {
                self.unknown_leaf(p.leaf.0);
                continue;
            };
            let point = Rec {
                id,
                action: p.action,
                stats: p.stats,
                last_ts: p.last_ts,
            };
            points.push(point);
            totals.push(Rec {
                stats: p.total,
                ..point
            });
        }
        points.sort_by_key(|r| r.id);
        points.dedup_by(|later, kept| {
            let same = later.id == kept.id;
            if same {
                merge_rec(kept, later);
            }
            same
        });
        // Late points: into the interval that holds their time; and into the totals
        // of leaves this interval did not otherwise report.
        let mut late: BTreeMap<i64, LateSamples> = BTreeMap::new();
        for lp in &iv.late {
            let Some(id) = self.series_of(lp.leaf.0) else {
                self.unknown_leaf(lp.leaf.0);
                continue;
            };
            let start = lp.ts.div_euclid(iv.len) * iv.len;
            late.entry(start)
                .or_default()
                .push((id, lp.action, lp.ts, lp.value));
            if points.binary_search_by_key(&id, |r| r.id).is_err() {
                let mut t = self.total(id).unwrap_or(Rec {
                    id,
                    action: lp.action,
                    stats: Stats::EMPTY,
                    last_ts: i64::MIN,
                });
                let newest = lp.ts >= t.last_ts;
                t.stats.add(lp.value, newest);
                t.action = lp.action;
                if newest {
                    t.last_ts = lp.ts;
                }
                self.set_total(t);
                totals.push(t);
            }
        }
        // Stable: for an id reported twice the later record wins.
        totals.sort_by_key(|r| r.id);
        totals.reverse();
        totals.dedup_by_key(|r| r.id);
        totals.reverse();
        for t in &totals {
            self.set_total(*t);
        }
        blob.points = points;
        blob.totals = totals;
        // Etsy's statistics of each histogram whose raw samples were all kept, computed
        // here, off the engine's lock, while the samples are at hand.
        let thresholds = &self.core.cfg.percent_thresholds;
        let bin_confs = &self.core.cfg.histogram_bins;
        let index = self.core.index.read();
        let bins_of = |id: u32| -> &[Option<i32>] {
            if bin_confs.is_empty() {
                return &[];
            }
            index
                .path(id)
                .map_or(&[], |path| crate::histogram::bins_for(bin_confs, path))
        };
        let raw_leaves: HashSet<u32> = iv
            .hists
            .iter()
            .filter(|(_, h)| h.complete_raw().is_some_and(|r| !r.is_empty()))
            .map(|(leaf, _)| leaf.0)
            .collect();
        let stats_of: HashMap<u32, Stats> = if raw_leaves.is_empty() {
            HashMap::new()
        } else {
            iv.points
                .iter()
                .filter(|p| raw_leaves.contains(&p.leaf.0))
                .map(|p| (p.leaf.0, p.stats))
                .collect()
        };
        blob.hists = iv
            .hists
            .iter()
            .filter_map(|(leaf, h)| {
                let id = self.series_of(leaf.0)?;
                let mut hist = h.hist.clone();
                if let (Some(raw), Some(stats)) = (h.complete_raw(), stats_of.get(&leaf.0)) {
                    hist.exact = exact_stats(stats, &h.hist, raw, thresholds, bins_of(id));
                }
                Some((id, hist))
            })
            .collect();
        drop(index);
        blob.hists.sort_by_key(|h| h.0);
        blob.hists.dedup_by(|later, kept| {
            let same = later.0 == kept.0;
            if same {
                kept.1.merge(&later.1);
            }
            same
        });
        Prepared {
            start: iv.start,
            len: iv.len,
            wal_seq: iv.wal_seq,
            blob: blob.encode(),
            late,
        }
    }

    fn unknown_leaf(&self, leaf: u32) {
        self.core.dropped.fetch_add(1, Ordering::Relaxed);
        tracing::warn!(
            leaf,
            "trend store: point for a leaf never announced (attach the store before the first close)"
        );
    }
}

/// Folds another aggregate of the same series and interval in (newest sample wins
/// `last`).
fn merge_rec(into: &mut Rec, other: &Rec) {
    let newer = other.last_ts >= into.last_ts;
    let last = if newer {
        other.stats.last
    } else {
        into.stats.last
    };
    into.stats.merge(&other.stats);
    into.stats.last = last;
    into.last_ts = into.last_ts.max(other.last_ts);
    into.action = other.action;
}

/// Adds late samples to a stored interval, keeping its points sorted by id.
fn add_late(blob: &mut IntervalBlob, samples: &[(u32, crate::Action, i64, f64)]) {
    let mut points: BTreeMap<u32, Rec> = blob.points.drain(..).map(|r| (r.id, r)).collect();
    for &(id, action, ts, value) in samples {
        let one = Rec {
            id,
            action,
            stats: Stats::one(value),
            last_ts: ts,
        };
        points
            .entry(id)
            .and_modify(|r| merge_rec(r, &one))
            .or_insert(one);
    }
    blob.points = points.into_values().collect();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Action;

    #[test]
    fn late_samples_fold_by_time_into_the_stored_interval() {
        let mut blob = IntervalBlob {
            start: 100,
            len: 10,
            points: vec![Rec {
                id: 4,
                action: Action::Last,
                stats: Stats::one(5.0),
                last_ts: 105,
            }],
            ..IntervalBlob::default()
        };
        add_late(
            &mut blob,
            &[
                (4, Action::Last, 103, 1.0),
                (4, Action::Last, 108, 9.0),
                (2, Action::Add, 101, 3.0),
            ],
        );
        assert_eq!(blob.points.len(), 2);
        assert_eq!(blob.points[0].id, 2);
        let r = blob.points[1];
        assert_eq!((r.stats.count, r.stats.sum, r.stats.last), (3, 15.0, 9.0));
        assert_eq!(r.last_ts, 108);
    }
}
