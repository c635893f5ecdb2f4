//! Values only: the points of exactly these paths at the archive's step, handed to the
//! caller one by one, for readers that keep a value per bucket and nothing else (the
//! Graphite API's `/render`). [`TrendStore::series_of_paths`] answers the same values;
//! it carries each bucket's whole rollup through merge and downsampling, which took
//! most of a 1,000-series `sumSeries`.

use super::TrendStore;
use super::blob::chunk_key;
use super::codec::{self, Point};
use super::compact::chunk_start;
use super::error::Result;
use super::read::{blob_buckets, blobs_in, check_range, choose_archive};
use super::rollup::{Agg, merge_sorted, split_chunk};
use super::storage::Space;
use crate::Action;

impl TrendStore {
    /// Calls `each(i, bucket, value)` for every point of `paths[i]` in `[from, until)`
    /// at the step of the archive a read from `from` uses ([`TrendStore::step_at`]),
    /// each path's buckets oldest first, each bucket once, with the value its action
    /// reports: the values [`TrendStore::series_of_paths`] gives with `points` 0.
    /// Paths the store does not hold are not heard of. Returns the step.
    ///
    /// Chunks are decoded straight into `each`, a bucket's value by the action its
    /// chunk was written with; only buckets that intervals not compacted yet also
    /// hold (the newest few) go through the rollup merge, valued by the newest action.
    ///
    /// # Errors
    /// `BadQuery` for a bad range; `Storage`, `Corrupt`.
    pub fn for_each_value(
        &self,
        paths: &[&str],
        from: i64,
        until: i64,
        mut each: impl FnMut(usize, i64, f64),
    ) -> Result<i64> {
        check_range(from, until)?;
        let core = &*self.inner.core;
        let _view = core.view.read();
        let (archive, step, keep_from) = choose_archive(core, from, core.retention_now());
        let ids: Vec<(usize, u32)> = {
            let index = core.index.read();
            paths
                .iter()
                .enumerate()
                .filter_map(|(i, p)| Some((i, index.id(p)?)))
                .collect()
        };
        let newest = core.newest();
        let first_bucket = from.max(keep_from).div_euclid(step) * step;
        if ids.is_empty() || newest == i64::MIN || first_bucket >= until {
            return Ok(step);
        }
        let bucket_end = (until - 1).div_euclid(step) * step + step;
        let blobs = blobs_in(core, first_bucket, bucket_end)?;
        let kept = |t: i64| t >= first_bucket && t < until && t.saturating_add(step) > keep_from;
        let (mut points, mut points2) = (Vec::new(), Vec::new());
        for (i, id) in ids {
            // The intervals not compacted yet are the newest buckets; a chunk's bucket
            // from `split` on may share a bucket with them, so it is merged.
            let (newer, recent) = blob_buckets(&blobs, id, step, first_bucket, until)?;
            let split = recent.first().map_or(i64::MAX, |r| r.0);
            let mut late: Vec<(i64, Agg)> = Vec::new();
            let mut action = None;
            let lo = chunk_key(archive, id, chunk_start(first_bucket, step));
            let hi = chunk_key(archive, id, until);
            let mut put = |points: &[Point], a: Action| {
                // Most chunks lie wholly in the range, before `split`, with a value
                // that is the point's own: a loop without a test per point.
                if let (Some(first), Some(last)) = (points.first(), points.last())
                    && kept(first.ts)
                    && kept(last.ts)
                    && last.ts < split
                    && a.scalar() != Action::Average
                {
                    for p in points {
                        each(i, p.ts, p.value);
                    }
                    return;
                }
                for p in points {
                    if !kept(p.ts) {
                        continue;
                    }
                    if p.ts < split {
                        each(i, p.ts, Agg::value_of_point(p, a));
                    } else {
                        late.push((p.ts, Agg::from_point(p, a)));
                    }
                }
            };
            // Chunks come in key order: time-ordered and disjoint. Two at a time, so
            // their decoding overlaps (`codec::decode_pair_into`).
            let chunks = core.storage.scan(Space::Chunks, &lo, Some(&hi))?;
            for pair in chunks.chunks(2) {
                let (a, gorilla, _) = split_chunk(&pair[0].1)?;
                action = Some(a);
                if let Some((_, v)) = pair.get(1) {
                    let (b, gorilla_b, _) = split_chunk(v)?;
                    codec::decode_pair_into(gorilla, gorilla_b, &mut points, &mut points2)?;
                    put(&points, a);
                    put(&points2, b);
                    action = Some(b);
                } else {
                    codec::decode_into(gorilla, &mut points)?;
                    put(&points, a);
                }
            }
            let Some(action) = newer.or(action) else {
                continue;
            };
            for (t, agg) in merge_sorted(late, recent) {
                if kept(t) {
                    each(i, t, agg.value(action));
                }
            }
        }
        Ok(step)
    }
}
