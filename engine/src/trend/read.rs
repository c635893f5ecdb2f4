//! Reads: series under a pattern over a time range, from the finest archive that
//! covers the range, downsampled by each series' action; and markers.
//!
//! Points come from two places: compacted chunks of the chosen archive, and the
//! interval blobs not yet compacted (binary-searched per series, rolled up to the
//! archive's step on the fly). A bucket split between the two is merged.

use std::collections::BTreeMap;

use super::TrendStore;
use super::blob::{self, IntervalBlob, chunk_key, ts_key};
use super::compact::chunk_start;
use super::error::{Result, TrendError};
use super::rollup::{Agg, decode_chunk_hists, decode_sorted, downsample, merge_sorted};
use super::shared::Core;
use super::storage::{Bytes, Space};
use crate::histogram::Hist;
use crate::pattern::{Agg as PAgg, Match, Pattern};
use crate::{Action, Marker};

/// One series of a trend query.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct Series {
    /// Comma-joined path.
    pub path: String,
    /// The action its points were folded with (serialized by name).
    #[serde(serialize_with = "ser_action")]
    pub action: Action,
    /// Seconds between points (the archive's step, or coarser after downsampling).
    pub step: i64,
    /// `(bucket start, value)`, oldest first; buckets without samples are left out.
    pub points: Vec<(i64, f64)>,
}

fn ser_action<S: serde::Serializer>(a: &Action, s: S) -> std::result::Result<S::Ok, S::Error> {
    s.serialize_str(a.as_str())
}

/// Largest time (absolute unix seconds) a query may name.
pub const MAX_TIME: i64 = 1 << 50;

/// Longest range a query may ask for in buckets before downsampling (bounds memory
/// when `points` is 0).
pub const MAX_BUCKETS: i64 = 10_000_000;

impl TrendStore {
    /// Series under `pattern` (docs/CONCEPTS.md, "Query patterns"; `|sum` and friends fold
    /// series) with their points in `[from, until)`: buckets overlapping the range, from the
    /// finest archive whose span reaches back to `from` (else the coarsest), folded to at
    /// most `points` buckets per series by the action (`points` 0: no folding).
    ///
    /// # Errors
    /// `BadQuery` for a bad pattern or range; `Storage`, `Corrupt`.
    pub fn series(
        &self,
        pattern: &str,
        from: i64,
        until: i64,
        points: usize,
    ) -> Result<Vec<Series>> {
        let p = Pattern::parse(pattern)?;
        check_aggregation(&p)?;
        check_range(from, until)?;
        let core = &*self.inner.core;
        let _view = core.view.read();
        let ids = core.index.read().matching(&p);
        let out = read_ids(core, ids, from, until, points)?;
        Ok(if p.aggregates() {
            fold_series(&p, out)
        } else {
            out
        })
    }

    /// The series of exactly these paths (no pattern: a key may hold `*` or `|`), as
    /// [`TrendStore::series`] reads them; paths the store does not hold are left out.
    ///
    /// # Errors
    /// `BadQuery` for a bad range; `Storage`, `Corrupt`.
    pub fn series_of_paths(
        &self,
        paths: &[&str],
        from: i64,
        until: i64,
        points: usize,
    ) -> Result<Vec<Series>> {
        check_range(from, until)?;
        let core = &*self.inner.core;
        let _view = core.view.read();
        let ids: Vec<(u32, std::sync::Arc<str>)> = {
            let index = core.index.read();
            paths
                .iter()
                .filter_map(|p| {
                    index
                        .id(p)
                        .and_then(|id| Some((id, index.path(id)?.clone())))
                })
                .collect()
        };
        read_ids(core, ids, from, until, points)
    }
}

pub(super) fn check_range(from: i64, until: i64) -> Result<()> {
    if from >= until {
        return Err(TrendError::bad_query(format!(
            "from ({from}) must be before until ({until})"
        )));
    }
    if !(-MAX_TIME..=MAX_TIME).contains(&from) || !(-MAX_TIME..=MAX_TIME).contains(&until) {
        return Err(TrendError::bad_query("time out of range"));
    }
    Ok(())
}

/// The points of the series `ids` in `[from, until)` (see [`TrendStore::series`]).
fn read_ids(
    core: &Core,
    ids: Vec<(u32, std::sync::Arc<str>)>,
    from: i64,
    until: i64,
    points: usize,
) -> Result<Vec<Series>> {
    let newest = core.newest();
    if ids.is_empty() || newest == i64::MIN {
        return Ok(Vec::new());
    }
    let (archive, step, keep_from) = choose_archive(core, from, core.retention_now());
    let lo = from.max(keep_from);
    let first_bucket = lo.div_euclid(step) * step;
    if first_bucket >= until {
        // The whole range lies before the archive's span.
        return Ok(Vec::new());
    }
    let n = (until - first_bucket + step - 1) / step;
    let out_step = match i64::try_from(points).unwrap_or(i64::MAX) {
        0 => {
            if n > MAX_BUCKETS {
                return Err(TrendError::bad_query(format!(
                    "range holds {n} buckets; ask for fewer points"
                )));
            }
            step
        }
        p if n > p => fold_step(step, first_bucket, until, p),
        _ => step,
    };
    // Whole buckets: the last one may hold intervals that start after `until`.
    let bucket_end = (until - 1).div_euclid(step) * step + step;
    let blobs = blobs_in(core, first_bucket, bucket_end)?;
    let mut out = Vec::with_capacity(ids.len());
    for (id, path) in ids {
        let (action, buckets) =
            series_buckets(core, archive, step, id, first_bucket, until, &blobs)?;
        let Some(action) = action else { continue };
        let pts: Vec<(i64, Agg)> = buckets
            .into_iter()
            .filter(|&(t, _)| t.saturating_add(step) > keep_from)
            .collect();
        if pts.is_empty() {
            continue;
        }
        out.push(Series {
            path: path.to_string(),
            action,
            step: out_step,
            points: downsample(&pts, out_step, action),
        });
    }
    Ok(out)
}

impl TrendStore {
    /// The step of the archive a read from `from` uses (see [`TrendStore::series`]).
    pub fn step_at(&self, from: i64) -> i64 {
        let core = &*self.inner.core;
        choose_archive(core, from, core.retention_now()).1
    }

    /// Every series the pattern selects with its buckets folded to the output step:
    /// aggregates and, for histogram series, sketches merged.
    pub(super) fn folded(
        &self,
        p: &Pattern,
        from: i64,
        until: i64,
        points: usize,
    ) -> Result<Vec<Folded>> {
        if from >= until {
            return Err(TrendError::bad_query(format!(
                "from ({from}) must be before until ({until})"
            )));
        }
        if !(-MAX_TIME..=MAX_TIME).contains(&from) || !(-MAX_TIME..=MAX_TIME).contains(&until) {
            return Err(TrendError::bad_query("time out of range"));
        }
        let core = &*self.inner.core;
        let _view = core.view.read();
        let ids = core.index.read().matching(p);
        let newest = core.newest();
        if ids.is_empty() || newest == i64::MIN {
            return Ok(Vec::new());
        }
        let (archive, step, keep_from) = choose_archive(core, from, core.retention_now());
        let lo = from.max(keep_from);
        let first_bucket = lo.div_euclid(step) * step;
        if first_bucket >= until {
            return Ok(Vec::new());
        }
        let n = (until - first_bucket + step - 1) / step;
        let out_step = match i64::try_from(points).unwrap_or(i64::MAX) {
            0 if n > MAX_BUCKETS => {
                return Err(TrendError::bad_query(format!(
                    "range holds {n} buckets; ask for fewer points"
                )));
            }
            0 => step,
            p if n > p => fold_step(step, first_bucket, until, p),
            _ => step,
        };
        let bucket_end = (until - 1).div_euclid(step) * step + step;
        let blobs = blobs_in(core, first_bucket, bucket_end)?;
        let blob_hists: Vec<(i64, Vec<(u32, Hist)>)> = blobs
            .iter()
            .map(|(start, b)| Ok((*start, IntervalBlob::decode_without_points(b)?.hists)))
            .collect::<Result<_>>()?;
        let mut out = Vec::with_capacity(ids.len());
        for (id, path) in ids {
            let (action, buckets) =
                series_buckets(core, archive, step, id, first_bucket, until, &blobs)?;
            let Some(action) = action else { continue };
            let hists = series_hists(core, archive, step, id, first_bucket, until, &blob_hists)?;
            let mut folded: BTreeMap<i64, (Agg, Option<Hist>)> = BTreeMap::new();
            for (t, agg) in buckets {
                if t.saturating_add(step) <= keep_from {
                    continue;
                }
                let o = t.div_euclid(out_step) * out_step;
                match folded.entry(o) {
                    std::collections::btree_map::Entry::Occupied(mut e) => {
                        e.get_mut().0.merge(&agg)
                    }
                    std::collections::btree_map::Entry::Vacant(e) => {
                        e.insert((agg, None));
                    }
                }
            }
            for (t, h) in hists {
                let o = t.div_euclid(out_step) * out_step;
                if let Some(slot) = folded.get_mut(&o) {
                    slot.1.get_or_insert_with(Hist::default).merge(&h);
                }
            }
            if folded.is_empty() {
                continue;
            }
            out.push(Folded {
                path: path.to_string(),
                action,
                step: out_step,
                buckets: folded,
            });
        }
        Ok(out)
    }

    /// Markers whose path the pattern selects with `from <= ts < until`, oldest first.
    ///
    /// # Errors
    /// `BadQuery`; `Storage`, `Corrupt`.
    pub fn markers(&self, pattern: &str, from: i64, until: i64) -> Result<Vec<Marker>> {
        let p = Pattern::parse(pattern)?;
        let core = &*self.inner.core;
        let _view = core.view.read();
        let mut out = Vec::new();
        for (_, v) in core
            .storage
            .scan(Space::Markers, &ts_key(from), Some(&ts_key(until)))?
        {
            let m: Marker = serde_json::from_slice(&v)
                .map_err(|e| TrendError::corrupt(format!("marker: {e}")))?;
            out.push(m);
        }
        for (_, v) in core
            .storage
            .scan(Space::Intervals, &[], Some(&ts_key(until)))?
        {
            out.extend(
                IntervalBlob::decode_without_points(&v)?
                    .markers
                    .into_iter()
                    .filter(|m| m.ts >= from && m.ts < until),
            );
        }
        out.retain(|m| p.matches_path(&m.path.split(',').collect::<Vec<_>>()));
        out.sort_by_key(|m| m.ts);
        Ok(out)
    }
}

/// Aggregation suffixes (`*|sum,net`) fold series like the tree query does
/// (docs/CONCEPTS.md, "Query patterns"); a `**` at or before an aggregating segment
/// leaves the display path undefined and is refused.
pub(super) fn check_aggregation(p: &Pattern) -> Result<()> {
    let last_agg = p.segments().iter().rposition(|s| s.agg != PAgg::List);
    if let Some(i) = last_agg
        && p.segments()[..=i].iter().any(|s| s.matcher == Match::Deep)
    {
        return Err(TrendError::bad_query(
            "a trend query cannot aggregate at or after a ** segment",
        ));
    }
    Ok(())
}

/// A folded series being built: action, step, values per time.
type Group = (Action, i64, BTreeMap<i64, Vec<f64>>);

/// A series' path as a folding pattern shows it: the segment's text in place of each
/// key an aggregating segment consumed (`web1,cpu` under `*|sum,cpu` is `*|sum,cpu`).
pub(super) fn display_path(segs: &[crate::pattern::Segment], path: &str) -> String {
    path.split(',')
        .enumerate()
        .map(|(i, k)| match segs.get(i) {
            Some(seg) if seg.agg != PAgg::List => seg.text.as_str(),
            _ => k,
        })
        .collect::<Vec<_>>()
        .join(",")
}

/// Folds series whose paths differ only at aggregating segments into one series
/// per display path (the segment's pattern text in place of the key); at each time
/// the members' values fold with the segment's aggregation (the innermost one when
/// several segments aggregate). The action shown is the first member's.
fn fold_series(p: &Pattern, series: Vec<Series>) -> Vec<Series> {
    let segs = p.segments();
    let agg = segs
        .iter()
        .rev()
        .find(|s| s.agg != PAgg::List)
        .map_or(PAgg::Sum, |s| s.agg);
    let mut groups: BTreeMap<String, Group> = BTreeMap::new();
    for s in series {
        let g = groups
            .entry(display_path(segs, &s.path))
            .or_insert_with(|| (s.action, s.step, BTreeMap::new()));
        for (t, v) in s.points {
            g.2.entry(t).or_default().push(v);
        }
    }
    groups
        .into_iter()
        .map(|(path, (action, step, pts))| Series {
            path,
            action,
            step,
            points: pts.into_iter().map(|(t, vs)| (t, agg.fold(&vs))).collect(),
        })
        .collect()
}

/// The smallest multiple of `step` whose epoch-aligned buckets over
/// `[first, until)` number at most `points` (> 0).
fn fold_step(step: i64, first: i64, until: i64, points: i64) -> i64 {
    let buckets = |w: i64| (until - 1).div_euclid(w) - first.div_euclid(w) + 1;
    let mut k = ((until - first) / step + points - 1) / points;
    while buckets(k * step) > points {
        k += 1;
    }
    k * step
}

/// The archive a query from `from` reads: `(index, step, start of its span)`.
pub(super) fn choose_archive(core: &Core, from: i64, newest: i64) -> (u8, i64, i64) {
    let archives = core.cfg.retention.archives();
    let pick = archives
        .iter()
        .position(|a| newest.saturating_sub(a.span) <= from)
        .unwrap_or(archives.len() - 1);
    let a = archives[pick];
    (
        u8::try_from(pick).unwrap_or(u8::MAX),
        a.step,
        newest.saturating_sub(a.span),
    )
}

/// Uncompacted interval blobs whose interval overlaps `[from, until)`.
pub(super) fn blobs_in(core: &Core, from: i64, until: i64) -> Result<Vec<(i64, Bytes)>> {
    let mut out = Vec::new();
    for (_, v) in core
        .storage
        .scan(Space::Intervals, &[], Some(&ts_key(until)))?
    {
        let (start, len) = blob::header(&v)?;
        if start.saturating_add(len) > from {
            out.push((start, v));
        }
    }
    Ok(out)
}

/// One series' buckets at the output step, with each bucket's aggregate and sketch
/// (see `TrendStore::folded`): what a read front merges from several stores
/// ([`TrendStore::partial_series`]).
#[derive(Debug, Clone)]
pub struct Folded {
    pub(super) path: String,
    pub(super) action: Action,
    pub(super) step: i64,
    pub(super) buckets: BTreeMap<i64, (Agg, Option<Hist>)>,
}

/// One series' sketches by bucket of the archive over `[from, until)`: from its
/// compacted chunks and the blobs not yet compacted, merged per bucket.
fn series_hists(
    core: &Core,
    archive: u8,
    step: i64,
    id: u32,
    from: i64,
    until: i64,
    blob_hists: &[(i64, Vec<(u32, Hist)>)],
) -> Result<BTreeMap<i64, Hist>> {
    let mut out: BTreeMap<i64, Hist> = BTreeMap::new();
    let lo = chunk_key(archive, id, chunk_start(from, step));
    let hi = chunk_key(archive, id, until);
    for (_, v) in core.storage.scan(Space::Chunks, &lo, Some(&hi))? {
        for (t, h) in decode_chunk_hists(&v)? {
            if t >= from && t < until {
                out.entry(t).or_default().merge(&h);
            }
        }
    }
    for (start, hists) in blob_hists {
        let t = start.div_euclid(step) * step;
        if t < from || t >= until {
            continue;
        }
        if let Ok(i) = hists.binary_search_by_key(&id, |h| h.0) {
            out.entry(t).or_default().merge(&hists[i].1);
        }
    }
    Ok(out)
}

/// Time-ordered `(bucket start, aggregate)` pairs.
type Buckets = Vec<(i64, Agg)>;

/// One series' buckets in an archive over `[from, until)` (`from` bucket-aligned),
/// time-ordered, and its newest action (`None`: no data at all).
fn series_buckets(
    core: &Core,
    archive: u8,
    step: i64,
    id: u32,
    from: i64,
    until: i64,
    blobs: &[(i64, Bytes)],
) -> Result<(Option<Action>, Buckets)> {
    let mut action = None;
    let mut stored: Vec<(i64, Agg)> = Vec::new();
    let lo = chunk_key(archive, id, chunk_start(from, step));
    let hi = chunk_key(archive, id, until);
    // Chunks come in key order: time-ordered and disjoint.
    for (_, v) in core.storage.scan(Space::Chunks, &lo, Some(&hi))? {
        let (a, mut pts) = decode_sorted(&v)?;
        action = Some(a);
        pts.retain(|(t, _)| *t >= from && *t < until);
        if stored.is_empty() {
            stored = pts;
        } else {
            stored.extend(pts);
        }
    }
    let (newer, recent) = blob_buckets(blobs, id, step, from, until)?;
    action = newer.or(action);
    Ok((action, merge_sorted(stored, recent)))
}

/// One series' buckets from the interval blobs not compacted yet over `[from, until)`
/// (`from` bucket-aligned), time-ordered, intervals in one bucket folded, and the
/// newest action among them (`None`: the series is in none of the blobs).
pub(super) fn blob_buckets(
    blobs: &[(i64, Bytes)],
    id: u32,
    step: i64,
    from: i64,
    until: i64,
) -> Result<(Option<Action>, Buckets)> {
    let mut action = None;
    let mut recent: Buckets = Vec::new();
    for (start, b) in blobs {
        if let Some(r) = blob::find_point(b, id)? {
            action = Some(r.action);
            let t = start.div_euclid(step) * step;
            if t < from || t >= until {
                continue;
            }
            let agg = Agg::of(r.stats, *start);
            match recent.last_mut() {
                Some((lt, la)) if *lt == t => la.merge(&agg),
                _ => recent.push((t, agg)),
            }
        }
    }
    Ok((action, recent))
}
