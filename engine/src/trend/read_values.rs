//! Values only: the points of exactly these paths at the archive's step, handed to the
//! caller one by one, for readers that keep a value per bucket and nothing else (the
//! Graphite API's `/render`). [`TrendStore::series_of_paths`] answers the same values;
//! it carries each bucket's whole rollup through merge and downsampling, which took
//! most of a 1,000-series `sumSeries`.

use super::TrendStore;
use super::blob::chunk_key;
use super::codec::{self, Columns, Point};
use super::compact::{CHUNK_POINTS, chunk_start};
use super::error::Result;
use super::read::{blob_buckets, blobs_in, check_range, choose_archive};
use super::rollup::{Agg, merge_sorted, split_chunk};
use super::shared::Core;
use super::storage::Bytes;
use super::storage::Space;
use crate::Action;

impl TrendStore {
    /// Calls `each(i, bucket, value)` for every point of `paths[i]` in `[from, until)`
    /// at the step of the archive a read from `from` uses ([`TrendStore::step_at`]),
    /// each path's buckets oldest first, each bucket once, with the value its action
    /// reports: the values [`TrendStore::series_of_paths`] gives with `points` 0.
    /// Paths the store does not hold are not heard of. Returns the step.
    ///
    /// # Errors
    /// As [`TrendStore::for_each_run`], which it calls.
    pub fn for_each_value(
        &self,
        paths: &[&str],
        from: i64,
        until: i64,
        mut each: impl FnMut(usize, i64, f64),
    ) -> Result<i64> {
        self.for_each_run(paths, from, until, |i, ts, values| {
            for (&t, &x) in ts.iter().zip(values) {
                each(i, t, x);
            }
        })
    }

    /// The points of [`TrendStore::for_each_value`] a run at a time: `each(i, times,
    /// values)` with `values[k]` the value at bucket `times[k]`, the times of path `i`
    /// increasing from one call to the next. A run is most often a whole chunk.
    ///
    /// Chunks are decoded straight into columns, a bucket's value by the action its
    /// chunk was written with; only buckets that intervals not compacted yet also
    /// hold (the newest few) go through the rollup merge, valued by the newest action.
    ///
    /// # Errors
    /// `BadQuery` for a bad range; `Storage`, `Corrupt`.
    pub fn for_each_run(
        &self,
        paths: &[&str],
        from: i64,
        until: i64,
        mut each: impl FnMut(usize, &[i64], &[f64]),
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
        // The buckets kept: from `first` on (in the range, and ending after the
        // archive's retention begins) and before `until`.
        let first = first_bucket.max(keep_from.saturating_sub(step).saturating_add(1));
        let (mut cols, mut cols2) = (Columns::default(), Columns::default());
        let mut scratch = Vec::new();
        for (i, id) in ids {
            // The intervals not compacted yet are the newest buckets; a chunk's bucket
            // from `split` on may share a bucket with them, so it is merged.
            let (newer, recent) = blob_buckets(&blobs, id, step, first_bucket, until)?;
            let split = recent.first().map_or(i64::MAX, |r| r.0);
            let mut late: Vec<(i64, Agg)> = Vec::new();
            let mut action = None;
            let mut put = |c: &Columns, a: Action| {
                let at = |t: i64| c.ts.partition_point(|&x| x < t);
                let (lo, hi) = (at(first), at(until));
                let mid = at(split).clamp(lo, hi);
                late.extend((mid..hi).map(|k| (c.ts[k], Agg::from_point(&c.point(k), a))));
                if lo < mid {
                    let values = values_of(c, lo..mid, a, &mut scratch);
                    each(i, &c.ts[lo..mid], values);
                }
            };
            // Chunks come in key order: time-ordered and disjoint. Two at a time, so
            // their decoding overlaps (`codec::decode_pair_into`).
            let chunks = chunks_of(core, archive, id, (first_bucket, until), step)?;
            for pair in chunks.chunks(2) {
                let (a, gorilla, _) = split_chunk(&pair[0])?;
                action = Some(a);
                if let Some(v) = pair.get(1) {
                    let (b, gorilla_b, _) = split_chunk(v)?;
                    codec::decode_pair_into(gorilla, gorilla_b, &mut cols, &mut cols2)?;
                    put(&cols, a);
                    put(&cols2, b);
                    action = Some(b);
                } else {
                    codec::decode_into(gorilla, &mut cols)?;
                    put(&cols, a);
                }
            }
            let Some(action) = newer.or(action) else {
                continue;
            };
            for (t, agg) in merge_sorted(late, recent) {
                if t >= first && t < until {
                    each(i, &[t], &[agg.value(action)]);
                }
            }
        }
        Ok(step)
    }
}

/// Chunk slots a read looks up one by one rather than scanning for.
const LOOKUP_SLOTS: i64 = 3;

/// The chunks of series `id` in `archive` that hold buckets of `[from, until)`, oldest
/// first. A chunk starts at a bucket [`chunk_start`] gives, so a short range has a
/// slot or two: they are looked up by key rather than scanned for, since sled's
/// iterator walks down from the root for each step and once more to find the end.
/// For 10,000 one-hour series (`highestCurrent`) the scans were a third of the read;
/// lookups took the request from 88 to 73 ms of CPU.
fn chunks_of(
    core: &Core,
    archive: u8,
    id: u32,
    (from, until): (i64, i64),
    step: i64,
) -> Result<Vec<Bytes>> {
    let span = step * CHUNK_POINTS;
    let first = chunk_start(from, step);
    if (until - first) <= span * LOOKUP_SLOTS {
        let mut out = Vec::new();
        let mut at = first;
        while at < until {
            if let Some(v) = core
                .storage
                .get(Space::Chunks, &chunk_key(archive, id, at))?
            {
                out.push(v);
            }
            at += span;
        }
        return Ok(out);
    }
    let lo = chunk_key(archive, id, first);
    let hi = chunk_key(archive, id, until);
    Ok(core
        .storage
        .scan(Space::Chunks, &lo, Some(&hi))?
        .into_iter()
        .map(|(_, v)| v)
        .collect())
}

/// The values of points `range` of `c` as action `a` reports them
/// ([`Agg::value_of_point`]): the stored ones, but for an average's sums divided by
/// their counts (into `scratch`) where a count is other than 1.
fn values_of<'a>(
    c: &'a Columns,
    range: std::ops::Range<usize>,
    a: Action,
    scratch: &'a mut Vec<f64>,
) -> &'a [f64] {
    let values = &c.values[range.clone()];
    if a.scalar() != Action::Average || c.aux.iter().all(|&(_, n)| n == 1) {
        return values;
    }
    scratch.clear();
    // The count of each point, walking the places where it changes.
    let mut counts = c.aux.iter().peekable();
    let mut aux = 0;
    scratch.extend(range.map(|k| {
        while let Some(&&(from, n)) = counts.peek()
            && from <= k
        {
            aux = n;
            counts.next();
        }
        let p = Point {
            ts: c.ts[k],
            value: c.values[k],
            aux,
        };
        Agg::value_of_point(&p, a)
    }));
    scratch
}
