//! `sumSeries(a.*.b)` and its kin folded by spans of time
//! ([`Source::fetch_folded`](treestat_graphite::Source::fetch_folded) over a store):
//! each thread reads every series over its own span of the slots and folds each run
//! of values into its part of the answer as the run is decoded.
//!
//! A slot belongs to one thread, which folds it series by series in the evaluator's
//! order, so the answer is that of folding the fetched list, to the bit. And no row
//! is written: [`read_rows`](crate::graphite_fold::read_rows), which `highestCurrent`
//! and its kin need (each series whole), fills rows on the reading cores and folds
//! them on another, which read every value a second time, from another core's cache.
//! Spans begin where chunks do, so no chunk is decoded twice; a range of one chunk
//! is read by one thread.
//!
//! The ring's values (the newest intervals, which the store does not hold yet) fill
//! only slots the store left empty: from the first slot the ring holds on, each
//! series goes through a short row of its own before it is folded.

use treestat_engine::trend::{CHUNK_POINTS, TrendStore, chunk_start};
use treestat_graphite::Error;
use treestat_graphite::funcs::{AggFn, ColumnFold};

use crate::graphite_fold::{Range, RingValues, place};

/// The paths of `order` (the evaluator's order) read from the store over `range`,
/// each filled from the ring where the store has no value, folded by `f`
/// ([`ColumnFold`]): `None` where no series has a value. Up to `threads` threads
/// read, a span each ([`read_threads`](crate::graphite_fold::read_threads) tells
/// how many are worth it).
///
/// # Errors
/// A 500 when the store fails, or when `f` does not fold by column.
pub(crate) fn fold_spans(
    store: &TrendStore,
    range: Range,
    order: &[&str],
    ring: &RingValues,
    f: AggFn,
    threads: usize,
) -> Result<Vec<Option<f64>>, Error> {
    if range.n == 0 {
        return Ok(Vec::new());
    }
    let spans = spans(range, threads);
    // The first slot the ring holds a value of.
    let tail = ring
        .values()
        .flatten()
        .map(|&(i, _)| i)
        .min()
        .unwrap_or(range.n);
    let read = |span| {
        let mut part = Span::new(range, span, tail, order, ring, f)?;
        store
            .for_each_run(
                order,
                part.range.start,
                part.range.end,
                |i, times, values| {
                    part.put(i, times, values);
                },
            )
            .map_err(|e| Error::internal(e.to_string()))?;
        part.finish_up_to(order.len());
        Ok(part.fold.finish())
    };
    if let [one] = spans[..] {
        return read(one);
    }
    std::thread::scope(|scope| {
        let handles: Vec<_> = spans
            .iter()
            .map(|&span| scope.spawn(move || read(span)))
            .collect();
        let mut out = Vec::with_capacity(range.n);
        for h in handles {
            let part = h
                .join()
                .unwrap_or_else(|_| Err(Error::internal("a store read panicked")))?;
            out.extend(part);
        }
        Ok(out)
    })
}

/// The slots of `range` split for up to `threads` threads: spans `(from, to)` that
/// begin where a chunk begins, each about as many chunks as the others, one span
/// when the range lies in one chunk.
fn spans(range: Range, threads: usize) -> Vec<(usize, usize)> {
    let Range { start, step, n, .. } = range;
    let chunk = usize::try_from(CHUNK_POINTS).unwrap_or(1);
    // Slots of the range before its first chunk's first bucket.
    let before = usize::try_from((start - chunk_start(start, step)).div_euclid(step)).unwrap_or(0);
    let chunks = (before + n).div_ceil(chunk).max(1);
    let parts = threads.clamp(1, chunks);
    let mut out = Vec::with_capacity(parts);
    let mut from = 0;
    for w in 1..=parts {
        let to = if w == parts {
            n
        } else {
            (w * chunks / parts * chunk).saturating_sub(before).min(n)
        };
        if to > from {
            out.push((from, to));
            from = to;
        }
    }
    if out.is_empty() {
        out.push((0, n));
    }
    out
}

/// One thread's span: its part of the fold, and the row of the series being read
/// from the ring's first slot on.
struct Span<'a> {
    /// The span's slots, as a range of their own.
    range: Range,
    /// The span's first slot in the whole range (the ring's slots count from there).
    offset: usize,
    order: &'a [&'a str],
    ring: &'a RingValues,
    fold: ColumnFold,
    /// Where (in the span) the row of the series being read begins: slots before are
    /// folded as the store hands them.
    tail_from: usize,
    /// The series' values from `tail_from` on, NaN where there are none yet.
    tail: Vec<f64>,
    /// The series being read (index into `order`).
    next: usize,
}

impl<'a> Span<'a> {
    fn new(
        whole: Range,
        (from, to): (usize, usize),
        tail: usize,
        order: &'a [&'a str],
        ring: &'a RingValues,
        f: AggFn,
    ) -> Result<Span<'a>, Error> {
        let at = |slot: usize| whole.start + i64::try_from(slot).unwrap_or(0) * whole.step;
        let n = to - from;
        let fold = ColumnFold::new(f, n)
            .ok_or_else(|| Error::internal(format!("{f:?} does not fold by column")))?;
        let tail_from = tail.clamp(from, to) - from;
        Ok(Span {
            range: Range {
                start: at(from),
                end: at(to),
                step: whole.step,
                n,
            },
            offset: from,
            order,
            ring,
            fold,
            tail_from,
            tail: vec![f64::NAN; n - tail_from],
            next: 0,
        })
    }

    /// A run of series `i` (the store hands each series' runs before the next's).
    fn put(&mut self, i: usize, times: &[i64], values: &[f64]) {
        if i != self.next {
            self.finish_up_to(i);
        }
        let (fold, tail, tail_from) = (&mut self.fold, &mut self.tail, self.tail_from);
        place(self.range, times, values, |slot, xs| {
            let folded = tail_from.saturating_sub(slot).min(xs.len());
            fold.add_nan_gaps_at(slot, &xs[..folded]);
            if folded < xs.len() {
                let at = slot + folded - tail_from;
                tail[at..at + xs.len() - folded].copy_from_slice(&xs[folded..]);
            }
        });
    }

    /// Ends series `next..i` (those the store had no points of are the ring's alone):
    /// their rows, filled from the ring where empty, are folded.
    fn finish_up_to(&mut self, i: usize) {
        if self.tail.is_empty() {
            self.next = self.next.max(i);
            return;
        }
        let first = self.offset + self.tail_from;
        while self.next < i {
            let ring = self.ring.get(self.order[self.next]);
            for &(slot, x) in ring.into_iter().flatten() {
                if let Some(v) = slot
                    .checked_sub(first)
                    .and_then(|at| self.tail.get_mut(at))
                    .filter(|v| v.is_nan())
                {
                    *v = x;
                }
            }
            self.fold.add_nan_gaps_at(self.tail_from, &self.tail);
            self.tail.fill(f64::NAN);
            self.next += 1;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Range, spans};
    use treestat_engine::trend::CHUNK_POINTS;

    fn range(start: i64, n: usize) -> Range {
        Range {
            start,
            end: start + 10 * i64::try_from(n).unwrap(),
            step: 10,
            n,
        }
    }

    /// Spans cut where chunks begin, shared out by chunk count; a range inside one
    /// chunk stays whole.
    #[test]
    fn spans_begin_where_chunks_begin() {
        let chunk = 10 * CHUNK_POINTS;
        // A day at 10 s from 100 slots into a chunk: 13 chunks touched.
        let r = range(chunk * 50 + 1000, 8640);
        let got = spans(r, 2);
        assert_eq!(got, vec![(0, 6 * 720 - 100), (6 * 720 - 100, 8640)]);
        assert_eq!(spans(r, 1), vec![(0, 8640)]);
        // Each cut is a chunk's first bucket.
        for &(from, _) in &spans(r, 4)[1..] {
            let t = r.start + 10 * i64::try_from(from).unwrap();
            assert_eq!(t % chunk, 0);
        }
        // An hour inside one chunk; an empty range.
        assert_eq!(spans(range(chunk * 50, 360), 4), vec![(0, 360)]);
        assert_eq!(spans(range(chunk * 50, 0), 2), vec![(0, 0)]);
    }
}
