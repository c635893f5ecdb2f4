//! The metric tree: an arena of branches and leaves.
//!
//! Branches hold their children sorted by [`cmp_keys`](crate::path::cmp_keys) with the
//! key inline (a `CompactString`, no heap for keys up to 24 bytes), so a lookup is a
//! binary search over one contiguous slice. Leaves live in their own vector and their
//! index is a stable [`LeafId`]: a leaf never becomes a branch (a subtree pushed where a
//! number stands gets a *new* branch and the old leaf moves under it as `count`), so the
//! id that the interval ring and the trend store hold keeps meaning the same series.

use compact_str::CompactString;

use crate::Action;
use crate::path::cmp_keys;
use crate::stats::Stats;

/// The key a number moves to when a subtree takes its place (DESIGN.md §2).
pub const COUNT_KEY: &str = "count";

/// A stable handle to a leaf, valid for the life of the tree.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct LeafId(pub u32);

const LEAF_BIT: u32 = 1 << 31;

/// A child reference: a branch index, or a leaf index with the top bit set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
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
}

pub(crate) const ROOT: u32 = 0;

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
                action: root_action,
            }],
            leaves: Vec::new(),
        }
    }

    /// Number of nodes (branches and leaves, not the root).
    pub fn node_count(&self) -> usize {
        self.branches.len() - 1 + self.leaves.len()
    }

    /// Number of leaves.
    pub fn leaf_count(&self) -> usize {
        self.leaves.len()
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
                let b = self.push_branch(parent, action);
                self.branches[b as usize].children.push(Child {
                    key: CompactString::const_new(COUNT_KEY),
                    node: NodeRef::leaf(leaf),
                });
                let l = &mut self.leaves[leaf as usize];
                l.parent = b;
                // Its path changed: the trend store must learn the new one.
                l.announced = false;
                self.branches[parent as usize].children[i].node = NodeRef::branch(b);
                b
            }
            Err(i) => {
                let b = self.push_branch(parent, new_action);
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

    fn push_branch(&mut self, parent: u32, action: Action) -> u32 {
        let b = u32::try_from(self.branches.len()).expect("fewer than 2^31 branches");
        assert!(b < LEAF_BIT, "fewer than 2^31 branches");
        self.branches.push(Branch {
            children: Vec::new(),
            parent,
            action,
        });
        b
    }

    /// The keys from the root to a leaf.
    pub fn leaf_keys(&self, id: LeafId) -> Option<Vec<&str>> {
        let leaf = self.leaves.get(id.0 as usize)?;
        let mut keys = vec![self.key_of(leaf.parent, NodeRef::leaf(id.0))?];
        let mut b = leaf.parent;
        while b != ROOT {
            let parent = self.branches[b as usize].parent;
            keys.push(self.key_of(parent, NodeRef::branch(b))?);
            b = parent;
        }
        keys.reverse();
        Some(keys)
    }

    /// The text form of a leaf's path (`br,ie,7,count`).
    pub fn leaf_path(&self, id: LeafId) -> Option<String> {
        self.leaf_keys(id).map(|k| k.join(","))
    }

    fn key_of(&self, parent: u32, node: NodeRef) -> Option<&str> {
        self.branches[parent as usize]
            .children
            .iter()
            .find(|c| c.node == node)
            .map(|c| c.key.as_str())
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
        let mut n = self.branches.capacity() * std::mem::size_of::<Branch>()
            + self.leaves.capacity() * std::mem::size_of::<Leaf>();
        for b in &self.branches {
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
}
