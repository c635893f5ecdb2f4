//! What the functions share: graphite-web's aggregation functions, rows across series,
//! percentiles, the constant line.

use crate::Error;
use crate::args::Ctx;
use crate::series::{Series, len_f};

/// An aggregation function over a row or a window (graphite-web's `aggFuncs`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AggFn {
    /// Mean of the non-null values.
    Average,
    /// Median.
    Median,
    /// Sum.
    Sum,
    /// Smallest.
    Min,
    /// Largest.
    Max,
    /// The first minus the rest.
    Diff,
    /// Standard deviation.
    Stddev,
    /// Number of non-null values.
    Count,
    /// Largest minus smallest.
    Range,
    /// Product (null when any value is null).
    Multiply,
    /// Last non-null value.
    Last,
}

impl AggFn {
    /// By graphite-web's name or alias.
    ///
    /// # Errors
    /// 400 for an unknown name.
    pub fn parse(s: &str) -> Result<AggFn, Error> {
        Ok(match s {
            "average" | "avg" => AggFn::Average,
            "median" => AggFn::Median,
            "sum" | "total" => AggFn::Sum,
            "min" => AggFn::Min,
            "max" => AggFn::Max,
            "diff" => AggFn::Diff,
            "stddev" => AggFn::Stddev,
            "count" => AggFn::Count,
            "range" | "rangeOf" => AggFn::Range,
            "multiply" => AggFn::Multiply,
            "last" | "current" => AggFn::Last,
            other => {
                return Err(Error::bad_request(format!(
                    "Unsupported aggregation function: {other}"
                )));
            }
        })
    }

    /// Applies to values with nulls; `None` when there is nothing to fold.
    pub fn apply(self, row: &[Option<f64>]) -> Option<f64> {
        // The common ones without a copy of the values (`highestCurrent` over 10,000
        // series takes the last of each), folding the same values in the same order.
        let values = || row.iter().flatten().copied();
        match self {
            AggFn::Last => return values().next_back(),
            AggFn::Sum => return values().next().map(|_| values().sum()),
            AggFn::Min => {
                return values()
                    .next()
                    .map(|_| values().fold(f64::INFINITY, f64::min));
            }
            AggFn::Max => {
                return values()
                    .next()
                    .map(|_| values().fold(f64::NEG_INFINITY, f64::max));
            }
            _ => {}
        }
        let nn: Vec<f64> = values().collect();
        if self == AggFn::Multiply {
            if nn.is_empty() || nn.len() != row.len() {
                return None;
            }
            return Some(nn.iter().product());
        }
        if self == AggFn::Count {
            return (!nn.is_empty()).then(|| len_f(nn.len()));
        }
        if nn.is_empty() {
            return None;
        }
        Some(match self {
            AggFn::Average => nn.iter().sum::<f64>() / len_f(nn.len()),
            AggFn::Median => {
                let mut s = nn.clone();
                s.sort_by(f64::total_cmp);
                let mid = s.len() / 2;
                if s.len().is_multiple_of(2) {
                    f64::midpoint(s[mid - 1], s[mid])
                } else {
                    s[mid]
                }
            }
            AggFn::Sum => nn.iter().sum(),
            AggFn::Min => nn.iter().copied().fold(f64::INFINITY, f64::min),
            AggFn::Max => nn.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            AggFn::Diff => nn[0] - nn[1..].iter().sum::<f64>(),
            AggFn::Stddev => {
                let m = nn.iter().sum::<f64>() / len_f(nn.len());
                (nn.iter().map(|v| (v - m) * (v - m)).sum::<f64>() / len_f(nn.len())).sqrt()
            }
            AggFn::Range => {
                nn.iter().copied().fold(f64::NEG_INFINITY, f64::max)
                    - nn.iter().copied().fold(f64::INFINITY, f64::min)
            }
            AggFn::Last => nn[nn.len() - 1],
            AggFn::Multiply | AggFn::Count => unreachable!("handled above"),
        })
    }
}

/// Rows across series by index (Python's `izip_longest` over consolidated points).
pub fn rows(list: &[Series]) -> Vec<Vec<Option<f64>>> {
    let pts: Vec<_> = list.iter().map(Series::points).collect();
    let n = pts.iter().map(|p| p.len()).max().unwrap_or(0);
    (0..n)
        .map(|i| pts.iter().map(|p| p.get(i).copied().flatten()).collect())
        .collect()
}

/// `f` over each row of the series (zipped by index, as [`rows`]). Sums, means,
/// extremes, counts and last values fold column by column ([`ColumnFold`]) without
/// building the rows (a thousand series of a day at 10 s are 8.6 million values); the
/// others go row by row.
pub fn fold_rows(list: &[Series], f: AggFn) -> Vec<Option<f64>> {
    let n = list.iter().map(|s| s.values.len()).max().unwrap_or(0);
    match ColumnFold::new(f, n) {
        Some(mut fold) if list.iter().all(|s| s.values_per_point <= 1) => {
            for s in list {
                fold.add(&s.values);
            }
            fold.finish()
        }
        _ => rows(list).iter().map(|r| f.apply(r)).collect(),
    }
}

/// A fold of series into one, column by column, a series at a time, in the order
/// they come: what [`fold_rows`] gives for the functions it folds by column, for a
/// source that hands the series over one by one ([`crate::Source::fetch_folded`]).
#[derive(Debug)]
pub struct ColumnFold {
    f: AggFn,
    acc: Vec<f64>,
    count: Vec<u32>,
}

impl ColumnFold {
    /// A fold of rows `n` wide; `None` when `f` does not fold by column.
    pub fn new(f: AggFn, n: usize) -> Option<ColumnFold> {
        matches!(
            f,
            AggFn::Sum | AggFn::Average | AggFn::Min | AggFn::Max | AggFn::Count | AggFn::Last
        )
        .then(|| ColumnFold {
            f,
            acc: vec![0.0; n],
            count: vec![0; n],
        })
    }

    /// Folds in one series' values (from the first column; longer ones are cut).
    pub fn add(&mut self, values: &[Option<f64>]) {
        let (acc, count) = (&mut self.acc, &mut self.count);
        if matches!(self.f, AggFn::Sum | AggFn::Average | AggFn::Count) {
            // Without a branch per value (a null adds zero and counts zero), so the
            // column loop runs at memory speed.
            for ((a, c), v) in acc.iter_mut().zip(count.iter_mut()).zip(values) {
                let (x, k) = v.map_or((0.0, 0), |x| (x, 1));
                *a += x;
                *c += k;
            }
            return;
        }
        for ((a, c), v) in acc.iter_mut().zip(count.iter_mut()).zip(values) {
            let Some(v) = *v else { continue };
            *a = match self.f {
                AggFn::Min if *c > 0 => a.min(v),
                AggFn::Max if *c > 0 => a.max(v),
                _ => v,
            };
            *c += 1;
        }
    }

    /// The folded row: `None` where no series had a value.
    pub fn finish(self) -> Vec<Option<f64>> {
        let f = self.f;
        self.acc
            .into_iter()
            .zip(self.count)
            .map(|(a, c)| {
                (c > 0).then(|| match f {
                    AggFn::Average => a / f64::from(c),
                    AggFn::Count => f64::from(c),
                    _ => a,
                })
            })
            .collect()
    }
}

/// graphite-web's `_getPercentile`.
pub fn get_percentile(points: &[Option<f64>], n: f64, interpolate: bool) -> Option<f64> {
    let mut sorted: Vec<f64> = points.iter().flatten().copied().collect();
    if sorted.is_empty() {
        return None;
    }
    sorted.sort_by(f64::total_cmp);
    let frac_rank = n / 100.0 * (len_f(sorted.len()) + 1.0);
    #[allow(clippy::cast_possible_truncation, clippy::cast_sign_loss)] // a rank, >= 0
    let mut rank = frac_rank.trunc() as usize;
    let rank_frac = frac_rank - frac_rank.trunc();
    if !interpolate && rank_frac > 0.0 {
        rank += 1;
    }
    let mut p = if rank == 0 {
        sorted[0]
    } else if rank > sorted.len() {
        sorted[sorted.len() - 1]
    } else {
        sorted[rank - 1]
    };
    if interpolate && rank != sorted.len() && rank < sorted.len() {
        p += rank_frac * (sorted[rank] - p);
    }
    Some(p)
}

/// A constant over the context's range: three points, as graphite-web draws it.
pub fn constant_line(cx: &Ctx<'_>, v: f64, name: &str) -> Series {
    let step = ((cx.end - cx.start) / 2).max(1);
    let mut s = Series::new(name, cx.start, step, vec![Some(v); 3]);
    s.end = cx.end;
    s.path_expr = format!("constantLine({name})");
    s
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The folds that skip the copy of the values answer what folding the copy did.
    #[test]
    fn folds_without_a_copy_answer_as_the_copy() {
        let rows: [&[Option<f64>]; 5] = [
            &[],
            &[None, None],
            &[Some(1.5), None, Some(-2.25), Some(f64::NAN), None],
            &[None, Some(0.1), Some(0.2), Some(0.3)],
            &[Some(-0.0), None, Some(f64::INFINITY)],
        ];
        for row in rows {
            let nn: Vec<f64> = row.iter().flatten().copied().collect();
            let bits = |v: Option<f64>| v.map(f64::to_bits);
            let first = nn.first().map(|_| ());
            let want = [
                (AggFn::Last, nn.last().copied()),
                (AggFn::Sum, first.map(|()| nn.iter().sum())),
                (
                    AggFn::Min,
                    first.map(|()| nn.iter().copied().fold(f64::INFINITY, f64::min)),
                ),
                (
                    AggFn::Max,
                    first.map(|()| nn.iter().copied().fold(f64::NEG_INFINITY, f64::max)),
                ),
            ];
            for (f, w) in want {
                assert_eq!(bits(f.apply(row)), bits(w), "{f:?} {row:?}");
            }
        }
    }
}
