//! The query pattern grammar (`/get`, `/api/q`, `/pull`, `/events`, `/trend`): parsed
//! and run over a small tree built from the input, against a slow reference written
//! here from docs/CONCEPTS.md ("Query patterns"): its own parser, a character-by-
//! character glob, and a set-of-states matcher. Checked: the same patterns are refused;
//! a plain pattern selects exactly the leaves the reference selects, with their values;
//! `Pattern::matches_path` agrees with the reference on every leaf (`|leaf` and
//! `|branch` included: every input path is a leaf's, its other keys branches; `_treestat`
//! only when the pattern names it); an aggregating
//! query over the tree equals `aggregate_rows` over the leaves (the trend's way).
//!
//! Input: the first line is the pattern, each further line a leaf path.

use std::collections::BTreeSet;

use treestat_engine::path::check_key;
use treestat_engine::query::aggregate_rows;
use treestat_engine::{Action, Batch, Engine, EngineConfig, Pattern, Stat};

#[derive(Debug, Clone)]
enum RefMatch {
    Any,
    Deep,
    Glob(Vec<char>),
}

/// A segment: what it matches, and `|leaf` (`Some(true)`) or `|branch` (`Some(false)`).
#[derive(Debug, Clone)]
struct RefSeg {
    m: RefMatch,
    leaf: Option<bool>,
}

/// The first key of the server's own subtree.
const INTERNAL: &str = "_treestat";

/// The grammar as documented; `None` for a pattern that must be refused.
fn ref_parse(text: &str) -> Option<(Vec<RefSeg>, bool)> {
    let trimmed = text.trim_end_matches(',');
    let mut segs = Vec::new();
    let mut aggregates = false;
    if trimmed.is_empty() {
        return Some((segs, false));
    }
    for raw in trimmed.split(',') {
        let mut parts = raw.split('|');
        let m = parts.next().unwrap_or("");
        // Modifiers in any order: at most one aggregation, at most one of leaf/branch.
        let (mut agg, mut leaf) = (None::<&str>, None::<bool>);
        for modifier in parts {
            if modifier == "leaf" || modifier == "branch" {
                if leaf.replace(modifier == "leaf").is_some() {
                    return None;
                }
                continue;
            }
            // The quantile folds `|p50` .. `|p999`, `|pN.N` (issue 15): a `p` and a
            // percent the stat vocabulary reads as a quantile.
            let quantile =
                modifier.starts_with('p') && matches!(modifier.parse(), Ok(Stat::Quantile(_)));
            if !quantile && !["sum", "avg", "min", "max", "count", "list"].contains(&modifier) {
                return None;
            }
            if agg.replace(modifier).is_some() {
                return None;
            }
        }
        aggregates |= agg.is_some_and(|a| a != "list");
        let m = if m.is_empty() {
            RefMatch::Any
        } else if m == "**" {
            // A kind filter is for one level.
            if leaf.is_some() {
                return None;
            }
            RefMatch::Deep
        } else {
            check_key(m).ok()?;
            // A literal is a glob without wildcards.
            RefMatch::Glob(m.chars().collect())
        };
        segs.push(RefSeg { m, leaf });
    }
    (segs.len() <= 64).then_some((segs, aggregates))
}

/// `*` any run of characters, `?` one character, anything else itself: `m[i][j]` says
/// whether `p[i..]` matches `t[j..]`, filled from the ends (a table, not recursion: a
/// recursive reference took exponential time on `***...*x`, a timeout in run 5).
fn ref_glob(p: &[char], t: &[char]) -> bool {
    let mut m = vec![vec![false; t.len() + 1]; p.len() + 1];
    m[p.len()][t.len()] = true;
    for i in (0..p.len()).rev() {
        for j in (0..=t.len()).rev() {
            m[i][j] = match p[i] {
                '*' => m[i + 1][j] || (j < t.len() && m[i][j + 1]),
                '?' => j < t.len() && m[i + 1][j + 1],
                c => j < t.len() && t[j] == c && m[i + 1][j + 1],
            };
        }
    }
    m[0][0]
}

fn accepts(m: &RefMatch, key: &str) -> bool {
    match m {
        RefMatch::Any | RefMatch::Deep => true,
        RefMatch::Glob(g) => ref_glob(g, &key.chars().collect::<Vec<_>>()),
    }
}

/// Whether the pattern matches a prefix of `keys` (a leaf's path: its last key is the
/// leaf, every other a branch): the segment positions reachable after each key, `**`
/// able to stay or to step over.
fn ref_selects(segs: &[RefSeg], keys: &[&str]) -> bool {
    // The server's own subtree is selected only by a pattern that names it
    // (docs/CONCEPTS.md; the `?internal=1` form is not fuzzed here).
    if keys.first() == Some(&INTERNAL)
        && !matches!(segs.first(), Some(RefSeg { m: RefMatch::Glob(g), .. })
            if g.iter().collect::<String>() == INTERNAL)
    {
        return false;
    }
    let deep = |p: usize| {
        matches!(
            segs.get(p),
            Some(RefSeg {
                m: RefMatch::Deep,
                ..
            })
        )
    };
    let close = |set: &mut BTreeSet<usize>| {
        let mut todo: Vec<usize> = set.iter().copied().collect();
        while let Some(p) = todo.pop() {
            if deep(p) && set.insert(p + 1) {
                todo.push(p + 1);
            }
        }
    };
    let mut set = BTreeSet::from([0]);
    close(&mut set);
    for (i, key) in keys.iter().enumerate() {
        if set.contains(&segs.len()) {
            return true;
        }
        let is_leaf = i + 1 == keys.len();
        let mut next = BTreeSet::new();
        for &p in &set {
            match segs.get(p) {
                Some(RefSeg {
                    m: RefMatch::Deep, ..
                }) => {
                    next.insert(p);
                }
                Some(s) if accepts(&s.m, key) && s.leaf.is_none_or(|l| l == is_leaf) => {
                    next.insert(p + 1);
                }
                _ => {}
            }
        }
        close(&mut next);
        set = next;
    }
    set.contains(&segs.len())
}

/// Leaf paths from the input: valid, at most 24 levels, none a prefix of another (so
/// no leaf turns into a branch and every path stays a leaf's).
fn leaves<'a>(lines: impl Iterator<Item = &'a str>) -> Vec<Vec<&'a str>> {
    let mut paths: Vec<Vec<&str>> = lines
        .take(48)
        .map(|l| l.split(',').collect::<Vec<_>>())
        .filter(|k| k.len() <= 24 && k.iter().all(|k| check_key(k).is_ok()))
        .collect();
    paths.sort();
    paths.dedup();
    let all = paths.clone();
    paths.retain(|p| !all.iter().any(|q| q.len() > p.len() && q.starts_with(p)));
    paths
}

/// Checks one input; panics on a finding.
pub fn run(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    let mut lines = text.split('\n');
    let pattern_text = lines.next().unwrap_or("");
    let parsed = Pattern::parse(pattern_text);
    let reference = ref_parse(pattern_text);
    let (Ok(pattern), Some((segs, aggregates))) = (&parsed, &reference) else {
        assert_eq!(
            parsed.is_ok(),
            reference.is_some(),
            "{pattern_text:?}: engine {parsed:?}, reference {reference:?}"
        );
        return;
    };
    assert_eq!(pattern.aggregates(), *aggregates, "{pattern_text:?}");

    let paths = leaves(lines);
    let engine = Engine::new(EngineConfig::default()).unwrap();
    let mut batch = Batch::new();
    let mut rows = Vec::new();
    for (i, keys) in paths.iter().enumerate() {
        let path = keys.join(",");
        let value = f64::from(u32::try_from(i).unwrap() + 1);
        batch.sample(&path, value, Some(Action::Last));
        rows.push((path, value));
    }
    engine.apply(&batch).unwrap();
    rows.sort_by(|a, b| a.0.cmp(&b.0));

    for keys in &paths {
        let path = keys.join(",");
        let want = ref_selects(segs, keys);
        assert_eq!(
            pattern.matches_path(keys),
            want,
            "{pattern_text:?} on {path:?}"
        );
        assert_eq!(
            pattern.bind(keys).is_some(),
            want,
            "bind {pattern_text:?} on {path:?}"
        );
    }

    let got = engine.query_pattern(pattern);
    if *aggregates {
        assert_eq!(
            got,
            aggregate_rows(pattern, &rows),
            "{pattern_text:?} over {rows:?}"
        );
    } else {
        let want: Vec<(String, f64)> = rows
            .iter()
            .filter(|(p, _)| ref_selects(segs, &p.split(',').collect::<Vec<_>>()))
            .cloned()
            .collect();
        assert_eq!(got, want, "{pattern_text:?} over {rows:?}");
    }
}
