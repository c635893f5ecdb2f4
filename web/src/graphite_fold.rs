//! The rows of the series of a query, read from the store in the evaluator's order for
//! `highestCurrent` and its kin ([`Source::stream`](treestat_graphite::Source::stream)),
//! which keep a few of them: reader threads fill one series at a time into a few
//! reused rows, and the request's thread takes them in order. (`sumSeries` and the
//! other folds by column need no rows: `graphite_split.rs` folds runs as they are
//! decoded.)
//!
//! Reader `w` of `W` reads series `w`, `w + W`, ... in order and sends each full row
//! down its own channel; the request's thread takes row `k` from reader `k % W` and
//! hands the row back for reuse. A reader never waits: with no row handed back it
//! makes a new one. (It reads under the store's read lock, and that lock lets no new
//! reader in while a writer waits: a reader waiting for the request's thread, while
//! that waits for another reader stuck behind a compaction, would never wake.) The
//! request's thread keeps up, decoding a row being the greater work, so a few rows
//! per reader go round. A failed reader drops its channel, which ends the request
//! with its error; a request that stops early drops the others', and they read on
//! without sending.
//!
//! What the plain fetch (`graphite_source.rs`) shares with it lives here too: the ring's
//! values per slot, and how many threads read the store.

use std::collections::BTreeMap;
use std::sync::mpsc::{Receiver, Sender, channel};

use treestat_engine::trend::TrendStore;
use treestat_graphite::Error;

/// The ring's values of each path, folded per slot of `start..end` by the leaf's action:
/// closed intervals the store does not hold yet (from `persisted` on).
pub(crate) type RingValues = BTreeMap<String, Vec<(usize, f64)>>;

/// How many threads read `paths` paths from the store: up to four, one per 64 paths
/// (below that a thread costs more than it saves), no more than the machine's cores.
pub(crate) fn read_threads(paths: usize) -> usize {
    std::thread::available_parallelism()
        .map_or(1, std::num::NonZero::get)
        .min(4)
        .min(paths.div_ceil(64))
        .max(1)
}

/// Fills the ring's values into the slots the store left empty.
pub(crate) fn fill_ring(slots: &mut [Option<f64>], ring: Option<&Vec<(usize, f64)>>) {
    for &(i, x) in ring.into_iter().flatten() {
        if let Some(v @ None) = slots.get_mut(i) {
            *v = Some(x);
        }
    }
}

/// Splits a run of values (`values[k]` at `times[k]`, times increasing, each a bucket
/// of `range`) into stretches one step apart, and calls `put(slot, stretch)` with the
/// slot of each one's first value, for the part of each inside the range's slots.
pub(crate) fn place(
    range: Range,
    times: &[i64],
    values: &[f64],
    mut put: impl FnMut(usize, &[f64]),
) {
    let Range { start, step, n, .. } = range;
    let mut k = 0;
    while k < times.len() {
        let e = k + stretch(&times[k..], step);
        // Slots before the first (a time before `start`) and from `n` on are dropped.
        let first = (times[k] - start).div_euclid(step);
        let skip = usize::try_from(-first).unwrap_or(0).min(e - k);
        let slot = usize::try_from(first).unwrap_or(0);
        let len = (e - k - skip).min(n.saturating_sub(slot));
        if len > 0 {
            put(slot, &values[k + skip..k + skip + len]);
        }
        k = e;
    }
}

/// How many of `times` (distinct buckets one `step` or more apart, increasing) follow
/// the first a step at a time. The `j`th lies `j` steps after the first while none is
/// skipped, and further from then on, so the end is found by halving: a chunk's
/// 720 points with a dozen buckets missing were scanned point by point, which was most
/// of copying runs into rows.
fn stretch(times: &[i64], step: i64) -> usize {
    let Some(&first) = times.first() else {
        return 0;
    };
    let in_step = |j: usize| i64::try_from(j).is_ok_and(|steps| times[j] - first == steps * step);
    // `times[..lo]` are in step, `times[hi..]` are not.
    let (mut lo, mut hi) = (1, times.len());
    while lo < hi {
        let mid = lo + (hi - lo) / 2;
        if in_step(mid) {
            lo = mid + 1;
        } else {
            hi = mid;
        }
    }
    lo
}

/// The slots of a fetch: `n` values from `start`, one per `step`, up to `end`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Range {
    pub(crate) start: i64,
    pub(crate) end: i64,
    pub(crate) step: i64,
    pub(crate) n: usize,
}

/// Hands the rows of the series of `order` (paths, in the evaluator's order) to
/// `each(k, row)` in that order, each one's slots read from the store and then filled
/// from the ring, NaN where neither has a value.
pub(crate) fn read_rows(
    store: &TrendStore,
    range: Range,
    order: &[&str],
    ring: &RingValues,
    mut each: impl FnMut(usize, &[f64]),
) -> Result<(), Error> {
    let readers = read_threads(order.len());
    std::thread::scope(|scope| {
        let mut full = Vec::with_capacity(readers);
        let mut free = Vec::with_capacity(readers);
        let mut handles = Vec::with_capacity(readers);
        for w in 0..readers {
            let (full_tx, full_rx) = channel();
            let (free_tx, free_rx) = channel();
            let paths: Vec<&str> = order.iter().skip(w).step_by(readers).copied().collect();
            handles.push(scope.spawn(move || {
                let mut reader = Reader::new(range, &paths, ring, full_tx, free_rx);
                store
                    .for_each_run(&paths, range.start, range.end, |i, times, values| {
                        reader.put(i, times, values);
                    })
                    .map_err(|e| Error::internal(e.to_string()))?;
                reader.finish_up_to(paths.len());
                Ok::<(), Error>(())
            }));
            full.push(full_rx);
            free.push(free_tx);
        }
        // Each reader's batch being read: the rows and how many are read.
        let mut batches: Vec<Option<(Batch, usize)>> = (0..readers).map(|_| None).collect();
        let n = range.n;
        for k in 0..order.len() {
            let w = k % readers;
            if let Some((batch, _)) = batches[w].take_if(|(b, read)| *read == b.rows) {
                free[w].send(batch).ok();
            }
            if batches[w].is_none() {
                // A closed channel: that reader failed; its error is joined below.
                let Ok(batch) = full[w].recv() else { break };
                batches[w] = Some((batch, 0));
            }
            let Some((batch, read)) = &mut batches[w] else {
                break;
            };
            each(k, &batch.values[*read * n..(*read + 1) * n]);
            *read += 1;
        }
        drop((full, free));
        handles.into_iter().try_for_each(|h| {
            h.join()
                .unwrap_or_else(|_| Err(Error::internal("a store read panicked")))
        })
    })
}

/// About how many values a reader sends at once (512 KiB): a hand-over wakes the
/// thread that takes it. 10,000 one-hour rows sent one by one spent more time waking
/// it than reading; a thousand day-long rows sent seven at a time rather than one
/// took `sumSeries` (which read rows then) from 67-70 to 60 ms of CPU.
const BATCH_VALUES: usize = 1 << 16;

/// Rows sent together: `rows` rows of `n` values, one after the other.
struct Batch {
    values: Vec<f64>,
    rows: usize,
}

/// One reader's state: the batch being filled and where the next point goes.
struct Reader<'a> {
    range: Range,
    paths: &'a [&'a str],
    ring: &'a RingValues,
    full: Sender<Batch>,
    free: Receiver<Batch>,
    /// The series of the row being filled (index into `paths`).
    next: usize,
    /// The rows filled so far, then the one being filled: slots NaN where there is
    /// no value (the store holds no NaN).
    batch: Batch,
    /// The slots of the row being filled that are written, NaN where the store had
    /// no value: each slot is written once, and a batch handed back is not cleared.
    written: usize,
    /// Rows a batch holds.
    per_batch: usize,
    /// The request stopped taking rows: read on without sending.
    stopped: bool,
}

impl<'a> Reader<'a> {
    fn new(
        range: Range,
        paths: &'a [&'a str],
        ring: &'a RingValues,
        full: Sender<Batch>,
        free: Receiver<Batch>,
    ) -> Reader<'a> {
        let per_batch = (BATCH_VALUES / range.n.max(1)).clamp(1, paths.len().max(1));
        Reader {
            range,
            paths,
            ring,
            full,
            free,
            next: 0,
            batch: Batch {
                values: vec![f64::NAN; per_batch * range.n],
                rows: 0,
            },
            per_batch,
            written: 0,
            stopped: false,
        }
    }

    /// The row being filled.
    fn row(&mut self) -> &mut [f64] {
        let n = self.range.n;
        let at = self.batch.rows * n;
        &mut self.batch.values[at..at + n]
    }

    /// A run of series `i`: `values[k]` at `times[k]` (the store hands each series'
    /// runs in order, series by series).
    fn put(&mut self, i: usize, times: &[i64], values: &[f64]) {
        if self.stopped {
            return;
        }
        if i != self.next {
            self.finish_up_to(i);
        }
        let range = self.range;
        let mut written = self.written;
        let row = self.row();
        place(range, times, values, |slot, xs| {
            // Runs come in order of time: `slot` is past what is written.
            if let Some(gap) = row.get_mut(written..slot) {
                gap.fill(f64::NAN);
            }
            row[slot..slot + xs.len()].copy_from_slice(xs);
            written = written.max(slot + xs.len());
        });
        self.written = written;
    }

    /// Ends the rows of series `next..i` (those the store had no points of are the
    /// ring's alone), sending each batch filled, and starts the row of `i`.
    fn finish_up_to(&mut self, i: usize) {
        while self.next < i && !self.stopped {
            let ring = self.ring.get(self.paths[self.next]);
            let written = std::mem::take(&mut self.written);
            let row = self.row();
            row[written..].fill(f64::NAN);
            for &(i, x) in ring.into_iter().flatten() {
                if let Some(v) = row.get_mut(i).filter(|v| v.is_nan()) {
                    *v = x;
                }
            }
            self.batch.rows += 1;
            self.next += 1;
            if self.batch.rows == self.per_batch || self.next == self.paths.len() {
                self.send();
            }
        }
    }

    /// Sends the batch and starts another in one handed back, or a new one.
    fn send(&mut self) {
        let fresh = match self.free.try_recv() {
            Ok(mut b) => {
                b.rows = 0;
                b
            }
            Err(_) => Batch {
                values: vec![f64::NAN; self.per_batch * self.range.n],
                rows: 0,
            },
        };
        let full = std::mem::replace(&mut self.batch, fresh);
        if self.full.send(full).is_err() {
            self.stopped = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Range, place};

    /// Runs split where a step is skipped; what lies before the first slot or from
    /// the last on is dropped, the rest lands at its slot.
    #[test]
    fn runs_are_placed_by_stretch_and_clipped_to_the_slots() {
        let range = Range {
            start: 100,
            end: 160,
            step: 10,
            n: 6,
        };
        let times = [80, 90, 100, 110, 130, 140, 150, 160, 170];
        let values = [8.0, 9.0, 10.0, 11.0, 13.0, 14.0, 15.0, 16.0, 17.0];
        let mut got = Vec::new();
        place(range, &times, &values, |slot, xs| {
            got.push((slot, xs.to_vec()))
        });
        assert_eq!(
            got,
            vec![(0, vec![10.0, 11.0]), (3, vec![13.0, 14.0, 15.0])]
        );
        got.clear();
        place(range, &[70], &[7.0], |slot, xs| {
            got.push((slot, xs.to_vec()))
        });
        place(range, &[], &[], |slot, xs| got.push((slot, xs.to_vec())));
        assert!(got.is_empty());
        // No step skipped: one stretch, clipped at both ends.
        let times: Vec<i64> = (9..=17).map(|k| k * 10).collect();
        let values: Vec<f64> = (9..=17).map(f64::from).collect();
        place(range, &times, &values, |slot, xs| {
            got.push((slot, xs.to_vec()))
        });
        // A skipped step after the first (90, 110, ..., 170), whose span alone would
        // not tell.
        let (times, values) = ([90, 110, 120], [9.0, 11.0, 12.0]);
        place(range, &times, &values, |slot, xs| {
            got.push((slot, xs.to_vec()))
        });
        assert_eq!(
            got,
            vec![
                (0, vec![10.0, 11.0, 12.0, 13.0, 14.0, 15.0]),
                (1, vec![11.0, 12.0])
            ]
        );
    }
}
