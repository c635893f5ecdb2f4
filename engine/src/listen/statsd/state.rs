//! What StatsD keeps between datagrams, and the parsed lines turned into engine
//! updates with it: set members per interval, gauge values within a batch.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use super::parse::{INLINE, Kind, Parsed, parse_line};
use crate::Action;
use crate::batch::{Batch, Update};
use crate::listen::keys::short;
use crate::listen::metrics::{LineError, Reject};
use crate::listen::tags::TagConfig;

/// What StatsD keeps between datagrams: the distinct members of each set in the current
/// interval, bounded; gauge values of the batch being built, so that several deltas
/// to one gauge in one batch add up; and the names of the gauges seen, so that each
/// closed interval has their value (Etsy's `deleteGauges: false`), bounded.
#[derive(Debug)]
pub struct Statsd {
    max_depth: usize,
    max_members: usize,
    max_sets: usize,
    max_gauges: usize,
    interval: i64,
    members: usize,
    sets: HashMap<String, HashSet<u64>>,
    gauges: HashMap<String, f64>,
    kept: HashSet<String>,
    not_kept: u64,
    tags: TagConfig,
    tags_dropped: u64,
}

impl Statsd {
    /// State with bounds: `max_members` set members in total and `max_sets` set names,
    /// per interval.
    pub fn new(max_depth: usize, max_members: usize, max_sets: usize) -> Statsd {
        Statsd {
            max_depth,
            max_members,
            max_sets,
            max_gauges: 0,
            interval: i64::MIN,
            members: 0,
            sets: HashMap::new(),
            gauges: HashMap::new(),
            kept: HashSet::new(),
            not_kept: 0,
            tags: TagConfig::default(),
            tags_dropped: 0,
        }
    }

    /// Places tags by `tags` (the default drops them all, counted).
    #[must_use]
    pub fn with_tags(mut self, tags: TagConfig) -> Statsd {
        self.tags = tags;
        self
    }

    /// Tags dropped since the last call (the count is reset).
    pub fn take_tags_dropped(&mut self) -> u64 {
        std::mem::take(&mut self.tags_dropped)
    }

    /// Keeps the names of up to `max` gauges (0: none), for [`Statsd::carry_gauges`].
    #[must_use]
    pub fn keeping_gauges(mut self, max: usize) -> Statsd {
        self.max_gauges = max;
        self
    }

    /// Appends to `batch` the current value of every gauge kept, as `current` reads it
    /// from the tree, so that the interval just opened has it even if no line sets it
    /// (Etsy flushes every gauge it knows at every flush). A gauge whose leaf is gone
    /// (deleted, or turned into a branch) is forgotten. Returns the number appended.
    pub fn carry_gauges(
        &mut self,
        batch: &mut Batch,
        current: impl Fn(&str) -> Option<f64>,
    ) -> usize {
        let before = batch.len();
        self.kept.retain(|path| {
            let Some(v) = current(path) else {
                return false;
            };
            batch.push(Update::Sample {
                path: path.clone(),
                value: v,
                action: Some(Action::Last),
                ts: None,
            });
            true
        });
        batch.len() - before
    }

    /// Gauges kept now.
    pub fn kept_gauges(&self) -> usize {
        self.kept.len()
    }

    /// Gauge lines whose gauge could not be kept because `max` of
    /// [`Statsd::keeping_gauges`] was reached, since the last call (the count is reset).
    pub fn take_not_kept(&mut self) -> u64 {
        std::mem::take(&mut self.not_kept)
    }

    /// Starts a batch; `interval` is the start of the current interval (sets reset
    /// when it changes).
    pub fn begin(&mut self, interval: i64) {
        self.gauges.clear();
        if interval != self.interval {
            self.interval = interval;
            self.sets.clear();
            self.members = 0;
        }
    }

    /// Parses one line and appends its updates to `batch`. `current` reads a gauge's
    /// value from the tree (for `+`/`-` deltas). Returns the number of updates added.
    ///
    /// # Errors
    /// As [`parse_line`], plus `SetFull` past the set bounds; nothing is added then.
    pub fn add_line(
        &mut self,
        line: &str,
        batch: &mut Batch,
        current: impl Fn(&str) -> Option<f64>,
    ) -> Result<usize, LineError> {
        let Parsed {
            path,
            tags,
            inline,
            len,
            spill,
        } = parse_line(line, self.max_depth)?;
        let (path, dropped) = self.tags.apply(path, tags)?;
        if !tags.is_empty() && path.split(',').count() > self.max_depth {
            return Err(LineError::new(
                Reject::TooDeep,
                format!(
                    "{} with its tags has more than {} levels",
                    short(&path),
                    self.max_depth
                ),
            ));
        }
        let values = || inline[..len.min(INLINE)].iter().chain(spill.iter());
        // Everything that can refuse the line is checked before anything is added.
        for m in values().filter(|m| m.kind == Kind::Set) {
            let known = self.sets.get(&path);
            if known.is_none() && self.sets.len() >= self.max_sets {
                return Err(LineError::new(
                    Reject::SetFull,
                    format!("more than {} sets in this interval", self.max_sets),
                ));
            }
            if self.members >= self.max_members
                && !known.is_some_and(|s| s.contains(&hash(m.member)))
            {
                return Err(LineError::new(
                    Reject::SetFull,
                    format!(
                        "more than {} set members in this interval",
                        self.max_members
                    ),
                ));
            }
        }
        // `1e308|c|@0.5` counts 1e308 * 2 = inf: refused here, alone, so it never
        // reaches a batch (or a fold) with other senders' lines.
        if values().any(|m| m.kind == Kind::Counter && !scaled(m.value, m.rate).is_finite()) {
            return Err(LineError::new(
                Reject::BadValue,
                format!(
                    "counter {} divided by its sample rate is not finite",
                    short(&path)
                ),
            ));
        }
        let mut gauges = Vec::new();
        let mut cur: Option<f64> = None;
        for m in values().filter(|m| m.kind == Kind::Gauge) {
            let v = if m.delta {
                let base = cur
                    .or_else(|| self.gauges.get(&path).copied())
                    .or_else(|| current(&path))
                    .unwrap_or(0.0);
                base + m.value
            } else {
                m.value
            };
            if !v.is_finite() {
                return Err(LineError::new(
                    Reject::BadValue,
                    format!("gauge {} overflows", short(&path)),
                ));
            }
            gauges.push(v);
            cur = Some(v);
        }
        if let Some(v) = cur {
            self.gauges.insert(path.clone(), v);
            if self.max_gauges > 0 && !self.kept.contains(&path) {
                if self.kept.len() < self.max_gauges {
                    self.kept.insert(path.clone());
                } else {
                    self.not_kept += 1;
                }
            }
        }
        let mut gauges = gauges.into_iter();
        let mut last = None;
        for m in values() {
            let (value, action) = match m.kind {
                Kind::Counter => (scaled(m.value, m.rate), Action::Add),
                Kind::Timer | Kind::Histogram => (m.value, Action::Histogram),
                Kind::Gauge => (gauges.next().unwrap_or(m.value), Action::Last),
                Kind::Set => {
                    let set = self.sets.entry(path.clone()).or_default();
                    if set.insert(hash(m.member)) {
                        self.members += 1;
                    }
                    (count(set.len()), Action::Last)
                }
            };
            // A sampled timer line counts 1 / rate in Etsy's `count`: it goes alone.
            if matches!(m.kind, Kind::Timer | Kind::Histogram) && m.rate < 1.0 {
                batch.push(Update::Weighted {
                    path: path.clone(),
                    value,
                    weight: 1.0 / m.rate,
                });
                continue;
            }
            if let Some((value, action)) = last.replace((value, action)) {
                batch.push(Update::Sample {
                    path: path.clone(),
                    value,
                    action: Some(action),
                    ts: None,
                });
            }
        }
        self.tags_dropped += dropped as u64;
        // The last value takes the path without a copy.
        if let Some((value, action)) = last {
            batch.push(Update::Sample {
                path,
                value,
                action: Some(action),
                ts: None,
            });
        }
        Ok(len)
    }
}

/// A counter's value scaled by its sample rate as Etsy's statsd does it, `value *
/// (1 / rate)`: `3|c|@0.9` counts 3.3333333333333335 there, where `3 / 0.9` would be
/// 3.333333333333333 (acceptance 1 of issue 15 compares the bits).
fn scaled(value: f64, rate: f64) -> f64 {
    value * (1.0 / rate)
}

fn hash(member: &str) -> u64 {
    let mut h = DefaultHasher::new();
    member.hash(&mut h);
    h.finish()
}

#[allow(clippy::cast_precision_loss)] // set sizes are bounded far below 2^53
fn count(n: usize) -> f64 {
    n as f64
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::listen::Reject;

    fn sample(u: &Update) -> (&str, f64, Option<Action>) {
        match u {
            Update::Sample {
                path,
                value,
                action,
                ..
            } => (path.as_str(), *value, *action),
            other => panic!("a sample expected, got {other:?}"),
        }
    }

    #[test]
    fn updates_follow_etsy_semantics() {
        let mut s = Statsd::new(32, 100, 10);
        let mut b = Batch::new();
        s.begin(0);
        s.add_line("c:5|c|@0.5", &mut b, |_| None).unwrap();
        s.add_line("g:+3|g", &mut b, |_| Some(10.0)).unwrap();
        s.add_line("g:-1|g", &mut b, |_| Some(10.0)).unwrap();
        s.add_line("m:1|c:2|g:+1|g", &mut b, |_| None).unwrap();
        s.add_line("t:7|ms", &mut b, |_| None).unwrap();
        s.add_line("u:a|s", &mut b, |_| None).unwrap();
        s.add_line("u:b|s", &mut b, |_| None).unwrap();
        s.add_line("u:a|s", &mut b, |_| None).unwrap();
        let got: Vec<_> = b.updates().iter().map(sample).collect();
        assert_eq!(
            got,
            [
                ("c", 10.0, Some(Action::Add)),
                ("g", 13.0, Some(Action::Last)),
                ("g", 12.0, Some(Action::Last)),
                ("m", 1.0, Some(Action::Add)),
                ("m", 2.0, Some(Action::Last)),
                ("m", 3.0, Some(Action::Last)),
                ("t", 7.0, Some(Action::Histogram)),
                ("u", 1.0, Some(Action::Last)),
                ("u", 2.0, Some(Action::Last)),
                ("u", 2.0, Some(Action::Last)),
            ]
        );
        // A sampled timer line counts 1 / rate in Etsy's `count`: a weighted update.
        let mut b = Batch::new();
        s.add_line("t:7|ms|@0.25", &mut b, |_| None).unwrap();
        s.add_line("h:2|h|@0.5", &mut b, |_| None).unwrap();
        assert_eq!(
            b.updates(),
            [
                Update::Weighted {
                    path: "t".into(),
                    value: 7.0,
                    weight: 4.0
                },
                Update::Weighted {
                    path: "h".into(),
                    value: 2.0,
                    weight: 2.0
                },
            ]
        );
        // A new interval starts the sets afresh.
        s.begin(10);
        let mut b = Batch::new();
        s.add_line("u:a|s", &mut b, |_| None).unwrap();
        assert_eq!(sample(&b.updates()[0]).1, 1.0);
    }

    #[test]
    fn gauges_are_kept_bounded_and_forgotten_when_gone() {
        let mut s = Statsd::new(32, 100, 10).keeping_gauges(2);
        let mut b = Batch::new();
        s.begin(0);
        for line in ["a:1|g", "b:+2|g", "a:3|g", "c:4|g", "c:5|g", "n:1|c"] {
            s.add_line(line, &mut b, |_| None).unwrap();
        }
        assert_eq!((s.kept_gauges(), s.take_not_kept()), (2, 2));
        assert_eq!(s.take_not_kept(), 0);
        let mut carried = Batch::new();
        let n = s.carry_gauges(&mut carried, |p| (p == "a").then_some(3.0));
        assert_eq!(n, 1);
        assert_eq!(
            carried.updates().iter().map(sample).collect::<Vec<_>>(),
            [("a", 3.0, Some(Action::Last))]
        );
        // `b` had no leaf: forgotten, which makes room.
        assert_eq!(s.kept_gauges(), 1);
        s.add_line("c:6|g", &mut b, |_| None).unwrap();
        assert_eq!(s.kept_gauges(), 2);
        // Nothing is kept by default.
        let mut s = Statsd::new(32, 100, 10);
        s.add_line("a:1|g", &mut b, |_| None).unwrap();
        assert_eq!((s.kept_gauges(), s.take_not_kept()), (0, 0));
    }

    #[test]
    fn tags_make_levels_by_the_template() {
        let tags: TagConfig = toml::from_str("template = [\"host\"]").unwrap();
        let mut s = Statsd::new(4, 100, 10).with_tags(tags);
        let mut b = Batch::new();
        s.begin(0);
        s.add_line("api.lat:5|ms|#host:web1,env:prod", &mut b, |_| None)
            .unwrap();
        s.add_line("api.hits;host=web2:1|c", &mut b, |_| None)
            .unwrap();
        s.add_line("api.hits:1|c", &mut b, |_| None).unwrap();
        let got: Vec<_> = b.updates().iter().map(sample).collect();
        assert_eq!(
            got,
            [
                ("api,web1,lat", 5.0, Some(Action::Histogram)),
                ("api,web2,hits", 1.0, Some(Action::Add)),
                ("api,hits", 1.0, Some(Action::Add)),
            ]
        );
        assert_eq!(s.take_tags_dropped(), 1);
        // Depth counts the tag levels; a refused line counts no dropped tag.
        let e = s.add_line("a.b.c.d:1|c|#host:h,x:1", &mut b, |_| None);
        assert_eq!(e.unwrap_err().reason, Reject::TooDeep);
        assert_eq!(s.take_tags_dropped(), 0);
        // Without a template, tags are dropped and counted; the path is unchanged.
        let mut s = Statsd::new(32, 100, 10);
        let mut b = Batch::new();
        s.add_line("x:1|c|#a:1,b:2", &mut b, |_| None).unwrap();
        assert_eq!(sample(&b.updates()[0]).0, "x");
        assert_eq!(s.take_tags_dropped(), 2);
    }

    #[test]
    fn sets_are_bounded() {
        let mut s = Statsd::new(32, 3, 2);
        let mut b = Batch::new();
        s.begin(0);
        for m in ["a", "b", "c"] {
            s.add_line(&format!("u:{m}|s"), &mut b, |_| None).unwrap();
        }
        assert_eq!(
            s.add_line("u:d|s", &mut b, |_| None).unwrap_err().reason,
            Reject::SetFull
        );
        // A member already known still counts.
        s.add_line("u:a|s", &mut b, |_| None).unwrap();
        s.add_line("v:a|s", &mut b, |_| None).unwrap_err();
        let mut s = Statsd::new(32, 100, 1);
        s.begin(0);
        s.add_line("u:a|s", &mut b, |_| None).unwrap();
        assert_eq!(
            s.add_line("v:a|s", &mut b, |_| None).unwrap_err().reason,
            Reject::SetFull
        );
    }

    #[test]
    fn a_refused_line_adds_nothing() {
        let mut s = Statsd::new(32, 100, 10);
        let mut b = Batch::new();
        s.begin(0);
        assert!(s.add_line("x:1|c:oops|c", &mut b, |_| None).is_err());
        assert!(
            s.add_line("x:1|c:+1e308|g:+1e308|g", &mut b, |_| Some(1.7e308))
                .is_err()
        );
        assert!(b.is_empty());
        assert_eq!(
            s.add_line("g:+1e308|g", &mut b, |_| Some(1.7e308))
                .unwrap_err()
                .reason,
            Reject::BadValue
        );
    }
}
