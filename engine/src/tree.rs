//! The metric tree: an arena of branches and leaves.
//!
//! Branches hold their children sorted by [`cmp_keys`](crate::path::cmp_keys) with the
//! key inline (a `CompactString`, no heap for keys up to 24 bytes), so a lookup is a
//! binary search over one contiguous slice. Leaves live in their own vector and their
//! index is a stable [`LeafId`]: a leaf never becomes a branch (a subtree pushed where a
//! number stands gets a *new* branch and the old leaf moves under it as `count`), so the
//! id that the interval ring and the trend store hold keeps meaning the same series.
//!
//! Every node also keeps its own key and its parent, so a node's path is built in
//! O(depth) by walking up, never by searching a parent's children for the node: a
//! branch 1M keys wide costs no more to name a leaf in than a narrow one. The key is
//! therefore stored twice (inline in the parent's `Child` for the binary search, and
//! with the node); that is 24 bytes per node, measured in `benches/memory.rs`.

use std::collections::HashMap;

use compact_str::CompactString;

use crate::Action;
use crate::histogram::Hist;
use crate::path::cmp_keys;
use crate::stats::Stats;

/// The key a number moves to when a subtree takes its place (the push format's, from
/// treestat-model).
pub use treestat_model::COUNT_KEY;

/// A stable handle to a leaf, valid for the life of the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeafId(pub u32);

const LEAF_BIT: u32 = 1 << 31;

/// A child reference: a branch index, or a leaf index with the top bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct NodeRef(u32);

impl NodeRef {
    fn branch(i: u32) -> NodeRef {
        NodeRef(i)
    }
    fn leaf(i: u32) -> NodeRef {
        NodeRef(i | LEAF_BIT)
    }
    /// The leaf index, if this is a leaf.
    pub(crate) fn as_leaf(self) -> Option<u32> {
        (self.0 & LEAF_BIT != 0).then_some(self.0 & !LEAF_BIT)
    }
    /// The reference to branch `i`.
    pub(crate) fn branch_ref(i: u32) -> NodeRef {
        NodeRef(i)
    }
    /// The branch index, if this is a branch.
    pub(crate) fn as_branch(self) -> Option<u32> {
        (self.0 & LEAF_BIT == 0).then_some(self.0)
    }
}

pub(crate) struct Child {
    pub(crate) key: CompactString,
    pub(crate) node: NodeRef,
}

pub(crate) struct Branch {
    pub(crate) children: Vec<Child>,
    parent: u32,
    /// Its own key under `parent` (empty for the root).
    key: CompactString,
    pub(crate) action: Action,
}

/// A leaf's totals since start.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Leaf {
    /// Every sample since start (or since the totals were restored).
    pub total: Stats,
    /// Time stamp (unix seconds) of the newest sample.
    pub last_ts: i64,
    /// The leaf's action.
    pub action: Action,
    /// Index of its entry in the open interval, `u32::MAX` when untouched.
    pub(crate) cur: u32,
    parent: u32,
    /// Whether the interval sinks have been told this leaf's path.
    pub(crate) announced: bool,
}

impl Leaf {
    /// The value the leaf reports under its action.
    pub fn value(&self) -> f64 {
        self.total.value(self.action)
    }
}

/// The tree of metrics. Not synchronised: the [`Engine`](crate::Engine) guards it.
pub struct Tree {
    branches: Vec<Branch>,
    leaves: Vec<Leaf>,
    /// Each leaf's own key under its parent, by leaf index (beside `leaves` so that
    /// [`Leaf`] stays `Copy`).
    leaf_keys: Vec<CompactString>,
    /// The sketches of leaves that took samples as `histogram` leaves, by leaf index:
    /// a map, so other leaves pay nothing for them.
    hists: HashMap<u32, Hist>,
    /// Leaves and branches removed by [`Tree::remove_child`]: their slots stay (a leaf
    /// id is never given again, so the ring and the trend store never mistake a new
    /// leaf for a deleted one) until the next start rebuilds the tree.
    dead_leaves: usize,
    dead_branches: usize,
}

pub(crate) const ROOT: u32 = 0;

/// The parent of a removed node (a tombstone).
const DEAD: u32 = u32::MAX;

/// The root branch as a child reference.
pub(crate) fn root_node() -> NodeRef {
    NodeRef::branch(ROOT)
}

impl Tree {
    /// An empty tree whose root has `root_action`.
    pub fn new(root_action: Action) -> Tree {
        Tree {
            branches: vec![Branch {
                children: Vec::new(),
                parent: ROOT,
                key: CompactString::const_new(""),
                action: root_action,
            }],
            leaves: Vec::new(),
            leaf_keys: Vec::new(),
            hists: HashMap::new(),
            dead_leaves: 0,
            dead_branches: 0,
        }
    }

    /// Whether leaf `l` was removed ([`Tree::remove_child`]).
    #[inline]
    pub(crate) fn is_dead(&self, l: u32) -> bool {
        self.leaves
            .get(l as usize)
            .is_none_or(|leaf| leaf.parent == DEAD)
    }

    /// Detaches the child `key` of `parent` and everything below it, and returns how
    /// many nodes went and which leaves. O(the subtree) plus one shift of `parent`'s
    /// children. The leaves stay as tombstones: their paths read as unknown, their
    /// keys, sketches and the branches' children are freed.
    pub(crate) fn remove_child(&mut self, parent: u32, key: &str) -> Option<(usize, Vec<u32>)> {
        let i = self.find(parent, key).ok()?;
        let child = self.branches[parent as usize].children.remove(i);
        let mut nodes = 0;
        let mut leaves = Vec::new();
        let mut stack = vec![child.node];
        while let Some(n) = stack.pop() {
            nodes += 1;
            if let Some(l) = n.as_leaf() {
                let leaf = &mut self.leaves[l as usize];
                leaf.parent = DEAD;
                leaf.cur = u32::MAX;
                self.leaf_keys[l as usize] = CompactString::const_new("");
                self.hists.remove(&l);
                self.dead_leaves += 1;
                leaves.push(l);
            } else if let Some(b) = n.as_branch() {
                let br = &mut self.branches[b as usize];
                stack.extend(std::mem::take(&mut br.children).into_iter().map(|c| c.node));
                br.parent = DEAD;
                br.key = CompactString::const_new("");
                self.dead_branches += 1;
            }
        }
        Some((nodes, leaves))
    }

    /// Removes branch `b` if it has no children left, then its parent likewise, up to
    /// (not including) the root: the branches a delete left empty. How many went.
    pub(crate) fn prune_empty(&mut self, mut b: u32) -> usize {
        let mut gone = 0;
        while b != ROOT {
            let br = &self.branches[b as usize];
            if br.parent == DEAD || !br.children.is_empty() {
                break;
            }
            let (parent, key) = (br.parent, br.key.clone());
            gone += self.remove_child(parent, &key).map_or(0, |(n, _)| n);
            b = parent;
        }
        gone
    }

    /// The parent of branch `b` (`None` for the root and removed branches).
    pub(crate) fn branch_parent(&self, b: u32) -> Option<u32> {
        let br = self.branches.get(b as usize)?;
        (b != ROOT && br.parent != DEAD).then_some(br.parent)
    }

    /// A histogram leaf's totals since start (`None`: the leaf never took a sample as
    /// a histogram).
    pub fn hist(&self, id: LeafId) -> Option<&Hist> {
        self.hists.get(&id.0)
    }

    /// The histogram of leaf `l`, created empty at its first histogram sample.
    pub(crate) fn hist_mut(&mut self, l: u32) -> &mut Hist {
        self.hists.entry(l).or_default()
    }

    /// Number of leaves that keep a sketch.
    pub fn hist_count(&self) -> usize {
        self.hists.len()
    }

    /// Number of nodes (branches and leaves, not the root).
    pub fn node_count(&self) -> usize {
        self.branches.len() - 1 - self.dead_branches + self.leaves.len() - self.dead_leaves
    }

    /// Number of leaves.
    pub fn leaf_count(&self) -> usize {
        self.leaves.len() - self.dead_leaves
    }

    /// A leaf by id.
    pub fn leaf(&self, id: LeafId) -> Option<&Leaf> {
        self.leaves.get(id.0 as usize)
    }

    pub(crate) fn leaf_mut(&mut self, i: u32) -> &mut Leaf {
        &mut self.leaves[i as usize]
    }

    /// A leaf by index, known to exist.
    pub(crate) fn leaf_at(&self, i: u32) -> &Leaf {
        &self.leaves[i as usize]
    }

    pub(crate) fn branch(&self, i: u32) -> &Branch {
        &self.branches[i as usize]
    }

    pub(crate) fn branch_action(&self, i: u32) -> Action {
        self.branches[i as usize].action
    }

    pub(crate) fn set_branch_action(&mut self, i: u32, action: Action) {
        self.branches[i as usize].action = action;
    }

    /// Position of `key` among a branch's children.
    #[inline]
    pub(crate) fn find(&self, branch: u32, key: &str) -> Result<usize, usize> {
        self.branches[branch as usize]
            .children
            .binary_search_by(|c| cmp_keys(&c.key, key))
    }

    /// The child of `branch` named `key`.
    #[inline]
    pub(crate) fn child(&self, branch: u32, key: &str) -> Option<NodeRef> {
        self.find(branch, key)
            .ok()
            .map(|i| self.branches[branch as usize].children[i].node)
    }

    /// Follows literal keys from the root.
    pub(crate) fn descend<'k>(&self, keys: impl IntoIterator<Item = &'k str>) -> Option<NodeRef> {
        let mut node = NodeRef::branch(ROOT);
        for key in keys {
            node = self.child(node.as_branch()?, key)?;
        }
        Some(node)
    }

    /// The branch `key` under `parent`, created with `new_action` if missing. A leaf
    /// standing there is moved under the new branch as `count`.
    pub(crate) fn branch_child(&mut self, parent: u32, key: &str, new_action: Action) -> u32 {
        match self.find(parent, key) {
            Ok(i) => {
                let node = self.branches[parent as usize].children[i].node;
                if let Some(b) = node.as_branch() {
                    return b;
                }
                let leaf = node.as_leaf().unwrap_or_default();
                let action = self.leaves[leaf as usize].action;
                let b = self.push_branch(parent, key, action);
                self.branches[b as usize].children.push(Child {
                    key: CompactString::const_new(COUNT_KEY),
                    node: NodeRef::leaf(leaf),
                });
                self.leaf_keys[leaf as usize] = CompactString::const_new(COUNT_KEY);
                let l = &mut self.leaves[leaf as usize];
                l.parent = b;
                // Its path changed: the trend store must learn the new one.
                l.announced = false;
                self.branches[parent as usize].children[i].node = NodeRef::branch(b);
                b
            }
            Err(i) => {
                let b = self.push_branch(parent, key, new_action);
                self.branches[parent as usize].children.insert(
                    i,
                    Child {
                        key: CompactString::from(key),
                        node: NodeRef::branch(b),
                    },
                );
                b
            }
        }
    }

    /// The leaf `key` under `parent`, created with `new_action` if missing. A branch
    /// standing there takes the number under its `count` key.
    pub(crate) fn leaf_child(&mut self, parent: u32, key: &str, new_action: Action) -> u32 {
        match self.find(parent, key) {
            Ok(i) => {
                let node = self.branches[parent as usize].children[i].node;
                match node.as_leaf() {
                    Some(l) => l,
                    None => {
                        let b = node.as_branch().unwrap_or_default();
                        let action = self.branches[b as usize].action;
                        self.leaf_child(b, COUNT_KEY, action)
                    }
                }
            }
            Err(i) => {
                let l = u32::try_from(self.leaves.len()).expect("fewer than 2^31 leaves");
                assert!(l < LEAF_BIT, "fewer than 2^31 leaves");
                self.leaves.push(Leaf {
                    total: Stats::EMPTY,
                    last_ts: i64::MIN,
                    action: new_action,
                    cur: u32::MAX,
                    parent,
                    announced: false,
                });
                self.leaf_keys.push(CompactString::from(key));
                self.branches[parent as usize].children.insert(
                    i,
                    Child {
                        key: CompactString::from(key),
                        node: NodeRef::leaf(l),
                    },
                );
                l
            }
        }
    }

    /// Adds many children that `parent` does not have yet in one merge pass, instead of
    /// one `Vec::insert` (a shift of every later sibling) per key: a push bringing 100k
    /// new keys to a 1M-wide branch in no particular order costs O(width + new) rather
    /// than O(width x new). `new` must be sorted by [`cmp_keys`], free of duplicates and
    /// of keys already present; each entry says whether to make a leaf and its action.
    pub(crate) fn add_new_children(&mut self, parent: u32, new: &[(&str, bool, Action)]) {
        let mut fresh = Vec::with_capacity(new.len());
        for &(key, leaf, action) in new {
            let node = if leaf {
                let l = u32::try_from(self.leaves.len()).expect("fewer than 2^31 leaves");
                assert!(l < LEAF_BIT, "fewer than 2^31 leaves");
                self.leaves.push(Leaf {
                    total: Stats::EMPTY,
                    last_ts: i64::MIN,
                    action,
                    cur: u32::MAX,
                    parent,
                    announced: false,
                });
                self.leaf_keys.push(CompactString::from(key));
                NodeRef::leaf(l)
            } else {
                NodeRef::branch(self.push_branch(parent, key, action))
            };
            fresh.push(Child {
                key: CompactString::from(key),
                node,
            });
        }
        let old = std::mem::take(&mut self.branches[parent as usize].children);
        let mut merged = Vec::with_capacity(old.len() + fresh.len());
        let (mut a, mut b) = (old.into_iter().peekable(), fresh.into_iter().peekable());
        loop {
            let take_old = match (a.peek(), b.peek()) {
                (Some(x), Some(y)) => cmp_keys(&x.key, &y.key).is_lt(),
                (Some(_), None) => true,
                (None, Some(_)) => false,
                (None, None) => break,
            };
            let next = if take_old { a.next() } else { b.next() };
            merged.extend(next);
        }
        self.branches[parent as usize].children = merged;
    }

    fn push_branch(&mut self, parent: u32, key: &str, action: Action) -> u32 {
        let b = u32::try_from(self.branches.len()).expect("fewer than 2^31 branches");
        assert!(b < LEAF_BIT, "fewer than 2^31 branches");
        self.branches.push(Branch {
            children: Vec::new(),
            parent,
            key: CompactString::from(key),
            action,
        });
        b
    }

    /// The keys from the root to a leaf: O(depth), whatever the branches' widths.
    pub fn leaf_keys(&self, id: LeafId) -> Option<Vec<&str>> {
        let leaf = self
            .leaves
            .get(id.0 as usize)
            .filter(|l| l.parent != DEAD)?;
        let mut keys = vec![self.leaf_keys[id.0 as usize].as_str()];
        self.push_branch_keys(leaf.parent, &mut keys);
        keys.reverse();
        Some(keys)
    }

    /// Pushes the keys from `b` up to (not including) the root, innermost first.
    fn push_branch_keys<'t>(&'t self, mut b: u32, keys: &mut Vec<&'t str>) {
        while b != ROOT {
            let br = &self.branches[b as usize];
            keys.push(br.key.as_str());
            b = br.parent;
        }
    }

    /// The text form of a leaf's path (`br,ie,7,count`): O(depth).
    pub fn leaf_path(&self, id: LeafId) -> Option<String> {
        let mut out = String::new();
        self.write_leaf_path(id, &mut out).then_some(out)
    }

    /// Appends a leaf's path to `out`; false (and `out` unchanged) for an unknown id.
    pub fn write_leaf_path(&self, id: LeafId, out: &mut String) -> bool {
        let Some(leaf) = self.leaves.get(id.0 as usize).filter(|l| l.parent != DEAD) else {
            return false;
        };
        self.write_path(leaf.parent, &self.leaf_keys[id.0 as usize], out);
        true
    }

    /// Appends the path of the child `key` of branch `parent` to `out`.
    fn write_path(&self, parent: u32, key: &str, out: &mut String) {
        self.write_branch_prefix(parent, out);
        out.push_str(key);
    }

    /// Appends `b`'s path followed by a comma (nothing for the root). Recursion depth is
    /// the branch's depth, bounded by `limits.max_depth`.
    fn write_branch_prefix(&self, b: u32, out: &mut String) {
        if b == ROOT {
            return;
        }
        let br = &self.branches[b as usize];
        self.write_branch_prefix(br.parent, out);
        out.push_str(&br.key);
        out.push(',');
    }

    /// The key directly under the root on a leaf's path (its first key): O(depth), no
    /// allocation.
    pub(crate) fn top_key(&self, l: u32) -> Option<&str> {
        let leaf = self.leaves.get(l as usize).filter(|l| l.parent != DEAD)?;
        if leaf.parent == ROOT {
            return Some(self.leaf_keys[l as usize].as_str());
        }
        let mut b = leaf.parent;
        loop {
            let br = &self.branches[b as usize];
            if br.parent == ROOT {
                return Some(br.key.as_str());
            }
            b = br.parent;
        }
    }

    /// The parent branch of a leaf (`u32::MAX` for an unknown id).
    pub(crate) fn leaf_parent(&self, l: u32) -> u32 {
        self.leaves
            .get(l as usize)
            .map_or(u32::MAX, |leaf| leaf.parent)
    }

    /// The path a leaf had while its parent was `parent`: the leaf may since have
    /// moved under `count` (perhaps several times), which only inserts branches below
    /// `parent`; branches never move, so the old path is `parent`'s path and the key of
    /// the leaf's ancestor directly below `parent`. O(depth). `None` for an unknown id,
    /// or when `parent` is not an ancestor of the leaf.
    pub(crate) fn leaf_path_under(&self, l: u32, parent: u32) -> Option<String> {
        let leaf = self.leaves.get(l as usize).filter(|l| l.parent != DEAD)?;
        let mut key = self.leaf_keys[l as usize].as_str();
        let mut b = leaf.parent;
        while b != parent {
            if b == ROOT {
                return None;
            }
            let br = &self.branches[b as usize];
            key = br.key.as_str();
            b = br.parent;
        }
        let mut out = String::new();
        self.write_path(parent, key, &mut out);
        Some(out)
    }

    /// Calls `f` with every leaf under `node` in key order, `keys` holding the path.
    pub(crate) fn for_each_leaf<'t>(
        &'t self,
        node: NodeRef,
        keys: &mut Vec<&'t str>,
        f: &mut dyn FnMut(&[&'t str], u32, &'t Leaf),
    ) {
        if let Some(l) = node.as_leaf() {
            f(keys, l, &self.leaves[l as usize]);
            return;
        }
        let b = node.as_branch().unwrap_or_default();
        for c in &self.branches[b as usize].children {
            keys.push(c.key.as_str());
            self.for_each_leaf(c.node, keys, f);
            keys.pop();
        }
    }

    /// Every leaf with its id and path, in path order.
    pub fn leaves_with_paths(&self) -> Vec<(LeafId, String, Leaf)> {
        let mut out = Vec::with_capacity(self.leaves.len());
        let mut keys = Vec::new();
        self.for_each_leaf(NodeRef::branch(ROOT), &mut keys, &mut |k, id, leaf| {
            out.push((LeafId(id), k.join(","), *leaf));
        });
        out
    }

    /// Approximate heap bytes held by the tree (for `/metrics` and the memory bench).
    pub fn heap_bytes(&self) -> usize {
        let mut n = self.hists.capacity() * (std::mem::size_of::<(u32, Hist)>() + 1)
            + self
                .hists
                .values()
                .map(|h| h.sketch.heap_bytes())
                .sum::<usize>()
            + self.branches.capacity() * std::mem::size_of::<Branch>()
            + self.leaves.capacity() * std::mem::size_of::<Leaf>()
            + self.leaf_keys.capacity() * std::mem::size_of::<CompactString>();
        for k in &self.leaf_keys {
            if k.is_heap_allocated() {
                n += k.capacity();
            }
        }
        for b in &self.branches {
            if b.key.is_heap_allocated() {
                n += b.key.capacity();
            }
            n += b.children.capacity() * std::mem::size_of::<Child>();
            for c in &b.children {
                if c.key.is_heap_allocated() {
                    n += c.key.capacity();
                }
            }
        }
        n
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn conflicts_move_numbers_to_count() {
        let mut t = Tree::new(Action::Average);
        let l = t.leaf_child(ROOT, "1", Action::Add);
        let b = t.branch_child(ROOT, "1", Action::Add);
        assert_eq!(t.leaf_path(LeafId(l)).unwrap(), "1,count");
        assert_eq!(t.child(b, "count").and_then(NodeRef::as_leaf), Some(l));
        // A number pushed where the subtree stands lands on the same `count` leaf.
        assert_eq!(t.leaf_child(ROOT, "1", Action::Add), l);
        assert_eq!(t.node_count(), 2);
    }

    #[test]
    fn children_stay_sorted() {
        let mut t = Tree::new(Action::Average);
        for k in ["b", "a", "b!", "c", "a0"] {
            t.leaf_child(ROOT, k, Action::Add);
        }
        let keys: Vec<_> = t
            .branch(ROOT)
            .children
            .iter()
            .map(|c| c.key.as_str())
            .collect();
        // "b!" sorts before "b" because "b" is compared as "b,".
        assert_eq!(keys, ["a", "a0", "b!", "b", "c"]);
    }

    #[test]
    fn paths_follow_moves_under_count() {
        let mut t = Tree::new(Action::Average);
        let a = t.branch_child(ROOT, "a", Action::Add);
        let l = t.leaf_child(a, "x", Action::Add);
        assert_eq!(t.leaf_keys(LeafId(l)).unwrap(), ["a", "x"]);
        assert_eq!(t.leaf_parent(l), a);
        // Moved twice: a,x -> a,x,count -> a,x,count,count.
        let x = t.branch_child(a, "x", Action::Add);
        t.branch_child(x, "count", Action::Add);
        assert_eq!(t.leaf_path(LeafId(l)).unwrap(), "a,x,count,count");
        assert_eq!(
            t.leaf_keys(LeafId(l)).unwrap(),
            ["a", "x", "count", "count"]
        );
        // The path it had while `a` was its parent, and while `x` was.
        assert_eq!(t.leaf_path_under(l, a).unwrap(), "a,x");
        assert_eq!(t.leaf_path_under(l, x).unwrap(), "a,x,count");
        assert_eq!(t.leaf_path_under(l, ROOT).unwrap(), "a");
        let other = t.branch_child(ROOT, "b", Action::Add);
        assert_eq!(t.leaf_path_under(l, other), None);
        assert_eq!(t.leaf_path(LeafId(99)), None);
    }

    #[test]
    fn removed_subtrees_are_tombstones() {
        let mut t = Tree::new(Action::Average);
        let cpu = t.branch_child(ROOT, "cpu", Action::Add);
        let user = t.leaf_child(cpu, "user", Action::Add);
        let core = t.branch_child(cpu, "core0", Action::Add);
        let deep = t.leaf_child(core, "user", Action::Add);
        let other = t.leaf_child(ROOT, "mem", Action::Add);
        assert_eq!(t.node_count(), 5);
        let (nodes, mut leaves) = t.remove_child(cpu, "core0").unwrap();
        leaves.sort_unstable();
        assert_eq!((nodes, leaves), (2, vec![deep]));
        assert_eq!((t.node_count(), t.leaf_count()), (3, 2));
        assert!(t.is_dead(deep) && !t.is_dead(user));
        assert_eq!(t.leaf_path(LeafId(deep)), None);
        assert_eq!(t.leaf_path_under(deep, core), None);
        assert_eq!(t.top_key(deep), None);
        assert_eq!(t.leaf_path(LeafId(other)).unwrap(), "mem");
        // The same path again is a new leaf, never the old id.
        let core = t.branch_child(cpu, "core0", Action::Add);
        assert_ne!(t.leaf_child(core, "user", Action::Add), deep);
        assert!(t.remove_child(cpu, "nothing").is_none());
    }

    /// Regression (issue 12): a leaf's path was found by scanning its parent's children
    /// for it, so naming every leaf of a 300k-wide branch took O(width^2), minutes in a
    /// debug build. Walking up is O(depth): this finishes in well under a second.
    #[test]
    fn paths_in_a_very_wide_branch_cost_no_sibling_scan() {
        let mut t = Tree::new(Action::Average);
        let w = t.branch_child(ROOT, "w", Action::Add);
        let n = 300_000u32;
        let ids: Vec<u32> = (0..n)
            .map(|i| t.leaf_child(w, &format!("k{i:07}"), Action::Add))
            .collect();
        let started = std::time::Instant::now();
        let mut bytes = 0;
        for (i, &l) in ids.iter().enumerate() {
            let p = t.leaf_path(LeafId(l)).unwrap();
            assert_eq!(p.len(), "w,k0000000".len());
            if i % 100_003 == 0 {
                assert_eq!(p, format!("w,k{i:07}"));
            }
            bytes += p.len();
        }
        assert_eq!(bytes, 300_000 * 10);
        let took = started.elapsed();
        assert!(
            took < std::time::Duration::from_secs(60),
            "300k paths took {took:?}"
        );
    }
}
