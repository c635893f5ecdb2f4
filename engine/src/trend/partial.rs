//! The trend side of a read front: the series a pattern selects with every bucket's
//! aggregate and sketch ([`TrendStore::partial_series`]), in a compact exact form
//! ([`Folded::encode`]), merged across stores ([`Folded::merge`]), so that
//! [`super::stat_series_of`] and [`super::quantile_fold_of`] answer over several
//! shards what one store holding every series answers.

use std::collections::BTreeMap;

use super::TrendStore;
use super::error::{Result, TrendError};
use super::read::{Folded, check_aggregation};
use super::rollup::Agg;
use crate::histogram::{Hist, decode_exact, encode_exact};
use crate::pattern::Pattern;
use crate::{Action, Stats};

impl TrendStore {
    /// Every series `selector` selects over `[from, until)`, at most `points` buckets
    /// each (0: the archive's own), with each bucket's aggregate and, for histogram
    /// series, its merged sketch: what `?stat=` and quantile folds read.
    ///
    /// # Errors
    /// `BadQuery` for a bad range or a pattern that folds at or after `**`; `Storage`,
    /// `Corrupt`.
    pub fn partial_series(
        &self,
        selector: &Pattern,
        from: i64,
        until: i64,
        points: usize,
    ) -> Result<Vec<Folded>> {
        check_aggregation(selector)?;
        self.folded(selector, from, until, points)
    }
}

impl Folded {
    /// The series' comma-joined path.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Each bucket's value under the series' action, as a plain `/trend` answers it
    /// (a bucket whose value is not finite, as an empty one, is left out).
    pub fn values(&self) -> impl Iterator<Item = (i64, f64)> + '_ {
        self.buckets
            .iter()
            .map(|(&t, (agg, _))| (t, agg.value(self.action)))
            .filter(|(_, v)| v.is_finite())
    }

    /// Folds another store's copy of the same series in (a series whose history a
    /// rebalance split): buckets at one time merge their aggregates and sketches, as
    /// one store folds two intervals into a bucket. The coarser step is kept.
    pub fn merge(&mut self, other: Folded) {
        self.step = self.step.max(other.step);
        for (t, (agg, hist)) in other.buckets {
            match self.buckets.entry(t) {
                std::collections::btree_map::Entry::Occupied(mut e) => {
                    let (a, h) = e.get_mut();
                    a.merge(&agg);
                    if let Some(hist) = hist {
                        h.get_or_insert_with(Hist::default).merge(&hist);
                    }
                }
                std::collections::btree_map::Entry::Vacant(e) => {
                    e.insert((agg, hist));
                }
            }
        }
    }

    /// The buckets' exact binary form (what [`Folded::decode`] reads): the action's
    /// code, the step, then per bucket its time, sum, count, min, max, last, newest
    /// source, and a flag byte followed by the sketch ([`Hist::encode`]) and its exact
    /// stats when it has one. Numbers little-endian, bit for bit.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + self.buckets.len() * 57);
        out.push(action_code(self.action));
        out.extend_from_slice(&self.step.to_le_bytes());
        for (t, (agg, hist)) in &self.buckets {
            let s = &agg.stats;
            out.extend_from_slice(&t.to_le_bytes());
            for v in [s.sum, s.min, s.max, s.last] {
                out.extend_from_slice(&v.to_le_bytes());
            }
            out.extend_from_slice(&s.count.to_le_bytes());
            out.extend_from_slice(&agg.src.to_le_bytes());
            match hist {
                None => out.push(0),
                Some(h) => {
                    out.push(1);
                    h.encode(&mut out);
                    encode_exact(h.exact.as_deref().unwrap_or(&[]), &mut out);
                }
            }
        }
        out
    }

    /// Reads what [`Folded::encode`] wrote, for the series at `path`.
    ///
    /// # Errors
    /// `Corrupt` when the bytes are malformed.
    pub fn decode(path: &str, mut b: &[u8]) -> Result<Folded> {
        let bad = || TrendError::corrupt("a shard's partial trend series");
        let action = b
            .split_off_first()
            .and_then(|c| action_of(*c))
            .ok_or_else(bad)?;
        let step = i64::from_le_bytes(*take::<8>(&mut b).ok_or_else(bad)?);
        let mut buckets = BTreeMap::new();
        while !b.is_empty() {
            let mut f = || take::<8>(&mut b).copied();
            let mut next = || f().ok_or_else(bad);
            let t = i64::from_le_bytes(next()?);
            let [sum, min, max, last] =
                [next()?, next()?, next()?, next()?].map(f64::from_le_bytes);
            let count = u64::from_le_bytes(next()?);
            let src = i64::from_le_bytes(next()?);
            let stats = Stats {
                sum,
                count,
                min,
                max,
                last,
            };
            let hist = match b.split_off_first().ok_or_else(bad)? {
                0 => None,
                1 => {
                    let mut h = Hist::decode(&mut b).ok_or_else(bad)?;
                    let exact = decode_exact(&mut b).ok_or_else(bad)?;
                    h.exact = (!exact.is_empty()).then_some(exact);
                    Some(h)
                }
                _ => return Err(bad()),
            };
            buckets.insert(t, (Agg { stats, src }, hist));
        }
        Ok(Folded {
            path: path.to_string(),
            action,
            step,
            buckets,
        })
    }
}

fn take<'a, const N: usize>(b: &mut &'a [u8]) -> Option<&'a [u8; N]> {
    let (head, rest) = b.split_first_chunk::<N>()?;
    *b = rest;
    Some(head)
}

fn action_code(a: Action) -> u8 {
    a as u8
}

fn action_of(c: u8) -> Option<Action> {
    Action::ALL.get(usize::from(c)).copied()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_series_round_trips_bit_for_bit() {
        let mut h = Hist::default();
        for v in [1.5, 2.0, 97.25] {
            h.add(v);
        }
        let stats = Stats {
            sum: 0.1 + 0.2,
            count: 3,
            min: 1.5,
            max: 97.25,
            last: 2.0,
        };
        let mut buckets = BTreeMap::new();
        buckets.insert(60, (Agg { stats, src: 61 }, Some(h)));
        buckets.insert(120, (Agg { stats, src: 121 }, None));
        let f = Folded {
            path: "a,b".into(),
            action: Action::Histogram,
            step: 60,
            buckets,
        };
        let back = Folded::decode("a,b", &f.encode()).unwrap();
        assert_eq!(back.encode(), f.encode());
        assert_eq!(
            back.buckets[&60].0.stats.sum.to_bits(),
            (0.1f64 + 0.2).to_bits()
        );
        assert!(Folded::decode("a,b", &f.encode()[..20]).is_err());
    }

    /// A series split over two stores (a rebalance): the interval both hold merges its
    /// counts, sums and sketches, as one store merging the two would.
    #[test]
    fn two_stores_copies_merge_per_bucket() {
        let part = |samples: &[f64], t: i64| {
            let mut h = Hist::default();
            let mut stats = Stats::EMPTY;
            for &v in samples {
                h.add(v);
                stats.add(v, true);
            }
            let mut buckets = BTreeMap::new();
            buckets.insert(t, (Agg { stats, src: t }, Some(h)));
            Folded {
                path: "a".into(),
                action: Action::Histogram,
                step: 60,
                buckets,
            }
        };
        let mut old = part(&[1.0, 2.0], 60);
        old.merge(part(&[3.0, 40.0], 60));
        old.merge(part(&[5.0], 120));
        let (agg, hist) = &old.buckets[&60];
        assert_eq!((agg.stats.count, agg.stats.sum), (4, 46.0));
        assert_eq!((agg.stats.min, agg.stats.max), (1.0, 40.0));
        assert_eq!(hist.as_ref().unwrap().sketch.count(), 4);
        assert_eq!(old.buckets[&120].0.stats.count, 1);
    }
}
