//! A mergeable quantile sketch: DDSketch (Masson, Rim, Lee, VLDB 2019) with 1 % relative
//! accuracy, the small core written here rather than taken from `sketches-ddsketch`.
//!
//! Why our own: the trend store must write a sketch's bucket runs compactly
//! (`Sketch::encode`), the pattern folds merge sketches of many leaves, and a histogram
//! leaf must answer Etsy's threshold statistics from the buckets; the crate keeps its
//! stores private (no bucket iteration, serde only) and grows them in chunks of 128
//! buckets. The core is ~200 lines: a logarithmic key per sample, one dense store for
//! positive samples, one for negative, a count of zeros.
//!
//! Accuracy: a sample `v > 0` goes to bucket `k = ceil(ln v / ln γ)` with
//! `γ = (1 + α) / (1 - α)`, `α = 0.01`; the bucket reports `2 γ^k / (γ + 1)`, within
//! `α` of every value in `(γ^(k-1), γ^k]`. A quantile is the bucket of the sample of
//! the nearest rank (`ceil(q n)`-th smallest), so it is within 1 % of that sample. Merging adds bucket counts, so
//! the sketch of a union is exactly the merge of the parts' sketches, in any order.
//!
//! Bounds: each store holds at most [`MAX_BUCKETS`] buckets; beyond, the lowest buckets
//! are folded into one (DDSketch's "collapsing lowest"), which only blurs quantiles
//! among the smallest samples of a range spanning more than e^(2 α MAX_BUCKETS) (a
//! factor of 10^35). Magnitudes below [`MIN_VALUE`] count as zero.

/// The relative accuracy.
pub const ALPHA: f64 = 0.01;
/// The most buckets a store keeps (positive and negative samples each).
pub const MAX_BUCKETS: usize = 2048;
/// Samples of smaller magnitude count as zero.
pub const MIN_VALUE: f64 = 1e-9;

/// `γ = (1 + α) / (1 - α)`.
const GAMMA: f64 = (1.0 + ALPHA) / (1.0 - ALPHA);

/// `1 / ln γ` (`ln` is not `const`; a unit test checks the literal).
const INV_LN_GAMMA: f64 = 49.99833328888678;

fn inv_ln_gamma() -> f64 {
    INV_LN_GAMMA
}

/// Where a sample goes in a sketch: computed once when it goes to two sketches (a
/// leaf's totals and its interval).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Slot {
    /// A positive sample's bucket.
    Pos(i32),
    /// A negative sample's bucket (of its magnitude).
    Neg(i32),
    /// Within [`MIN_VALUE`] of zero.
    Zero,
}

impl Slot {
    /// The slot of a finite sample.
    #[inline]
    pub fn of(v: f64) -> Slot {
        if v >= MIN_VALUE {
            Slot::Pos(key_of(v, INV_LN_GAMMA))
        } else if v <= -MIN_VALUE {
            Slot::Neg(key_of(-v, INV_LN_GAMMA))
        } else {
            Slot::Zero
        }
    }
}

/// The bucket of a magnitude `v >= MIN_VALUE`.
#[inline]
fn key_of(v: f64, inv: f64) -> i32 {
    // |ln v| / ln γ < 1e4 for every finite f64 (ln f64::MAX = 709.8, ln γ = 0.02).
    #[allow(clippy::cast_possible_truncation)]
    let k = (v.ln() * inv).ceil() as i32;
    k
}

/// The value a bucket reports: within α of everything it holds.
#[inline]
fn value_of(key: i32) -> f64 {
    2.0 * GAMMA.powi(key) / (GAMMA + 1.0)
}

/// Counts of a run of consecutive buckets, `counts[i]` for key `offset + i`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct Store {
    offset: i32,
    counts: Vec<u64>,
    total: u64,
}

impl Store {
    #[inline]
    fn add(&mut self, key: i32, n: u64) {
        if self.counts.is_empty() {
            self.offset = key;
            self.counts.push(0);
        }
        let mut i = i64::from(key) - i64::from(self.offset);
        if i < 0 {
            self.grow_down(key);
            i = 0;
        } else if usize::try_from(i).is_ok_and(|i| i >= self.counts.len()) {
            self.grow_up(key);
            i = i64::from(key) - i64::from(self.offset);
        }
        let i = usize::try_from(i).unwrap_or(0);
        self.counts[i] += n;
        self.total += n;
    }

    #[cold]
    fn grow_down(&mut self, key: i32) {
        let by = usize::try_from(i64::from(self.offset) - i64::from(key)).unwrap_or(0);
        let mut counts = vec![0; by + self.counts.len()];
        counts[by..].copy_from_slice(&self.counts);
        self.counts = counts;
        self.offset = key;
        self.collapse();
    }

    #[cold]
    fn grow_up(&mut self, key: i32) {
        let len = usize::try_from(i64::from(key) - i64::from(self.offset)).unwrap_or(0) + 1;
        self.counts.resize(len, 0);
        self.collapse();
    }

    /// Folds the lowest buckets into one so at most `MAX_BUCKETS` remain.
    fn collapse(&mut self) {
        if self.counts.len() <= MAX_BUCKETS {
            return;
        }
        let cut = self.counts.len() - MAX_BUCKETS;
        let folded: u64 = self.counts[..=cut].iter().sum();
        self.counts.drain(..cut);
        self.counts[0] = folded;
        self.offset += i32::try_from(cut).unwrap_or(0);
    }

    /// Adds another store's counts: the range is grown once, then one pass adds
    /// bucket to bucket (a fold over 10k leaves merges millions of buckets).
    fn merge(&mut self, other: &Store) {
        let Some(other_top) = other.top() else {
            return;
        };
        if self.counts.is_empty() {
            self.offset = other.offset;
            self.counts.extend_from_slice(&other.counts);
            self.total = other.total;
            return;
        }
        if other.offset < self.offset {
            self.grow_down(other.offset);
        }
        if self.top().is_some_and(|top| other_top > top) {
            self.grow_up(other_top);
        }
        // After a collapse the lowest keys land in the lowest bucket kept.
        let skip = i64::from(other.offset) - i64::from(self.offset);
        let (below, aligned) = match usize::try_from(skip) {
            Ok(at) => (&[][..], (at, &other.counts[..])),
            Err(_) => {
                let cut = usize::try_from(-skip)
                    .unwrap_or(usize::MAX)
                    .min(other.counts.len());
                (&other.counts[..cut], (0, &other.counts[cut..]))
            }
        };
        self.counts[0] += below.iter().sum::<u64>();
        let (at, src) = aligned;
        for (d, s) in self.counts[at..at + src.len()].iter_mut().zip(src) {
            *d += s;
        }
        self.total += other.total;
    }

    /// The highest key held.
    fn top(&self) -> Option<i32> {
        let len = i32::try_from(self.counts.len()).ok()?;
        (len > 0).then(|| self.offset + len - 1)
    }

    /// The key of the bucket holding the sample at `rank` (0-based, from the lowest key).
    fn key_at_rank(&self, rank: u64) -> i32 {
        let mut seen = 0;
        for (i, &n) in self.counts.iter().enumerate() {
            seen += n;
            if seen > rank {
                return self.offset + i32::try_from(i).unwrap_or(0);
            }
        }
        self.offset + i32::try_from(self.counts.len()).unwrap_or(1) - 1
    }

    /// Non-empty buckets, lowest key first.
    fn buckets(&self) -> impl DoubleEndedIterator<Item = (i32, u64)> + '_ {
        self.counts
            .iter()
            .enumerate()
            .filter(|(_, n)| **n > 0)
            .map(|(i, &n)| (self.offset + i32::try_from(i).unwrap_or(0), n))
    }
}

/// A DDSketch of a set of samples (see the module's text).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sketch {
    pos: Store,
    neg: Store,
    zeros: u64,
}

impl Sketch {
    /// An empty sketch.
    pub fn new() -> Sketch {
        Sketch::default()
    }

    /// Number of samples.
    pub fn count(&self) -> u64 {
        self.pos.total + self.neg.total + self.zeros
    }

    /// Adds one finite sample.
    #[inline]
    pub fn add(&mut self, v: f64) {
        self.add_with(v, inv_ln_gamma());
    }

    /// Adds many finite samples (the ln γ inverse computed once).
    pub fn extend(&mut self, vs: &[f64]) {
        let inv = inv_ln_gamma();
        for &v in vs {
            self.add_with(v, inv);
        }
    }

    /// Adds one sample whose [`Slot`] is known.
    #[inline]
    pub fn add_slot(&mut self, slot: Slot) {
        match slot {
            Slot::Pos(k) => self.pos.add(k, 1),
            Slot::Neg(k) => self.neg.add(k, 1),
            Slot::Zero => self.zeros += 1,
        }
    }

    #[inline]
    fn add_with(&mut self, v: f64, inv: f64) {
        if v >= MIN_VALUE {
            self.pos.add(key_of(v, inv), 1);
        } else if v <= -MIN_VALUE {
            self.neg.add(key_of(-v, inv), 1);
        } else {
            self.zeros += 1;
        }
    }

    /// Folds another sketch in: the result is the sketch of both sets.
    pub fn merge(&mut self, other: &Sketch) {
        self.pos.merge(&other.pos);
        self.neg.merge(&other.neg);
        self.zeros += other.zeros;
    }

    /// The `q`-quantile (`0..=1`) of the samples, within 1 % of the sample of the
    /// nearest rank ([`Stat::quantile_rank`](treestat_model::Stat::quantile_rank):
    /// the `ceil(q n)`-th smallest); `None` when empty.
    pub fn quantile(&self, q: f64) -> Option<f64> {
        let n = self.count();
        if n == 0 {
            return None;
        }
        Some(self.value_at_rank(treestat_model::Stat::quantile_rank(q, n)))
    }

    /// The value of the sample at `rank` (0-based, ascending).
    pub(crate) fn value_at_rank(&self, rank: u64) -> f64 {
        if rank < self.neg.total {
            // Negative samples: the most negative has the highest key.
            -value_of(self.neg.key_at_rank(self.neg.total - 1 - rank))
        } else if rank < self.neg.total + self.zeros {
            0.0
        } else {
            value_of(self.pos.key_at_rank(rank - self.neg.total - self.zeros))
        }
    }

    /// Every bucket as (representative value, count), ascending.
    pub fn buckets(&self) -> impl Iterator<Item = (f64, u64)> + '_ {
        let neg = self.neg.buckets().rev().map(|(k, n)| (-value_of(k), n));
        let zero = (self.zeros > 0).then_some((0.0, self.zeros));
        let pos = self.pos.buckets().map(|(k, n)| (value_of(k), n));
        neg.chain(zero).chain(pos)
    }

    /// Heap bytes held (the two stores' bucket arrays).
    pub fn heap_bytes(&self) -> usize {
        (self.pos.counts.capacity() + self.neg.counts.capacity()) * std::mem::size_of::<u64>()
    }

    /// Appends a compact encoding: the zero count, then per store its offset, its
    /// length and the counts as LEB128 varints, runs of empty buckets as one
    /// `0, run length` pair (dense DDSketch stores are mostly small counts and short
    /// gaps, so a bucket costs about one byte).
    pub fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.zeros);
        for store in [&self.pos, &self.neg] {
            put_varint(out, u64::from(zigzag(store.offset)));
            put_varint(out, store.counts.len() as u64);
            let mut i = 0;
            while i < store.counts.len() {
                if store.counts[i] == 0 {
                    let run = store.counts[i..].iter().take_while(|n| **n == 0).count();
                    put_varint(out, 0);
                    put_varint(out, run as u64);
                    i += run;
                } else {
                    put_varint(out, store.counts[i]);
                    i += 1;
                }
            }
        }
    }

    /// Reads what [`Sketch::encode`] wrote, advancing `input`; `None` when malformed.
    pub fn decode(input: &mut &[u8]) -> Option<Sketch> {
        let zeros = get_varint(input)?;
        let mut stores = [Store::default(), Store::default()];
        for store in &mut stores {
            let offset = unzigzag(u32::try_from(get_varint(input)?).ok()?);
            let len = usize::try_from(get_varint(input)?).ok()?;
            if len > MAX_BUCKETS {
                return None;
            }
            let mut counts = Vec::with_capacity(len);
            while counts.len() < len {
                let n = get_varint(input)?;
                if n == 0 {
                    let run = usize::try_from(get_varint(input)?).ok()?;
                    if run == 0 || counts.len() + run > len {
                        return None;
                    }
                    counts.resize(counts.len() + run, 0);
                } else {
                    counts.push(n);
                }
            }
            let total = counts.iter().try_fold(0u64, |a, &n| a.checked_add(n))?;
            *store = Store {
                offset,
                counts,
                total,
            };
        }
        let [pos, neg] = stores;
        Some(Sketch { pos, neg, zeros })
    }
}

fn zigzag(v: i32) -> u32 {
    ((v << 1) ^ (v >> 31)).cast_unsigned()
}

fn unzigzag(v: u32) -> i32 {
    (v >> 1).cast_signed() ^ -((v & 1).cast_signed())
}

/// Appends `v` as a LEB128 varint.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        // The low seven bits, truncation intended.
        #[allow(clippy::cast_possible_truncation)]
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    #[allow(clippy::cast_possible_truncation)]
    out.push(v as u8);
}

/// Reads a LEB128 varint, advancing `input`.
pub(crate) fn get_varint(input: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&b, rest) = input.split_first()?;
        *input = rest;
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The sample of the nearest rank: the `ceil(q n)`-th smallest.
    fn exact(sorted: &[f64], q: f64) -> f64 {
        #[allow(
            clippy::cast_possible_truncation,
            clippy::cast_sign_loss,
            clippy::cast_precision_loss
        )]
        let k = ((q * sorted.len() as f64) - 1e-9).ceil().max(1.0) as usize;
        sorted[k.min(sorted.len()) - 1]
    }

    #[test]
    fn the_constant_is_one_over_ln_gamma() {
        assert!((INV_LN_GAMMA - 1.0 / GAMMA.ln()).abs() < 1e-12);
    }

    #[test]
    fn quantiles_are_within_one_percent() {
        let mut s = Sketch::new();
        let mut vs: Vec<f64> = (1..=10_000).map(|i| f64::from(i) * 0.37 - 500.0).collect();
        vs.push(0.0);
        s.extend(&vs);
        vs.sort_by(f64::total_cmp);
        for q in [0.0, 0.01, 0.25, 0.5, 0.9, 0.99, 0.999, 1.0] {
            let want = exact(&vs, q);
            let got = s.quantile(q).unwrap();
            assert!(
                (got - want).abs() <= ALPHA * want.abs() + 1e-12,
                "q {q}: {got} vs {want}"
            );
        }
        assert_eq!(Sketch::new().quantile(0.5), None);
    }

    #[test]
    fn encoding_round_trips_and_is_small() {
        let mut s = Sketch::new();
        for i in 1..=100_000u32 {
            // A latency-like spread: 1 ms .. ~3 s.
            s.add(f64::from(i % 3000 + 1) * (1.0 + f64::from(i % 7)));
        }
        s.add(-2.5);
        s.add(0.0);
        let mut buf = Vec::new();
        s.encode(&mut buf);
        let mut input = buf.as_slice();
        assert_eq!(Sketch::decode(&mut input), Some(s.clone()));
        assert!(input.is_empty());
        let buckets = s.buckets().count();
        assert!(
            buf.len() < buckets * 3,
            "{} bytes, {buckets} buckets",
            buf.len()
        );
        // Truncated input is refused, not misread.
        for cut in 0..buf.len() {
            let mut short = &buf[..cut];
            assert_eq!(Sketch::decode(&mut short), None, "cut at {cut}");
        }
    }

    #[test]
    fn collapsing_keeps_the_bound() {
        let mut s = Sketch::new();
        for e in -300..300 {
            s.add(10f64.powi(e));
        }
        assert!(s.pos.counts.len() <= MAX_BUCKETS);
        assert_eq!(s.count(), 600);
        // The top of the range keeps its accuracy.
        let top = s.quantile(1.0).unwrap();
        assert!((top / 1e299 - 1.0).abs() <= ALPHA, "{top}");
    }
}
