//! Merging a validated push into the tree: counting what it would add (so a push over a
//! limit is refused before anything changes), then applying it.
//!
//! Validation happened before the lock ([`PushDoc::validate`](crate::push::PushDoc),
//! [`Batch::validate`](crate::Batch)); the count and the apply run under one
//! write lock, so a push is applied whole or not at all.
//!
//! Values are the exception, by design: a sample that is not finite, whose fold would
//! make a total or an interval sum non-finite (`1e308` added twice), or whose time
//! stamp lies beyond `engine.max_future`, is skipped alone and counted in [`Touched`].
//! Refusing the whole batch instead would let one sender drop every other sender's
//! lines that a listener merged into the same batch.

use std::collections::HashSet;

use crate::batch::Update;
use crate::config::Limits;
use crate::error::{Error, ErrorKind};
use crate::histogram::IntervalHist;
use crate::interval::{LatePoint, Marker, OpenInterval};
use crate::path::cmp_keys;
use crate::pattern::Pattern;
use crate::push::{PushTree, PushValue};
use crate::tree::{COUNT_KEY, LeafId, ROOT, Tree};
use crate::{Action, Stat};

/// What one merge touched.
#[derive(Debug, Default)]
pub(crate) struct Touched {
    pub(crate) leaves: Vec<u32>,
    pub(crate) samples: usize,
    pub(crate) markers: Vec<Marker>,
    /// Samples and markers refused by a byte bound (`max_late_bytes`,
    /// `max_marker_bytes`), counted and told to the sender.
    pub(crate) dropped: usize,
    /// Samples skipped: dated later than `max_ts`.
    pub(crate) future: usize,
    /// Samples skipped: not finite, or their fold would not be.
    pub(crate) nonfinite: usize,
}

/// From this many new keys on one level of a push, they are added to the branch in one
/// merge pass ([`Tree::add_new_children`]) rather than one insert each.
const BULK: usize = 64;

pub(crate) struct Merger<'a> {
    pub(crate) tree: &'a mut Tree,
    pub(crate) open: &'a mut OpenInterval,
    pub(crate) rules: &'a [(Pattern, Action)],
    pub(crate) limits: &'a Limits,
    pub(crate) now: i64,
    /// Latest time stamp accepted (`now + max_future`).
    pub(crate) max_ts: i64,
    pub(crate) touched: Touched,
}

/// Whether adding `sum` to both sums keeps them finite (min, max and last of finite
/// samples are finite; the mean follows the sum).
fn fits(total: f64, interval: Option<f64>, sum: f64) -> bool {
    (total + sum).is_finite() && interval.is_none_or(|i| (i + sum).is_finite())
}

impl Merger<'_> {
    /// The action of a node created under `parent_action` at `keys`.
    fn new_action(&self, ctx: Option<Action>, parent_action: Action, keys: &[&str]) -> Action {
        if let Some(a) = ctx {
            return a;
        }
        self.rules
            .iter()
            .find(|(p, _)| p.matches_path(keys))
            .map_or(parent_action, |r| r.1)
    }

    /// Refuses the push if it would add more nodes than the limits allow. `upper` is a
    /// cheap bound; the exact count runs only when the bound is over a limit.
    pub(crate) fn check_room(
        &self,
        upper: u64,
        exact: impl FnOnce(&Tree) -> u64,
    ) -> Result<(), Error> {
        let size = self.tree.node_count() as u64;
        let per_push = self.limits.max_push_nodes as u64;
        let total = self.limits.max_nodes as u64;
        if upper <= per_push && size + upper <= total {
            return Ok(());
        }
        let n = exact(self.tree);
        if n > per_push {
            return Err(Error::new(
                ErrorKind::PushTooLarge,
                format!("push adds {n} nodes, more than limits.max_push_nodes = {per_push}"),
            ));
        }
        if size + n > total {
            return Err(Error::new(
                ErrorKind::TreeFull,
                format!(
                    "tree holds {size} nodes and the push adds {n}: over limits.max_nodes = {total}"
                ),
            ));
        }
        Ok(())
    }

    /// Merges a pushed tree whose samples are dated `ts`.
    pub(crate) fn merge_tree<'d>(
        &mut self,
        branch: u32,
        tree: &'d PushTree,
        ctx: Option<Action>,
        ts: i64,
        keys: &mut Vec<&'d str>,
    ) {
        let ctx = tree.action.or(ctx);
        if tree.entries.len() >= BULK && !self.open.is_late(ts) {
            self.add_missing(branch, tree, ctx, keys);
        }
        for (key, value) in &tree.entries {
            keys.push(key.as_str());
            match value {
                PushValue::Tree(sub) => {
                    if sub.nodes > 0 {
                        let own = sub.action.or(ctx);
                        let b = self.branch(branch, key, own, keys);
                        self.merge_tree(b, sub, ctx, ts, keys);
                    } else {
                        self.markers_only(sub, ts, keys);
                    }
                }
                PushValue::Number(v) => {
                    if self.room_for(ts, 1) {
                        let l = self.leaf(branch, key, ctx, keys);
                        self.sample(l, *v, ts);
                    }
                }
                PushValue::Samples(vs) if !vs.is_empty() => {
                    if self.room_for(ts, vs.len()) {
                        let l = self.leaf(branch, key, ctx, keys);
                        for v in vs {
                            self.sample(l, *v, ts);
                        }
                    }
                }
                PushValue::Marker(text) => self.marker(keys.join(","), text, ts),
                PushValue::Samples(_) | PushValue::Skip | PushValue::BadArray => {}
            }
            keys.pop();
        }
    }

    /// Creates, in one merge pass, the children of `branch` that a wide pushed level
    /// brings and the branch lacks (the per-key loop then finds them all), so a push of
    /// 100k new keys in no particular order does not shift a wide branch's children once
    /// per key. Nodes are made exactly as the per-key path would make them.
    fn add_missing<'d>(
        &mut self,
        branch: u32,
        tree: &'d PushTree,
        ctx: Option<Action>,
        keys: &mut Vec<&'d str>,
    ) {
        let parent_action = self.tree.branch_action(branch);
        let mut missing: Vec<(&str, bool, Action)> = Vec::new();
        for (key, value) in &tree.entries {
            let (leaf, own) = match value {
                PushValue::Tree(sub) if sub.nodes > 0 => (false, sub.action.or(ctx)),
                PushValue::Number(_) => (true, ctx),
                PushValue::Samples(vs) if !vs.is_empty() => (true, ctx),
                _ => continue,
            };
            if self.tree.find(branch, key).is_ok() {
                continue;
            }
            keys.push(key.as_str());
            let action = self.new_action(own, parent_action, keys);
            keys.pop();
            missing.push((key.as_str(), leaf, action));
        }
        if missing.len() < BULK {
            return;
        }
        missing.sort_by(|a, b| cmp_keys(a.0, b.0));
        // A key given twice: the first one makes the node, as the per-key path does.
        missing.dedup_by(|later, kept| later.0 == kept.0);
        self.tree.add_new_children(branch, &missing);
    }

    /// A subtree with no numbers: keep its markers, create no nodes.
    fn markers_only<'d>(&mut self, tree: &'d PushTree, ts: i64, keys: &mut Vec<&'d str>) {
        for (key, value) in &tree.entries {
            keys.push(key.as_str());
            match value {
                PushValue::Tree(sub) => self.markers_only(sub, ts, keys),
                PushValue::Marker(text) => self.marker(keys.join(","), text, ts),
                _ => {}
            }
            keys.pop();
        }
    }

    fn branch(&mut self, parent: u32, key: &str, ctx: Option<Action>, keys: &[&str]) -> u32 {
        let action = self.new_action(ctx, self.tree.branch_action(parent), keys);
        let b = self.tree.branch_child(parent, key, action);
        if let Some(a) = ctx {
            self.tree.set_branch_action(b, a);
        }
        b
    }

    fn leaf(&mut self, parent: u32, key: &str, ctx: Option<Action>, keys: &[&str]) -> u32 {
        let action = self.new_action(ctx, self.tree.branch_action(parent), keys);
        let l = self.tree.leaf_child(parent, key, action);
        if let Some(a) = ctx {
            self.tree.leaf_mut(l).action = a;
        }
        l
    }

    /// Whether `n` samples dated `ts` fit in the open interval's byte bound; when they
    /// do not, they are refused (no node is created for them) and counted.
    fn room_for(&mut self, ts: i64, n: usize) -> bool {
        let late = self.open.late.len() + n;
        if !self.open.is_late(ts)
            || late.saturating_mul(std::mem::size_of::<LatePoint>()) <= self.limits.max_late_bytes
        {
            return true;
        }
        self.touched.dropped += n;
        false
    }

    /// The open interval's sum for a leaf, if the leaf has a point there.
    fn interval_sum(&self, l: u32) -> Option<f64> {
        let cur = self.tree.leaf_at(l).cur;
        (cur != u32::MAX).then(|| self.open.points[cur as usize].1.sum)
    }

    pub(crate) fn sample(&mut self, l: u32, v: f64, ts: i64) {
        self.sample_weighted(l, v, ts, None);
    }

    /// As [`Merger::sample`]; a histogram leaf's sample counts `weight` times in its
    /// `count` when given (see [`Update::Weighted`]).
    pub(crate) fn sample_weighted(&mut self, l: u32, v: f64, ts: i64, weight: Option<f64>) {
        let late = self.open.is_late(ts);
        let interval = if late { None } else { self.interval_sum(l) };
        if !fits(self.tree.leaf_at(l).total.sum, interval, v) {
            self.touched.nonfinite += 1;
            return;
        }
        let max_raw = self.limits.max_histogram_raw;
        if self.tree.leaf_at(l).action == Action::Histogram {
            match weight {
                Some(w) => {
                    self.tree.hist_mut(l).add_weighted(v, w);
                    if !late {
                        let ih = self.open.hists.entry(l).or_default();
                        ih.add_weighted(v, w, max_raw);
                    }
                }
                None => {
                    self.tree.hist_mut(l).add(v);
                    if !late {
                        self.open.hists.entry(l).or_default().add(v, max_raw);
                    }
                }
            }
        }
        let leaf = self.tree.leaf_mut(l);
        let newest = ts >= leaf.last_ts;
        leaf.total.add(v, newest);
        if newest {
            leaf.last_ts = ts;
        }
        if late {
            self.open.late.push(LatePoint {
                leaf: LeafId(l),
                action: leaf.action,
                ts,
                value: v,
            });
        } else {
            if leaf.cur == u32::MAX {
                leaf.cur = u32::try_from(self.open.points.len()).unwrap_or(u32::MAX - 1);
                self.open.points.push((l, crate::Stats::EMPTY));
            }
            let cur = leaf.cur as usize;
            self.open.points[cur].1.add(v, true);
        }
        self.touched.leaves.push(l);
        self.touched.samples += 1;
    }

    fn marker(&mut self, path: String, text: &str, ts: i64) {
        let end = text.floor_char_boundary(self.limits.max_marker_len);
        let m = Marker {
            path,
            ts,
            text: text[..end].to_string(),
        };
        // Markers beyond the open interval's bounds are dropped here, before they can
        // reach the push log or the kept list: a push of a million markers costs at most
        // the bound, not a copy per waiter.
        let bytes = m.bytes();
        if self.open.markers.len() >= self.limits.max_markers
            || self.open.marker_bytes + bytes > self.limits.max_marker_bytes
        {
            self.touched.dropped += 1;
            return;
        }
        self.open.marker_bytes += bytes;
        self.open.markers.push(m.clone());
        self.touched.markers.push(m);
    }

    /// Applies one flat update; the path was validated.
    pub(crate) fn apply_update(&mut self, u: &Update) {
        match u {
            Update::Sample {
                path,
                value,
                action,
                ts,
            } => {
                // Refused before the path is walked, so a refused sample creates no node.
                if !value.is_finite() {
                    self.touched.nonfinite += 1;
                    return;
                }
                let ts = ts.unwrap_or(self.now);
                if ts > self.max_ts {
                    self.touched.future += 1;
                    return;
                }
                if self.room_for(ts, 1) {
                    let l = self.path_leaf(path, *action);
                    self.sample(l, *value, ts);
                }
            }
            Update::Stats {
                path,
                stats,
                action,
            } => {
                if stats.count == 0 {
                    return;
                }
                let finite = [stats.sum, stats.min, stats.max, stats.last]
                    .iter()
                    .all(|v| v.is_finite());
                if !finite {
                    self.touched.nonfinite += usize::try_from(stats.count).unwrap_or(usize::MAX);
                    return;
                }
                let l = self.path_leaf(path, *action);
                self.merge_stats(l, stats);
            }
            Update::Samples {
                path,
                values,
                action,
            } => {
                // As for one sample: refused values create no node.
                let finite = values.iter().filter(|v| v.is_finite()).count();
                self.touched.nonfinite += values.len() - finite;
                if finite > 0 {
                    let l = self.path_leaf(path, *action);
                    self.samples_now(l, values);
                }
            }
            Update::Weighted {
                path,
                value,
                weight,
            } => {
                if !value.is_finite() {
                    self.touched.nonfinite += 1;
                    return;
                }
                let now = self.now;
                if self.room_for(now, 1) {
                    let l = self.path_leaf(path, Some(Action::Histogram));
                    let w = (weight.is_finite() && *weight > 0.0).then_some(*weight);
                    self.sample_weighted(l, *value, now, w);
                }
            }
            Update::WeightedSamples { path, samples } => {
                // As for one sample: refused values create no node.
                let finite = samples.iter().filter(|(v, _)| v.is_finite()).count();
                self.touched.nonfinite += samples.len() - finite;
                if finite > 0 {
                    let l = self.path_leaf(path, Some(Action::Histogram));
                    self.fold_now(l, samples.iter().map(|&(v, w)| (v, Some(w))));
                }
            }
            Update::Marker { path, text } => self.marker(path.clone(), text, self.now),
        }
    }

    /// Merges samples dated now into a leaf: they are folded into one aggregate (and
    /// for a histogram leaf one sketch) first, which then merges into the leaf's totals
    /// and its interval, so a sample costs one sketch insert, not two. The sums
    /// are then the batch's sum added once, as an [`Update::Stats`] adds it; a sample
    /// whose fold would make either sum non-finite is refused alone.
    fn samples_now(&mut self, l: u32, values: &[f64]) {
        self.fold_now(l, values.iter().map(|&v| (v, None)));
    }

    /// As [`Merger::samples_now`], each sample with the weight it counts in a
    /// histogram leaf's `count` (`None`: 1, and no weighed count is started). The
    /// weighed counts of the leaf's totals and of its interval run on sample by
    /// sample, as [`Merger::sample_weighted`] would leave them, bit for bit (Etsy's
    /// `count` sums `1 / rate` in arrival order).
    fn fold_now(&mut self, l: u32, samples: impl Iterator<Item = (f64, Option<f64>)>) {
        let now = self.now;
        let max_raw = self.limits.max_histogram_raw;
        let leaf = self.tree.leaf_at(l);
        let newest = now >= leaf.last_ts;
        let (total_sum, action) = (leaf.total.sum, leaf.action);
        let iv_sum = match leaf.cur {
            u32::MAX => 0.0,
            cur => self.open.points[cur as usize].1.sum,
        };
        let hist = action == Action::Histogram;
        let mut ih = if hist {
            self.open.hists.remove(&l).unwrap_or_default()
        } else {
            IntervalHist::default()
        };
        let mut batch = crate::histogram::Hist::default();
        let mut acc = crate::Stats::EMPTY;
        // The weighed counts of the totals and of the interval (`None` while not kept),
        // and their sketches' counts before the batch.
        let (mut tc, t0) = if hist {
            let th = self.tree.hist_mut(l);
            (th.exact_value(Stat::Count), th.sketch.count())
        } else {
            (None, 0)
        };
        let (mut ic, i0) = (ih.hist.exact_value(Stat::Count), ih.hist.sketch.count());
        for (v, w) in samples {
            if !v.is_finite() {
                // Counted by the caller.
                continue;
            }
            let sum = acc.sum + v;
            if !fits(total_sum, Some(iv_sum), sum) {
                self.touched.nonfinite += 1;
                continue;
            }
            acc.add(v, true);
            if hist {
                // As `Hist::add_weighted` (a weight) or `Hist::add` (none) would count.
                let before = batch.sketch.count();
                match w.filter(|w| w.is_finite() && *w > 0.0) {
                    Some(w) => {
                        tc = Some(tc.unwrap_or_else(|| count_f64(t0 + before)) + w);
                        ic = Some(ic.unwrap_or_else(|| count_f64(i0 + before)) + w);
                    }
                    None => {
                        tc = tc.map(|c| c + 1.0);
                        ic = ic.map(|c| c + 1.0);
                    }
                }
                batch.add(v);
                ih.push_raw(v, max_raw);
            }
        }
        if hist {
            let th = self.tree.hist_mut(l);
            th.merge(&batch);
            if let Some(c) = tc {
                th.exact = Some(Box::new([(Stat::Count, c)]));
            }
            ih.hist.merge(&batch);
            if let Some(c) = ic {
                ih.hist.exact = Some(Box::new([(Stat::Count, c)]));
            }
            if ih.hist.sketch.count() > 0 {
                self.open.hists.insert(l, ih);
            }
        }
        if acc.count == 0 {
            return;
        }
        let taken = usize::try_from(acc.count).unwrap_or(usize::MAX);
        let leaf = self.tree.leaf_mut(l);
        let last = if newest { acc.last } else { leaf.total.last };
        leaf.total.merge(&acc);
        leaf.total.last = last;
        if newest {
            leaf.last_ts = now;
        }
        if leaf.cur == u32::MAX {
            leaf.cur = u32::try_from(self.open.points.len()).unwrap_or(u32::MAX - 1);
            self.open.points.push((l, crate::Stats::EMPTY));
        }
        self.open.points[leaf.cur as usize].1.merge(&acc);
        self.touched.leaves.push(l);
        self.touched.samples += taken;
    }

    /// The leaf at a validated path, creating what is missing.
    fn path_leaf(&mut self, path: &str, action: Option<Action>) -> u32 {
        let keys: Vec<&str> = path.split(',').collect();
        let mut b = ROOT;
        for i in 0..keys.len() - 1 {
            b = self.branch(b, keys[i], action, &keys[..=i]);
        }
        self.leaf(b, keys[keys.len() - 1], action, &keys)
    }

    /// Merges samples folded elsewhere into a leaf, now.
    fn merge_stats(&mut self, l: u32, stats: &crate::Stats) {
        if !fits(
            self.tree.leaf_at(l).total.sum,
            self.interval_sum(l),
            stats.sum,
        ) {
            self.touched.nonfinite += usize::try_from(stats.count).unwrap_or(usize::MAX);
            return;
        }
        let now = self.now;
        let leaf = self.tree.leaf_mut(l);
        let newest = now >= leaf.last_ts;
        let last = if newest { stats.last } else { leaf.total.last };
        leaf.total.merge(stats);
        leaf.total.last = last;
        if newest {
            leaf.last_ts = now;
        }
        if leaf.cur == u32::MAX {
            leaf.cur = u32::try_from(self.open.points.len()).unwrap_or(u32::MAX - 1);
            self.open.points.push((l, crate::Stats::EMPTY));
        }
        let cur = leaf.cur as usize;
        self.open.points[cur].1.merge(stats);
        self.touched.leaves.push(l);
        self.touched.samples += usize::try_from(stats.count).unwrap_or(usize::MAX);
    }
}

#[allow(clippy::cast_precision_loss)] // counts stay far below 2^53
fn count_f64(n: u64) -> f64 {
    n as f64
}

/// Exactly how many nodes a pushed tree adds under `branch` (`None`: a branch that
/// does not exist yet).
pub(crate) fn count_new_tree(tree: &Tree, branch: Option<u32>, doc: &PushTree) -> u64 {
    let mut n = 0;
    for (key, value) in &doc.entries {
        let child = branch.and_then(|b| tree.child(b, key));
        match value {
            PushValue::Tree(sub) if sub.nodes > 0 => match child {
                None => n += 1 + count_new_tree(tree, None, sub),
                Some(c) => match c.as_branch() {
                    Some(b) => n += count_new_tree(tree, Some(b), sub),
                    // A leaf becomes a branch holding it as `count`.
                    None => n += 1 + count_new_tree(tree, None, sub),
                },
            },
            PushValue::Number(_) | PushValue::Samples(_) if doc_has_number(value) => match child {
                None => n += 1,
                Some(c) => {
                    if let Some(b) = c.as_branch() {
                        n += u64::from(tree.child(b, COUNT_KEY).is_none());
                    }
                }
            },
            _ => {}
        }
    }
    n
}

fn doc_has_number(v: &PushValue) -> bool {
    match v {
        PushValue::Number(_) => true,
        PushValue::Samples(s) => !s.is_empty(),
        _ => false,
    }
}

/// Exactly how many nodes a batch adds.
pub(crate) fn count_new_batch(tree: &Tree, updates: &[Update]) -> u64 {
    let mut created: HashSet<&str> = HashSet::new();
    let mut n = 0;
    for u in updates {
        let (Update::Sample { path, .. }
        | Update::Stats { path, .. }
        | Update::Samples { path, .. }
        | Update::Weighted { path, .. }
        | Update::WeightedSamples { path, .. }) = u
        else {
            continue;
        };
        let mut node = Some(ROOT);
        let mut end = 0;
        let depth = path.split(',').count();
        for (i, key) in path.split(',').enumerate() {
            end += key.len() + usize::from(end > 0);
            let prefix = &path[..end];
            let last = i + 1 == depth;
            let child = node.and_then(|b| tree.child(b, key));
            match child {
                Some(c) => {
                    // A leaf on the way becomes a branch; a branch at the end takes the
                    // number under a `count` leaf.
                    let grows = if last {
                        c.as_branch()
                            .is_some_and(|b| tree.child(b, COUNT_KEY).is_none())
                    } else {
                        c.as_leaf().is_some()
                    };
                    if grows && created.insert(prefix) {
                        n += 1;
                    }
                    node = c.as_branch();
                }
                None => {
                    node = None;
                    if created.insert(prefix) {
                        n += 1;
                    }
                }
            }
        }
    }
    n
}
