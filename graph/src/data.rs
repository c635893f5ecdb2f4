//! Series preparation: cap the number drawn, drop points outside the range, sort, split
//! at non-finite values and at missing buckets, fold for totals, thin long series to what
//! the pixels can show (per-column low and high), and align series on common times for
//! stacking and bars.
//!
//! Cap: at most [`MAX_SERIES`] series are drawn. When there are more, the ones with the
//! largest sum of absolute values in the range are kept, drawn in their input order, and
//! the legend says "+N more". Scoring does not allocate, so 10,000 series cost one pass.
//!
//! Gaps: the trend store leaves buckets without samples out, so two points more than one
//! and a half steps apart have missing buckets between them. With [`Gaps::Gap`] the
//! series is split there (each piece drawn on its own, a lone point as a dot), so no line,
//! band or ramp is drawn across time without data; with [`Gaps::Zero`] the missing
//! buckets become zeros (the line steps down to 0 one step after the last point and back
//! up one step before the next), Graphite's `drawNullAsZero`.

use crate::Series;
use crate::options::Gaps;

/// Most series drawn on one chart.
pub const MAX_SERIES: usize = 20;

/// A drawable series: finite points in range, in time order, split at gaps.
#[derive(Debug, Clone)]
pub(crate) struct Clean {
    pub label: String,
    pub action: Option<String>,
    pub runs: Vec<Vec<(i64, f64)>>,
}

impl Clean {
    pub fn points(&self) -> impl Iterator<Item = &(i64, f64)> {
        self.runs.iter().flatten()
    }

    pub fn is_empty(&self) -> bool {
        self.runs.is_empty()
    }
}

/// The series to draw and how many were left out.
#[derive(Debug, Clone)]
pub(crate) struct Prepared {
    pub series: Vec<Clean>,
    pub hidden: usize,
}

impl Prepared {
    pub fn has_data(&self) -> bool {
        self.series.iter().any(|s| !s.is_empty())
    }
}

fn score(s: &Series, from: i64, until: i64) -> f64 {
    s.points
        .iter()
        .filter(|(t, v)| (from..=until).contains(t) && v.is_finite())
        .map(|(_, v)| v.abs())
        .sum()
}

/// Picks (at most `cap`) and cleans the series for the range `from..=until`, missing
/// buckets drawn as `gaps` says.
pub(crate) fn prepare(
    series: &[Series],
    from: i64,
    until: i64,
    cap: usize,
    gaps: Gaps,
) -> Prepared {
    let chosen: Vec<usize> = if series.len() <= cap {
        (0..series.len()).collect()
    } else {
        let mut scored: Vec<(usize, f64)> = series
            .iter()
            .enumerate()
            .map(|(i, s)| (i, score(s, from, until)))
            .collect();
        scored.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
        let mut keep: Vec<usize> = scored.into_iter().take(cap).map(|(i, _)| i).collect();
        keep.sort_unstable();
        keep
    };
    let hidden = series.len() - chosen.len();
    let series = chosen
        .into_iter()
        .map(|i| clean(&series[i], from, until, gaps))
        .collect();
    Prepared { series, hidden }
}

fn clean(s: &Series, from: i64, until: i64, gaps: Gaps) -> Clean {
    let mut pts: Vec<(i64, f64)> = s
        .points
        .iter()
        .copied()
        .filter(|(t, _)| (from..=until).contains(t))
        .collect();
    pts.sort_by_key(|p| p.0);
    let step = if s.step > 0 {
        s.step
    } else {
        usual_spacing(&pts)
    };
    let mut runs = Vec::new();
    let mut cur: Vec<(i64, f64)> = Vec::new();
    for (t, v) in pts {
        let v = if gaps == Gaps::Zero && !v.is_finite() {
            0.0
        } else {
            v
        };
        if !v.is_finite() {
            if !cur.is_empty() {
                runs.push(std::mem::take(&mut cur));
            }
            continue;
        }
        if let Some(&(prev, _)) = cur.last()
            && step > 0
            && missing_between(prev, t, step)
        {
            match gaps {
                Gaps::Gap => runs.push(std::mem::take(&mut cur)),
                Gaps::Zero => {
                    let (a, b) = (prev.saturating_add(step), t.saturating_sub(step));
                    cur.push((a, 0.0));
                    if b > a {
                        cur.push((b, 0.0));
                    }
                }
            }
        }
        cur.push((t, v));
    }
    if !cur.is_empty() {
        runs.push(cur);
    }
    Clean {
        label: s.label.clone(),
        action: s.action.clone(),
        runs,
    }
}

/// Whether buckets of `step` seconds are missing between points at `a` and `b`: they are
/// more than one and a half steps apart.
fn missing_between(a: i64, b: i64, step: i64) -> bool {
    i128::from(b) - i128::from(a) > i128::from(step) * 3 / 2
}

/// The step of a series that did not say: the most common spacing of consecutive points
/// (the smallest of equally common ones); 0 with fewer than two points.
fn usual_spacing(sorted: &[(i64, f64)]) -> i64 {
    let mut d: Vec<i64> = sorted
        .windows(2)
        .map(|w| w[1].0.saturating_sub(w[0].0))
        .filter(|&d| d > 0)
        .collect();
    d.sort_unstable();
    let (mut best, mut best_n) = (0, 0);
    let mut i = 0;
    while i < d.len() {
        let j = d[i..]
            .iter()
            .position(|&x| x != d[i])
            .map_or(d.len(), |k| i + k);
        if j - i > best_n {
            (best, best_n) = (d[i], j - i);
        }
        i = j;
    }
    best
}

/// Whether a `net` series is outbound (drawn below the axis): the last of its label's
/// words (split at `,` `.` `_` `-` `/` and spaces) that names a direction decides; `out`,
/// `tx`, `outbound`, `outgoing`, `sent`, `send`, `egress`, `write` are outbound; `in`,
/// `rx`, `inbound`, `incoming`, `recv`, `received`, `ingress`, `read` inbound; none: inbound.
pub(crate) fn outbound(label: &str) -> bool {
    for word in label.rsplit(|c: char| !c.is_alphanumeric()) {
        match word.to_ascii_lowercase().as_str() {
            "out" | "tx" | "outbound" | "outgoing" | "sent" | "send" | "egress" | "write" => {
                return true;
            }
            "in" | "rx" | "inbound" | "incoming" | "recv" | "received" | "ingress" | "read" => {
                return false;
            }
            _ => {}
        }
    }
    false
}

/// The series folded into one figure by its action: `add` (and none) sums, `average`
/// means, `max`, `min`, `last` as named.
pub(crate) fn total(s: &Clean) -> f64 {
    if s.is_empty() {
        return 0.0;
    }
    let it = s.points().map(|p| p.1);
    match s.action.as_deref() {
        Some("average" | "avg") => {
            let (sum, n) = s.points().fold((0.0, 0u32), |(a, n), p| (a + p.1, n + 1));
            if n == 0 { 0.0 } else { sum / f64::from(n) }
        }
        Some("max") => it.fold(f64::NEG_INFINITY, f64::max),
        Some("min") => it.fold(f64::INFINITY, f64::min),
        Some("last") => it.last().unwrap_or(0.0),
        _ => it.sum(),
    }
}

/// Thins a run already mapped to `(x pixel, value)`: a pixel column with more than four
/// points keeps only its lowest and highest, in time order; sparser columns keep all.
/// Spikes survive, and the output is bounded by two to four points per column.
pub(crate) fn thin(run: &[(f64, f64)]) -> Vec<(f64, f64)> {
    if run.len() <= 8 {
        return run.to_vec();
    }
    let mut out = Vec::with_capacity(run.len().min(4096));
    let mut i = 0;
    while i < run.len() {
        let col = run[i].0.floor();
        let mut j = i;
        let (mut lo, mut hi) = (i, i);
        while j < run.len() && run[j].0.floor() == col {
            if run[j].1 < run[lo].1 {
                lo = j;
            }
            if run[j].1 > run[hi].1 {
                hi = j;
            }
            j += 1;
        }
        let last = j - 1;
        // A dense column becomes its low and high point in time order: drawn, it is a
        // solid vertical span anyway, and half the segments halve the rasterizer's work.
        let mut idx = if j - i > 4 {
            [lo, hi, lo, hi]
        } else {
            [i, lo, hi, last]
        };
        idx.sort_unstable();
        let mut prev = usize::MAX;
        for k in idx {
            if k != prev {
                out.push(run[k]);
                prev = k;
            }
        }
        i = j;
    }
    out
}

/// Series aligned on shared times: `times[k]` and `values[s][k]` (NaN where series `s`
/// has no point in that column), and whether series `s` goes on from column `k` to
/// `k + 1` (`joined[s][k]`: both columns hold points of one run, no missing bucket
/// between them); used for stacking and bars.
#[derive(Debug, Clone, Default)]
pub(crate) struct Frame {
    pub times: Vec<f64>,
    pub values: Vec<Vec<f64>>,
    pub joined: Vec<Vec<bool>>,
}

/// Aligns the series' points; when there are more distinct times than `max_cols`, they
/// are averaged into `max_cols` equal buckets over `from..until`.
pub(crate) fn frame(
    series: &[Clean],
    from: i64,
    until: i64,
    max_cols: usize,
    sign: &[f64],
) -> Frame {
    let mut times: Vec<i64> = series
        .iter()
        .flat_map(|s| s.points().map(|p| p.0))
        .collect();
    times.sort_unstable();
    times.dedup();
    let max_cols = max_cols.max(1);
    let span = (until - from).max(1);
    let bucketed = times.len() > max_cols;
    let cols = i64::try_from(max_cols).unwrap_or(i64::MAX);
    let key = |t: i64| -> i64 {
        if bucketed {
            let b = i128::from(t - from) * i128::from(cols) / i128::from(span);
            i64::try_from(b).unwrap_or(0).clamp(0, cols - 1)
        } else {
            t
        }
    };
    let mut keys: Vec<i64> = times.iter().map(|&t| key(t)).collect();
    keys.dedup();
    let mut values = Vec::with_capacity(series.len());
    let mut joined = Vec::with_capacity(series.len());
    for (i, s) in series.iter().enumerate() {
        let mut sum = vec![0.0; keys.len()];
        let mut n = vec![0u32; keys.len()];
        // The run of the first and of the last point in each column.
        let mut first_run = vec![usize::MAX; keys.len()];
        let mut last_run = vec![usize::MAX; keys.len()];
        for (r, run) in s.runs.iter().enumerate() {
            for &(t, v) in run {
                if let Ok(k) = keys.binary_search(&key(t)) {
                    sum[k] += v;
                    n[k] += 1;
                    if first_run[k] == usize::MAX {
                        first_run[k] = r;
                    }
                    last_run[k] = r;
                }
            }
        }
        let sg = sign.get(i).copied().unwrap_or(1.0);
        values.push(
            sum.iter()
                .zip(&n)
                .map(|(s, &c)| {
                    if c == 0 {
                        f64::NAN
                    } else {
                        sg * s / f64::from(c)
                    }
                })
                .collect(),
        );
        joined.push(
            (1..keys.len())
                .map(|k| last_run[k - 1] != usize::MAX && last_run[k - 1] == first_run[k])
                .collect(),
        );
    }
    let width = span as f64 / cols as f64;
    let times = keys
        .iter()
        .map(|&k| {
            if bucketed {
                from as f64 + (k as f64 + 0.5) * width
            } else {
                k as f64
            }
        })
        .collect();
    Frame {
        times,
        values,
        joined,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn net_direction_words() {
        assert!(!outbound("host1,eth0,rx_bytes"));
        assert!(outbound("host1,eth0,tx_bytes"));
        assert!(outbound("net,bytes,out"));
        assert!(!outbound("net,bytes,in"));
        assert!(!outbound("linux,interface,traffic"));
        assert!(outbound("in,eth0,tx"));
    }

    #[test]
    fn caps_to_the_largest_and_keeps_order() {
        let series: Vec<Series> = (0..30)
            .map(|i| Series::new(format!("s{i}"), vec![(10, f64::from(i))]))
            .collect();
        let p = prepare(&series, 0, 100, 5, Gaps::Gap);
        assert_eq!(p.hidden, 25);
        let labels: Vec<&str> = p.series.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(labels, ["s25", "s26", "s27", "s28", "s29"]);
    }

    #[test]
    fn cleans_sorts_and_splits_at_gaps() {
        let s = Series::new(
            "x",
            vec![
                (5, 1.0),
                (1, 0.0),
                (3, f64::NAN),
                (7, f64::INFINITY),
                (9, 2.0),
                (200, 9.0),
            ],
        );
        let p = prepare(&[s], 0, 100, 20, Gaps::Gap);
        assert_eq!(
            p.series[0].runs,
            vec![vec![(1, 0.0)], vec![(5, 1.0)], vec![(9, 2.0)]]
        );
    }

    #[test]
    fn totals_follow_the_action() {
        let mut c = Clean {
            label: String::new(),
            action: None,
            runs: vec![vec![(1, 2.0), (2, 4.0)]],
        };
        assert_eq!(total(&c), 6.0);
        c.action = Some("average".into());
        assert_eq!(total(&c), 3.0);
        c.action = Some("max".into());
        assert_eq!(total(&c), 4.0);
        c.action = Some("last".into());
        assert_eq!(total(&c), 4.0);
    }

    #[test]
    fn thinning_keeps_extremes() {
        let run: Vec<(f64, f64)> = (0..1000)
            .map(|i| (f64::from(i) / 100.0, f64::from(i % 7)))
            .collect();
        let t = thin(&run);
        assert!(t.len() <= 40, "{}", t.len());
        assert!(t.iter().any(|p| p.1 == 6.0) && t.iter().any(|p| p.1 == 0.0));
        assert!(t.windows(2).all(|w| w[0].0 <= w[1].0));
    }

    #[test]
    fn frame_aligns_and_buckets() {
        let a = Clean {
            label: "a".into(),
            action: None,
            runs: vec![vec![(0, 1.0), (10, 2.0)]],
        };
        let b = Clean {
            label: "b".into(),
            action: None,
            runs: vec![vec![(10, 5.0), (20, 1.0)]],
        };
        let f = frame(&[a.clone(), b.clone()], 0, 20, 100, &[1.0, -1.0]);
        assert_eq!(f.times, vec![0.0, 10.0, 20.0]);
        assert_eq!(f.values[0][..2], [1.0, 2.0]);
        assert!(f.values[0][2].is_nan() && f.values[1][0].is_nan());
        assert_eq!(f.values[1][1..], [-5.0, -1.0]);
        assert_eq!(f.joined, vec![vec![true, false], vec![false, true]]);
        let f = frame(&[a, b], 0, 20, 2, &[]);
        assert_eq!(f.times.len(), 2);
        assert_eq!(f.values[0], vec![1.0, 2.0]);
    }

    /// The case: pushes every minute, then none for nine minutes. Before, the
    /// points were one run (a straight ramp across the nine minutes); now the run ends
    /// at the last push before the silence, with the step given or inferred.
    #[test]
    fn missing_buckets_split_the_run_or_become_zeros() {
        let mut pts: Vec<(i64, f64)> = (0..5).map(|i| (i * 60, 10.0)).collect();
        pts.extend((0..5).map(|i| (840 + i * 60, 20.0)));
        for step in [60, 0] {
            let s = Series::new("x", pts.clone()).with_step(step);
            let p = prepare(std::slice::from_ref(&s), 0, 2000, 20, Gaps::Gap);
            let runs = &p.series[0].runs;
            assert_eq!(runs.len(), 2, "step {step}: {runs:?}");
            assert_eq!(
                (runs[0].last(), runs[1][0]),
                (Some(&(240, 10.0)), (840, 20.0))
            );
            let p = prepare(&[s], 0, 2000, 20, Gaps::Zero);
            let runs = &p.series[0].runs;
            assert_eq!(runs.len(), 1);
            assert_eq!(
                runs[0][4..8],
                [(240, 10.0), (300, 0.0), (780, 0.0), (840, 20.0)]
            );
        }
        // One missing bucket is a gap too; a late sample (jitter) is not.
        let s = Series::new("y", vec![(0, 1.0), (120, 1.0), (200, 1.0)]).with_step(60);
        let p = prepare(&[s], 0, 2000, 20, Gaps::Gap);
        assert_eq!(
            p.series[0].runs,
            vec![vec![(0, 1.0)], vec![(120, 1.0), (200, 1.0)]]
        );
        assert_eq!(
            usual_spacing(&[(0, 0.0), (10, 0.0), (20, 0.0), (100, 0.0)]),
            10
        );
    }
}
