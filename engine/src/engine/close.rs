//! Closing intervals in two sections, so that pushes never wait on the slow part.
//!
//! 1. Under the write lock, O(leaves touched) and nothing else (the points' memory is
//!    allocated and touched before, the old interval's freed after): the open interval is
//!    swapped for a fresh one, each touched leaf's totals are copied into its point, the
//!    leaves the sinks have not seen are marked announced (with their parent at this
//!    instant), and the ring takes the interval.
//! 2. With the write lock released, the paths of those new leaves are built (O(depth)
//!    each) under short read locks, [`PATHS_PER_LOCK`] at a time so a push waits for at
//!    most one chunk; then the interval goes to the sinks and the subscribers.
//!
//! A push between the two sections may move a new leaf under `count`. Its interval's
//! samples still belong to the path it had at close, and that path is recoverable:
//! branches never move, so it is the recorded parent's path plus the key of the leaf's
//! ancestor right below that parent (`Tree::leaf_path_under`). The move marked the
//! leaf unannounced again, so the next close announces the new path.

use std::sync::Arc;
use std::time::{Duration, Instant};

use super::Engine;
use crate::interval::{ClosedInterval, IntervalPoint, OpenInterval};
use crate::shared_paths::{PATHS_PER_LOCK, PathMemo};
use crate::tree::LeafId;

/// How [`Engine::close_into`] closes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Close {
    /// Whatever the time.
    Now,
    /// Only if the open interval's time is up (checked under the write lock).
    IfDue,
    /// The log's replay: the next interval starts at this time when later than the
    /// closing one's start.
    Replay(i64),
}

impl Engine {
    /// Closes the open interval if its time is up; hands it to the sinks and returns it.
    ///
    /// Safe to call from several threads at once (the relay's listeners and its loop
    /// do): the time is checked again under the write lock, so two callers that both
    /// saw it up close one interval between them, never also the fresh one the other
    /// just opened (which would date every later interval a step ahead of the clock).
    pub fn close_due(&self) -> Option<Arc<ClosedInterval>> {
        let now = self.shared.clock.now();
        {
            let st = self.shared.state.read();
            if now < st.open.start + st.open.len {
                return None;
            }
        }
        self.close_into(Close::IfDue)
    }

    /// Closes the open interval now, whatever the time (shutdown, tests).
    pub fn close_now(&self) -> Arc<ClosedInterval> {
        match self.close_into(Close::Now) {
            Some(closed) => closed,
            None => unreachable!("an unconditional close always closes"),
        }
    }

    /// Closes the open interval as `how` says (`None`: it was not due after all); the
    /// next one starts at the clock's interval, or where the log's replay says.
    pub(crate) fn close_into(&self, how: Close) -> Option<Arc<ClosedInterval>> {
        let sh = &*self.shared;
        let now = sh.clock.now();
        let started = Instant::now();
        // The points' memory is allocated and touched before the write lock: 100k
        // points are 10 MB, whose page faults alone would hold pushes back for ms.
        // Closes and deletes reach the sinks in the order they took the state lock.
        let _order = sh.sink_order.lock();
        let expect = sh.state.read().open.points.len();
        let mut points = vec![PLACEHOLDER; expect + expect / 8];
        points.clear();
        let (mut closed, fresh, spent) = {
            let mut st = sh.state.write();
            let locked = Instant::now();
            let st = &mut *st;
            if how == Close::IfDue && now < st.open.start + st.open.len {
                return None;
            }
            let mut next = OpenInterval::new(now, sh.interval);
            if next.start <= st.open.start {
                // Closed early: the next interval starts where this one ends.
                next.start = st.open.start + st.open.len;
            }
            if let Close::Replay(s) = how
                && s > st.open.start
            {
                next.start = s;
            }
            let mut open = std::mem::replace(&mut st.open, next);
            // Leaves deleted while the interval was open (tombstones) leave nothing.
            open.late.retain(|p| !st.tree.is_dead(p.leaf.0));
            let mut hists: Vec<_> = open
                .hists
                .into_iter()
                .filter(|(l, _)| !st.tree.is_dead(*l))
                .map(|(l, h)| (LeafId(l), Arc::new(h)))
                .collect();
            hists.sort_unstable_by_key(|h| h.0);
            let mut closed = ClosedInterval {
                start: open.start,
                len: open.len,
                points,
                late: open.late,
                new_paths: Vec::new(),
                markers: open.markers,
                hists,
                wal_seq: st.wal_seq,
                resolved: PathMemo::default(),
            };
            // (leaf, its parent now) for each leaf whose path the sinks must learn.
            let mut fresh: Vec<(u32, u32)> = Vec::new();
            for &(l, stats) in &open.points {
                if st.tree.is_dead(l) {
                    continue;
                }
                let leaf = st.tree.leaf_mut(l);
                leaf.cur = u32::MAX;
                closed.points.push(IntervalPoint {
                    leaf: LeafId(l),
                    action: leaf.action,
                    stats,
                    total: leaf.total,
                    last_ts: leaf.last_ts,
                });
                if !std::mem::replace(&mut leaf.announced, true) {
                    fresh.push((l, st.tree.leaf_parent(l)));
                }
            }
            for p in &closed.late {
                let l = p.leaf.0;
                if !std::mem::replace(&mut st.tree.leaf_mut(l).announced, true) {
                    fresh.push((l, st.tree.leaf_parent(l)));
                }
            }
            st.ring.push(&closed);
            sh.metrics.close_lock_micros.set(micros(locked.elapsed()));
            (closed, fresh, open.points)
        };
        drop(spent);
        closed.new_paths = self.paths_at_close(fresh);
        let closed = Arc::new(closed);
        sh.metrics.intervals.inc();
        let sinks = sh.sinks.lock().clone();
        for s in sinks {
            s.interval_closed(&closed);
        }
        // An error only means nobody is subscribed right now.
        let _ = sh.closed_tx.send(closed.clone());
        sh.metrics.close_micros.set(micros(started.elapsed()));
        Some(closed)
    }

    /// The paths the leaves had at close, in leaf order, built under short read locks.
    fn paths_at_close(&self, mut fresh: Vec<(u32, u32)>) -> Vec<(LeafId, String)> {
        fresh.sort_unstable();
        let mut out = Vec::with_capacity(fresh.len());
        for chunk in fresh.chunks(PATHS_PER_LOCK) {
            let st = self.shared.state.read();
            for &(l, parent) in chunk {
                if let Some(path) = st.tree.leaf_path_under(l, parent) {
                    out.push((LeafId(l), path));
                }
            }
        }
        out
    }

    /// Seconds until the open interval is due to close.
    pub fn secs_until_close(&self) -> i64 {
        let st = self.shared.state.read();
        (st.open.start + st.open.len - self.shared.clock.now()).max(0)
    }
}

const PLACEHOLDER: IntervalPoint = IntervalPoint {
    leaf: LeafId(0),
    action: crate::Action::Average,
    stats: crate::Stats::EMPTY,
    total: crate::Stats::EMPTY,
    last_ts: 0,
};

fn micros(d: Duration) -> i64 {
    i64::try_from(d.as_micros()).unwrap_or(i64::MAX)
}
