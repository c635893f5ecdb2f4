//! Path interning: every series path gets a compact `u32` id, persisted in the
//! `Paths` keyspace (or in the interval blob that introduced it, until compaction).
//!
//! The index is kept in memory, sorted by path, so a pattern with a literal head
//! (`br,ie,*`) visits only the paths under that head instead of every series.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use crate::pattern::{Agg, Match, Pattern};

/// The interned series paths.
#[derive(Debug, Default)]
pub struct Index {
    by_path: BTreeMap<Arc<str>, u32>,
    by_id: HashMap<u32, Arc<str>>,
    next: u32,
}

impl Index {
    /// An empty index.
    pub fn new() -> Index {
        Index::default()
    }

    /// Records a stored `(id, path)` pair (on open). A later id for the same path
    /// wins the path lookup; both ids keep their path.
    pub fn insert(&mut self, id: u32, path: &str) {
        let p: Arc<str> = Arc::from(path);
        self.by_path.insert(p.clone(), id);
        self.by_id.insert(id, p);
        self.next = self.next.max(id.saturating_add(1));
    }

    /// Forgets a deleted series' id (on open) and never gives it again.
    pub fn retire(&mut self, id: u32) {
        self.remove(id);
        self.next = self.next.max(id.saturating_add(1));
    }

    /// Forgets a series (a delete); its id is not given again.
    pub fn remove(&mut self, id: u32) {
        if let Some(path) = self.by_id.remove(&id)
            && self.by_path.get(&path) == Some(&id)
        {
            self.by_path.remove(&path);
        }
    }

    /// The id of `path`, and whether it was just assigned.
    pub fn intern(&mut self, path: &str) -> (u32, bool) {
        if let Some(&id) = self.by_path.get(path) {
            return (id, false);
        }
        let id = self.next;
        self.insert(id, path);
        (id, true)
    }

    /// The id of a path, if interned.
    pub fn id(&self, path: &str) -> Option<u32> {
        self.by_path.get(path).copied()
    }

    /// The path of an id.
    pub fn path(&self, id: u32) -> Option<&Arc<str>> {
        self.by_id.get(&id)
    }

    /// Number of series.
    pub fn len(&self) -> usize {
        self.by_path.len()
    }

    /// Series whose path the pattern selects (docs/CONCEPTS.md, "Query patterns"), sorted by
    /// path. Aggregation suffixes are ignored here; the caller folds.
    pub fn matching(&self, pattern: &Pattern) -> Vec<(u32, Arc<str>)> {
        let head: Vec<&str> = pattern
            .segments()
            .iter()
            .map_while(|s| match (&s.matcher, s.agg) {
                (Match::Literal(k), Agg::List) => Some(k.as_str()),
                _ => None,
            })
            .collect();
        let prefix = head.join(",");
        let mut out = Vec::new();
        let range = self.by_path.range::<str, _>((
            std::ops::Bound::Included(prefix.as_str()),
            std::ops::Bound::Unbounded,
        ));
        let mut keys: Vec<&str> = Vec::new();
        for (path, &id) in range {
            if !path.starts_with(prefix.as_str()) {
                break;
            }
            keys.clear();
            keys.extend(path.split(','));
            if pattern.matches_path(&keys) {
                out.push((id, path.clone()));
            }
        }
        out
    }

    /// Every `(id, path)` pair, sorted by path.
    pub fn all(&self) -> Vec<(u32, Arc<str>)> {
        self.by_path
            .iter()
            .map(|(p, &id)| (id, p.clone()))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interns_and_matches_with_a_literal_head() {
        let mut ix = Index::new();
        for p in ["br,ie,7", "br,ie,8,count", "br,iex", "br,ff,1", "net,eth0"] {
            ix.intern(p);
        }
        assert_eq!(ix.intern("br,ie,7"), (0, false));
        assert_eq!(ix.intern("new"), (5, true));
        let got = |pat: &str| -> Vec<String> {
            ix.matching(&Pattern::parse(pat).unwrap())
                .into_iter()
                .map(|(_, p)| p.to_string())
                .collect()
        };
        assert_eq!(got("br,ie"), ["br,ie,7", "br,ie,8,count"]);
        assert_eq!(got("br,ie*"), ["br,ie,7", "br,ie,8,count", "br,iex"]);
        assert_eq!(got(",eth0"), ["net,eth0"]);
        assert_eq!(got("").len(), 6);
        assert!(got("br,ie,7,x").is_empty());
        let mut reopened = Index::new();
        reopened.insert(9, "a");
        assert_eq!(reopened.intern("b"), (10, true));
    }
}
