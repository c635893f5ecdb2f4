//! Reads that answer stats: `?stat=` columns per bucket ([`TrendStore::stat_series`])
//! and quantile folds across series ([`TrendStore::quantile_fold`]), both over the
//! buckets [`TrendStore::folded`] gives with their sketches.

use std::collections::BTreeMap;

use super::TrendStore;
use super::error::{Result, TrendError};
use super::read::{Folded, Series, check_aggregation, display_path};
use super::rollup::Agg;
use crate::histogram::{Hist, StatSource, clamped_quantile, eval_stats};
use crate::pattern::{Agg as PAgg, Pattern};
use crate::{Action, Stat};

/// One series of a trend query with `?stat=`: a column per stat asked.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct StatSeries {
    /// Comma-joined path.
    pub path: String,
    /// Seconds between points.
    pub step: i64,
    /// `(bucket start, one value per stat)`, oldest first; `None` where the series has
    /// no such stat (a quantile of a series that is not a histogram).
    pub points: Vec<(i64, Vec<Option<f64>>)>,
}

impl TrendStore {
    /// As [`TrendStore::series`], each bucket answering `stats` ([`Stat`]): a
    /// histogram series' buckets merge the sketches of their intervals (rollups and
    /// downsampling merge sketches, never quantiles), so a week's `p99` is the p99 of
    /// the week's samples within 1 %. Stats that need the raw samples (Etsy's
    /// thresholds, `median`) come from the sketch; `count_ps` is over the bucket's
    /// length. Sum, count, min and max are exact where the bucket's intervals are not
    /// yet compacted; a compacted histogram bucket keeps its sum and count (the
    /// `average` rollup), and its min and max are read from the sketch.
    ///
    /// An aggregating pattern folds the series per bucket by its innermost fold
    /// ([`fold_stat_series`]): `|sum` and the quantile folds pool the series' samples
    /// (sum of sums, sum of counts, sketches merged) and read each stat from the pool;
    /// `|min`, `|max`, `|avg` and `|count` fold each stat's column over the series.
    ///
    /// # Errors
    /// `BadQuery` for a bad pattern or range (or a fold at or after `**`);
    /// `Storage`, `Corrupt`.
    pub fn stat_series(
        &self,
        pattern: &str,
        from: i64,
        until: i64,
        points: usize,
        stats: &[Stat],
    ) -> Result<Vec<StatSeries>> {
        let p = Pattern::parse(pattern)?;
        let selector = if p.aggregates() {
            check_aggregation(&p)?;
            Pattern::parse(&p.selector())?.with_internal(p.internal())
        } else {
            p.clone()
        };
        let folded = self.folded(&selector, from, until, points)?;
        stat_series_of(&p, folded, stats)
    }

    /// A pattern whose innermost fold is a quantile (`api,*|p99,latency`): per bucket,
    /// the sketches of the series folded together are merged and the quantile read
    /// from the union (a series without a sketch counts its bucket's value as one
    /// sample), never a quantile of the series' means.
    ///
    /// # Errors
    /// As [`TrendStore::series`].
    pub fn quantile_fold(
        &self,
        pattern: &Pattern,
        from: i64,
        until: i64,
        points: usize,
    ) -> Result<Vec<Series>> {
        check_aggregation(pattern)?;
        let selector = Pattern::parse(&pattern.selector())?.with_internal(pattern.internal());
        quantile_fold_of(pattern, self.folded(&selector, from, until, points)?)
    }
}

/// [`TrendStore::quantile_fold`] over series already read (the selector's,
/// [`TrendStore::partial_series`], from one store or several merged).
///
/// # Errors
/// `BadQuery` when the pattern has no quantile fold, or folds at or after `**`.
pub fn quantile_fold_of(pattern: &Pattern, folded: Vec<Folded>) -> Result<Vec<Series>> {
    check_aggregation(pattern)?;
    let segs = pattern.segments();
    let Some(PAgg::Quantile(m)) = segs.iter().rev().map(|s| s.agg).find(|a| *a != PAgg::List)
    else {
        return Err(TrendError::bad_query("the pattern has no quantile fold"));
    };
    let q = Stat::quantile(m);
    let mut groups: BTreeMap<String, (i64, BTreeMap<i64, Merged>)> = BTreeMap::new();
    for f in folded {
        let g = groups
            .entry(display_path(segs, &f.path))
            .or_insert_with(|| (f.step, BTreeMap::new()));
        for (t, (agg, hist)) in f.buckets {
            let s = bucket_stats(&agg, hist.as_ref());
            let acc = g.1.entry(t).or_default();
            match &hist {
                Some(h) => acc.hist.merge(h),
                None => acc.hist.sketch.add(agg.value(f.action)),
            }
            let (lo, hi) = match hist {
                Some(_) => (s.min, s.max),
                None => (agg.value(f.action), agg.value(f.action)),
            };
            acc.min = acc.min.min(lo);
            acc.max = acc.max.max(hi);
        }
    }
    Ok(groups
        .into_iter()
        .map(|(path, (step, buckets))| Series {
            path,
            action: Action::Histogram,
            step,
            points: buckets
                .into_iter()
                .filter_map(|(t, m)| Some((t, clamped_quantile(&m.hist.sketch, q, m.min, m.max)?)))
                .collect(),
        })
        .collect())
}

/// [`TrendStore::stat_series`] over series already read ([`TrendStore::partial_series`],
/// from one store or several merged by [`Folded::merge`]): `p`'s folds applied, each
/// bucket answering `stats`.
///
/// # Errors
/// `BadQuery` for a fold at or after `**`.
pub fn stat_series_of(p: &Pattern, folded: Vec<Folded>, stats: &[Stat]) -> Result<Vec<StatSeries>> {
    if p.aggregates() {
        check_aggregation(p)?;
        return Ok(fold_stat_series(p, folded, stats));
    }
    Ok(folded
        .into_iter()
        .map(|f| {
            #[allow(clippy::cast_precision_loss)] // a step is far below 2^53 seconds
            let secs = f.step as f64;
            let points = f
                .buckets
                .into_iter()
                .map(|(t, (agg, hist))| {
                    let s = bucket_stats(&agg, hist.as_ref());
                    let src = StatSource {
                        stats: &s,
                        hist: hist.as_ref(),
                        raw: None,
                        secs: Some(secs),
                    };
                    (t, eval_stats(stats, &src))
                })
                .collect();
            StatSeries {
                path: f.path,
                step: f.step,
                points,
            }
        })
        .collect())
}

/// Folds `?stat=` series whose paths differ only at aggregating segments into one per
/// display path (as [`fold_series`]: the innermost fold decides), bucket by bucket:
///
/// - `|sum` and quantile folds pool the members' samples: counts and sums add, min
///   and max are the extremes, sketches and sums of squares merge (a member without a
///   sketch counts its bucket's value as one sample of the pool's sketch, as
///   [`TrendStore::quantile_fold`] does), and every stat is read from the pool: a mean
///   is the pooled sum over the pooled count, never a mean of means, and a `p99` is
///   the p99 of the union within the sketch's accuracy;
/// - `|min`, `|max`, `|avg`, `|count` fold each stat's column over the members that
///   answer it (`api,*|max,lat?stat=p99` is the worst host's p99); `None` where none
///   does.
fn fold_stat_series(p: &Pattern, series: Vec<Folded>, stats: &[Stat]) -> Vec<StatSeries> {
    let segs = p.segments();
    let agg = segs
        .iter()
        .rev()
        .find(|s| s.agg != PAgg::List)
        .map_or(PAgg::Sum, |s| s.agg);
    let pooled = matches!(agg, PAgg::Sum | PAgg::Quantile(_));
    // Per display path: its step, and per bucket the members' pooled state or their
    // stat rows.
    let mut pools: BTreeMap<String, (i64, BTreeMap<i64, Pool>)> = BTreeMap::new();
    let mut columns: BTreeMap<String, (i64, BTreeMap<i64, Vec<StatRow>>)> = BTreeMap::new();
    for f in series {
        let display = display_path(segs, &f.path);
        #[allow(clippy::cast_precision_loss)] // a step is far below 2^53 seconds
        let secs = f.step as f64;
        if pooled {
            let g = pools
                .entry(display)
                .or_insert_with(|| (f.step, BTreeMap::new()));
            for (t, (agg, hist)) in f.buckets {
                g.1.entry(t).or_default().add(&agg, hist.as_ref(), f.action);
            }
        } else {
            let g = columns
                .entry(display)
                .or_insert_with(|| (f.step, BTreeMap::new()));
            for (t, (agg, hist)) in f.buckets {
                let s = bucket_stats(&agg, hist.as_ref());
                let src = StatSource {
                    stats: &s,
                    hist: hist.as_ref(),
                    raw: None,
                    secs: Some(secs),
                };
                g.1.entry(t).or_default().push(eval_stats(stats, &src));
            }
        }
    }
    let mut out: Vec<StatSeries> = pools
        .into_iter()
        .map(|(path, (step, buckets))| {
            #[allow(clippy::cast_precision_loss)] // a step is far below 2^53 seconds
            let secs = step as f64;
            let points = buckets
                .into_iter()
                .map(|(t, pool)| (t, pool.eval(stats, secs)))
                .collect();
            StatSeries { path, step, points }
        })
        .collect();
    out.extend(columns.into_iter().map(|(path, (step, buckets))| {
        let points = buckets
            .into_iter()
            .map(|(t, rows)| {
                let folded = (0..stats.len())
                    .map(|i| {
                        let vs: Vec<f64> = rows.iter().filter_map(|r| r[i]).collect();
                        (!vs.is_empty()).then(|| agg.fold(&vs))
                    })
                    .collect();
                (t, folded)
            })
            .collect();
        StatSeries { path, step, points }
    }));
    out
}

/// One series' values of the stats asked in one bucket.
type StatRow = Vec<Option<f64>>;

/// The pooled samples of several series in one bucket (see [`fold_stat_series`]).
#[derive(Default)]
struct Pool {
    stats: Option<crate::Stats>,
    hist: Option<Hist>,
    /// Bucket values of members without a sketch, added to the sketch once one
    /// member brings one.
    plain: Vec<f64>,
}

impl Pool {
    fn add(&mut self, agg: &Agg, hist: Option<&Hist>, action: Action) {
        let s = bucket_stats(agg, hist);
        match &mut self.stats {
            Some(acc) => {
                acc.sum += s.sum;
                acc.count += s.count;
                acc.min = acc.min.min(s.min);
                acc.max = acc.max.max(s.max);
            }
            None => self.stats = Some(s),
        }
        match hist {
            Some(h) => self.hist.get_or_insert_with(Hist::default).merge(h),
            None => self.plain.push(agg.value(action)),
        }
    }

    fn eval(mut self, stats: &[Stat], secs: f64) -> Vec<Option<f64>> {
        let Some(s) = self.stats else {
            return vec![None; stats.len()];
        };
        if let Some(h) = &mut self.hist {
            for v in self.plain.drain(..) {
                h.add(v);
            }
        }
        let src = StatSource {
            stats: &s,
            hist: self.hist.as_ref(),
            raw: None,
            secs: Some(secs),
        };
        eval_stats(stats, &src)
    }
}

/// Sketches merged across series for one bucket of a quantile fold.
struct Merged {
    hist: Hist,
    min: f64,
    max: f64,
}

impl Default for Merged {
    fn default() -> Merged {
        Merged {
            hist: Hist::default(),
            min: f64::INFINITY,
            max: f64::NEG_INFINITY,
        }
    }
}

/// A bucket's sum, count, min and max: a compacted histogram bucket kept its sum and
/// count only (the `average` rollup), so its min and max are read from its sketch.
fn bucket_stats(agg: &Agg, hist: Option<&Hist>) -> crate::Stats {
    let mut s = agg.stats;
    if let Some(h) = hist
        && !(s.min.is_finite() && s.max.is_finite())
    {
        s.min = h.sketch.quantile(0.0).unwrap_or(f64::NAN);
        s.max = h.sketch.quantile(1.0).unwrap_or(f64::NAN);
    }
    s
}
