//! Reads of the tree: the current totals under a pattern, with stats, over a window
//! of closed intervals, unfolded for a read front, as a JSON tree, and the ring's
//! recent series.

use serde_json::Value;
use treestat_model::Stat;

use super::{Engine, RecentSeries, StatRow};
use crate::error::Error;
use crate::histogram::{StatSource, eval_stat};
use crate::interval::WindowHist;
use crate::pattern::Pattern;
use crate::push::nest;
use crate::query::{self, PartialRow, PartialStatRow, join_columns};
use crate::tree::LeafId;

/// A window's histograms by leaf ([`Engine::window_hists`]).
type WindowHists = std::collections::HashMap<u32, WindowHist>;

/// What a stat of a leaf over a window reads: its merged stats and sketch, and its raw
/// samples when the window holds one interval of it whose samples were all kept.
fn window_source(w: &WindowHist, span: f64) -> StatSource<'_> {
    StatSource {
        stats: &w.stats,
        hist: Some(&w.hist),
        raw: w.raw.as_ref().and_then(|r| r.complete_raw()),
        secs: Some(span),
    }
}

impl Engine {
    /// `[path, value]` pairs of the current totals under a pattern (docs/CONCEPTS.md,
    /// "Query patterns").
    ///
    /// # Errors
    /// `BadPattern` naming the segment that does not parse.
    pub fn query(&self, pattern: &str) -> Result<Vec<(String, f64)>, Error> {
        let p = Pattern::parse(pattern)?;
        Ok(self.query_pattern(&p))
    }

    /// As [`Engine::query`], with a compiled pattern.
    pub fn query_pattern(&self, pattern: &Pattern) -> Vec<(String, f64)> {
        let st = self.shared.state.read();
        query::run(&st.tree, pattern, |_, leaf| Some(leaf.value()))
    }

    /// The leaves `pattern` selects, unfolded, as a read front folds them across
    /// shards ([`query::aggregate_partial`]): each with its value (the totals, or with
    /// `window` the fold of the closed intervals of that many last seconds, leaves
    /// untouched in it left out), its newest sample's time and, when the pattern has a
    /// quantile fold, the sketch of its totals (what [`Engine::query_pattern`] and
    /// [`Engine::query_window_pattern`] merge). Folding these rows gives exactly what
    /// those two answer.
    pub fn query_partial(&self, pattern: &Pattern, window: Option<i64>) -> Vec<PartialRow> {
        let st = self.shared.state.read();
        let sketches = pattern
            .segments()
            .iter()
            .any(|s| matches!(s.agg, crate::pattern::Agg::Quantile(_)));
        let values = window.map(|secs| st.ring.window(st.open.start - secs));
        let rows = query::select(&st.tree, pattern, |id, leaf| match &values {
            Some(v) => v.get(&id).copied(),
            None => Some(leaf.value()),
        });
        rows.into_iter()
            .map(|(path, value, id)| {
                let leaf = st.tree.leaf(LeafId(id));
                let sketch = sketches
                    .then(|| {
                        let l = leaf?;
                        let h = st.tree.hist(LeafId(id))?;
                        Some((h.sketch.clone(), l.total.min, l.total.max))
                    })
                    .flatten();
                PartialRow {
                    path,
                    value,
                    ts: leaf.map_or(0, |l| l.last_ts),
                    sketch,
                }
            })
            .collect()
    }

    /// `[path, stat, stat, ...]` rows of the current totals under a pattern, one column
    /// per stat in `stats` (docs/API.md, `?stat=`): a histogram leaf answers every stat
    /// from its totals since start (quantiles and threshold stats from its sketch); any
    /// other leaf answers `count`, `sum`, `mean`, `min`, `max`, `lower`, `upper` from its
    /// sum, count, min and max, and `None` for the rest. Aggregating segments fold each
    /// column as they fold values, over the leaves that answer it.
    pub fn query_stats(&self, pattern: &Pattern, stats: &[Stat]) -> Vec<StatRow> {
        let st = self.shared.state.read();
        let columns: Vec<Vec<(String, f64)>> = stats
            .iter()
            .map(|&stat| {
                query::run(&st.tree, pattern, |id, leaf| {
                    let src = StatSource {
                        stats: &leaf.total,
                        hist: st.tree.hist(LeafId(id)),
                        raw: None,
                        secs: None,
                    };
                    eval_stat(stat, &src)
                })
            })
            .collect();
        join_columns(columns)
    }

    /// `[path, value]` pairs folded over the closed intervals of the last `secs`
    /// seconds (leaves untouched in that window are left out).
    ///
    /// # Errors
    /// `BadPattern`.
    pub fn query_window(&self, pattern: &str, secs: i64) -> Result<Vec<(String, f64)>, Error> {
        Ok(self.query_window_pattern(&Pattern::parse(pattern)?, secs))
    }

    /// As [`Engine::query_window`], with a compiled pattern.
    pub fn query_window_pattern(&self, p: &Pattern, secs: i64) -> Vec<(String, f64)> {
        let st = self.shared.state.read();
        let values = st.ring.window(st.open.start - secs);
        query::run(&st.tree, p, |id, _| values.get(&id).copied())
    }

    /// As [`Engine::query_stats`] over the closed intervals of the last `secs` seconds:
    /// a histogram leaf answers from its intervals' stats and sketches merged (and,
    /// when the window holds one interval of it whose raw samples were all kept, Etsy's
    /// statistics exactly from them; `count_ps` over the intervals in the window); a
    /// leaf that is not a histogram answers `None`. Quantile folds merge the window's
    /// sketches.
    ///
    /// # Errors
    /// `BadPattern`.
    pub fn query_window_stats(
        &self,
        pattern: &str,
        secs: i64,
        stats: &[Stat],
    ) -> Result<Vec<StatRow>, Error> {
        Ok(self.query_window_stats_pattern(&Pattern::parse(pattern)?, secs, stats))
    }

    /// As [`Engine::query_window_stats`], with a compiled pattern.
    pub fn query_window_stats_pattern(
        &self,
        p: &Pattern,
        secs: i64,
        stats: &[Stat],
    ) -> Vec<StatRow> {
        let st = self.shared.state.read();
        let (hists, span) = self.window_hists(&st, secs, stats);
        let sketch_of = |l: u32| {
            hists.get(&l).map(|w| query::SketchRef {
                sketch: &w.hist.sketch,
                min: w.stats.min,
                max: w.stats.max,
            })
        };
        let columns = stats
            .iter()
            .map(|&stat| {
                query::run_with(
                    &st.tree,
                    p,
                    |id, _| {
                        let w = hists.get(&id)?;
                        eval_stat(stat, &window_source(w, span))
                    },
                    &sketch_of,
                )
            })
            .collect();
        join_columns(columns)
    }

    /// The leaves `pattern` selects, unfolded, each with its value of every stat in
    /// `stats` (as [`Engine::query_stats`] gives them, or with `window` as
    /// [`Engine::query_window_stats_pattern`]), its newest sample's time and, when the
    /// pattern has a quantile fold, the sketch a quantile fold of those reads (the
    /// totals', or the window's merged sketch). A read front folds these rows from
    /// every shard ([`query::aggregate_partial_stats`]) into exactly what those two
    /// answer on one engine holding every leaf. A leaf that answers no stat is left
    /// out.
    pub fn query_partial_stats(
        &self,
        pattern: &Pattern,
        window: Option<i64>,
        stats: &[Stat],
    ) -> Vec<PartialStatRow> {
        let st = self.shared.state.read();
        let sketches = pattern
            .segments()
            .iter()
            .any(|s| matches!(s.agg, crate::pattern::Agg::Quantile(_)));
        let win = window.map(|secs| self.window_hists(&st, secs, stats));
        let rows = query::select(&st.tree, pattern, |_, _| Some(0.0));
        rows.into_iter()
            .filter_map(|(path, _, id)| {
                let leaf = st.tree.leaf(LeafId(id))?;
                let (values, sketch) = match &win {
                    None => {
                        let hist = st.tree.hist(LeafId(id));
                        let src = StatSource {
                            stats: &leaf.total,
                            hist,
                            raw: None,
                            secs: None,
                        };
                        let sketch =
                            hist.map(|h| (h.sketch.clone(), leaf.total.min, leaf.total.max));
                        (
                            stats
                                .iter()
                                .map(|&s| eval_stat(s, &src))
                                .collect::<Vec<_>>(),
                            sketch,
                        )
                    }
                    Some((hists, span)) => {
                        let w = hists.get(&id)?;
                        let src = window_source(w, *span);
                        let sketch = Some((w.hist.sketch.clone(), w.stats.min, w.stats.max));
                        (stats.iter().map(|&s| eval_stat(s, &src)).collect(), sketch)
                    }
                };
                values.iter().any(Option::is_some).then(|| PartialStatRow {
                    path,
                    values,
                    ts: leaf.last_ts,
                    sketch: sketch.filter(|_| sketches),
                })
            })
            .collect()
    }

    /// The histograms of the closed intervals of the last `secs` seconds by leaf, with
    /// Etsy's bins (`bin_N`) added where `stats` asks for them, and the window's span in
    /// seconds.
    fn window_hists(&self, st: &super::State, secs: i64, stats: &[Stat]) -> (WindowHists, f64) {
        let since = st.open.start - secs;
        let (mut hists, blocks) = st.ring.window_hists(since);
        // Etsy's bins (`bin_N`) asked: each configured leaf's, counted from its raw
        // samples per interval and added up, kept with its exact stats.
        let confs = &self.shared.config.histogram_bins;
        if !confs.is_empty() && stats.iter().any(|s| matches!(s, Stat::Bin(_))) {
            for (&leaf, w) in &mut hists {
                let Some(path) = st.tree.leaf_path(LeafId(leaf)) else {
                    continue;
                };
                let bins = crate::histogram::bins_for(confs, &path);
                if bins.is_empty() {
                    continue;
                }
                if let Some(counts) = st.ring.window_bins(since, leaf, bins) {
                    let mut exact: Vec<(Stat, f64)> = w
                        .hist
                        .exact
                        .iter()
                        .flat_map(|e| e.iter().copied())
                        .collect();
                    exact.extend(counts);
                    w.hist.exact = Some(exact.into_boxed_slice());
                }
            }
        }
        #[allow(clippy::cast_precision_loss)] // seconds far below 2^53
        let span = (blocks as i64 * st.open.len) as f64;
        (hists, span)
    }

    /// The tree under a pattern as nested JSON (`""`: the whole tree).
    ///
    /// # Errors
    /// `BadPattern`.
    pub fn tree_json(&self, pattern: &str) -> Result<Value, Error> {
        Ok(nest(&self.query(pattern)?))
    }

    /// Per-interval values from the ring for every leaf under a pattern, oldest first:
    /// `(path, [(interval start, value)])`, for sparklines and live graphs.
    ///
    /// # Errors
    /// `BadPattern`.
    pub fn recent_series(&self, pattern: &str) -> Result<Vec<RecentSeries>, Error> {
        let p = Pattern::parse(pattern)?;
        let st = self.shared.state.read();
        let mut ids = Vec::new();
        let rows = query::run(&st.tree, &p, |id, leaf| {
            ids.push(id);
            Some(leaf.value())
        });
        if p.aggregates() {
            return Ok(rows
                .into_iter()
                .map(|(path, _)| (path, Vec::new()))
                .collect());
        }
        let mut out: Vec<RecentSeries> = ids
            .into_iter()
            .filter_map(|id| Some((st.tree.leaf_path(LeafId(id))?, st.ring.series(id))))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        Ok(out)
    }
}
