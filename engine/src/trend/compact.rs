//! Compaction and expiry, on the store's own thread: interval blobs older than
//! `compact_after` are folded into per-series Gorilla chunks for every archive (each
//! archive's buckets rolled up by the series' action), their paths, totals and
//! markers move to their keyspaces, and the blobs are deleted. The chunks are written
//! in slices, each with a mark of how far the pass got, and the blobs deleted last, so
//! a pass stopped half-way is finished from its mark over the same blobs: no interval
//! is lost or counted twice. Then chunks that lie wholly before an archive's span are
//! deleted.
//!
//! A chunk holds [`CHUNK_POINTS`] buckets of its archive; folding into an existing
//! chunk decodes, merges and re-encodes it.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::thread::JoinHandle;

use super::blob::{self, IntervalBlob, Rec, chunk_key, ts_key};
use super::error::{Result, TrendError};
use super::rollup::{Agg, Chunk};
use super::shared::Core;
use super::storage::{Op, Space};
use crate::Action;
use crate::histogram::Hist;

/// Buckets per chunk: 2 h at 10 s, 12 h at 1 min, 5 days at 10 min.
pub const CHUNK_POINTS: i64 = 720;

/// Most interval blobs folded in one transaction.
const MAX_BLOBS_PER_PASS: usize = 120;

/// What one compaction did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize)]
pub struct CompactStats {
    /// Interval blobs folded into chunks.
    pub intervals: usize,
    /// Chunks written.
    pub chunks_written: usize,
    /// Chunks deleted because they left their archive's span.
    pub chunks_expired: usize,
}

pub(crate) fn spawn(core: Arc<Core>, stop: Receiver<()>) -> Result<JoinHandle<()>> {
    std::thread::Builder::new()
        .name("trend-compactor".into())
        .spawn(move || {
            loop {
                match stop.recv_timeout(core.cfg.compact_every) {
                    Err(RecvTimeoutError::Timeout) => {}
                    _ => return,
                }
                if let Err(e) = run(&core, core.cfg.compact_after_secs()) {
                    tracing::error!("trend store: compaction failed: {e}");
                }
            }
        })
        .map_err(TrendError::from)
}

/// The start of the chunk that holds `ts` in an archive of `step` seconds.
pub fn chunk_start(ts: i64, step: i64) -> i64 {
    let span = step * CHUNK_POINTS;
    ts.div_euclid(span) * span
}

/// Compacts blobs older than `after` seconds before the newest data, then expires.
pub(crate) fn run(core: &Core, after: i64) -> Result<CompactStats> {
    let mut stats = CompactStats::default();
    loop {
        let pass = fold_pass(core, after)?;
        stats.intervals += pass.intervals;
        stats.chunks_written += pass.chunks_written;
        if pass.intervals < MAX_BLOBS_PER_PASS {
            break;
        }
    }
    stats.chunks_expired = expire(core)?;
    core.storage.flush()?;
    Ok(stats)
}

type ChunkId = (u8, u32, i64);

/// Chunks (or keys) written in one storage batch. A fold of 20k series into three
/// archives rewrites 60k chunks; sled keeps what one batch writes in memory until it is
/// flushed and evicted, and glibc keeps the peak, so one batch of everything cost a
/// step of half a gigabyte of RSS (measured with `examples/store_rss.rs`).
const SLICE: usize = 4096;

/// The `State` key of a fold in progress: the last interval blob key of the pass and
/// the last chunk key written. Chunk slices are not idempotent (folding an interval
/// twice would count it twice), so each slice's batch moves this mark with it, and a
/// pass that stopped half-way (an error, a crash) is taken up from it, over the same
/// blobs, skipping the chunks already written.
const FOLD_KEY: &[u8] = b"fold";

struct FoldMark {
    through: Vec<u8>,
    done: Vec<u8>,
}

impl FoldMark {
    fn load(core: &Core) -> Result<Option<FoldMark>> {
        let Some(v) = core.storage.get(Space::State, FOLD_KEY)? else {
            return Ok(None);
        };
        if v.len() < 8 {
            return Err(TrendError::corrupt("fold mark"));
        }
        Ok(Some(FoldMark {
            through: v[..8].to_vec(),
            done: v[8..].to_vec(),
        }))
    }

    fn op(through: &[u8], done: &[u8]) -> Op {
        let mut v = through.to_vec();
        v.extend_from_slice(done);
        Op::Put(Space::State, FOLD_KEY.to_vec(), v)
    }
}

/// Finishes a fold that an error or a crash stopped half-way, before the store takes
/// new intervals (on open): a late point written meanwhile into one of its blobs would
/// reach only the chunks not yet written.
pub(crate) fn resume(core: &Core) -> Result<()> {
    if FoldMark::load(core)?.is_some() {
        let st = fold_pass(core, i64::MIN)?;
        tracing::info!(
            "trend store: finished a compaction left half-way ({} intervals)",
            st.intervals
        );
    }
    Ok(())
}

/// Applies `ops` (all of one keyspace, each idempotent) in batches of [`SLICE`].
fn apply_sliced(core: &Core, ops: impl IntoIterator<Item = Op>) -> Result<()> {
    let mut batch = Vec::with_capacity(SLICE);
    for op in ops {
        batch.push(op);
        if batch.len() == SLICE {
            core.storage.apply(std::mem::take(&mut batch))?;
        }
    }
    if !batch.is_empty() {
        core.storage.apply(batch)?;
    }
    Ok(())
}

/// The interval blobs one pass folds: those ending before `cutoff`, oldest first, at
/// most [`MAX_BLOBS_PER_PASS`]; or, when a pass was left half-way, exactly its blobs.
fn pass_blobs(
    core: &Core,
    cutoff: i64,
    mark: Option<&FoldMark>,
) -> Result<Vec<(super::storage::Bytes, super::storage::Bytes)>> {
    let mut blobs = Vec::new();
    if let Some(m) = mark {
        // Blob keys are interval starts; the stored parts of the last one sort after
        // its bare key, so the scan ends at the next start, not at the key.
        let until = ts_key(blob::ts_from_key(&m.through)?.saturating_add(1));
        return core.storage.scan(Space::Intervals, &[], Some(&until));
    }
    let until = (cutoff != i64::MAX).then(|| ts_key(cutoff));
    for (k, v) in core.storage.scan(
        Space::Intervals,
        &[],
        until.as_ref().map(<[u8; 8]>::as_slice),
    )? {
        let (start, len) = blob::header(&v)?;
        if start.saturating_add(len) > cutoff {
            break;
        }
        // Kept as stored bytes (shared with sled's cache) and decoded one at a time
        // below, so a pass over large intervals holds one decoded blob at once.
        blobs.push((k, v));
        if blobs.len() == MAX_BLOBS_PER_PASS {
            break;
        }
    }
    Ok(blobs)
}

/// A chunk's new buckets in a fold pass: the series' action, aggregates and sketches.
type Fresh = (Action, BTreeMap<i64, Agg>, BTreeMap<i64, Hist>);

fn fold_pass(core: &Core, after: i64) -> Result<CompactStats> {
    let _w = core.write_lock.lock();
    let newest = core.retention_now();
    if newest == i64::MIN {
        return Ok(CompactStats::default());
    }
    let cutoff = if after == i64::MIN {
        i64::MAX
    } else {
        newest.saturating_sub(after)
    };
    let mark = FoldMark::load(core)?;
    let blobs = pass_blobs(core, cutoff, mark.as_ref())?;
    let Some((through, _)) = blobs.last() else {
        if mark.is_some() {
            core.storage
                .apply(vec![Op::Delete(Space::State, FOLD_KEY.to_vec())])?;
        }
        return Ok(CompactStats::default());
    };
    let through = through.to_vec();
    let archives = core.cfg.retention.archives();
    let mut paths = Vec::new();
    let mut last = Vec::new();
    let mut totals: HashMap<u32, Rec> = HashMap::new();
    let mut fresh: BTreeMap<ChunkId, Fresh> = BTreeMap::new();
    // Series deleted since these blobs were written (tombstones, `delete.rs`): their
    // paths, totals and points are not carried over.
    let dead: std::collections::HashSet<u32> = super::delete::dead_ids(&*core.storage)?
        .into_iter()
        .collect();
    for (key, bytes) in &blobs {
        let mut b = IntervalBlob::decode(bytes)?;
        if !dead.is_empty() {
            b.paths.retain(|(id, _)| !dead.contains(id));
            b.totals.retain(|r| !dead.contains(&r.id));
            b.points.retain(|r| !dead.contains(&r.id));
        }
        for (id, path) in &b.paths {
            paths.push(Op::Put(
                Space::Paths,
                id.to_be_bytes().to_vec(),
                path.as_bytes().to_vec(),
            ));
        }
        for r in &b.totals {
            totals.insert(r.id, *r);
        }
        for (i, m) in b.markers.iter().enumerate() {
            let mut k = ts_key(m.ts).to_vec();
            k.extend_from_slice(&ts_key(b.start));
            k.extend_from_slice(&u32::try_from(i).unwrap_or(u32::MAX).to_be_bytes());
            let v =
                serde_json::to_vec(m).map_err(|e| TrendError::corrupt(format!("marker: {e}")))?;
            last.push(Op::Put(Space::Markers, k, v));
        }
        for (a, arch) in archives.iter().enumerate() {
            let a = u8::try_from(a).unwrap_or(u8::MAX);
            let keep_from = newest.saturating_sub(arch.span);
            let bucket = b.start.div_euclid(arch.step) * arch.step;
            if bucket.saturating_add(arch.step) <= keep_from {
                continue;
            }
            for r in &b.points {
                let slot = fresh
                    .entry((a, r.id, chunk_start(bucket, arch.step)))
                    .or_insert_with(|| (r.action, BTreeMap::new(), BTreeMap::new()));
                slot.0 = r.action;
                let agg = Agg::of(r.stats, b.start);
                slot.1
                    .entry(bucket)
                    .and_modify(|x| x.merge(&agg))
                    .or_insert(agg);
            }
            // Rollups merge sketches: a bucket's sketch is its intervals' union.
            for (id, h) in &b.hists {
                if let Some(slot) = fresh.get_mut(&(a, *id, chunk_start(bucket, arch.step))) {
                    slot.2.entry(bucket).or_default().merge(h);
                }
            }
        }
        last.push(Op::Delete(Space::Intervals, key.to_vec()));
    }
    // Readers merge chunks with the blobs still stored: between the first slice and
    // the last batch they would count a folded interval twice, so they wait.
    let _view = core.view.write();
    let done = mark.map(|m| m.done);
    let mut written = 0;
    let mut ops = Vec::with_capacity(SLICE + 1);
    for ((a, id, cstart), (action, buckets, hists)) in fresh {
        let key = chunk_key(a, id, cstart);
        if done.as_deref().is_some_and(|d| key.as_slice() <= d) {
            continue;
        }
        let mut chunk = match core.storage.get(Space::Chunks, &key)? {
            Some(v) => Chunk::decode(&v)?,
            None => Chunk {
                action,
                buckets: BTreeMap::new(),
                hists: BTreeMap::new(),
            },
        };
        chunk.action = action;
        let step = archives[usize::from(a)].step;
        let keep_from = newest.saturating_sub(archives[usize::from(a)].span);
        chunk
            .buckets
            .retain(|&t, _| t.saturating_add(step) > keep_from);
        chunk
            .hists
            .retain(|&t, _| t.saturating_add(step) > keep_from);
        for (t, agg) in buckets {
            chunk
                .buckets
                .entry(t)
                .and_modify(|x| x.merge(&agg))
                .or_insert(agg);
        }
        for (t, h) in hists {
            chunk.hists.entry(t).or_default().merge(&h);
        }
        ops.push(Op::Put(Space::Chunks, key.to_vec(), chunk.encode()));
        written += 1;
        if ops.len() == SLICE {
            ops.push(FoldMark::op(&through, &key));
            core.storage.apply(std::mem::take(&mut ops))?;
        }
    }
    if let Some(Op::Put(_, key, _)) = ops.last() {
        let key = key.clone();
        ops.push(FoldMark::op(&through, &key));
        core.storage.apply(std::mem::take(&mut ops))?;
    }
    // Paths and totals are plain puts: writing them again after a stop changes nothing.
    apply_sliced(core, paths)?;
    apply_sliced(
        core,
        totals.into_iter().map(|(id, r)| {
            Op::Put(
                Space::Totals,
                id.to_be_bytes().to_vec(),
                blob::encode_rec(&r),
            )
        }),
    )?;
    // The blobs that told the newest time on open are going: keep it in the state.
    last.push(core.newest_op());
    last.push(Op::Delete(Space::State, FOLD_KEY.to_vec()));
    core.storage.apply(last)?;
    Ok(CompactStats {
        intervals: blobs.len(),
        chunks_written: written,
        chunks_expired: 0,
    })
}

/// Deletes chunks that end before their archive's span begins. Buckets of the chunk
/// that straddles the boundary are dropped when that chunk is next rewritten; reads
/// never return them (they filter by span), so they have left the archive already.
fn expire(core: &Core) -> Result<usize> {
    let newest = core.retention_now();
    if newest == i64::MIN {
        return Ok(0);
    }
    let ids: Vec<u32> = core
        .index
        .read()
        .all()
        .into_iter()
        .map(|(id, _)| id)
        .collect();
    let mut removed = 0;
    for (a, arch) in core.cfg.retention.archives().iter().enumerate() {
        let a = u8::try_from(a).unwrap_or(u8::MAX);
        let boundary = chunk_start(newest.saturating_sub(arch.span), arch.step);
        let mark_key = [b'x', a];
        let done = match core.storage.get(Space::State, &mark_key)? {
            Some(v) => blob::ts_from_key(&v)?,
            None => i64::MIN,
        };
        if boundary <= done {
            continue;
        }
        let _w = core.write_lock.lock();
        let mut ops = Vec::new();
        for &id in &ids {
            let from = chunk_key(a, id, i64::MIN);
            let until = chunk_key(a, id, boundary);
            for (k, _) in core.storage.scan(Space::Chunks, &from, Some(&until))? {
                ops.push(Op::Delete(Space::Chunks, k.to_vec()));
                removed += 1;
            }
        }
        // Deleting again after a stop half-way changes nothing: the mark goes last.
        apply_sliced(core, ops)?;
        core.storage.apply(vec![Op::Put(
            Space::State,
            mark_key.to_vec(),
            ts_key(boundary).to_vec(),
        )])?;
    }
    Ok(removed)
}
