//! The numbers a leaf keeps (sum, count, min, max, last) and how an action reads them.

use crate::Action;

/// The running aggregate of a set of samples.
///
/// Used both for a leaf's total since start and for its aggregate within one interval.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Stats {
    /// Sum of all samples.
    pub sum: f64,
    /// Number of samples.
    pub count: u64,
    /// Smallest sample.
    pub min: f64,
    /// Largest sample.
    pub max: f64,
    /// The newest sample (by time stamp; ties go to the later arrival).
    pub last: f64,
}

impl Default for Stats {
    fn default() -> Stats {
        Stats::EMPTY
    }
}

impl Stats {
    /// No samples yet.
    pub const EMPTY: Stats = Stats {
        sum: 0.0,
        count: 0,
        min: f64::INFINITY,
        max: f64::NEG_INFINITY,
        last: 0.0,
    };

    /// The aggregate of one sample.
    pub fn one(v: f64) -> Stats {
        Stats {
            sum: v,
            count: 1,
            min: v,
            max: v,
            last: v,
        }
    }

    /// Folds one sample in. `newest` says whether it is the newest seen so far (it
    /// then becomes `last`).
    #[inline]
    pub fn add(&mut self, v: f64, newest: bool) {
        self.sum += v;
        self.count += 1;
        self.min = self.min.min(v);
        self.max = self.max.max(v);
        if newest {
            self.last = v;
        }
    }

    /// Folds another aggregate in; `other` is taken to be newer.
    pub fn merge(&mut self, other: &Stats) {
        if other.count == 0 {
            return;
        }
        self.sum += other.sum;
        self.count += other.count;
        self.min = self.min.min(other.min);
        self.max = self.max.max(other.max);
        self.last = other.last;
    }

    /// The mean of the samples, 0 when there are none.
    pub fn mean(&self) -> f64 {
        if self.count == 0 {
            0.0
        } else if self.count == 1 {
            // The same number without a division (the read paths take a mean per
            // point, and most buckets of a gauge hold one sample).
            self.sum
        } else {
            // u64 -> f64 loses precision only above 2^53 samples.
            #[allow(clippy::cast_precision_loss)]
            let n = self.count as f64;
            self.sum / n
        }
    }

    /// The one value this aggregate reports under `action` (docs/CONCEPTS.md, "Actions").
    pub fn value(&self, action: Action) -> f64 {
        if self.count == 0 {
            return 0.0;
        }
        match action.scalar() {
            Action::Add => self.sum,
            Action::Average => self.mean(),
            Action::Max => self.max,
            Action::Min => self.min,
            Action::Last => self.last,
            Action::Histogram => self.mean(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn average_is_a_true_running_mean() {
        let mut s = Stats::EMPTY;
        for v in [30.0, 40.0, 50.0] {
            s.add(v, true);
        }
        assert_eq!(s.value(Action::Average), 40.0);
        assert_eq!(s.value(Action::Add), 120.0);
        assert_eq!(s.value(Action::Min), 30.0);
        assert_eq!(s.value(Action::Max), 50.0);
        assert_eq!(s.value(Action::Last), 50.0);
        assert_eq!(Stats::EMPTY.value(Action::Max), 0.0);
    }

    #[test]
    fn merge_keeps_every_field() {
        let mut a = Stats::one(1.0);
        let mut b = Stats::one(5.0);
        b.add(-2.0, true);
        a.merge(&b);
        assert_eq!(
            (a.sum, a.count, a.min, a.max, a.last),
            (4.0, 3, -2.0, 5.0, -2.0)
        );
    }
}
