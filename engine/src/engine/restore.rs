//! Putting state back after a restart (totals, actions, markers from the trend store)
//! and taking it out (snapshots).

use super::Engine;
use crate::Action;
use crate::interval::Marker;
use crate::stats::Stats;
use crate::tree::ROOT;

impl Engine {
    /// Restores leaves (totals and action) from a snapshot, as after a restart.
    /// Existing leaves at those paths are replaced. Paths that break the key rules, and
    /// totals that are not finite (stored before overflowing folds were refused), are
    /// skipped and counted in the returned number. A newest-sample time beyond
    /// `engine.max_future` (stored before future samples were refused) is brought back
    /// to now, so the leaf's `last` follows new samples again.
    pub fn restore<I>(&self, leaves: I) -> usize
    where
        I: IntoIterator<Item = (String, Action, Stats, i64)>,
    {
        let mut skipped = 0;
        let now = self.now();
        let max_ts = now.saturating_add(self.shared.config.max_future_secs());
        let mut st = self.shared.state.write();
        for (path, action, total, last_ts) in leaves {
            let finite = [total.sum, total.last].iter().all(|v| v.is_finite())
                && (total.count == 0 || (total.min.is_finite() && total.max.is_finite()));
            if crate::path::check_path(&path).is_err() || !finite {
                skipped += 1;
                continue;
            }
            let last_ts = if last_ts > max_ts { now } else { last_ts };
            let keys: Vec<&str> = path.split(',').collect();
            let mut b = ROOT;
            for k in &keys[..keys.len() - 1] {
                let a = st.tree.branch_action(b);
                b = st.tree.branch_child(b, k, a);
            }
            let l = st.tree.leaf_child(b, keys[keys.len() - 1], action);
            let leaf = st.tree.leaf_mut(l);
            leaf.action = action;
            leaf.total = total;
            leaf.last_ts = last_ts;
            leaf.announced = false;
        }
        skipped
    }

    /// Puts back markers kept elsewhere (the trend store, after a restart), with their
    /// original times, oldest first; only the newest `limits.max_markers` stay.
    pub fn restore_markers(&self, mut markers: Vec<Marker>) {
        markers.sort_by_key(|m| m.ts);
        let max = self.shared.config.limits.max_markers;
        let mut st = self.shared.state.write();
        for m in markers.into_iter().rev().take(max).rev() {
            st.keep_marker(m, &self.shared.config.limits);
        }
    }

    /// Every leaf with its path, action and totals (for snapshots and `/all`).
    pub fn snapshot(&self) -> Vec<(String, Action, Stats, i64)> {
        let st = self.shared.state.read();
        st.tree
            .leaves_with_paths()
            .into_iter()
            .map(|(_, path, leaf)| (path, leaf.action, leaf.total, leaf.last_ts))
            .collect()
    }
}
