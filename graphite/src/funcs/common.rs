//! What the functions share: graphite-web's aggregation functions, rows across series,
//! percentiles, the constant line.

use super::agg::{AggFn, ColumnFold};
use crate::args::Ctx;
use crate::series::{Series, len_f};

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
