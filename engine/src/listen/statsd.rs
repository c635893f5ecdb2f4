//! StatsD lines (`name:value|type[|@rate][|#tags]`) parsed and turned into engine
//! updates, as Etsy's statsd reads them.
//!
//! - Several lines per datagram, separated by `\n` (a `\r` before it is dropped).
//! - Several values per line, as Etsy's statsd accepts: `name:1|c:5|ms`; a bare
//!   `name` counts as `name:1|c`.
//! - Dots in the name become tree levels; a `,` or control character in a key refuses
//!   the line (it is never rewritten).
//! - `c` -> `add` of `value / rate`; `g` -> `last`, a leading `+` or `-` is a delta on
//!   the gauge's current value (0 when it has none yet); `ms` and `h` -> `average` (the
//!   rate does not change a mean and is ignored); `s` -> the number of distinct members
//!   seen in the current interval, sent with action `last` (members are kept as 64-bit
//!   hashes, bounded in number).
//! - `|#tags` are accepted and ignored: the tree has no tag dimension, and mapping
//!   tags into keys (as Etsy does with `;tag=value`) would explode the tree.
//! - A line with any bad part is refused whole and counted; the other lines of the
//!   datagram are kept.

use std::collections::{HashMap, HashSet};
use std::hash::{DefaultHasher, Hash, Hasher};

use super::keys::{dotted_path_depth, finite, short};
use super::metrics::{LineError, Reject};
use crate::Action;
use crate::push::{Batch, Update};

/// A StatsD metric type.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// `c`
    Counter,
    /// `g`
    Gauge,
    /// `ms`
    Timer,
    /// `h`
    Histogram,
    /// `s`
    Set,
}

/// One parsed value of a line (a line may hold several: `name:1|c:2|ms`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Value<'a> {
    /// The type.
    pub kind: Kind,
    /// The number (for sets: 0).
    pub value: f64,
    /// A gauge value written with a leading sign: a delta.
    pub delta: bool,
    /// A set member.
    pub member: &'a str,
    /// Sample rate, in (0, 1].
    pub rate: f64,
}

impl Value<'_> {
    /// A bare name counts one.
    const ONE: Value<'static> = Value {
        kind: Kind::Counter,
        value: 1.0,
        delta: false,
        member: "",
        rate: 1.0,
    };
}

/// Values kept inline; lines with more than this many values spill to the heap.
const INLINE: usize = 4;

/// A parsed line: its tree path and its values, without a heap allocation for the
/// values in the common case (the hot path runs this a million times a second).
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed<'a> {
    /// Comma-joined tree path.
    pub path: String,
    inline: [Value<'a>; INLINE],
    len: usize,
    spill: Vec<Value<'a>>,
}

impl<'a> Parsed<'a> {
    /// The values, in line order.
    pub fn values(&self) -> impl Iterator<Item = &Value<'a>> {
        self.inline[..self.len.min(INLINE)]
            .iter()
            .chain(self.spill.iter())
    }

    /// Number of values.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Never true: a line without values counts one.
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    fn push(&mut self, v: Value<'a>) {
        if self.len < INLINE {
            self.inline[self.len] = v;
        } else {
            self.spill.push(v);
        }
        self.len += 1;
    }
}

/// Parses one line (without its `\n`).
///
/// # Errors
/// `BadLine` for syntax, `BadKey` naming the key, `BadValue` for a value or rate that
/// is not a finite number (or a rate outside (0, 1]), `TooDeep` past `max_depth`.
pub fn parse_line(line: &str, max_depth: usize) -> Result<Parsed<'_>, LineError> {
    // Tags are rare: look for `#` (a fast byte search) before looking for `|#`.
    let body = match line.find('#').and_then(|_| line.find("|#")) {
        Some(i) => &line[..i],
        None => line,
    };
    let (name, mut rest) = match body.find(':') {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let name = name.trim();
    if name.is_empty() {
        return Err(LineError::new(
            Reject::BadLine,
            format!("no metric name in {}", short(line)),
        ));
    }
    let (path, depth) = dotted_path_depth(name)?;
    if depth > max_depth {
        return Err(LineError::new(
            Reject::TooDeep,
            format!("name {} has more than {max_depth} levels", short(name)),
        ));
    }
    let mut parsed = Parsed {
        path,
        inline: [Value::ONE; INLINE],
        len: 0,
        spill: Vec::new(),
    };
    while let Some(r) = rest {
        let (part, next) = match r.find(':') {
            Some(i) => (&r[..i], Some(&r[i + 1..])),
            None => (r, None),
        };
        parsed.push(parse_value(part, line)?);
        rest = next;
    }
    if parsed.len == 0 {
        parsed.push(Value::ONE);
    }
    Ok(parsed)
}

fn parse_value<'a>(part: &'a str, line: &str) -> Result<Value<'a>, LineError> {
    let mut fields = part.split('|');
    let value = fields.next().unwrap_or_default().trim();
    let kind = match fields.next().map(str::trim) {
        Some("c") => Kind::Counter,
        Some("g") => Kind::Gauge,
        Some("ms") => Kind::Timer,
        Some("h") => Kind::Histogram,
        Some("s") => Kind::Set,
        Some(other) => {
            return Err(LineError::new(
                Reject::BadLine,
                format!("unknown type {} in {}", short(other), short(line)),
            ));
        }
        None => {
            return Err(LineError::new(
                Reject::BadLine,
                format!("no |type in {}", short(line)),
            ));
        }
    };
    let rate = match fields.next() {
        None => 1.0,
        Some(r) => {
            let Some(r) = r.trim().strip_prefix('@') else {
                return Err(LineError::new(
                    Reject::BadLine,
                    format!("expected |@rate in {}", short(line)),
                ));
            };
            let r = finite(r, "sample rate")?;
            if !(r > 0.0 && r <= 1.0) {
                return Err(LineError::new(
                    Reject::BadValue,
                    format!("sample rate {r} is not in (0, 1]"),
                ));
            }
            r
        }
    };
    if fields.next().is_some() {
        return Err(LineError::new(
            Reject::BadLine,
            format!("too many | fields in {}", short(line)),
        ));
    }
    let mut m = Value {
        kind,
        value: 0.0,
        delta: false,
        member: "",
        rate,
    };
    match kind {
        Kind::Set => {
            if value.is_empty() {
                return Err(LineError::new(
                    Reject::BadValue,
                    format!("empty set member in {}", short(line)),
                ));
            }
            m.member = value;
        }
        Kind::Counter if value.is_empty() => m.value = 1.0,
        _ => {
            m.value = finite(value, "value")?;
            m.delta = kind == Kind::Gauge && (value.starts_with('+') || value.starts_with('-'));
        }
    }
    Ok(m)
}

/// What StatsD keeps between datagrams: the distinct members of each set in the current
/// interval, bounded; and gauge values of the batch being built, so that several deltas
/// to one gauge in one batch add up.
#[derive(Debug)]
pub struct Statsd {
    max_depth: usize,
    max_members: usize,
    max_sets: usize,
    interval: i64,
    members: usize,
    sets: HashMap<String, HashSet<u64>>,
    gauges: HashMap<String, f64>,
}

impl Statsd {
    /// State with bounds: `max_members` set members in total and `max_sets` set names,
    /// per interval.
    pub fn new(max_depth: usize, max_members: usize, max_sets: usize) -> Statsd {
        Statsd {
            max_depth,
            max_members,
            max_sets,
            interval: i64::MIN,
            members: 0,
            sets: HashMap::new(),
            gauges: HashMap::new(),
        }
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
            inline,
            len,
            spill,
        } = parse_line(line, self.max_depth)?;
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
        // `1e308|c|@0.5` counts 1e308 / 0.5 = inf: refused here, alone, so it never
        // reaches a batch (or a fold) with other senders' lines.
        if values().any(|m| m.kind == Kind::Counter && !(m.value / m.rate).is_finite()) {
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
        }
        let mut gauges = gauges.into_iter();
        let mut last = None;
        for m in values() {
            let (value, action) = match m.kind {
                Kind::Counter => (m.value / m.rate, Action::Add),
                Kind::Timer | Kind::Histogram => (m.value, Action::Average),
                Kind::Gauge => (gauges.next().unwrap_or(m.value), Action::Last),
                Kind::Set => {
                    let set = self.sets.entry(path.clone()).or_default();
                    if set.insert(hash(m.member)) {
                        self.members += 1;
                    }
                    (count(set.len()), Action::Last)
                }
            };
            if let Some((value, action)) = last.replace((value, action)) {
                batch.push(Update::Sample {
                    path: path.clone(),
                    value,
                    action: Some(action),
                    ts: None,
                });
            }
        }
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

    fn one(line: &str) -> (String, Value<'_>) {
        let p = parse_line(line, 32).unwrap();
        assert_eq!(p.len(), 1, "{line}");
        let v = *p.values().next().unwrap();
        (p.path, v)
    }

    #[test]
    fn types_rates_and_tags() {
        let (path, m) = one("gorets:1|c");
        assert_eq!(
            (path.as_str(), m.kind, m.value, m.rate),
            ("gorets", Kind::Counter, 1.0, 1.0)
        );
        let (path, m) = one("a.b.c:2|c|@0.1");
        assert_eq!((path.as_str(), m.rate), ("a,b,c", 0.1));
        let (_, m) = one("glork:320|ms|@0.5|#env:prod,host:a");
        assert_eq!((m.kind, m.value), (Kind::Timer, 320.0));
        assert_eq!(one("h:3|h").1.kind, Kind::Histogram);
        let (_, m) = one("gaugor:-10|g");
        assert!(m.delta && m.value == -10.0);
        assert!(!one("gaugor:10|g").1.delta);
        assert_eq!(one("uniques:765|s").1.member, "765");
        assert_eq!(one("bare").1.value, 1.0);
        assert_eq!(one("empty:|c").1.value, 1.0);
        assert_eq!(one("hash#tag:1|c").0, "hash#tag");
        let p = parse_line("multi:1|c:2|c:5|ms", 32).unwrap();
        assert_eq!(p.len(), 3);
        assert_eq!(p.values().nth(2).unwrap().kind, Kind::Timer);
        let p = parse_line("many:1|c:2|c:3|c:4|c:5|c:6|c", 32).unwrap();
        let vals: Vec<f64> = p.values().map(|v| v.value).collect();
        assert_eq!(vals, [1.0, 2.0, 3.0, 4.0, 5.0, 6.0]);
    }

    #[test]
    fn bad_lines() {
        for (line, reason) in [
            ("x:1|q", Reject::BadLine),
            ("x:1", Reject::BadLine),
            (":1|c", Reject::BadLine),
            ("x:1|c|0.5", Reject::BadLine),
            ("x:1|c|@0.5|extra", Reject::BadLine),
            ("x:1|c|@0", Reject::BadValue),
            ("x:1|c|@2", Reject::BadValue),
            ("x:abc|c", Reject::BadValue),
            ("x:NaN|g", Reject::BadValue),
            ("x:inf|ms", Reject::BadValue),
            ("x:|s", Reject::BadValue),
            ("a,b:1|c", Reject::BadKey),
            ("a..b:1|c", Reject::BadKey),
            ("a\u{1}b:1|c", Reject::BadKey),
            ("x:1|c:2|zz", Reject::BadLine),
        ] {
            assert_eq!(parse_line(line, 32).unwrap_err().reason, reason, "{line}");
        }
        let deep = format!("{}:1|c", vec!["k"; 40].join("."));
        assert_eq!(parse_line(&deep, 32).unwrap_err().reason, Reject::TooDeep);
    }

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
                ("t", 7.0, Some(Action::Average)),
                ("u", 1.0, Some(Action::Last)),
                ("u", 2.0, Some(Action::Last)),
                ("u", 2.0, Some(Action::Last)),
            ]
        );
        // A new interval starts the sets afresh.
        s.begin(10);
        let mut b = Batch::new();
        s.add_line("u:a|s", &mut b, |_| None).unwrap();
        assert_eq!(sample(&b.updates()[0]).1, 1.0);
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
