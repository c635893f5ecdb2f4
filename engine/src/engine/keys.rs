//! Browsing the tree one level at a time (`GET /api/keys/<prefix>`, `treestat ls`).

use super::Engine;
use crate::pattern::INTERNAL_KEY;
use crate::tree::ROOT;

/// One key of a level.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KeyEntry {
    /// The key.
    pub key: String,
    /// `"leaf"` or `"branch"`.
    pub kind: &'static str,
    /// Children of a branch (0 for a leaf).
    pub children: usize,
    /// The node's action (a branch's: what its new children inherit).
    pub action: &'static str,
    /// A leaf's value under its action.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<f64>,
}

/// The keys under a prefix.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct KeyListing {
    /// The prefix, as given (`""`: the root).
    pub prefix: String,
    /// Whether the prefix is a leaf (then `keys` is empty).
    pub leaf: bool,
    /// Keys at this level (the server's own `_treestat` left out at the root unless
    /// asked for), in key order, at most `limit`.
    pub keys: Vec<KeyEntry>,
    /// Keys at this level in all.
    pub total: usize,
    /// Whether `keys` stops short of `total`.
    pub truncated: bool,
}

impl Engine {
    /// The next level's keys under `prefix` (a path of literal keys; `""` is the
    /// root), at most `limit`; `None` when no node has that path. At the root the
    /// server's own subtree is listed only with `internal`.
    pub fn keys(&self, prefix: &str, internal: bool, limit: usize) -> Option<KeyListing> {
        let st = self.shared.state.read();
        let tree = &st.tree;
        let node = tree.descend(crate::path::split(prefix))?;
        let mut out = KeyListing {
            prefix: prefix.to_string(),
            leaf: false,
            keys: Vec::new(),
            total: 0,
            truncated: false,
        };
        let Some(b) = node.as_branch() else {
            out.leaf = true;
            return Some(out);
        };
        for c in &tree.branch(b).children {
            if b == ROOT && !internal && c.key == INTERNAL_KEY {
                continue;
            }
            out.total += 1;
            if out.keys.len() == limit {
                out.truncated = true;
                continue;
            }
            let entry = match (c.node.as_leaf(), c.node.as_branch()) {
                (Some(l), _) => {
                    let leaf = tree.leaf_at(l);
                    KeyEntry {
                        key: c.key.to_string(),
                        kind: "leaf",
                        children: 0,
                        action: leaf.action.as_str(),
                        value: Some(leaf.value()).filter(|v| v.is_finite()),
                    }
                }
                (None, Some(cb)) => KeyEntry {
                    key: c.key.to_string(),
                    kind: "branch",
                    children: tree.branch(cb).children.len(),
                    action: tree.branch_action(cb).as_str(),
                    value: None,
                },
                (None, None) => continue,
            };
            out.keys.push(entry);
        }
        Some(out)
    }
}
