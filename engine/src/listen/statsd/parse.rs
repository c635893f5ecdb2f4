//! StatsD lines (`name:value|type[|@rate][|#tags]`) parsed: a pure function of the line,
//! without state (see `mod.rs` for the protocol as a whole).

use crate::listen::keys::{dotted_path_depth, finite, short};
use crate::listen::metrics::{LineError, Reject};
use crate::listen::tags::{RawTags, split_name};

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
pub(crate) const INLINE: usize = 4;

/// A parsed line: its tree path and its values, without a heap allocation for the
/// values in the common case (the hot path runs this a million times a second).
#[derive(Debug, Clone, PartialEq)]
pub struct Parsed<'a> {
    /// Comma-joined tree path (of the name without its tags).
    pub path: String,
    /// The line's tags, as written (`;k=v` after the name, `|#k:v` after the values).
    pub tags: RawTags<'a>,
    pub(crate) inline: [Value<'a>; INLINE],
    pub(crate) len: usize,
    pub(crate) spill: Vec<Value<'a>>,
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
    let (body, dog) = match line.find('#').and_then(|_| line.find("|#")) {
        // DogStatsD tags run to the next `|` (a `|T<time>` or `|c:<container>` after
        // them is not read).
        Some(i) => (
            &line[..i],
            line[i + 2..].split('|').next().unwrap_or_default(),
        ),
        None => (line, ""),
    };
    let (name, mut rest) = match body.find(':') {
        Some(i) => (&body[..i], Some(&body[i + 1..])),
        None => (body, None),
    };
    let (name, graphite) = split_name(name.trim());
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
        tags: RawTags { dog, graphite },
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
        let p = parse_line("a.b;k=v;x=y:1|c|@0.5|#env:prod,host:a|T1700000000", 32).unwrap();
        assert_eq!(p.path, "a,b");
        assert_eq!(
            p.tags,
            RawTags {
                dog: "env:prod,host:a",
                graphite: "k=v;x=y"
            }
        );
        assert_eq!(p.values().next().unwrap().rate, 0.5);
        assert!(parse_line("a:1|c", 32).unwrap().tags.is_empty());
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
}
