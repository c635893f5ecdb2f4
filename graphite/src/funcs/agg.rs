//! graphite-web's aggregation functions ([`AggFn`]), over a row or a window, and the
//! column fold of whole series ([`ColumnFold`]). Apart from the functions' arguments,
//! so that [`crate::Source`] can name them.

use crate::Error;
use crate::series::len_f;

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

/// A fold of series into one, column by column, a series at a time, in the order
/// they come: what [`fold_rows`](super::fold_rows) gives for the functions it folds by column, for a
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

    /// As [`add`](Self::add) for a row whose gaps are NaN (a row read from a store,
    /// which holds no NaN): half the bytes of `Option<f64>` to fill and to read.
    pub fn add_nan_gaps(&mut self, values: &[f64]) {
        self.add_nan_gaps_at(0, values);
    }

    /// As [`add_nan_gaps`](Self::add_nan_gaps) for a run of values from column `at`
    /// on: a series folded in a run at a time, each column once.
    pub fn add_nan_gaps_at(&mut self, at: usize, values: &[f64]) {
        let acc = self.acc.get_mut(at..).unwrap_or_default();
        let count = self.count.get_mut(at..).unwrap_or_default();
        if matches!(self.f, AggFn::Sum | AggFn::Average | AggFn::Count) {
            for ((a, c), &v) in acc.iter_mut().zip(count.iter_mut()).zip(values) {
                let here = !v.is_nan();
                *a += if here { v } else { 0.0 };
                *c += u32::from(here);
            }
            return;
        }
        for ((a, c), &v) in acc.iter_mut().zip(count.iter_mut()).zip(values) {
            if v.is_nan() {
                continue;
            }
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
