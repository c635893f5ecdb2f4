//! Deleting subtrees (`DELETE /api/q/<pattern>`, issue 18): from the tree, the open
//! interval, the ring, the trend store and, through a record of its own, the
//! write-ahead log.
//!
//! 1. Under the read lock: the pattern's walk collects the topmost nodes it selects
//!    (a node below another selected one goes with it) and counts their nodes, leaves
//!    and ring entries. A dry run answers from here.
//! 2. The delete record is encoded for the log before any lock (as a push is).
//! 3. Under the ordering lock (`sink_order`, which closes take too, so the sinks see
//!    closes and deletes in the engine's order) and one write section: each collected
//!    node that is still where it was is detached ([`Tree::remove_child`]: O(its
//!    subtree), the removal itself); its leaves become tombstones, whose points in the
//!    open interval the close skips; the record is numbered and queued for the log.
//!    Only if the tree moved under a collected node since step 1 (a leaf moved under
//!    `count`) is the selection walked again in this section.
//! 4. The ring drops the dead leaves' entries one block per write section (one
//!    interval's entries at a time, as a close handles).
//! 5. The sinks (the trend store) forget the series, in order with the intervals.
//!
//! A leaf id is never given again, so nothing that still holds a dead id (a `/pull`
//! event, a queued interval) can name a new leaf by it; dead ids read as unknown.

use std::collections::HashSet;

use super::{Engine, WalStep};
use crate::error::{Error, ErrorKind};
use crate::pattern::{Kind, Match, Pattern, Segment};
use crate::tree::{NodeRef, ROOT, Tree, root_node};
use crate::wal::codec;

/// Most subtree paths an answer lists (`paths_listed` says how many there were).
pub const MAX_LISTED: usize = 1000;

/// What a delete removed (or, in a dry run, would remove).
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Serialize)]
pub struct Deleted {
    /// The pattern, as given.
    pub pattern: String,
    /// Whether nothing was removed (`?dry_run=1`).
    pub dry_run: bool,
    /// Subtrees (topmost selected nodes) removed.
    pub subtrees: usize,
    /// Their paths, sorted, at most [`MAX_LISTED`].
    pub paths: Vec<String>,
    /// Nodes removed from the tree (branches and leaves).
    pub nodes: usize,
    /// Leaves among them.
    pub leaves: usize,
    /// Entries of those leaves dropped from the ring of recent intervals.
    pub ring_entries: usize,
    /// Series removed from the trend store (`None`: no trend store).
    pub trend_series: Option<usize>,
    /// Why the trend store could not remove them, if it could not.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub trend_error: Option<String>,
}

/// One selected node: where it hangs and its path.
#[derive(Debug, Clone)]
struct Target {
    parent: u32,
    key: String,
    node: NodeRef,
    path: String,
}

/// Refuses what a delete must not take: the whole tree, a fold, the server's own
/// metrics.
fn check(pattern: &Pattern) -> Result<(), Error> {
    let bad = |why: &str| {
        Err(Error::new(
            ErrorKind::BadPattern,
            format!("cannot delete {:?}: {why}", pattern.as_str()),
        ))
    };
    if pattern.segments().is_empty() {
        return bad("an empty pattern is the whole tree; name what to delete");
    }
    if pattern.aggregates() {
        return bad("a delete selects subtrees; it takes no aggregation (|sum, |p99...)");
    }
    // Reaching `_treestat` (naming it, or `internal`) is refused.
    if !pattern.hides(crate::pattern::INTERNAL_KEY) {
        return bad("the server's own _treestat metrics are rewritten every few seconds");
    }
    Ok(())
}

/// The topmost nodes `pattern` selects, in path order; `BadPattern` if it selects the
/// root.
fn select(tree: &Tree, pattern: &Pattern) -> Result<Vec<Target>, Error> {
    let mut w = Select {
        tree,
        segs: pattern.segments(),
        hide: pattern.hides(crate::pattern::INTERNAL_KEY),
        keys: Vec::new(),
        visited: HashSet::new(),
        out: Vec::new(),
        root: false,
    };
    w.go(root_node(), ROOT, "", 0);
    if w.root {
        return Err(Error::new(
            ErrorKind::BadPattern,
            format!(
                "cannot delete {:?}: it selects the whole tree",
                pattern.as_str()
            ),
        ));
    }
    let chosen: HashSet<NodeRef> = w.out.iter().map(|t| t.node).collect();
    let mut out: Vec<Target> = w
        .out
        .into_iter()
        .filter(|t| {
            // Dropped when an ancestor is selected too: it goes with that one.
            let mut b = Some(t.parent);
            while let Some(p) = b.filter(|&p| p != ROOT) {
                if chosen.contains(&NodeRef::branch_ref(p)) {
                    return false;
                }
                b = tree.branch_parent(p);
            }
            true
        })
        .collect();
    out.sort_by(|a, b| a.path.cmp(&b.path));
    out.dedup_by(|a, b| a.node == b.node);
    Ok(out)
}

struct Select<'t, 'p> {
    tree: &'t Tree,
    segs: &'p [Segment],
    hide: bool,
    keys: Vec<&'t str>,
    visited: HashSet<(NodeRef, usize)>,
    out: Vec<Target>,
    /// The pattern selects the root itself.
    root: bool,
}

impl<'t> Select<'t, '_> {
    fn go(&mut self, node: NodeRef, parent: u32, key: &str, pos: usize) {
        if !self.visited.insert((node, pos)) {
            return;
        }
        if pos == self.segs.len() {
            if node == root_node() {
                self.root = true;
            } else {
                self.out.push(Target {
                    parent,
                    key: key.to_string(),
                    node,
                    path: self.keys.join(","),
                });
            }
            return;
        }
        let Some(b) = node.as_branch() else {
            return;
        };
        let seg = &self.segs[pos];
        let tree = self.tree;
        let deep = seg.matcher == Match::Deep;
        if deep {
            self.go(node, parent, key, pos + 1);
        }
        let children = &tree.branch(b).children;
        // A literal is one binary search, not a scan of a wide branch.
        let children = match &seg.matcher {
            Match::Literal(k) => match tree.find(b, k) {
                Ok(i) => &children[i..=i],
                Err(_) => return,
            },
            _ => &children[..],
        };
        for c in children {
            if self.hide && b == ROOT && c.key == crate::pattern::INTERNAL_KEY {
                continue;
            }
            let next = if deep {
                pos
            } else if seg.matcher.accepts(&c.key)
                && Kind::accepts(seg.kind, c.node.as_leaf().is_some())
            {
                pos + 1
            } else {
                continue;
            };
            self.keys.push(&c.key);
            self.go(c.node, b, &c.key, next);
            self.keys.pop();
        }
    }
}

impl Engine {
    /// Deletes the subtrees `pattern` selects (or, with `dry_run`, says what it would
    /// delete): from the tree, the open interval, the ring, the sinks (the trend
    /// store), logged in the write-ahead log so a replay after a crash deletes them
    /// again after the pushes that made them.
    ///
    /// # Errors
    /// `BadPattern` for an empty pattern, an aggregating one, one naming the server's
    /// own `_treestat` subtree or selecting the root; `WalFull` when the log is full
    /// and refuses.
    pub fn delete(&self, pattern: &Pattern, dry_run: bool) -> Result<Deleted, Error> {
        check(pattern)?;
        let step = if dry_run {
            WalStep::Skip
        } else {
            self.wal_step(|out| codec::encode_delete(pattern.as_str(), out))?
        };
        self.delete_with(pattern, dry_run, step)
    }

    /// A delete replayed from the write-ahead log.
    pub(super) fn replay_delete(&self, text: &str, seq: u64) -> Result<(), Error> {
        let pattern = Pattern::parse(text)?;
        check(&pattern)?;
        self.delete_with(&pattern, false, WalStep::Replayed(seq))
            .map(|_| ())
    }

    fn delete_with(
        &self,
        pattern: &Pattern,
        dry_run: bool,
        wal: WalStep,
    ) -> Result<Deleted, Error> {
        let sh = &*self.shared;
        let mut out = Deleted {
            pattern: pattern.as_str().to_string(),
            dry_run,
            ..Deleted::default()
        };
        let (targets, counted) = {
            let st = sh.state.read();
            let targets = select(&st.tree, pattern)?;
            let (nodes, leaves) = subtrees(&st.tree, &targets);
            let nodes = nodes + emptied(&st.tree, &targets);
            let ring = if dry_run {
                st.ring.count_entries(&marks(&leaves))
            } else {
                0
            };
            (targets, (nodes, leaves.len(), ring))
        };
        out.subtrees = targets.len();
        out.paths = targets
            .iter()
            .take(MAX_LISTED)
            .map(|t| t.path.clone())
            .collect();
        if dry_run {
            (out.nodes, out.leaves, out.ring_entries) = counted;
            self.tell_sinks(pattern, true, &mut out);
            return Ok(out);
        }
        let order = sh.sink_order.lock();
        let mut dead: Vec<u32> = Vec::new();
        let starts = {
            let now = sh.clock.now();
            let mut st = sh.state.write();
            let st = &mut *st;
            let mut targets = targets;
            if targets
                .iter()
                .any(|t| st.tree.child(t.parent, &t.key) != Some(t.node))
            {
                // The tree moved under a collected node since the read section.
                targets = select(&st.tree, pattern)?;
                out.subtrees = targets.len();
                out.paths = targets
                    .iter()
                    .take(MAX_LISTED)
                    .map(|t| t.path.clone())
                    .collect();
            }
            for t in &targets {
                if let Some((nodes, leaves)) = st.tree.remove_child(t.parent, &t.key) {
                    out.nodes += nodes;
                    out.leaves += leaves.len();
                    dead.extend(leaves);
                }
            }
            // The branches left without children go too (O(depth) each).
            for t in &targets {
                out.nodes += st.tree.prune_empty(t.parent);
            }
            match wal {
                WalStep::Skip => {}
                WalStep::Log => {
                    if let Some(w) = sh.wal.get() {
                        st.wal_seq += 1;
                        w.send(st.wal_seq, st.open.start, st.open.len, now);
                    }
                }
                WalStep::Replayed(seq) => st.wal_seq = st.wal_seq.max(seq),
            }
            st.ring.starts()
        };
        if !dead.is_empty() {
            let dead = marks(&dead);
            for start in starts {
                out.ring_entries += sh.state.write().ring.remove_at(start, &dead);
            }
        }
        self.tell_sinks(pattern, false, &mut out);
        drop(order);
        sh.metrics.deletes.inc();
        sh.metrics.deleted_nodes.add(out.nodes as u64);
        tracing::info!(
            pattern = pattern.as_str(),
            subtrees = out.subtrees,
            nodes = out.nodes,
            ring_entries = out.ring_entries,
            trend_series = out.trend_series,
            "deleted"
        );
        Ok(out)
    }

    fn tell_sinks(&self, pattern: &Pattern, dry_run: bool, out: &mut Deleted) {
        let sinks = self.shared.sinks.lock().clone();
        for s in sinks {
            match s.subtrees_deleted(pattern, dry_run) {
                None => {}
                Some(Ok(n)) => *out.trend_series.get_or_insert(0) += n,
                Some(Err(e)) => {
                    tracing::error!(pattern = pattern.as_str(), "delete: trend store: {e}");
                    out.trend_error = Some(e);
                }
            }
        }
    }
}

/// Nodes below (and including) the targets, and their leaves.
fn subtrees(tree: &Tree, targets: &[Target]) -> (usize, Vec<u32>) {
    let mut nodes = 0;
    let mut leaves = Vec::new();
    let mut stack: Vec<NodeRef> = targets.iter().map(|t| t.node).collect();
    while let Some(n) = stack.pop() {
        nodes += 1;
        if let Some(l) = n.as_leaf() {
            leaves.push(l);
        } else if let Some(b) = n.as_branch() {
            stack.extend(tree.branch(b).children.iter().map(|c| c.node));
        }
    }
    (nodes, leaves)
}

/// How many branches above the targets would be left without children (and so go
/// too), for the dry run's count.
fn emptied(tree: &Tree, targets: &[Target]) -> usize {
    let mut removed: std::collections::HashMap<u32, usize> = std::collections::HashMap::new();
    for t in targets {
        *removed.entry(t.parent).or_default() += 1;
    }
    let mut todo: Vec<u32> = removed.keys().copied().collect();
    let mut gone = HashSet::new();
    while let Some(b) = todo.pop() {
        if b == ROOT || gone.contains(&b) {
            continue;
        }
        if removed.get(&b).copied().unwrap_or(0) == tree.branch(b).children.len() {
            gone.insert(b);
            if let Some(p) = tree.branch_parent(b) {
                *removed.entry(p).or_default() += 1;
                todo.push(p);
            }
        }
    }
    gone.len()
}

/// The leaves as a bitmap by leaf index: the ring's filter looks each entry up in
/// O(1) without hashing (one block of 200k entries is what a write section holds).
fn marks(leaves: &[u32]) -> Vec<bool> {
    let mut m = vec![false; leaves.iter().max().map_or(0, |&l| l as usize + 1)];
    for &l in leaves {
        m[l as usize] = true;
    }
    m
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Batch, EngineConfig};

    fn engine(paths: &[&str]) -> Engine {
        let e = Engine::new(EngineConfig::default()).unwrap();
        let mut b = Batch::new();
        for p in paths {
            b.sample(p, 1.0, None);
        }
        e.apply(&b).unwrap();
        e
    }

    fn delete(e: &Engine, pattern: &str, dry_run: bool) -> Result<Deleted, Error> {
        e.delete(&Pattern::parse(pattern).unwrap(), dry_run)
    }

    #[test]
    fn the_topmost_selected_nodes_go_with_everything_below() {
        let e = engine(&["a,x,b,x,c", "a,x,d", "b,x", "b,y", "_treestat,x"]);
        let d = delete(&e, "**,x", true).unwrap();
        // `a,x,b,x` is below `a,x`: one subtree, not two.
        assert_eq!(d.paths, ["a,x", "b,x"]);
        // a,x (5 nodes), b,x, and `a`, left without children.
        assert_eq!((d.nodes, d.leaves), (7, 3));
        assert_eq!(e.stats().leaves, 5, "a dry run removes nothing");
        let d = delete(&e, "**,x", false).unwrap();
        assert_eq!((d.subtrees, d.nodes, d.leaves), (2, 7, 3));
        let left: Vec<String> = e.snapshot().into_iter().map(|l| l.0).collect();
        assert_eq!(left, ["_treestat,x", "b,y"]);
        assert_eq!(e.stats().nodes, 4);
        assert_eq!(e.metrics().deleted_nodes.get(), 7);
        // A chain emptied to the top: every branch on it goes.
        let e = engine(&["p,q,r,s", "t"]);
        let d = delete(&e, "p,q,r,s", true).unwrap();
        assert_eq!(d.nodes, 4);
        assert_eq!(delete(&e, "p,q,r,s", false).unwrap().nodes, 4);
        assert_eq!(e.stats().nodes, 1);
    }

    #[test]
    fn kind_filters_and_refusals() {
        let e = engine(&["cpu,vm,user", "cpu,vm,core0,user", "cpu,vm,core1,user"]);
        let d = delete(&e, "cpu,vm,*|leaf", false).unwrap();
        assert_eq!(d.paths, ["cpu,vm,user"]);
        for bad in ["", ",,", "**", "cpu|sum", "_treestat", "_treestat,x"] {
            let err = delete(&e, bad, false).unwrap_err();
            assert_eq!(err.kind(), ErrorKind::BadPattern, "{bad:?}");
        }
        let internal = Pattern::parse("*").unwrap().with_internal(true);
        assert!(e.delete(&internal, false).is_err());
        assert_eq!(e.stats().leaves, 2);
    }
}
