//! What a `histogram` leaf keeps beside its [`Stats`], and how every [`Stat`] is read
//! from it.
//!
//! A histogram leaf has a [`Hist`] for its totals since start (a [`Sketch`] and the
//! sum of squares) and, per open interval, an [`IntervalHist`]: the same plus the raw
//! samples of the interval up to `limits.max_histogram_raw` (default 8192 samples, 64
//! KiB). While the raw samples are complete, Etsy statsd's statistics (`median`,
//! `upper_90`, `mean_90`, `std`, ...) are computed from them exactly as Etsy's
//! `lib/process_metrics.js` does (sorted ascending, cumulative sums in that order), so
//! one interval of one leaf reads the numbers Etsy flushes; beyond the bound they come
//! from the sketch (within 1 % for bounds, from bucket values for sums and means).
//!
//! Quantiles (`p50`, `p99.9`) always come from the sketch, clamped to `[min, max]`, so a
//! leaf's `p99`, the `|p99` fold of a level and a rollup's `p99` are the same
//! computation over merged sketches.

use treestat_model::{Stat, ThresholdStat};

use crate::sketch::{Sketch, Slot};
use crate::stats::Stats;

mod etsy;

use etsy::{Etsy, as_f64, sketch_threshold};

/// The default of `limits.max_histogram_raw`: raw samples kept per histogram leaf per
/// interval (8 bytes each, 64 KiB).
pub const DEFAULT_MAX_RAW: usize = 8192;

/// Values of stats known exactly for a [`Hist`], which override what its sketch and
/// [`Stats`] would answer (see [`Hist::exact`]).
pub type Exact = Box<[(Stat, f64)]>;

/// A histogram's sketch and sum of squares (its sum, count, min and max are the leaf's
/// [`Stats`]).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Hist {
    /// The samples' sketch.
    pub sketch: Sketch,
    /// Sum of the squared samples.
    pub sum_sq: f64,
    /// Stats known exactly, read before the sketch: `count` when some sample weighed
    /// other than 1 (a StatsD timer with a sample rate counts `1 / rate`, as Etsy's
    /// `count` does), and for one closed interval whose raw samples were all kept,
    /// Etsy's statistics computed from them where the sketch would answer otherwise
    /// ([`exact_stats`]). A merge of two histograms with samples keeps only `count`
    /// (summed); `None` for nearly every histogram.
    pub exact: Option<Exact>,
}

impl Hist {
    /// Folds one finite sample in.
    #[inline]
    pub fn add(&mut self, v: f64) {
        self.sketch.add(v);
        self.sum_sq += v * v;
        if self.exact.is_some() {
            self.weigh(1.0);
        }
    }

    /// Folds one finite sample whose slot is known in.
    #[inline]
    pub fn add_slot(&mut self, v: f64, slot: Slot) {
        self.sketch.add_slot(slot);
        self.sum_sq += v * v;
        if self.exact.is_some() {
            self.weigh(1.0);
        }
    }

    /// Folds one finite sample in that counts `weight` times in `count` (Etsy's
    /// `1 / rate` for a sampled timer line); every other stat takes it once.
    pub fn add_weighted(&mut self, v: f64, weight: f64) {
        let before = self.weight();
        self.sketch.add(v);
        self.sum_sq += v * v;
        self.exact = Some(Box::new([(Stat::Count, before + weight)]));
    }

    /// The samples' count, weighed: the exact `count` if one is kept, else the
    /// sketch's count.
    pub fn weight(&self) -> f64 {
        self.exact_value(Stat::Count)
            .unwrap_or_else(|| as_f64(self.sketch.count()))
    }

    /// Adds `w` to a kept `count` (after a sample was folded in), dropping every
    /// other exact stat, which no longer holds.
    fn weigh(&mut self, w: f64) {
        let c = self.exact_value(Stat::Count);
        self.exact = c.map(|c| Box::new([(Stat::Count, c + w)]) as Exact);
    }

    /// A stat's exact value, if kept (`min` and `max` are kept as `lower`, `upper`).
    pub fn exact_value(&self, stat: Stat) -> Option<f64> {
        let stat = match stat {
            Stat::Min => Stat::Lower,
            Stat::Max => Stat::Upper,
            s => s,
        };
        self.exact
            .as_ref()?
            .iter()
            .find(|(s, _)| *s == stat)
            .map(|&(_, v)| v)
    }

    /// Folds another histogram in. Exact stats survive only where one side has no
    /// samples (a rollup bucket of one interval keeps them); a weighed `count` on
    /// either side is summed, and so are Etsy's histogram bins (`bin_N`) that both
    /// sides have: a bin counts samples, so the bins of several intervals add up
    /// (a side without them, e.g. an interval past the raw bound, leaves them unknown).
    pub fn merge(&mut self, other: &Hist) {
        if other.sketch.count() == 0 && other.exact.is_none() {
            self.sum_sq += other.sum_sq;
            return;
        }
        let weighed =
            self.exact_value(Stat::Count).is_some() || other.exact_value(Stat::Count).is_some();
        let count = weighed.then(|| self.weight() + other.weight());
        self.exact = if self.sketch.count() == 0 {
            other.exact.clone()
        } else {
            let bins = self
                .exact
                .iter()
                .flat_map(|e| e.iter())
                .filter_map(|&(s, v)| {
                    let Stat::Bin(_) = s else { return None };
                    Some((s, v + other.exact_value(s)?))
                });
            let kept: Vec<(Stat, f64)> = count
                .map(|c| (Stat::Count, c))
                .into_iter()
                .chain(bins)
                .collect();
            (!kept.is_empty()).then(|| kept.into_boxed_slice())
        };
        self.sketch.merge(&other.sketch);
        self.sum_sq += other.sum_sq;
    }

    /// Heap and inline bytes held.
    pub fn bytes(&self) -> usize {
        std::mem::size_of::<Hist>()
            + self.sketch.heap_bytes()
            + self
                .exact
                .as_ref()
                .map_or(0, |e| e.len() * std::mem::size_of::<(Stat, f64)>())
    }

    /// Appends the stored form: the sum of squares (8 bytes LE), then the sketch
    /// ([`Sketch::encode`]).
    pub fn encode(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.sum_sq.to_le_bytes());
        self.sketch.encode(out);
    }

    /// Reads what [`Hist::encode`] wrote, advancing `input`; `None` when malformed.
    pub fn decode(input: &mut &[u8]) -> Option<Hist> {
        let (sq, rest) = input.split_first_chunk::<8>()?;
        *input = rest;
        let sketch = Sketch::decode(input)?;
        Some(Hist {
            sketch,
            sum_sq: f64::from_le_bytes(*sq),
            exact: None,
        })
    }
}

/// Appends exact stats' stored form: their number (u8), then per stat its code
/// ([`stat_code`], 5 bytes) and its value (f64 LE): 13 bytes each.
pub fn encode_exact(exact: &[(Stat, f64)], out: &mut Vec<u8>) {
    let n = exact.len().min(usize::from(u8::MAX));
    out.push(u8::try_from(n).unwrap_or(u8::MAX));
    for &(stat, v) in &exact[..n] {
        let (kind, milli) = stat_code(stat);
        out.push(kind);
        out.extend_from_slice(&milli.to_le_bytes());
        out.extend_from_slice(&v.to_le_bytes());
    }
}

/// Reads what [`encode_exact`] wrote, advancing `input`; `None` when malformed.
pub fn decode_exact(input: &mut &[u8]) -> Option<Exact> {
    let (&n, rest) = input.split_first()?;
    *input = rest;
    let mut out = Vec::with_capacity(usize::from(n));
    for _ in 0..n {
        let (rec, rest) = input.split_first_chunk::<13>()?;
        *input = rest;
        let milli = i32::from_le_bytes(rec[1..5].try_into().ok()?);
        let v = f64::from_le_bytes(rec[5..].try_into().ok()?);
        out.push((stat_of_code(rec[0], milli)?, v));
    }
    Some(out.into_boxed_slice())
}

/// A stat's stored code: a kind byte and its percent in thousandths (0 when none).
fn stat_code(stat: Stat) -> (u8, i32) {
    match stat {
        Stat::Count => (0, 0),
        Stat::Sum => (1, 0),
        Stat::Mean => (2, 0),
        Stat::Min => (3, 0),
        Stat::Max => (4, 0),
        Stat::CountPs => (5, 0),
        Stat::Rate => (6, 0),
        Stat::SumSquares => (7, 0),
        Stat::Median => (8, 0),
        Stat::Lower => (9, 0),
        Stat::Upper => (10, 0),
        Stat::Std => (11, 0),
        Stat::Quantile(m) => (12, i32::try_from(m).unwrap_or(i32::MAX)),
        Stat::Bin(Some(m)) => (13, m),
        Stat::Bin(None) => (14, 0),
        Stat::Threshold(what, m) => (
            match what {
                ThresholdStat::Bound => 20,
                ThresholdStat::Mean => 21,
                ThresholdStat::Sum => 22,
                ThresholdStat::Count => 23,
                ThresholdStat::SumSquares => 24,
            },
            m,
        ),
    }
}

/// The inverse of [`stat_code`].
fn stat_of_code(kind: u8, milli: i32) -> Option<Stat> {
    let plain = [
        Stat::Count,
        Stat::Sum,
        Stat::Mean,
        Stat::Min,
        Stat::Max,
        Stat::CountPs,
        Stat::Rate,
        Stat::SumSquares,
        Stat::Median,
        Stat::Lower,
        Stat::Upper,
        Stat::Std,
    ];
    Some(match kind {
        0..=11 => plain[usize::from(kind)],
        12 => Stat::Quantile(u32::try_from(milli).ok()?),
        13 => Stat::Bin(Some(milli)),
        14 => Stat::Bin(None),
        20..=24 => Stat::Threshold(
            [
                ThresholdStat::Bound,
                ThresholdStat::Mean,
                ThresholdStat::Sum,
                ThresholdStat::Count,
                ThresholdStat::SumSquares,
            ][usize::from(kind - 20)],
            milli,
        ),
        _ => return None,
    })
}

/// Etsy's statistics of one interval computed exactly from its raw samples (all of
/// them), kept where reading `stats` and `hist` alone would answer otherwise (with
/// `stats`' min and max, or, as after compaction, the sketch's): `sum`, `mean`,
/// `sum_squares`, `std`, `median`, `lower`, `upper`, and per percent threshold (thousandths,
/// negative for Etsy's top ones) `upper_N`, `mean_N`, `sum_N`, `count_N`,
/// `sum_squares_N`; and Etsy's histogram bins `bin_<upper>` for the upper bounds
/// `bins` (thousandths, `None` for `inf`, in Etsy's order), always. With them in
/// [`Hist::exact`], a stored interval answers what Etsy flushed for it after its raw
/// samples are gone. A weighed `count` already in `hist` is kept.
pub fn exact_stats(
    stats: &Stats,
    hist: &Hist,
    raw: &[f64],
    thresholds: &[i32],
    bins: &[Option<i32>],
) -> Option<Exact> {
    let mut wanted = vec![
        Stat::Sum,
        Stat::Mean,
        Stat::SumSquares,
        Stat::Std,
        Stat::Median,
        Stat::Lower,
        Stat::Upper,
    ];
    for &t in thresholds {
        for what in [
            ThresholdStat::Bound,
            ThresholdStat::Mean,
            ThresholdStat::Sum,
            ThresholdStat::Count,
            ThresholdStat::SumSquares,
        ] {
            wanted.push(Stat::Threshold(what, t));
        }
    }
    let mut bare = hist.clone();
    bare.exact = None;
    let src = StatSource {
        stats,
        hist: Some(&bare),
        raw: None,
        secs: None,
    };
    let sketched = eval_stats(&wanted, &src);
    // A compacted interval keeps its sum and count but not its min and max, which are
    // then read from the sketch: what differs from that reading is kept too.
    let compacted = Stats {
        min: bare.sketch.quantile(0.0).unwrap_or(stats.min),
        max: bare.sketch.quantile(1.0).unwrap_or(stats.max),
        ..*stats
    };
    let sketched_compacted = eval_stats(
        &wanted,
        &StatSource {
            stats: &compacted,
            ..src
        },
    );
    let exact = eval_stats(
        &wanted,
        &StatSource {
            raw: Some(raw),
            ..src
        },
    );
    let mut out: Vec<(Stat, f64)> = hist.exact.iter().flat_map(|e| e.iter().copied()).collect();
    for (((stat, e), s), c) in wanted
        .into_iter()
        .zip(exact)
        .zip(sketched)
        .zip(sketched_compacted)
    {
        let same = |x: Option<f64>| x.map(f64::to_bits) == e.map(f64::to_bits);
        if let Some(v) = e
            && !(same(s) && same(c))
        {
            out.push((stat, v));
        }
    }
    out.extend(etsy_bins(raw, bins));
    (!out.is_empty()).then(|| out.into_boxed_slice())
}

/// Etsy's histogram bins of one interval's raw samples, `(Stat::Bin(upper), count)`
/// for the upper bounds `bins` in Etsy's order: the sorted values walked once, each
/// bin taking those below its upper bound that the bins before it left (values past a
/// last finite bound are in no bin).
pub fn etsy_bins(raw: &[f64], bins: &[Option<i32>]) -> Vec<(Stat, f64)> {
    if bins.is_empty() {
        return Vec::new();
    }
    let mut v = raw.to_vec();
    v.sort_by(f64::total_cmp);
    let mut i = 0;
    bins.iter()
        .map(|&b| {
            let upper = b.map_or(f64::INFINITY, |m| f64::from(m) / 1000.0);
            let from = i;
            while i < v.len() && (b.is_none() || v[i] < upper) {
                i += 1;
            }
            (Stat::Bin(b), as_f64((i - from) as u64))
        })
        .collect()
}

/// The bins configured for a leaf (`[[listen.statsd_histogram]]`): the first
/// `(metric, bins)` whose metric is part of the leaf's dotted name, as Etsy's
/// `key.indexOf(metric) > -1`; none when no metric is.
pub fn bins_for<'a>(confs: &'a [(String, Vec<Option<i32>>)], path: &str) -> &'a [Option<i32>] {
    if confs.is_empty() {
        return &[];
    }
    let dotted = path.replace(',', ".");
    confs
        .iter()
        .find(|(metric, _)| dotted.contains(metric.as_str()))
        .map_or(&[], |(_, b)| b.as_slice())
}

/// A histogram leaf's samples within one interval.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct IntervalHist {
    /// Sketch and sum of squares of every sample of the interval.
    pub hist: Hist,
    /// The samples in arrival order while there are at most the bound; emptied (and
    /// `overflowed` set) at the first sample past it.
    pub raw: Vec<f64>,
    /// Whether the interval had more samples than the bound kept.
    pub overflowed: bool,
}

impl IntervalHist {
    /// Folds one finite sample in, keeping it raw while fewer than `max_raw` are.
    #[inline]
    pub fn add(&mut self, v: f64, max_raw: usize) {
        self.add_slot(v, Slot::of(v), max_raw);
    }

    /// As [`IntervalHist::add`], the slot known.
    #[inline]
    pub fn add_slot(&mut self, v: f64, slot: Slot, max_raw: usize) {
        self.hist.add_slot(v, slot);
        self.push_raw(v, max_raw);
    }

    /// As [`IntervalHist::add`], the sample counting `weight` times in `count`
    /// ([`Hist::add_weighted`]).
    pub fn add_weighted(&mut self, v: f64, weight: f64, max_raw: usize) {
        self.hist.add_weighted(v, weight);
        self.push_raw(v, max_raw);
    }

    /// Keeps `v` raw (its sketch is fed elsewhere) while fewer than `max_raw` are.
    #[inline]
    pub fn push_raw(&mut self, v: f64, max_raw: usize) {
        if !self.overflowed {
            if self.raw.len() < max_raw {
                self.raw.push(v);
            } else {
                self.overflowed = true;
                self.raw = Vec::new();
            }
        }
    }

    /// The interval's raw samples if every one was kept.
    pub fn complete_raw(&self) -> Option<&[f64]> {
        (!self.overflowed).then_some(self.raw.as_slice())
    }

    /// Heap and inline bytes held.
    pub fn bytes(&self) -> usize {
        self.hist.bytes() + std::mem::size_of::<IntervalHist>() - std::mem::size_of::<Hist>()
            + self.raw.capacity() * std::mem::size_of::<f64>()
    }
}

/// Everything a stat may be read from: a leaf's totals or one interval of it.
#[derive(Debug, Clone, Copy)]
pub struct StatSource<'a> {
    /// Sum, count, min, max.
    pub stats: &'a Stats,
    /// The sketch and sum of squares, for a histogram leaf.
    pub hist: Option<&'a Hist>,
    /// Every raw sample, when all were kept (one interval of one leaf).
    pub raw: Option<&'a [f64]>,
    /// The seconds the samples span, for `count_ps` (an interval's length).
    pub secs: Option<f64>,
}

/// Reads several stats of one source; the raw samples are sorted once.
pub fn eval_stats(stats: &[Stat], src: &StatSource<'_>) -> Vec<Option<f64>> {
    let needs_sorted = src.raw.is_some() && stats.iter().any(|s| s.needs_histogram());
    let sorted = needs_sorted.then(|| {
        let mut v = src.raw.unwrap_or_default().to_vec();
        v.sort_by(f64::total_cmp);
        Etsy::new(v)
    });
    stats
        .iter()
        .map(|&s| eval(s, src, sorted.as_ref()))
        .collect()
}

/// Reads one stat of one source.
pub fn eval_stat(stat: Stat, src: &StatSource<'_>) -> Option<f64> {
    eval_stats(&[stat], src).pop().flatten()
}

fn eval(stat: Stat, src: &StatSource<'_>, etsy: Option<&Etsy>) -> Option<f64> {
    let s = src.stats;
    // Exact values kept with the sketch come first: a weighed count, an interval's
    // Etsy statistics once its raw samples are gone.
    if let Some(h) = src.hist
        && h.exact.is_some()
    {
        if let Some(v) = h.exact_value(stat) {
            return Some(v);
        }
        if stat == Stat::CountPs
            && let Some(c) = h.exact_value(Stat::Count)
        {
            return src.secs.filter(|t| *t > 0.0).map(|t| c / t);
        }
    }
    if s.count == 0 {
        return match stat {
            Stat::Count | Stat::Threshold(ThresholdStat::Count, _) => Some(0.0),
            Stat::CountPs | Stat::Rate => src.secs.map(|_| 0.0),
            _ => None,
        };
    }
    let n = as_f64(s.count);
    // Etsy's sums run over the sorted samples; with them at hand, match it bit for bit.
    match stat {
        Stat::Count => return Some(n),
        Stat::Sum => return Some(etsy.map_or(s.sum, |e| e.sum)),
        Stat::Mean => return Some(etsy.map_or(s.mean(), |e| e.sum / as_f64(e.count()))),
        Stat::Min | Stat::Lower => return Some(s.min),
        Stat::Max | Stat::Upper => return Some(s.max),
        Stat::CountPs => return src.secs.filter(|t| *t > 0.0).map(|t| n / t),
        Stat::Rate => return src.secs.filter(|t| *t > 0.0).map(|t| s.sum / t),
        _ => {}
    }
    let clamp = |v: f64| v.clamp(s.min, s.max);
    if let Stat::Quantile(m) = stat {
        return clamped_quantile(&src.hist?.sketch, Stat::quantile(m), s.min, s.max);
    }
    if let Some(e) = etsy {
        return e.stat(stat);
    }
    let h = src.hist?;
    let sk = &h.sketch;
    match stat {
        Stat::SumSquares => Some(h.sum_sq),
        Stat::Std => {
            let mean = s.mean();
            Some((h.sum_sq / n - mean * mean).max(0.0).sqrt())
        }
        Stat::Median => {
            let c = sk.count();
            if c == 0 {
                return None;
            }
            let mid = c / 2;
            Some(if c % 2 == 1 {
                clamp(sk.value_at_rank(mid))
            } else {
                f64::midpoint(
                    clamp(sk.value_at_rank(mid - 1)),
                    clamp(sk.value_at_rank(mid)),
                )
            })
        }
        Stat::Threshold(what, milli) => sketch_threshold(sk, s, what, milli),
        _ => None,
    }
}

/// A sketch's `q`-quantile clamped to the samples' `[min, max]`; `p0` and `p100` are
/// the exact min and max. `None` for an empty sketch.
pub fn clamped_quantile(sk: &Sketch, q: f64, min: f64, max: f64) -> Option<f64> {
    let v = sk.quantile(q)?;
    Some(if q >= 1.0 {
        max
    } else if q <= 0.0 {
        min
    } else {
        v.clamp(min, max)
    })
}

#[cfg(test)]
mod tests;
