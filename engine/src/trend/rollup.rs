//! Rollups by action (docs/API.md, `GET /trend`): how interval aggregates fold into an
//! archive's buckets, how a bucket is stored in a chunk, and how a query downsamples.
//!
//! A bucket keeps what its action needs to fold further without loss: `add` the sum,
//! `average` the sum and the count (so a coarser mean is weighted by count), `max`,
//! `min`, and for `last` the value with the start of the newest interval that gave
//! it (so a late-folded older interval never overrides a newer one).

use std::collections::BTreeMap;

use super::codec::{self, Point};
use super::error::{Result, TrendError};
use crate::histogram::{Hist, decode_exact, encode_exact};
use crate::{Action, Stats};

/// A bucket's aggregate: the samples' stats and, for `last`, the time of the newest
/// source interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Agg {
    /// The folded samples.
    pub stats: Stats,
    /// Start of the newest interval folded in (orders `last`).
    pub src: i64,
}

impl Agg {
    /// The aggregate of one interval's stats.
    pub fn of(stats: Stats, src: i64) -> Agg {
        Agg { stats, src }
    }

    /// Folds `other` in under `action`. The sum saturates at `±f64::MAX` rather than
    /// overflow: a bucket folding many intervals near `1e307` would otherwise store
    /// an infinity (and a later fold a NaN) that reads back as `null`.
    pub fn merge(&mut self, other: &Agg) {
        let s = &mut self.stats;
        let o = &other.stats;
        s.sum = saturating_sum(s.sum, o.sum);
        s.count += o.count;
        s.min = s.min.min(o.min);
        s.max = s.max.max(o.max);
        if other.src >= self.src {
            s.last = o.last;
            self.src = other.src;
        }
    }

    /// The value the action reports.
    pub fn value(&self, action: Action) -> f64 {
        match action.scalar() {
            Action::Add => self.stats.sum,
            Action::Average => self.stats.mean(),
            Action::Max => self.stats.max,
            Action::Min => self.stats.min,
            Action::Last => self.stats.last,
            Action::Histogram => self.stats.mean(),
        }
    }

    /// The stored form at `bucket`: the action's value (the sum for `average`) and
    /// the count, or for `last` the offset of the newest source in the bucket.
    pub fn to_point(self, action: Action, bucket: i64) -> Point {
        let value = match action.scalar() {
            Action::Average => self.stats.sum,
            other => self.value(other),
        };
        let aux = match action {
            Action::Last => self.src.saturating_sub(bucket).max(0).cast_unsigned(),
            _ => self.stats.count,
        };
        Point {
            ts: bucket,
            value,
            aux,
        }
    }

    /// `Agg::from_point(p, action).value(action)` without building the rollup: the
    /// stored value, or for a mean the stored sum over the stored count.
    #[inline]
    pub fn value_of_point(p: &Point, action: Action) -> f64 {
        match action.scalar() {
            Action::Average if p.aux > 1 => {
                // u64 -> f64 loses precision only above 2^53 samples.
                #[allow(clippy::cast_precision_loss)]
                let n = p.aux as f64;
                p.value / n
            }
            Action::Average if p.aux == 0 => 0.0,
            _ => p.value,
        }
    }

    /// The inverse of [`Agg::to_point`]: the fields the action does not keep are
    /// neutral so that [`Agg::merge`] stays exact for that action.
    pub fn from_point(p: &Point, action: Action) -> Agg {
        let v = p.value;
        let count = match action {
            Action::Last => 1,
            _ => p.aux,
        };
        let stats = Stats {
            sum: if matches!(action.scalar(), Action::Add | Action::Average) {
                v
            } else {
                0.0
            },
            count,
            min: if action == Action::Min {
                v
            } else {
                f64::INFINITY
            },
            max: if action == Action::Max {
                v
            } else {
                f64::NEG_INFINITY
            },
            last: v,
        };
        let src = match action {
            Action::Last => p.ts.saturating_add(i64::try_from(p.aux).unwrap_or(0)),
            _ => p.ts,
        };
        Agg { stats, src }
    }
}

/// `a + b`, held at `±f64::MAX` when the exact sum is out of range (finite inputs).
fn saturating_sum(a: f64, b: f64) -> f64 {
    let t = a + b;
    if t.is_infinite() && a.is_finite() && b.is_finite() {
        f64::MAX.copysign(t)
    } else {
        t
    }
}

/// A stored chunk: the series' action and its buckets in time order.
#[derive(Debug, Clone, PartialEq)]
pub struct Chunk {
    /// The action the buckets were folded with.
    pub action: Action,
    /// Bucket start -> aggregate.
    pub buckets: BTreeMap<i64, Agg>,
    /// Bucket start -> merged sketch, for a histogram series (empty otherwise).
    pub hists: BTreeMap<i64, Hist>,
}

/// The action byte's flag saying a histogram section follows the points.
const HIST_FLAG: u8 = 0x80;

impl Chunk {
    /// The stored bytes: action code, then the Gorilla-coded points. With sketches
    /// (a histogram series), the action byte has [`HIST_FLAG`] set, the points are
    /// preceded by their length (u32 LE) and followed by the buckets' sketches (u32
    /// count, then per bucket its start as i64 LE and [`Hist::encode`]); every other
    /// series' chunk is stored byte for byte as before.
    pub fn encode(&self) -> Vec<u8> {
        let points: Vec<Point> = self
            .buckets
            .iter()
            .map(|(&ts, a)| a.to_point(self.action, ts))
            .collect();
        let gorilla = codec::encode(&points);
        if self.hists.is_empty() {
            let mut out = vec![self.action.code()];
            out.extend_from_slice(&gorilla);
            return out;
        }
        let mut out = vec![self.action.code() | HIST_FLAG];
        out.extend_from_slice(
            &u32::try_from(gorilla.len())
                .unwrap_or(u32::MAX)
                .to_le_bytes(),
        );
        out.extend_from_slice(&gorilla);
        out.extend_from_slice(
            &u32::try_from(self.hists.len())
                .unwrap_or(u32::MAX)
                .to_le_bytes(),
        );
        for (t, h) in &self.hists {
            out.extend_from_slice(&t.to_le_bytes());
            h.encode(&mut out);
        }
        // Then, only when some bucket has them, its exact stats (one interval's Etsy
        // statistics): their number (u32), per bucket its start and `encode_exact`.
        let exact = self.hists.values().filter(|h| h.exact.is_some()).count();
        if exact > 0 {
            out.extend_from_slice(&u32::try_from(exact).unwrap_or(u32::MAX).to_le_bytes());
            for (t, h) in &self.hists {
                if let Some(e) = &h.exact {
                    out.extend_from_slice(&t.to_le_bytes());
                    encode_exact(e, &mut out);
                }
            }
        }
        out
    }

    /// Decodes stored bytes.
    ///
    /// # Errors
    /// `Corrupt` when they do not decode.
    pub fn decode(b: &[u8]) -> Result<Chunk> {
        let (action, gorilla, hist_bytes) = split_chunk(b)?;
        let buckets = codec::decode(gorilla)?
            .iter()
            .map(|p| (p.ts, Agg::from_point(p, action)))
            .collect();
        let hists = decode_hists(hist_bytes)?.into_iter().collect();
        Ok(Chunk {
            action,
            buckets,
            hists,
        })
    }
}

/// A stored chunk's action, its Gorilla bytes and its histogram section (empty when
/// it has none).
pub(super) fn split_chunk(b: &[u8]) -> Result<(Action, &[u8], &[u8])> {
    let (&code, rest) = b
        .split_first()
        .ok_or_else(|| TrendError::corrupt("empty chunk"))?;
    let action = Action::from_code(code & !HIST_FLAG)
        .ok_or_else(|| TrendError::corrupt("chunk action code"))?;
    if code & HIST_FLAG == 0 {
        return Ok((action, rest, &[]));
    }
    let (len, rest) = rest
        .split_first_chunk::<4>()
        .ok_or_else(|| TrendError::corrupt("chunk length"))?;
    let len = u32::from_le_bytes(*len) as usize;
    if len > rest.len() {
        return Err(TrendError::corrupt("chunk length"));
    }
    let (gorilla, hists) = rest.split_at(len);
    Ok((action, gorilla, hists))
}

/// The `(bucket, sketch)` pairs of a chunk's histogram section, time-ordered.
fn decode_hists(mut b: &[u8]) -> Result<Vec<(i64, Hist)>> {
    if b.is_empty() {
        return Ok(Vec::new());
    }
    let bad = || TrendError::corrupt("chunk histogram section");
    let (n, rest) = b.split_first_chunk::<4>().ok_or_else(bad)?;
    b = rest;
    let n = u32::from_le_bytes(*n) as usize;
    if n > b.len() / 11 {
        return Err(bad());
    }
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        let (t, rest) = b.split_first_chunk::<8>().ok_or_else(bad)?;
        b = rest;
        let h = Hist::decode(&mut b).ok_or_else(bad)?;
        out.push((i64::from_le_bytes(*t), h));
    }
    if !b.is_empty() {
        let (n, rest) = b.split_first_chunk::<4>().ok_or_else(bad)?;
        b = rest;
        for _ in 0..u32::from_le_bytes(*n) {
            let (t, rest) = b.split_first_chunk::<8>().ok_or_else(bad)?;
            b = rest;
            let e = decode_exact(&mut b).ok_or_else(bad)?;
            let t = i64::from_le_bytes(*t);
            let i = out.binary_search_by_key(&t, |h| h.0).map_err(|_| bad())?;
            out[i].1.exact = Some(e);
        }
    }
    Ok(out)
}

/// A stored chunk's sketches by bucket, time-ordered (the read path of `?stat=`).
///
/// # Errors
/// `Corrupt` when the bytes do not decode.
pub fn decode_chunk_hists(b: &[u8]) -> Result<Vec<(i64, Hist)>> {
    let (_, _, hists) = split_chunk(b)?;
    decode_hists(hists)
}

/// Decodes a stored chunk into time-ordered `(bucket, aggregate)` pairs (the read
/// path: no map, one pass).
///
/// # Errors
/// `Corrupt` when the bytes do not decode.
pub fn decode_sorted(b: &[u8]) -> Result<(Action, Vec<(i64, Agg)>)> {
    let (action, rest, _) = split_chunk(b)?;
    let pts = codec::decode(rest)?
        .iter()
        .map(|p| (p.ts, Agg::from_point(p, action)))
        .collect();
    Ok((action, pts))
}

/// Merges two time-ordered lists of buckets, folding equal times.
pub fn merge_sorted(a: Vec<(i64, Agg)>, b: Vec<(i64, Agg)>) -> Vec<(i64, Agg)> {
    if b.is_empty() {
        return a;
    }
    if a.last().is_none_or(|l| l.0 < b[0].0) {
        let mut a = a;
        a.extend(b);
        return a;
    }
    let mut out = Vec::with_capacity(a.len() + b.len());
    let (mut i, mut j) = (a.into_iter().peekable(), b.into_iter().peekable());
    loop {
        let next = match (i.peek(), j.peek()) {
            (Some(x), Some(y)) if x.0 < y.0 => i.next(),
            (Some(x), Some(y)) if x.0 > y.0 => j.next(),
            (Some(_), Some(_)) => {
                let (t, mut x) = i.next().unwrap_or((0, Agg::of(crate::Stats::EMPTY, 0)));
                if let Some((_, y)) = j.next() {
                    x.merge(&y);
                }
                Some((t, x))
            }
            (Some(_), None) => i.next(),
            (None, Some(_)) => j.next(),
            (None, None) => break,
        };
        if let Some(p) = next {
            out.push(p);
        }
    }
    out
}

/// Folds `(time, aggregate)` pairs (time-ordered) into buckets of `step` seconds
/// aligned to multiples of `step`, returning `(bucket start, value)`.
pub fn downsample(points: &[(i64, Agg)], step: i64, action: Action) -> Vec<(i64, f64)> {
    let mut out: Vec<(i64, f64)> = Vec::with_capacity(points.len());
    let mut cur: Option<(i64, Agg)> = None;
    for &(ts, agg) in points {
        let b = ts.div_euclid(step) * step;
        match &mut cur {
            Some((cb, acc)) if *cb == b => acc.merge(&agg),
            _ => {
                if let Some((cb, acc)) = cur.take() {
                    out.push((cb, acc.value(action)));
                }
                cur = Some((b, agg));
            }
        }
    }
    if let Some((cb, acc)) = cur {
        out.push((cb, acc.value(action)));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn stats(vals: &[f64]) -> Stats {
        let mut s = Stats::EMPTY;
        for &v in vals {
            s.add(v, true);
        }
        s
    }

    #[test]
    fn the_value_of_a_stored_point_is_its_rollups_value() {
        for action in Action::ALL {
            for (value, aux) in [(7.5, 0), (7.5, 1), (7.5, 3), (-2.0, 2), (0.0, 0)] {
                let p = Point {
                    ts: 100,
                    value,
                    aux,
                };
                assert_eq!(
                    Agg::value_of_point(&p, action).to_bits(),
                    Agg::from_point(&p, action).value(action).to_bits(),
                    "{action} {value} {aux}"
                );
            }
        }
    }

    #[test]
    fn every_action_survives_the_stored_form_and_folds_exactly() {
        let a = Agg::of(stats(&[1.0, 5.0]), 100);
        let b = Agg::of(stats(&[3.0]), 110);
        for action in Action::ALL {
            let mut want = a;
            want.merge(&b);
            let mut got = Agg::from_point(&a.to_point(action, 100), action);
            got.merge(&Agg::from_point(&b.to_point(action, 100), action));
            assert_eq!(got.value(action), want.value(action), "{action}");
        }
        let mut avg = Agg::of(stats(&[1.0, 5.0]), 0);
        avg.merge(&Agg::of(stats(&[3.0]), 10));
        assert_eq!(avg.value(Action::Average), 3.0);
    }

    #[test]
    fn last_ignores_an_older_source_folded_later() {
        let mut newer = Agg::of(stats(&[7.0]), 120);
        newer.merge(&Agg::of(stats(&[1.0]), 100));
        assert_eq!(newer.value(Action::Last), 7.0);
        let p = newer.to_point(Action::Last, 60);
        let mut back = Agg::from_point(&p, Action::Last);
        back.merge(&Agg::of(stats(&[2.0]), 110));
        assert_eq!(back.value(Action::Last), 7.0);
    }

    #[test]
    fn chunks_round_trip_and_downsample() {
        let mut c = Chunk {
            hists: BTreeMap::new(),
            action: Action::Average,
            buckets: BTreeMap::new(),
        };
        for i in 0..10 {
            c.buckets.insert(
                i * 10,
                Agg::of(stats(&[f64::from(i32::try_from(i).unwrap())]), i * 10),
            );
        }
        let back = Chunk::decode(&c.encode()).unwrap();
        let pts: Vec<(i64, Agg)> = back.buckets.iter().map(|(&t, &a)| (t, a)).collect();
        assert_eq!(
            downsample(&pts, 50, Action::Average),
            vec![(0, 2.0), (50, 7.0)]
        );
        assert_eq!(downsample(&pts, 50, Action::Add)[1], (50, 35.0));
        let (action, sorted) = decode_sorted(&c.encode()).unwrap();
        assert_eq!((action, sorted.len()), (Action::Average, 10));
        let later = vec![
            (90, Agg::of(stats(&[1.0]), 95)),
            (100, Agg::of(stats(&[4.0]), 100)),
        ];
        let merged = merge_sorted(sorted.clone(), later);
        assert_eq!(merged.len(), 11);
        assert_eq!(merged[9].1.value(Action::Average), 5.0);
        assert_eq!(merge_sorted(Vec::new(), sorted.clone()), sorted);
        assert!(Chunk::decode(&[]).is_err());
        assert!(Chunk::decode(&[9]).is_err());
    }
}
