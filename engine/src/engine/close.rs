//! Closing intervals: the open interval becomes a [`ClosedInterval`] under the write
//! lock (O(leaves touched)), then goes to the sinks and subscribers after the lock is
//! released.

use std::sync::Arc;
use std::sync::atomic::Ordering;

use super::Engine;
use crate::interval::{ClosedInterval, IntervalPoint, OpenInterval};
use crate::tree::LeafId;

impl Engine {
    /// Closes the open interval if its time is up; hands it to the sinks and returns it.
    pub fn close_due(&self) -> Option<Arc<ClosedInterval>> {
        let now = self.shared.clock.now();
        {
            let st = self.shared.state.read();
            if now < st.open.start + st.open.len {
                return None;
            }
        }
        Some(self.close_now())
    }

    /// Closes the open interval now, whatever the time (shutdown, tests).
    pub fn close_now(&self) -> Arc<ClosedInterval> {
        let sh = &*self.shared;
        let now = sh.clock.now();
        let closed = {
            let mut st = sh.state.write();
            let st = &mut *st;
            let mut next = OpenInterval::new(now, sh.interval);
            if next.start <= st.open.start {
                // Closed early: the next interval starts where this one ends.
                next.start = st.open.start + st.open.len;
            }
            let open = std::mem::replace(&mut st.open, next);
            let mut closed = ClosedInterval {
                start: open.start,
                len: open.len,
                points: Vec::with_capacity(open.points.len()),
                late: open.late,
                new_paths: Vec::new(),
                markers: open.markers,
            };
            for (l, stats) in open.points {
                let leaf = st.tree.leaf_mut(l);
                leaf.cur = u32::MAX;
                closed.points.push(IntervalPoint {
                    leaf: LeafId(l),
                    action: leaf.action,
                    stats,
                    total: leaf.total,
                    last_ts: leaf.last_ts,
                });
            }
            let mut fresh: Vec<u32> = closed
                .points
                .iter()
                .map(|p| p.leaf.0)
                .chain(closed.late.iter().map(|p| p.leaf.0))
                .filter(|&l| !st.tree.leaf_mut(l).announced)
                .collect();
            fresh.sort_unstable();
            fresh.dedup();
            for l in fresh {
                if let Some(path) = st.tree.leaf_path(LeafId(l)) {
                    closed.new_paths.push((LeafId(l), path));
                }
                st.tree.leaf_mut(l).announced = true;
            }
            st.ring.push(&closed);
            Arc::new(closed)
        };
        sh.counters.intervals.fetch_add(1, Ordering::Relaxed);
        let sinks = sh.sinks.lock().clone();
        for s in sinks {
            s.interval_closed(&closed);
        }
        // An error only means nobody is subscribed right now.
        let _ = sh.closed_tx.send(closed.clone());
        closed
    }

    /// Seconds until the open interval is due to close.
    pub fn secs_until_close(&self) -> i64 {
        let st = self.shared.state.read();
        (st.open.start + st.open.len - self.shared.clock.now()).max(0)
    }
}
