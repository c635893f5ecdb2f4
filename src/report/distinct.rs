//! Counting distinct things (unique visitors, unique URLs) in bounded memory: an exact
//! set of 64-bit hashes up to a bound, then a HyperLogLog (Flajolet et al. 2007, with
//! the linear-counting correction for small cardinalities) of precision `p`.
//!
//! Exact below the bound (two different keys share a 64-bit SipHash with probability
//! about n² / 2⁶⁵: none in practice); past it the estimate has a relative standard
//! error of `1.04 / sqrt(2^p)`, [`Distinct::std_error`]. Merging (per file, per thread)
//! is exact for sets, and register-wise maximum for sketches, so the merge of the parts
//! equals the sketch of the whole.

use std::collections::HashSet;
use std::hash::{BuildHasher, BuildHasherDefault, DefaultHasher, Hash};

/// Hashes keys the same way in every run and thread (fixed SipHash keys), so sets and
/// sketches of different files merge.
pub fn hash_of(key: impl Hash) -> u64 {
    BuildHasherDefault::<DefaultHasher>::default().hash_one(key)
}

/// A set of hashes, or once past its bound a HyperLogLog.
#[derive(Debug, Clone)]
pub enum Distinct {
    /// Every hash seen (at most `bound`).
    Exact {
        /// The hashes.
        set: HashSet<u64, BuildHasherDefault<IdHasher>>,
        /// Most hashes kept before switching.
        bound: usize,
        /// The HyperLogLog precision to switch to.
        p: u8,
    },
    /// `2^p` registers of the largest leading-zero rank seen.
    Sketch {
        /// The registers.
        regs: Box<[u8]>,
        /// Precision.
        p: u8,
    },
}

/// The hashes are already uniform: the set uses them as they are.
#[derive(Debug, Clone, Copy, Default)]
pub struct IdHasher(u64);

impl std::hash::Hasher for IdHasher {
    fn finish(&self) -> u64 {
        self.0
    }
    fn write(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.0 = (self.0 << 8) | u64::from(*b);
        }
    }
    fn write_u64(&mut self, v: u64) {
        self.0 = v;
    }
}

impl Distinct {
    /// Exact up to `bound` distinct hashes, then a sketch of precision `p` (4 to 18).
    pub fn new(bound: usize, p: u8) -> Distinct {
        Distinct::Exact {
            set: HashSet::default(),
            bound,
            p: p.clamp(4, 18),
        }
    }

    /// The relative standard error of a sketch of precision `p`: `1.04 / sqrt(2^p)`.
    pub fn std_error(p: u8) -> f64 {
        1.04 / f64::from(1u32 << p).sqrt()
    }

    /// Counts one hash.
    pub fn insert(&mut self, h: u64) {
        match self {
            Distinct::Exact { set, bound, p } => {
                set.insert(h);
                if set.len() > *bound {
                    let mut regs = vec![0u8; 1 << *p].into_boxed_slice();
                    for &h in set.iter() {
                        put(&mut regs, *p, h);
                    }
                    *self = Distinct::Sketch { regs, p: *p };
                }
            }
            Distinct::Sketch { regs, p } => put(regs, *p, h),
        }
    }

    /// True while the count is exact.
    pub fn is_exact(&self) -> bool {
        matches!(self, Distinct::Exact { .. })
    }

    /// The count (exact) or the estimate.
    pub fn count(&self) -> u64 {
        match self {
            Distinct::Exact { set, .. } => set.len() as u64,
            Distinct::Sketch { regs, .. } => estimate(regs),
        }
    }

    /// Adds `other`'s keys (both built with the same bound and precision).
    pub fn merge(&mut self, other: &Distinct) {
        match other {
            Distinct::Exact { set, .. } => {
                for &h in set {
                    self.insert(h);
                }
            }
            Distinct::Sketch { regs: theirs, p } => {
                if let Distinct::Exact { set, .. } = self {
                    let mut regs = vec![0u8; theirs.len()].into_boxed_slice();
                    for &h in set.iter() {
                        put(&mut regs, *p, h);
                    }
                    *self = Distinct::Sketch { regs, p: *p };
                }
                if let Distinct::Sketch { regs, .. } = self {
                    for (a, b) in regs.iter_mut().zip(theirs.iter()) {
                        *a = (*a).max(*b);
                    }
                }
            }
        }
    }

    /// Bytes held on the heap (about).
    pub fn heap_bytes(&self) -> usize {
        match self {
            Distinct::Exact { set, .. } => set.capacity() * 9,
            Distinct::Sketch { regs, .. } => regs.len(),
        }
    }
}

fn put(regs: &mut [u8], p: u8, h: u64) {
    // The top p bits pick the register, the rest give the rank.
    let idx = usize::try_from(h >> (64 - u32::from(p))).unwrap_or(0);
    let rest = (h << p) | (1u64 << (p - 1));
    let rank = u8::try_from(rest.leading_zeros() + 1).unwrap_or(u8::MAX);
    if regs[idx] < rank {
        regs[idx] = rank;
    }
}

// Register counts (at most 2^18) and estimates are far below 2^53.
#[allow(
    clippy::cast_precision_loss,
    clippy::cast_possible_truncation,
    clippy::cast_sign_loss
)]
fn estimate(regs: &[u8]) -> u64 {
    let m = regs.len() as f64;
    let alpha = match regs.len() {
        16 => 0.673,
        32 => 0.697,
        64 => 0.709,
        _ => 0.7213 / (1.0 + 1.079 / m),
    };
    let sum: f64 = regs.iter().map(|&r| (-f64::from(r)).exp2()).sum();
    let raw = alpha * m * m / sum;
    let zeros = regs.iter().filter(|&&r| r == 0).count();
    let e = if raw <= 2.5 * m && zeros > 0 {
        m * (m / zeros as f64).ln()
    } else {
        raw
    };
    e.round() as u64
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exact_below_the_bound() {
        let mut d = Distinct::new(1000, 12);
        for i in 0..1000u32 {
            d.insert(hash_of(i));
            d.insert(hash_of(i));
        }
        assert!(d.is_exact());
        assert_eq!(d.count(), 1000);
    }

    /// Past the bound the estimate stays within 3 standard errors (p = 14: 0.81 %, so
    /// 2.4 %) for every size tried; the hashes are deterministic, so is the test.
    #[test]
    fn estimate_within_three_standard_errors() {
        let p = 14;
        let tol = 3.0 * Distinct::std_error(p);
        for n in [20_000u64, 100_000, 400_000] {
            let mut d = Distinct::new(10_000, p);
            for i in 0..n {
                d.insert(hash_of(("visitor", i)));
            }
            assert!(!d.is_exact());
            #[allow(clippy::cast_precision_loss)]
            let err = (d.count() as f64 - n as f64).abs() / n as f64;
            assert!(err <= tol, "n {n}: estimate {} off by {err}", d.count());
        }
    }

    #[test]
    fn merging_parts_equals_the_whole() {
        let (mut a, mut b, mut whole) = (
            Distinct::new(100, 10),
            Distinct::new(100, 10),
            Distinct::new(100, 10),
        );
        for i in 0..5000u32 {
            let h = hash_of(i);
            whole.insert(h);
            if i % 3 == 0 { &mut a } else { &mut b }.insert(h);
        }
        a.merge(&b);
        assert_eq!(a.count(), whole.count());
        let mut small = Distinct::new(100, 10);
        small.insert(hash_of(1u32));
        small.merge(&Distinct::new(100, 10));
        assert_eq!(small.count(), 1);
    }
}
