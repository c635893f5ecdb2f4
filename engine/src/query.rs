//! Running a [`Pattern`] over the tree: selection, then aggregation (docs/CONCEPTS.md,
//! "Query patterns").
//!
//! Selection is a depth-first walk driven by the segments: a literal is a binary search,
//! `""` and globs scan one level, `**` tries zero levels first and then each child. When
//! the pattern is used up, every leaf below the node is selected. Each match remembers
//! which keys each segment consumed, so aggregation can replace them by the segment's
//! text and fold the values that then share a path.

use std::borrow::Cow;
use std::collections::HashSet;

use crate::pattern::{Agg, INTERNAL_KEY, Kind, Match, Pattern, Segment};
use crate::sketch::Sketch;
use crate::tree::{Leaf, LeafId, NodeRef, ROOT, Tree, root_node};

/// One selected leaf: its keys (borrowed from the tree or the rows) and, per segment,
/// the range of keys it consumed.
struct Hit<'a> {
    keys: Vec<&'a str>,
    spans: Vec<(usize, usize)>,
    value: f64,
    /// The leaf, for its sketch in a quantile fold (`NO_LEAF` for rows from elsewhere).
    leaf: u32,
}

const NO_LEAF: u32 = u32::MAX;

/// A leaf's sketch as a quantile fold reads it, with the min and max that clamp the
/// answer (so `|p100` is the true max).
#[derive(Debug, Clone, Copy)]
pub struct SketchRef<'a> {
    /// The samples' sketch.
    pub sketch: &'a Sketch,
    /// The smallest sample.
    pub min: f64,
    /// The largest sample.
    pub max: f64,
}

/// Where a quantile fold finds a leaf's sketch (`None`: the leaf has none and its value
/// counts as one sample).
pub type SketchOf<'a> = &'a dyn Fn(u32) -> Option<SketchRef<'a>>;

/// Sketches merged by a quantile fold, kept on its row so an outer quantile fold
/// merges on (`*|p99,*|p99` is the p99 of everything).
#[derive(Debug, Clone)]
struct Merged {
    sketch: Sketch,
    min: f64,
    max: f64,
}

impl Merged {
    fn empty() -> Merged {
        Merged {
            sketch: Sketch::new(),
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }

    fn merge(&mut self, s: &Sketch, min: f64, max: f64) {
        self.sketch.merge(s);
        self.min = self.min.min(min);
        self.max = self.max.max(max);
    }

    fn quantile(&self, q: f64) -> f64 {
        crate::histogram::clamped_quantile(&self.sketch, q, self.min, self.max).unwrap_or(0.0)
    }
}

struct Walker<'t, 'p, F> {
    tree: &'t Tree,
    segs: &'p [Segment],
    value_of: F,
    keys: Vec<&'t str>,
    spans: Vec<(usize, usize)>,
    hits: Vec<Hit<'t>>,
    /// Leaves already selected; only needed when `**` can reach a leaf twice.
    seen: Option<HashSet<u32>>,
    /// `(node, segment)` states already walked, kept with `seen`. With `**` many ways
    /// lead to one state, and a state walked again can only reach leaves already
    /// selected, so it is skipped: the walk is O(nodes x segments). Without this,
    /// `**,**,...,x` took time exponential in the number of `**` under the read lock
    /// (20 of them over a 20-deep path: ~10^11 steps; found writing fuzz/ `pattern`).
    walked: Option<HashSet<(NodeRef, usize)>>,
    /// The pattern leaves the root's [`INTERNAL_KEY`] child out ([`Pattern::hides`]).
    hide_internal: bool,
}

impl<'t, 'p, F: FnMut(u32, &Leaf) -> Option<f64>> Walker<'t, 'p, F> {
    /// A walk of `pattern`'s selection over `tree`.
    fn new(tree: &'t Tree, pattern: &'p Pattern, value_of: F) -> Self {
        let segs = pattern.segments();
        let deep = segs.iter().any(|s| s.matcher == Match::Deep);
        Walker {
            tree,
            segs,
            value_of,
            keys: Vec::new(),
            spans: vec![(0, 0); segs.len()],
            hits: Vec::new(),
            seen: deep.then(HashSet::new),
            walked: deep.then(HashSet::new),
            hide_internal: pattern.hides(INTERNAL_KEY),
        }
    }

    /// Whether the walk skips `key`, a child of `node`.
    #[inline]
    fn hidden(&self, node: NodeRef, key: &str) -> bool {
        self.hide_internal && node == root_node() && key == INTERNAL_KEY
    }

    fn emit_all(&mut self, node: NodeRef) {
        if self.hide_internal && node == root_node() {
            // The whole tree but the server's own subtree.
            let tree = self.tree;
            for c in &tree.branch(ROOT).children {
                if c.key != INTERNAL_KEY {
                    self.keys.push(&c.key);
                    self.emit_all(c.node);
                    self.keys.pop();
                }
            }
            return;
        }
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
                        keys: k.to_vec(),
                        spans: spans.clone(),
                        value,
                        leaf: id,
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
        let kind = self.segs[pos].kind;
        match &self.segs[pos].matcher {
            Match::Literal(k) => {
                if let Ok(i) = tree.find(b, k) {
                    let c = &tree.branch(b).children[i];
                    // `**,_treestat` reaches the root's `_treestat` through a literal:
                    // hidden all the same, as `Pattern::matches_path` has it (finding 10).
                    if Kind::accepts(kind, c.node.as_leaf().is_some()) && !self.hidden(node, &c.key)
                    {
                        self.step(&c.key, c.node, pos, depth);
                    }
                }
            }
            m => {
                for c in &tree.branch(b).children {
                    if m.accepts(&c.key)
                        && Kind::accepts(kind, c.node.as_leaf().is_some())
                        && !self.hidden(node, &c.key)
                    {
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
                if self.hidden(node, &c.key) || !self.first_visit(c.node, pos) {
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
/// `None` to leave it out. Quantile folds merge the leaves' sketches of their totals.
pub(crate) fn run<F>(tree: &Tree, pattern: &Pattern, value_of: F) -> Vec<(String, f64)>
where
    F: FnMut(u32, &Leaf) -> Option<f64>,
{
    let totals = |l: u32| {
        let leaf = tree.leaf(LeafId(l))?;
        tree.hist(LeafId(l)).map(|h| SketchRef {
            sketch: &h.sketch,
            min: leaf.total.min,
            max: leaf.total.max,
        })
    };
    run_with(tree, pattern, value_of, &totals)
}

/// As [`run`], quantile folds reading each leaf's sketch from `sketch_of` (a window's
/// merged sketches rather than the totals).
pub(crate) fn run_with<'a, F>(
    tree: &'a Tree,
    pattern: &'a Pattern,
    value_of: F,
    sketch_of: SketchOf<'_>,
) -> Vec<(String, f64)>
where
    F: FnMut(u32, &Leaf) -> Option<f64>,
{
    let segs = pattern.segments();
    let mut w = Walker::new(tree, pattern, value_of);
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
    aggregate(segs, hits, sketch_of)
}

/// One selected leaf as a read front needs it to fold across shards: its path, its
/// value, the time stamp of its newest sample (which of two copies is current after a
/// rebalance) and, for quantile folds, its sketch with the min and max that clamp it.
#[derive(Debug, Clone, PartialEq)]
pub struct PartialRow {
    /// The leaf's comma-joined path.
    pub path: String,
    /// Its value (totals, or a window's fold).
    pub value: f64,
    /// Unix seconds of its newest sample.
    pub ts: i64,
    /// Its sketch, min and max (histogram leaves, when the pattern has a quantile fold).
    pub sketch: Option<(Sketch, f64, f64)>,
}

/// One selected leaf with its value of each stat asked (`None`: it has no such stat),
/// as a read front folds `?stat=` across shards ([`aggregate_partial_stats`]).
#[derive(Debug, Clone, PartialEq)]
pub struct PartialStatRow {
    /// The leaf's comma-joined path.
    pub path: String,
    /// One value per stat asked.
    pub values: Vec<Option<f64>>,
    /// Unix seconds of its newest sample.
    pub ts: i64,
    /// Its sketch, min and max (histogram leaves, when the pattern has a quantile fold).
    pub sketch: Option<(Sketch, f64, f64)>,
}

/// Folds stat rows of several engines by `pattern`'s aggregations as one engine
/// holding every leaf folds its `?stat=` columns: each column folded by
/// [`aggregate_partial`] over the rows that answer it, then joined by path (a path
/// missing from a column, or a value that is not finite, is `None` there).
pub fn aggregate_partial_stats(
    pattern: &Pattern,
    rows: &[PartialStatRow],
    width: usize,
) -> Vec<(String, Vec<Option<f64>>)> {
    let columns = (0..width)
        .map(|i| {
            let column: Vec<PartialRow> = rows
                .iter()
                .filter_map(|r| {
                    Some(PartialRow {
                        path: r.path.clone(),
                        value: (*r.values.get(i)?)?,
                        ts: r.ts,
                        sketch: r.sketch.clone(),
                    })
                })
                .collect();
            if pattern.aggregates() {
                aggregate_partial(pattern, &column)
            } else {
                column.into_iter().map(|r| (r.path, r.value)).collect()
            }
        })
        .collect();
    join_columns(columns)
}

/// The leaves `pattern`'s selection reaches (its aggregations ignored), each with its
/// leaf id, in path order; `value_of` as for [`run`].
pub(crate) fn select<F>(tree: &Tree, pattern: &Pattern, value_of: F) -> Vec<(String, f64, u32)>
where
    F: FnMut(u32, &Leaf) -> Option<f64>,
{
    let mut w = Walker::new(tree, pattern, value_of);
    w.walk(root_node(), 0);
    let mut out: Vec<(String, f64, u32)> = w
        .hits
        .into_iter()
        .map(|h| (h.keys.join(","), h.value, h.leaf))
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Folds the leaves of several engines (a read front's shards, [`PartialRow`]s) by
/// `pattern`'s aggregations exactly as one engine holding all of them folds its own:
/// the same code, each row a leaf, quantile folds merging the rows' sketches. Rows the
/// pattern does not select are left out.
pub fn aggregate_partial(pattern: &Pattern, rows: &[PartialRow]) -> Vec<(String, f64)> {
    let hits = rows
        .iter()
        .enumerate()
        .filter_map(|(i, r)| {
            let keys: Vec<&str> = r.path.split(',').collect();
            let spans = pattern.bind(&keys)?;
            Some(Hit {
                keys,
                spans,
                value: r.value,
                leaf: u32::try_from(i).ok()?,
            })
        })
        .collect();
    let sketch_of = |i: u32| {
        let r = rows.get(usize::try_from(i).ok()?)?;
        r.sketch.as_ref().map(|(sketch, min, max)| SketchRef {
            sketch,
            min: *min,
            max: *max,
        })
    };
    aggregate(pattern.segments(), hits, &sketch_of)
}

/// Folds `[path, value]` rows of leaves by the pattern's aggregations, as
/// [`Engine::query`](crate::Engine::query) does for the live tree: used for rows that
/// come from elsewhere (a trend bucket). Rows the pattern does not select are left out.
pub fn aggregate_rows(pattern: &Pattern, rows: &[(String, f64)]) -> Vec<(String, f64)> {
    let hits = rows
        .iter()
        .filter_map(|(path, value)| {
            let keys: Vec<&str> = path.split(',').collect();
            let spans = pattern.bind(&keys)?;
            Some(Hit {
                keys,
                spans,
                value: *value,
                leaf: NO_LEAF,
            })
        })
        .collect();
    aggregate(pattern.segments(), hits, &|_| None)
}

/// One row being folded: one part per segment (the keys it consumed, or its text once
/// folded), then the keys below the pattern; its value; the leaf it is, or the sketches
/// a quantile fold merged into it. A part of one key borrows it.
struct Row<'a> {
    parts: Vec<Cow<'a, str>>,
    value: f64,
    leaf: u32,
    merged: Option<Box<Merged>>,
}

/// Folds hits segment by segment, innermost aggregation first.
fn aggregate<'a>(
    segs: &'a [Segment],
    hits: Vec<Hit<'a>>,
    sketch_of: SketchOf<'_>,
) -> Vec<(String, f64)> {
    let part = |keys: &[&'a str]| -> Cow<'a, str> {
        match keys {
            [] => Cow::Borrowed(""),
            [k] => Cow::Borrowed(*k),
            more => Cow::Owned(more.join(",")),
        }
    };
    let mut rows: Vec<Row<'a>> = hits
        .into_iter()
        .map(|h| {
            let mut parts: Vec<Cow<'a, str>> = Vec::with_capacity(h.spans.len() + 1);
            parts.extend(h.spans.iter().map(|&(a, b)| part(&h.keys[a..b])));
            let end = h.spans.last().map_or(0, |s| s.1);
            parts.push(part(&h.keys[end..]));
            Row {
                parts,
                value: h.value,
                leaf: h.leaf,
                merged: None,
            }
        })
        .collect();
    for (i, seg) in segs.iter().enumerate().rev() {
        if seg.agg == Agg::List {
            continue;
        }
        for row in &mut rows {
            row.parts[i] = Cow::Borrowed(seg.text.as_str());
        }
        // Rows that now share their parts fold together. The walk yields them in key
        // order, so they are usually sorted already (a fold over a level, or one per
        // listed key): then grouping is one pass. The sort is stable, so a group's
        // members keep the walk's order.
        if !rows.is_sorted_by(|a, b| a.parts <= b.parts) {
            rows.sort_by(|a, b| a.parts.cmp(&b.parts));
        }
        let mut folded = Vec::new();
        let mut rest = rows.into_iter().peekable();
        while let Some(mut first) = rest.next() {
            let parts = std::mem::take(&mut first.parts);
            let mut members = vec![first];
            while let Some(next) = rest.next_if(|r| r.parts == parts) {
                members.push(next);
            }
            folded.push(fold_group(seg.agg, parts, members, sketch_of));
        }
        rows = folded;
    }
    let mut out: Vec<(String, f64)> = rows
        .into_iter()
        .map(|Row { parts, value, .. }| {
            let path = parts
                .iter()
                .filter(|p| !p.is_empty())
                .map(|p| p.as_ref())
                .collect::<Vec<_>>()
                .join(",");
            (path, value)
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0));
    out
}

/// Folds the rows that share `parts` under `agg`.
fn fold_group<'a>(
    agg: Agg,
    parts: Vec<Cow<'a, str>>,
    members: Vec<Row<'a>>,
    sketch_of: SketchOf<'_>,
) -> Row<'a> {
    let sketches: Vec<Option<SketchRef<'_>>> = members
        .iter()
        .map(|r| {
            (r.leaf != NO_LEAF && r.merged.is_none())
                .then(|| sketch_of(r.leaf))
                .flatten()
        })
        .collect();
    let plain = members
        .iter()
        .zip(&sketches)
        .all(|(r, s)| r.merged.is_none() && s.is_none());
    // Not a quantile fold, or plain values only (exact: the value of the nearest rank).
    let m = match agg {
        Agg::Quantile(m) if !plain => m,
        _ => {
            let values: Vec<f64> = members.iter().map(|r| r.value).collect();
            return Row {
                parts,
                value: agg.fold(&values),
                leaf: NO_LEAF,
                merged: None,
            };
        }
    };
    let q = treestat_model::Stat::quantile(m);
    if let ([r], [Some(s)]) = (members.as_slice(), sketches.as_slice()) {
        // One leaf: its own sketch answers, and an outer fold finds it by the leaf.
        return Row {
            parts,
            value: crate::histogram::clamped_quantile(s.sketch, q, s.min, s.max).unwrap_or(0.0),
            leaf: r.leaf,
            merged: None,
        };
    }
    let mut acc = Merged::empty();
    for (r, s) in members.iter().zip(&sketches) {
        if let Some(m) = &r.merged {
            acc.merge(&m.sketch, m.min, m.max);
        } else if let Some(s) = s {
            acc.merge(s.sketch, s.min, s.max);
        } else {
            // No sketch: the row's value is one sample.
            acc.sketch.add(r.value);
            acc.min = acc.min.min(r.value);
            acc.max = acc.max.max(r.value);
        }
    }
    Row {
        parts,
        value: acc.quantile(q),
        leaf: NO_LEAF,
        merged: Some(Box::new(acc)),
    }
}

/// Joins per-stat `[path, value]` lists into rows by path (a path missing from a
/// list, or a value that is not finite, is `None` there).
pub(crate) fn join_columns(columns: Vec<Vec<(String, f64)>>) -> Vec<(String, Vec<Option<f64>>)> {
    let width = columns.len();
    let mut rows: std::collections::BTreeMap<String, Vec<Option<f64>>> =
        std::collections::BTreeMap::new();
    for (i, col) in columns.into_iter().enumerate() {
        for (path, v) in col {
            rows.entry(path).or_insert_with(|| vec![None; width])[i] = v.is_finite().then_some(v);
        }
    }
    rows.into_iter().collect()
}
