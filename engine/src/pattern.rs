//! Tree-path query patterns (docs/CONCEPTS.md, "Query patterns"): parsing and per-key
//! matching.
//!
//! ```text
//! pattern := segment ( "," segment )*      trailing commas ignored; "" matches everything
//! segment := match ( "|" modifier )*     at most one agg and one kind, in any order
//! match   := "" (one level) | glob (* and ?) | "**" (zero or more levels) | literal
//! modifier:= agg | kind
//! agg     := sum | avg | min | max | count | list | pN | pN.N   (p50, p99, p999, p99.9)
//! kind    := leaf | branch      (this level: only leaves / only branches; not on `**`)
//! ```
//! `|` cannot appear in a pattern's key text (it already introduced the aggregation),
//! so the kind filters take no character away from keys.
//! A quantile fold (`|p99`) merges the sketches of the histogram leaves it folds
//! (`query.rs`), so it is the quantile of the union of their samples, never a mean of
//! quantiles.
//! Patterns are compiled once; matching one key is a byte comparison for literals and a
//! small backtracking glob for `*`/`?`.

use std::fmt;
use std::str::FromStr;

use treestat_model::Stat;

use crate::error::{Error, ErrorKind};
use crate::path::check_key;

/// How the matches of one segment fold into one result.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Agg {
    /// Sum of the values.
    Sum,
    /// Mean of the values.
    Avg,
    /// Smallest value.
    Min,
    /// Largest value.
    Max,
    /// Number of values.
    Count,
    /// No folding: one result per match (the default).
    List,
    /// A quantile, in thousandths of a percent (`|p99` is 99 000): of the union of the
    /// folded histogram leaves' samples (their sketches merged), a plain value counting
    /// as one sample.
    Quantile(u32),
}

impl Agg {
    /// Folds values into one.
    pub fn fold(self, values: &[f64]) -> f64 {
        match self {
            Agg::Sum | Agg::List => values.iter().sum(),
            Agg::Avg => {
                if values.is_empty() {
                    0.0
                } else {
                    #[allow(clippy::cast_precision_loss)] // counts stay far below 2^53
                    let n = values.len() as f64;
                    values.iter().sum::<f64>() / n
                }
            }
            Agg::Min => values.iter().copied().fold(f64::INFINITY, f64::min),
            Agg::Max => values.iter().copied().fold(f64::NEG_INFINITY, f64::max),
            #[allow(clippy::cast_precision_loss)]
            Agg::Count => values.len() as f64,
            Agg::Quantile(m) => {
                // Plain values only (no sketch at hand): the value of the nearest rank,
                // as a sketch would answer within its accuracy.
                let mut sorted = values.to_vec();
                sorted.sort_by(f64::total_cmp);
                let rank = Stat::quantile_rank(Stat::quantile(m), sorted.len() as u64);
                usize::try_from(rank)
                    .ok()
                    .and_then(|r| sorted.get(r))
                    .copied()
                    .unwrap_or(0.0)
            }
        }
    }
}

impl fmt::Display for Agg {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Agg::Sum => f.write_str("sum"),
            Agg::Avg => f.write_str("avg"),
            Agg::Min => f.write_str("min"),
            Agg::Max => f.write_str("max"),
            Agg::Count => f.write_str("count"),
            Agg::List => f.write_str("list"),
            Agg::Quantile(m) => Stat::Quantile(*m).fmt(f),
        }
    }
}

impl FromStr for Agg {
    type Err = String;
    fn from_str(s: &str) -> Result<Agg, String> {
        Ok(match s {
            "sum" => Agg::Sum,
            "avg" => Agg::Avg,
            "min" => Agg::Min,
            "max" => Agg::Max,
            "count" => Agg::Count,
            "list" => Agg::List,
            other => match other.parse::<Stat>() {
                Ok(Stat::Quantile(m)) if other.starts_with('p') => Agg::Quantile(m),
                _ => return Err(other.to_string()),
            },
        })
    }
}

/// What one segment matches.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Match {
    /// `""`: exactly one level, any key.
    Any,
    /// `**`: zero or more levels.
    Deep,
    /// A key with `*` or `?`: one level, keys that match the glob.
    Glob(String),
    /// One key.
    Literal(String),
}

impl Match {
    /// Whether this one-level matcher accepts `key` (`Deep` is handled by the walker).
    #[inline]
    pub fn accepts(&self, key: &str) -> bool {
        match self {
            Match::Any | Match::Deep => true,
            Match::Literal(l) => l == key,
            Match::Glob(g) => glob_match(g.as_bytes(), key.as_bytes()),
        }
    }
}

/// Which kind of node a segment accepts at its level (`|leaf`, `|branch`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Only leaves (the key is the last of the path).
    Leaf,
    /// Only branches (more keys follow).
    Branch,
}

impl Kind {
    /// Whether a node at the segment's level passes, knowing whether it is a leaf.
    #[inline]
    pub fn accepts(kind: Option<Kind>, is_leaf: bool) -> bool {
        match kind {
            None => true,
            Some(Kind::Leaf) => is_leaf,
            Some(Kind::Branch) => !is_leaf,
        }
    }
}

impl fmt::Display for Kind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Kind::Leaf => "leaf",
            Kind::Branch => "branch",
        })
    }
}

/// One segment of a pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Segment {
    /// What it matches.
    pub matcher: Match,
    /// How its matches fold.
    pub agg: Agg,
    /// Only leaves or only branches at this level (`None`: either).
    pub kind: Option<Kind>,
    /// The segment's match text as written, shown in aggregated result paths.
    pub text: String,
}

/// A compiled query pattern.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pattern {
    segments: Vec<Segment>,
    source: String,
    /// Whether the server's own subtree ([`INTERNAL_KEY`]) is selected by wildcards at
    /// the first level (`?internal=1`, action rules); it always is when named.
    internal: bool,
}

/// The first key of the server's own metrics (`_treestat,...`): left out of what a
/// pattern selects unless its first segment names it or the pattern is
/// [`Pattern::with_internal`] (issue 18: `/get/` was flooded by ~60 of its leaves).
pub const INTERNAL_KEY: &str = "_treestat";

/// The most segments a pattern may have.
pub const MAX_SEGMENTS: usize = 64;

impl Pattern {
    /// Compiles a pattern.
    ///
    /// # Errors
    /// `BadPattern` naming the segment that does not parse.
    pub fn parse(text: &str) -> Result<Pattern, Error> {
        let trimmed = text.trim_end_matches(',');
        let mut segments = Vec::new();
        if !trimmed.is_empty() {
            for raw in trimmed.split(',') {
                if segments.len() == MAX_SEGMENTS {
                    return Err(Error::new(
                        ErrorKind::BadPattern,
                        format!("pattern has more than {MAX_SEGMENTS} segments"),
                    ));
                }
                segments.push(parse_segment(raw)?);
            }
        }
        Ok(Pattern {
            segments,
            source: text.to_string(),
            internal: false,
        })
    }

    /// The pattern, selecting the server's own subtree through wildcards too when
    /// `yes` (`?internal=1`; action rules).
    #[must_use]
    pub fn with_internal(mut self, yes: bool) -> Pattern {
        self.internal = yes;
        self
    }

    /// A text that tells patterns apart as selections: the source, marked when
    /// [`Pattern::with_internal`] (for caches keyed by pattern).
    pub fn cache_key(&self) -> String {
        if self.internal {
            // A newline is never in a pattern that parses (keys refuse control
            // characters).
            format!("{}\n+internal", self.source)
        } else {
            self.source.clone()
        }
    }

    /// Whether wildcards select the server's own subtree ([`Pattern::with_internal`]).
    pub fn internal(&self) -> bool {
        self.internal
    }

    /// Whether the first segment names [`INTERNAL_KEY`] literally.
    fn names_internal(&self) -> bool {
        matches!(self.segments.first(), Some(Segment { matcher: Match::Literal(k), .. }) if k == INTERNAL_KEY)
    }

    /// Whether the root's child `first_key` is out of this pattern's reach: the
    /// server's own subtree, neither named nor asked for.
    #[inline]
    pub fn hides(&self, first_key: &str) -> bool {
        first_key == INTERNAL_KEY && !self.internal && !self.names_internal()
    }

    /// The segments, in order.
    pub fn segments(&self) -> &[Segment] {
        &self.segments
    }

    /// The text the pattern was compiled from.
    pub fn as_str(&self) -> &str {
        &self.source
    }

    /// The keys of the pattern when it is a plain path of literals without
    /// aggregation (the fast path: a direct descent).
    pub fn literal_keys(&self) -> Option<Vec<&str>> {
        self.segments
            .iter()
            .map(|s| match (&s.matcher, s.agg, s.kind) {
                (Match::Literal(k), Agg::List, None) => Some(k.as_str()),
                _ => None,
            })
            .collect()
    }

    /// The innermost fold (the last segment's that folds), which decides how a
    /// trend folds (a quantile merges sketches); `None` without one.
    pub fn innermost_agg(&self) -> Option<Agg> {
        self.segments
            .iter()
            .rev()
            .map(|s| s.agg)
            .find(|&a| a != Agg::List)
    }

    /// Whether any segment folds its matches.
    pub fn aggregates(&self) -> bool {
        self.segments.iter().any(|s| s.agg != Agg::List)
    }

    /// Whether a leaf or node at `keys` is selected: the pattern matches a prefix
    /// of `keys` (a pattern longer than the path does not match, unless the rest is `**`).
    pub fn matches_path<S: AsRef<str>>(&self, keys: &[S]) -> bool {
        if keys.first().is_some_and(|k| self.hides(k.as_ref())) {
            return false;
        }
        matches_from(&self.segments, keys, &mut Failed::default())
    }

    /// For a path the pattern selects, the range of keys each segment consumed;
    /// `None` when it does not select the path.
    pub fn bind<S: AsRef<str>>(&self, keys: &[S]) -> Option<Vec<(usize, usize)>> {
        if keys.first().is_some_and(|k| self.hides(k.as_ref())) {
            return None;
        }
        let mut spans = Vec::with_capacity(self.segments.len());
        bind_from(&self.segments, keys, 0, &mut spans, &mut Failed::default()).then_some(spans)
    }

    /// The pattern without its aggregations: what selects the leaves that an
    /// aggregating pattern folds.
    pub fn selector(&self) -> String {
        self.segments
            .iter()
            .map(|s| match s.kind {
                Some(k) => format!("{}|{k}", s.text),
                None => s.text.clone(),
            })
            .collect::<Vec<_>>()
            .join(",")
    }

    /// Whether any segment filters by node kind (`|leaf`, `|branch`).
    pub fn filters_kind(&self) -> bool {
        self.segments.iter().any(|s| s.kind.is_some())
    }
}

/// The `**` states known not to match: `(segments left, keys left)`. Each is tried
/// once, so matching is O(segments x keys^2) instead of exponential in the number of
/// `**` (20 of them against a 20-key path that does not match took ~10^11 steps;
/// found writing the fuzz target `pattern`). Allocates only when a `**` fails.
#[derive(Default)]
struct Failed(std::collections::HashSet<(usize, usize)>);

/// The keys each segment consumes when `segs` match a prefix of `keys` (the first way
/// found, `**` taking as few levels as it can), as `(start, end)` ranges.
fn bind_from<S: AsRef<str>>(
    segs: &[Segment],
    keys: &[S],
    at: usize,
    spans: &mut Vec<(usize, usize)>,
    failed: &mut Failed,
) -> bool {
    let Some((seg, rest)) = segs.split_first() else {
        return true;
    };
    let n = spans.len();
    if seg.matcher == Match::Deep {
        let state = (segs.len(), keys.len());
        if failed.0.contains(&state) {
            return false;
        }
        for skip in 0..=keys.len() {
            spans.truncate(n);
            spans.push((at, at + skip));
            if bind_from(rest, &keys[skip..], at + skip, spans, failed) {
                return true;
            }
        }
        spans.truncate(n);
        failed.0.insert(state);
        return false;
    }
    match keys.split_first() {
        Some((k, more))
            if seg.matcher.accepts(k.as_ref()) && Kind::accepts(seg.kind, more.is_empty()) =>
        {
            spans.push((at, at + 1));
            if bind_from(rest, more, at + 1, spans, failed) {
                return true;
            }
            spans.truncate(n);
            false
        }
        _ => false,
    }
}

fn matches_from<S: AsRef<str>>(segs: &[Segment], keys: &[S], failed: &mut Failed) -> bool {
    let Some((seg, rest)) = segs.split_first() else {
        return true;
    };
    if seg.matcher == Match::Deep {
        let state = (segs.len(), keys.len());
        if failed.0.contains(&state) {
            return false;
        }
        let ok = (0..=keys.len()).any(|skip| matches_from(rest, &keys[skip..], failed));
        if !ok {
            failed.0.insert(state);
        }
        return ok;
    }
    match keys.split_first() {
        Some((k, more)) => {
            seg.matcher.accepts(k.as_ref())
                && Kind::accepts(seg.kind, more.is_empty())
                && matches_from(rest, more, failed)
        }
        None => false,
    }
}

fn parse_segment(raw: &str) -> Result<Segment, Error> {
    let mut parts = raw.split('|');
    let m = parts.next().unwrap_or_default();
    let mut agg = None;
    let mut kind = None;
    for modifier in parts {
        let k = match modifier {
            "leaf" => Some(Kind::Leaf),
            "branch" => Some(Kind::Branch),
            _ => None,
        };
        if let Some(k) = k {
            if kind.replace(k).is_some() {
                return Err(Error::new(
                    ErrorKind::BadPattern,
                    format!("segment {raw:?} has more than one of |leaf, |branch"),
                ));
            }
            continue;
        }
        let a = modifier.parse::<Agg>().map_err(|bad| {
            Error::new(
                ErrorKind::BadPattern,
                format!(
                    "unknown aggregation {bad:?} in segment {raw:?} (expected sum, avg, \
                     min, max, count, list, a quantile: p50, p99.9; or leaf, branch)"
                ),
            )
        })?;
        if agg.replace(a).is_some() {
            return Err(Error::new(
                ErrorKind::BadPattern,
                format!("segment {raw:?} has more than one aggregation"),
            ));
        }
    }
    let matcher = if m.is_empty() {
        Match::Any
    } else if m == "**" {
        Match::Deep
    } else {
        if let Err(problem) = check_key(m) {
            return Err(Error::new(
                ErrorKind::BadPattern,
                format!("segment {raw:?} {problem}"),
            ));
        }
        if m.contains(['*', '?']) {
            Match::Glob(m.to_string())
        } else {
            Match::Literal(m.to_string())
        }
    };
    if matcher == Match::Deep && kind.is_some() {
        return Err(Error::new(
            ErrorKind::BadPattern,
            format!("segment {raw:?}: |leaf and |branch apply to one level, not to **"),
        ));
    }
    Ok(Segment {
        matcher,
        agg: agg.unwrap_or(Agg::List),
        kind,
        text: m.to_string(),
    })
}

/// Glob match of `*` (any run, possibly empty) and `?` (one character) over a key.
///
/// Iterative with one backtrack point, so it is linear-ish and never recurses.
pub fn glob_match(pat: &[u8], text: &[u8]) -> bool {
    let (mut p, mut t) = (0, 0);
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pat.len() && pat[p] == b'?' {
            // `?` is one character: skip a whole UTF-8 sequence.
            p += 1;
            t += utf8_len(text[t]);
        } else if p < pat.len() && pat[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if p < pat.len() && pat[p] == text[t] {
            p += 1;
            t += 1;
        } else if let Some((sp, st)) = star {
            let next = st + utf8_len(text[st]);
            star = Some((sp, next));
            p = sp + 1;
            t = next;
        } else {
            return false;
        }
    }
    pat[p.min(pat.len())..].iter().all(|&c| c == b'*')
}

fn utf8_len(first: u8) -> usize {
    match first {
        0xf0..=0xff => 4,
        0xe0..=0xef => 3,
        0xc0..=0xdf => 2,
        _ => 1,
    }
}

impl fmt::Display for Pattern {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_the_grammar() {
        let p = Pattern::parse("br,,1?.0,**,x*|sum,").unwrap();
        let m: Vec<_> = p.segments().iter().map(|s| s.matcher.clone()).collect();
        assert_eq!(
            m,
            [
                Match::Literal("br".into()),
                Match::Any,
                Match::Glob("1?.0".into()),
                Match::Deep,
                Match::Glob("x*".into())
            ]
        );
        assert_eq!(p.segments()[4].agg, Agg::Sum);
        assert!(Pattern::parse("").unwrap().segments().is_empty());
        assert!(Pattern::parse(",,,").unwrap().segments().is_empty());
        assert!(Pattern::parse("a|median").is_err());
        assert!(Pattern::parse("a\u{1}b").is_err());
    }

    #[test]
    fn kind_filters_parse_and_match_one_level() {
        let p = Pattern::parse("cpu,vm,*|leaf").unwrap();
        assert_eq!(p.segments()[2].kind, Some(Kind::Leaf));
        assert!(p.matches_path(&["cpu", "vm", "user"]));
        assert!(!p.matches_path(&["cpu", "vm", "core0", "user"]));
        let b = Pattern::parse("cpu,vm,*|branch").unwrap();
        assert!(!b.matches_path(&["cpu", "vm", "user"]));
        assert!(b.matches_path(&["cpu", "vm", "core0", "user"]));
        assert_eq!(b.bind(&["cpu", "vm", "user"]), None);
        // Either order beside an aggregation; the selector keeps the filter.
        let s = Pattern::parse("cpu,*|sum|branch").unwrap();
        assert_eq!(
            (s.segments()[1].agg, s.segments()[1].kind),
            (Agg::Sum, Some(Kind::Branch))
        );
        assert_eq!(s.selector(), "cpu,*|branch");
        assert_eq!(
            Pattern::parse(s.selector().as_str()).unwrap().segments()[1].kind,
            Some(Kind::Branch)
        );
        assert!(
            Pattern::parse("cpu,vm|leaf")
                .unwrap()
                .literal_keys()
                .is_none()
        );
        for bad in ["**|leaf", "*|leaf|branch", "*|sum|avg", "*|leaves", "*|"] {
            assert!(Pattern::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_servers_own_subtree_is_selected_only_when_named_or_asked() {
        let own = ["_treestat", "pushes"];
        for hidden in ["", "*", "**", "**,pushes", "_tree*", ",pushes"] {
            let p = Pattern::parse(hidden).unwrap();
            assert!(!p.matches_path(&own), "{hidden:?}");
            assert!(p.bind(&own).is_none(), "{hidden:?}");
            assert!(
                p.clone().with_internal(true).matches_path(&own),
                "{hidden:?}"
            );
        }
        assert!(Pattern::parse("_treestat").unwrap().matches_path(&own));
        assert!(
            Pattern::parse("_treestat,*|leaf")
                .unwrap()
                .matches_path(&own)
        );
        assert!(Pattern::parse("*").unwrap().matches_path(&["cpu", "x"]));
    }

    #[test]
    fn globs() {
        assert!(glob_match(b"1?.0", b"14.0"));
        assert!(!glob_match(b"1?.0", b"114.0"));
        assert!(glob_match(b"ip*", b"ip"));
        assert!(glob_match(b"*a*b", b"xxaxxb"));
        assert!(!glob_match(b"*a*b", b"xxaxxbc"));
        assert!(glob_match(b"?", "ö".as_bytes()));
        assert!(glob_match(b"**", b""));
    }

    #[test]
    fn binding_reports_what_each_segment_consumed() {
        let p = Pattern::parse("br,**,x*|sum").unwrap();
        assert_eq!(
            p.bind(&["br", "a", "b", "x1", "y"]),
            Some(vec![(0, 1), (1, 3), (3, 4)])
        );
        assert_eq!(p.bind(&["br", "x"]), Some(vec![(0, 1), (1, 1), (1, 2)]));
        assert_eq!(p.bind(&["bx"]), None);
        assert_eq!(p.selector(), "br,**,x*");
    }

    #[test]
    fn path_matching() {
        let p = Pattern::parse("br,,14.0").unwrap();
        assert!(p.matches_path(&["br", "webkit", "14.0"]));
        assert!(p.matches_path(&["br", "webkit", "14.0", "x"]));
        assert!(!p.matches_path(&["br", "webkit"]));
        let d = Pattern::parse("**,sogou").unwrap();
        assert!(d.matches_path(&["br", "ie", "7", "venders", "sogou"]));
        assert!(d.matches_path(&["sogou"]));
        assert!(!d.matches_path(&["br"]));
    }
}
