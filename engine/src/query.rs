//! Running a [`Pattern`] over the tree: selection, then aggregation (docs/CONCEPTS.md,
//! "Query patterns").
//!
//! Selection is a depth-first walk driven by the segments: a literal is a binary search,
//! `""` and globs scan one level, `**` tries zero levels first and then each child. When
//! the pattern is used up, every leaf below the node is selected. Each match remembers
//! which keys each segment consumed, so aggregation can replace them by the segment's
//! text and fold the values that then share a path.

use std::collections::{BTreeMap, HashSet};

use crate::pattern::{Agg, Match, Pattern, Segment};
use crate::tree::{Leaf, NodeRef, Tree, root_node};

/// One selected leaf: its keys and, per segment, the range of keys it consumed.
struct Hit {
    keys: Vec<String>,
    spans: Vec<(usize, usize)>,
    value: f64,
}

struct Walker<'t, 'p, F> {
    tree: &'t Tree,
    segs: &'p [Segment],
    value_of: F,
    keys: Vec<&'t str>,
    spans: Vec<(usize, usize)>,
    hits: Vec<Hit>,
    /// Leaves already selected; only needed when `**` can reach a leaf twice.
    seen: Option<HashSet<u32>>,
    /// `(node, segment)` states already walked, kept with `seen`. With `**` many ways
    /// lead to one state, and a state walked again can only reach leaves already
    /// selected, so it is skipped: the walk is O(nodes x segments). Without this,
    /// `**,**,...,x` took time exponential in the number of `**` under the read lock
    /// (20 of them over a 20-deep path: ~10^11 steps; found writing fuzz/ `pattern`).
    walked: Option<HashSet<(NodeRef, usize)>>,
}

impl<'t, F: FnMut(u32, &Leaf) -> Option<f64>> Walker<'t, '_, F> {
    fn emit_all(&mut self, node: NodeRef) {
        let mut keys = std::mem::take(&mut self.keys);
        let spans = self.spans.clone();
        let (seen, value_of, hits) = (&mut self.seen, &mut self.value_of, &mut self.hits);
        self.tree
            .for_each_leaf(node, &mut keys, &mut |k, id, leaf| {
                if let Some(seen) = seen.as_mut()
                    && !seen.insert(id)
                {
                    return;
                }
                if let Some(value) = value_of(id, leaf) {
                    hits.push(Hit {
                        keys: k.iter().map(|s| (*s).to_string()).collect(),
                        spans: spans.clone(),
                        value,
                    });
                }
            });
        self.keys = keys;
    }

    /// Whether `(node, pos)` is walked for the first time (always, without `**`).
    fn first_visit(&mut self, node: NodeRef, pos: usize) -> bool {
        self.walked.as_mut().is_none_or(|w| w.insert((node, pos)))
    }

    fn walk(&mut self, node: NodeRef, pos: usize) {
        if !self.first_visit(node, pos) {
            return;
        }
        if pos == self.segs.len() {
            self.emit_all(node);
            return;
        }
        let depth = self.keys.len();
        if self.segs[pos].matcher == Match::Deep {
            self.deep(node, pos, depth);
            return;
        }
        let Some(b) = node.as_branch() else {
            // A pattern longer than the leaf's path does not match it.
            return;
        };
        let tree = self.tree;
        match &self.segs[pos].matcher {
            Match::Literal(k) => {
                if let Ok(i) = tree.find(b, k) {
                    let c = &tree.branch(b).children[i];
                    self.step(&c.key, c.node, pos, depth);
                }
            }
            m => {
                for c in &tree.branch(b).children {
                    if m.accepts(&c.key) {
                        self.step(&c.key, c.node, pos, depth);
                    }
                }
            }
        }
    }

    fn step(&mut self, key: &'t str, child: NodeRef, pos: usize, depth: usize) {
        self.keys.push(key);
        self.spans[pos] = (depth, depth + 1);
        self.walk(child, pos + 1);
        self.keys.pop();
    }

    /// `**` at `pos`, which started consuming at depth `start`.
    fn deep(&mut self, node: NodeRef, pos: usize, start: usize) {
        self.spans[pos] = (start, self.keys.len());
        self.walk(node, pos + 1);
        if let Some(b) = node.as_branch() {
            let tree = self.tree;
            for c in &tree.branch(b).children {
                // `**` still consuming at the child is the state (child, pos).
                if !self.first_visit(c.node, pos) {
                    continue;
                }
                self.keys.push(&c.key);
                self.deep(c.node, pos, start);
                self.keys.pop();
            }
        }
    }
}

/// Selects and aggregates; `value_of` gives a leaf's value (totals, or a window) or
/// `None` to leave it out.
pub(crate) fn run<F>(tree: &Tree, pattern: &Pattern, value_of: F) -> Vec<(String, f64)>
where
    F: FnMut(u32, &Leaf) -> Option<f64>,
{
    let segs = pattern.segments();
    let deep = segs.iter().any(|s| s.matcher == Match::Deep);
    let mut w = Walker {
        tree,
        segs,
        value_of,
        keys: Vec::new(),
        spans: vec![(0, 0); segs.len()],
        hits: Vec::new(),
        seen: deep.then(HashSet::new),
        walked: deep.then(HashSet::new),
    };
    match pattern.literal_keys() {
        // Fast path: a plain path is a direct descent.
        Some(keys) => {
            if let Some(node) = tree.descend(keys.iter().copied()) {
                w.keys = keys;
                w.emit_all(node);
            }
        }
        None => w.walk(root_node(), 0),
    }
    let hits = w.hits;
    if !pattern.aggregates() {
        let mut out: Vec<(String, f64)> = hits
            .into_iter()
            .map(|h| (h.keys.join(","), h.value))
            .collect();
        if !out.is_sorted_by(|a, b| a.0 <= b.0) {
            out.sort_by(|a, b| a.0.cmp(&b.0));
        }
        return out;
    }
    aggregate(segs, hits)
}

/// Folds `[path, value]` rows of leaves by the pattern's aggregations, as
/// [`Engine::query`](crate::Engine::query) does for the live tree: used for rows that
/// come from elsewhere (a trend bucket). Rows the pattern does not select are left out.
pub fn aggregate_rows(pattern: &Pattern, rows: &[(String, f64)]) -> Vec<(String, f64)> {
    let hits = rows
        .iter()
        .filter_map(|(path, value)| {
            let keys: Vec<String> = path.split(',').map(str::to_string).collect();
            let spans = pattern.bind(&keys)?;
            Some(Hit {
                keys,
                spans,
                value: *value,
            })
        })
        .collect();
    aggregate(pattern.segments(), hits)
}

/// Folds hits segment by segment, innermost aggregation first.
fn aggregate(segs: &[Segment], hits: Vec<Hit>) -> Vec<(String, f64)> {
    // Each row: one part per segment (the keys it consumed, or its text once folded),
    // then the keys below the pattern; and the row's value.
    let mut rows: Vec<(Vec<String>, f64)> = hits
        .into_iter()
        .map(|h| {
            let mut parts: Vec<String> = h
                .spans
                .iter()
                .map(|&(a, b)| h.keys[a..b].join(","))
                .collect();
            let end = h.spans.last().map_or(0, |s| s.1);
            parts.push(h.keys[end..].join(","));
            (parts, h.value)
        })
        .collect();
    for (i, seg) in segs.iter().enumerate().rev() {
        if seg.agg == Agg::List {
            continue;
        }
        let mut groups: BTreeMap<Vec<String>, Vec<f64>> = BTreeMap::new();
        for (mut parts, value) in rows {
            parts[i].clone_from(&seg.text);
            groups.entry(parts).or_default().push(value);
        }
        rows = groups
            .into_iter()
            .map(|(parts, values)| (parts, seg.agg.fold(&values)))
            .collect();
    }
    let mut out: Vec<(String, f64)> = rows
        .into_iter()
        .map(|(parts, value)| {
            let path = parts
                .iter()
                .filter(|p| !p.is_empty())
                .map(String::as_str)
                .collect::<Vec<_>>()
                .join(",");
            (path, value)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}
