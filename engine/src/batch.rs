//! [`Batch`]: flat updates, the form that line protocols and pipes build, validated
//! whole and applied atomically like a JSON push.

use crate::Action;
use crate::error::{Error, ErrorKind};
use crate::path::{SEP, check_path};

/// One flat update in a [`Batch`].
#[derive(Debug, Clone, PartialEq)]
pub enum Update {
    /// A sample now, or at a time stamp (unix seconds).
    Sample {
        /// Comma-joined keys.
        path: String,
        /// The sample.
        value: f64,
        /// Applied to every node the update creates or touches, like a push's
        /// `default_action`.
        action: Option<Action>,
        /// Time stamp; `None` is now.
        ts: Option<i64>,
    },
    /// Samples already folded elsewhere (a pipe's interval, a relay): merged whole, so
    /// a mean over a million samples costs one update and stays exact.
    Stats {
        /// Comma-joined keys.
        path: String,
        /// The folded samples; `last` is taken as the newest.
        stats: crate::Stats,
        /// As for [`Update::Sample`].
        action: Option<Action>,
    },
    /// Samples of one path now, in order, merged as if each were an
    /// [`Update::Sample`] but for one walk of the path: the form line protocols fold a
    /// batch's repeated names into, and how a `histogram` leaf takes many samples at
    /// once (each one reaches its sketch, which an [`Update::Stats`] cannot do).
    Samples {
        /// Comma-joined keys.
        path: String,
        /// The samples; each non-finite one is refused alone.
        values: Vec<f64>,
        /// As for [`Update::Sample`].
        action: Option<Action>,
    },
    /// A histogram sample now that counts `weight` times in the interval's `count`
    /// and `count_ps` (and once in every other stat): a StatsD timer line with a sample
    /// rate, whose `count` Etsy's statsd raises by `1 / rate`. The leaf takes the
    /// `histogram` action (a leaf of another action takes the value as a sample).
    Weighted {
        /// Comma-joined keys.
        path: String,
        /// The sample.
        value: f64,
        /// How much it counts (`1 / rate`); finite and positive.
        weight: f64,
    },
    /// Histogram samples of one path now, in order, each with the weight it counts in
    /// `count` (as [`Update::Weighted`]; 1 for an unsampled line): the form the line
    /// protocols fold a batch's timer lines of one name into when some are sampled, so
    /// that they cost one walk of the path and one sketch merge, not one each. The
    /// leaf ends as if each were merged alone, its weighed `count` summed in order.
    WeightedSamples {
        /// Comma-joined keys.
        path: String,
        /// `(sample, weight)`: each non-finite sample is refused alone; a weight that
        /// is not finite and positive counts 1.
        samples: Vec<(f64, f64)>,
    },
    /// An annotation at a path.
    Marker {
        /// Comma-joined keys.
        path: String,
        /// The text.
        text: String,
    },
}

impl Update {
    /// The path the update goes to.
    pub fn path(&self) -> &str {
        match self {
            Update::Sample { path, .. }
            | Update::Stats { path, .. }
            | Update::Samples { path, .. }
            | Update::Weighted { path, .. }
            | Update::WeightedSamples { path, .. }
            | Update::Marker { path, .. } => path,
        }
    }
}

/// Flat updates built by line protocols and pipes, applied atomically.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Batch {
    pub(crate) updates: Vec<Update>,
}

impl Batch {
    /// An empty batch.
    pub fn new() -> Batch {
        Batch::default()
    }

    /// A sample now at `path` (comma-joined keys; checked when applied).
    pub fn sample(&mut self, path: &str, value: f64, action: Option<Action>) {
        self.updates.push(Update::Sample {
            path: path.to_string(),
            value,
            action,
            ts: None,
        });
    }

    /// A sample at time stamp `ts` (unix seconds).
    pub fn sample_at(&mut self, path: &str, ts: i64, value: f64, action: Option<Action>) {
        self.updates.push(Update::Sample {
            path: path.to_string(),
            value,
            action,
            ts: Some(ts),
        });
    }

    /// Samples folded elsewhere, merged whole at `path` (see [`Update::Stats`]).
    pub fn stats(&mut self, path: &str, stats: crate::Stats, action: Option<Action>) {
        self.updates.push(Update::Stats {
            path: path.to_string(),
            stats,
            action,
        });
    }

    /// Samples now at `path`, merged in one walk (see [`Update::Samples`]).
    pub fn samples(&mut self, path: &str, values: &[f64], action: Option<Action>) {
        self.updates.push(Update::Samples {
            path: path.to_string(),
            values: values.to_vec(),
            action,
        });
    }

    /// An annotation at `path`.
    pub fn marker(&mut self, path: &str, text: &str) {
        self.updates.push(Update::Marker {
            path: path.to_string(),
            text: text.to_string(),
        });
    }

    /// Appends an update.
    pub fn push(&mut self, update: Update) {
        self.updates.push(update);
    }

    /// The updates, in order.
    pub fn updates(&self) -> &[Update] {
        &self.updates
    }

    /// Number of updates.
    pub fn len(&self) -> usize {
        self.updates.len()
    }

    /// Whether the batch is empty.
    pub fn is_empty(&self) -> bool {
        self.updates.is_empty()
    }

    /// Checks every path: a bad key or depth refuses the whole batch, as it does a JSON push
    /// (docs/CONCEPTS.md, "The push format"). Values are not refused here: a sample that is
    /// not finite (or would make a total non-finite) is skipped alone when merged, and
    /// counted in [`PushSummary::refused_nonfinite`](crate::PushSummary).
    ///
    /// # Errors
    /// `BadKey` naming the key, `TooDeep`.
    pub fn validate(&self, max_depth: usize) -> Result<(), Error> {
        for u in &self.updates {
            check_path(u.path())?;
            if u.path().split(SEP).count() > max_depth {
                return Err(Error::new(
                    ErrorKind::TooDeep,
                    format!("path {:?} is deeper than {max_depth} levels", u.path()),
                ));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn batch_validation_names_the_key() {
        let mut b = Batch::new();
        b.sample("a,b", 1.0, None);
        b.sample("a,\u{7}", 1.0, None);
        let e = b.validate(32).unwrap_err();
        assert!(e.message().contains("U+0007"), "{e}");
        // A value is never a reason to refuse the batch: the merge skips it alone.
        let mut b = Batch::new();
        b.sample("a", f64::NAN, None);
        assert!(b.validate(32).is_ok());
    }
}
