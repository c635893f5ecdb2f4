//! What a closed interval sends: one point per selected leaf, the value `/trend` shows
//! for that interval, time-stamped with the interval's start.
//!
//! - The value is the leaf's action read over the interval's samples
//!   ([`Stats::value`]): the sum for `add`, the mean for `average` and `histogram`,
//!   the largest for `max`, the smallest for `min`, the newest for `last`; the trend
//!   store keeps exactly that per interval, and `/trend?points=0` answers it.
//! - The time stamp is the interval's start, as `/trend` and `/render` label the
//!   bucket: a point forwarded and the same point read from treestat line up.
//! - A histogram leaf also sends each of `histogram_stats` (count, sum, min, max,
//!   quantiles...) read from the interval's sketch, and its raw samples where all were
//!   kept, as the trend store reads a point of one interval.
//! - Leaves touched by no sample in the interval send nothing (no point, as `/trend`
//!   leaves the bucket empty); non-finite values are never sent (Graphite cannot store
//!   them, Prometheus would take NaN as a staleness mark) and are counted.
//! - Late samples (time-stamped into an interval already closed) are not sent again:
//!   Graphite would overwrite the interval's value with the late sample alone, and
//!   Prometheus refuses samples out of order.

use std::sync::Arc;

use treestat_engine::histogram::{StatSource, eval_stats};
use treestat_engine::{ClosedInterval, SharedPaths, Stat};

/// One value to send.
#[derive(Debug, Clone, PartialEq)]
pub struct Point {
    /// The leaf's path, comma-joined keys as in treestat.
    pub path: Arc<str>,
    /// For a histogram's extra stats: the position in the target's stat list.
    pub stat: Option<u16>,
    /// The value (always finite).
    pub value: f64,
    /// Unix seconds: the interval's start.
    pub ts: i64,
}

/// Bytes a point is counted for in the buffer, besides its path: the struct, the
/// shared path's header and the queue slot.
pub const POINT_OVERHEAD: usize = 48;

impl Point {
    /// Bytes the point is counted for against `buffer_bytes` (a shared path counts
    /// for each of its points: an upper bound).
    pub fn bytes(&self) -> usize {
        self.path.len() + POINT_OVERHEAD
    }
}

/// The points of one interval, appended to `out` in leaf order (a histogram's value
/// first, then its stats in the configured order); returns the non-finite values left
/// out.
///
/// `paths` are the interval's resolved paths and `selected` the indices of `points`
/// the pattern selects ([`treestat_engine::Engine::select`]).
pub fn points_of(
    closed: &ClosedInterval,
    paths: &SharedPaths,
    selected: &[u32],
    stats: &[(String, Stat)],
    out: &mut Vec<Point>,
) -> u64 {
    let mut non_finite = 0;
    let secs = Some(i64_as_f64(closed.len));
    let stat_list: Vec<Stat> = stats.iter().map(|s| s.1).collect();
    let mut hists = closed.hists.iter().peekable();
    for &i in selected {
        let Some(p) = closed.points.get(i as usize) else {
            continue;
        };
        let Some(path) = paths.path(i) else { continue };
        if p.stats.count == 0 {
            continue;
        }
        let path: Arc<str> = Arc::from(path);
        let value = p.stats.value(p.action);
        if value.is_finite() {
            out.push(Point {
                path: path.clone(),
                stat: None,
                value,
                ts: closed.start,
            });
        } else {
            non_finite += 1;
        }
        if stat_list.is_empty() {
            continue;
        }
        // Both lists are in leaf order.
        while hists.next_if(|h| h.0 < p.leaf).is_some() {}
        let Some((_, h)) = hists.next_if(|h| h.0 == p.leaf) else {
            continue;
        };
        let src = StatSource {
            stats: &p.stats,
            hist: Some(&h.hist),
            raw: (!h.overflowed).then_some(h.raw.as_slice()),
            secs,
        };
        for (k, v) in eval_stats(&stat_list, &src).into_iter().enumerate() {
            let Some(v) = v else { continue };
            if !v.is_finite() {
                non_finite += 1;
                continue;
            }
            out.push(Point {
                path: path.clone(),
                stat: u16::try_from(k).ok(),
                value: v,
                ts: closed.start,
            });
        }
    }
    non_finite
}

#[allow(clippy::cast_precision_loss)] // interval lengths are small
fn i64_as_f64(v: i64) -> f64 {
    v as f64
}
