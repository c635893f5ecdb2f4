//! Etsy statsd's statistics of a timer's samples, as its `lib/process_metrics.js`
//! computes them: from the sorted raw samples of one interval ([`Etsy`]), or from a
//! sketch's buckets when the raw samples were not all kept ([`sketch_threshold`]).

use treestat_model::{Stat, ThresholdStat};

use crate::sketch::Sketch;
use crate::stats::Stats;

/// A count as f64 (here, not in `histogram.rs`, which imports this file: a `use
/// super::` back would be an import cycle).
#[allow(clippy::cast_precision_loss)] // counts stay far below 2^53
pub(super) fn as_f64(n: u64) -> f64 {
    n as f64
}

/// Etsy's number of samples within a threshold: `round(|pct| / 100 * count)`, all of
/// them when there is one; `None` when that rounds to 0 (Etsy then writes nothing).
pub(super) fn within(milli: i32, count: u64) -> Option<u64> {
    if count <= 1 {
        return Some(count);
    }
    let pct = Stat::threshold_percent(milli).abs();
    // A count of samples, rounded as JavaScript's Math.round rounds a non-negative.
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)]
    let k = (pct / 100.0 * as_f64(count)).round() as u64;
    (k > 0).then_some(k.min(count))
}

/// A threshold stat from the sketch's buckets (the raw samples were not all kept).
pub(super) fn sketch_threshold(
    sk: &Sketch,
    s: &Stats,
    what: ThresholdStat,
    milli: i32,
) -> Option<f64> {
    let count = sk.count();
    let k = within(milli, count)?;
    if what == ThresholdStat::Count {
        return Some(as_f64(k));
    }
    // The k lowest (positive threshold) or highest (negative) samples' bucket values.
    let (mut sum, mut sum_sq, mut left) = (0.0, 0.0, k);
    let mut buckets: Vec<(f64, u64)> = sk.buckets().collect();
    if milli < 0 {
        buckets.reverse();
    }
    for (v, c) in buckets {
        if left == 0 {
            break;
        }
        let t = c.min(left);
        let v = v.clamp(s.min, s.max);
        sum += v * as_f64(t);
        sum_sq += v * v * as_f64(t);
        left -= t;
    }
    let rank = if milli > 0 { k - 1 } else { count - k };
    // The ends of the set are known exactly.
    let bound = if rank == count - 1 {
        s.max
    } else if rank == 0 {
        s.min
    } else {
        sk.value_at_rank(rank)
    };
    Some(match what {
        ThresholdStat::Bound => bound.clamp(s.min, s.max),
        ThresholdStat::Sum => sum,
        ThresholdStat::Mean => sum / as_f64(k),
        ThresholdStat::SumSquares => sum_sq,
        ThresholdStat::Count => as_f64(k),
    })
}

/// The sorted samples of one interval, with Etsy's cumulative sums.
pub(super) struct Etsy {
    values: Vec<f64>,
    cumul: Vec<f64>,
    cumul_sq: Vec<f64>,
    pub(super) sum: f64,
}

impl Etsy {
    pub(super) fn new(values: Vec<f64>) -> Etsy {
        let mut cumul = Vec::with_capacity(values.len());
        let mut cumul_sq = Vec::with_capacity(values.len());
        let (mut c, mut q) = (0.0, 0.0);
        for (i, &v) in values.iter().enumerate() {
            // Etsy starts its sums at the first value, not at 0 + it (same result for
            // every finite value but -0.0).
            if i == 0 {
                (c, q) = (v, v * v);
            } else {
                c += v;
                q += v * v;
            }
            cumul.push(c);
            cumul_sq.push(q);
        }
        Etsy {
            sum: c,
            values,
            cumul,
            cumul_sq,
        }
    }

    pub(super) fn count(&self) -> u64 {
        self.values.len() as u64
    }

    /// A stat of the sorted samples, computed as `process_metrics.js` does.
    pub(super) fn stat(&self, stat: Stat) -> Option<f64> {
        let v = &self.values;
        let count = v.len();
        if count == 0 {
            return None;
        }
        let n = as_f64(self.count());
        match stat {
            Stat::SumSquares => Some(self.cumul_sq[count - 1]),
            Stat::Std => {
                let mean = self.sum / n;
                let diffs: f64 = v.iter().map(|x| (x - mean) * (x - mean)).sum();
                Some((diffs / n).sqrt())
            }
            Stat::Median => {
                let mid = count / 2;
                Some(if count % 2 == 1 {
                    v[mid]
                } else {
                    f64::midpoint(v[mid - 1], v[mid])
                })
            }
            Stat::Threshold(what, milli) => {
                let k = usize::try_from(within(milli, self.count())?).ok()?;
                let (bound, sum, sum_sq) = if count == 1 {
                    (v[0], v[0], v[0] * v[0])
                } else if milli > 0 {
                    (v[k - 1], self.cumul[k - 1], self.cumul_sq[k - 1])
                } else if k == count {
                    // Etsy reads cumulativeValues[-1] here (undefined: NaN); the whole
                    // set is the honest answer.
                    (v[0], self.cumul[count - 1], self.cumul_sq[count - 1])
                } else {
                    (
                        v[count - k],
                        self.cumul[count - 1] - self.cumul[count - k - 1],
                        self.cumul_sq[count - 1] - self.cumul_sq[count - k - 1],
                    )
                };
                Some(match what {
                    ThresholdStat::Bound => bound,
                    ThresholdStat::Sum => sum,
                    ThresholdStat::Mean => sum / as_f64(k as u64),
                    ThresholdStat::Count => as_f64(k as u64),
                    ThresholdStat::SumSquares => sum_sq,
                })
            }
            _ => None,
        }
    }
}
