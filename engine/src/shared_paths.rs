//! [`SharedPaths`]: the paths of one push's or one closed interval's leaves, resolved
//! once and shared by every reader, with each distinct pattern matched once.
//!
//! A push or an interval is seen by many readers at once (1,024 `/pull` waiters, a few
//! hundred `/events` streams, the relay). Each used to resolve every leaf's path under
//! the engine's read lock and match it against its own pattern: the work grew with
//! readers x leaves, and the read lock held pushes back meanwhile. Now the first reader
//! resolves the paths (short read locks, [`PATHS_PER_LOCK`] at a time) into a
//! `SharedPaths` kept on the event itself ([`PathMemo`]); every later reader gets the
//! same `Arc`. Matching is cached by pattern text, and a pattern whose first segment is
//! a literal key looks only at the paths under that key (an index built with the
//! paths), so 1,024 waiters on patterns that never match cost about what one does.

use std::collections::HashMap;
use std::sync::{Arc, OnceLock, Weak};

use parking_lot::Mutex;

use crate::pattern::{Match, Pattern};

/// Paths resolved per read-lock hold: a push waits for one chunk at most.
pub(crate) const PATHS_PER_LOCK: usize = 4096;

/// Paths of a list of leaves (in the list's order), indexed by first key, with the
/// matches of every pattern asked so far.
#[derive(Debug, Default)]
pub struct SharedPaths {
    paths: Vec<Option<String>>,
    /// Indices into `paths`, grouped by the path's first key.
    by_first: HashMap<String, Vec<u32>>,
    /// Indices selected by each pattern (by its text), computed once each.
    matches: Mutex<HashMap<String, Arc<MatchCell>>>,
}

/// One pattern's selected indices, filled by the first reader that asks.
type MatchCell = OnceLock<Arc<[u32]>>;

impl SharedPaths {
    /// Indexes resolved paths (`None`: a leaf id the tree does not know).
    pub(crate) fn new(paths: Vec<Option<String>>) -> SharedPaths {
        let mut by_first: HashMap<String, Vec<u32>> = HashMap::new();
        for (i, p) in paths.iter().enumerate() {
            let Some(p) = p else { continue };
            let first = p.split(',').next().unwrap_or_default();
            let i = u32::try_from(i).unwrap_or(u32::MAX);
            match by_first.get_mut(first) {
                Some(v) => v.push(i),
                None => {
                    by_first.insert(first.to_string(), vec![i]);
                }
            }
        }
        SharedPaths {
            paths,
            by_first,
            matches: Mutex::new(HashMap::new()),
        }
    }

    /// The paths, in the order of the leaves they were resolved for.
    pub fn paths(&self) -> &[Option<String>] {
        &self.paths
    }

    /// The path at `i`, if resolved.
    pub fn path(&self, i: u32) -> Option<&str> {
        self.paths.get(i as usize)?.as_deref()
    }

    /// Indices (ascending) of the paths `pattern` selects. Computed once per distinct
    /// pattern text; concurrent callers with the same pattern wait for the one doing it.
    /// `on_compute` runs each time the match is actually computed (for a counter).
    pub(crate) fn matching(&self, pattern: &Pattern, on_compute: impl FnOnce()) -> Arc<[u32]> {
        let cell = self
            .matches
            .lock()
            .entry(pattern.cache_key())
            .or_default()
            .clone();
        cell.get_or_init(|| {
            on_compute();
            self.compute(pattern)
        })
        .clone()
    }

    fn compute(&self, pattern: &Pattern) -> Arc<[u32]> {
        let mut keys: Vec<&str> = Vec::new();
        let mut selects = |i: u32| {
            let Some(path) = self.path(i) else {
                return false;
            };
            keys.clear();
            keys.extend(path.split(','));
            pattern.matches_path(&keys)
        };
        match pattern.segments().first().map(|s| &s.matcher) {
            // Only the paths under that key can match.
            Some(Match::Literal(first)) => self
                .by_first
                .get(first.as_str())
                .map(|ids| ids.iter().copied().filter(|&i| selects(i)).collect())
                .unwrap_or_default(),
            _ => (0..u32::try_from(self.paths.len()).unwrap_or(u32::MAX))
                .filter(|&i| selects(i))
                .collect(),
        }
    }
}

/// Where an event finds its [`SharedPaths`] while they are in use. A cache, not part
/// of the event's value: it compares equal to any other memo and clones empty.
///
/// It holds only a weak reference: the push log keeps thousands of events and the
/// interval channel dozens, and their paths must not stay resolved with them. The
/// engine keeps the last [`RECENT_RESOLVED`] resolutions alive, which covers every
/// reader woken by the same push or interval; a reader replaying an old cursor resolves
/// again.
#[derive(Default)]
pub struct PathMemo(Mutex<Weak<SharedPaths>>);

/// Resolutions the engine keeps alive (strong references), newest last.
pub(crate) const RECENT_RESOLVED: usize = 8;

impl PathMemo {
    /// The shared paths, resolving them with `resolve` when no live copy exists.
    /// Concurrent callers wait for the one resolving; the second gets its result.
    pub(crate) fn get_or_init(
        &self,
        resolve: impl FnOnce() -> SharedPaths,
    ) -> (Arc<SharedPaths>, bool) {
        let mut slot = self.0.lock();
        if let Some(live) = slot.upgrade() {
            return (live, false);
        }
        let fresh = Arc::new(resolve());
        *slot = Arc::downgrade(&fresh);
        (fresh, true)
    }
}

impl Clone for PathMemo {
    fn clone(&self) -> PathMemo {
        PathMemo::default()
    }
}

impl PartialEq for PathMemo {
    fn eq(&self, _: &PathMemo) -> bool {
        true
    }
}

impl std::fmt::Debug for PathMemo {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(if self.0.lock().strong_count() > 0 {
            "PathMemo(resolved)"
        } else {
            "PathMemo(empty)"
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared(paths: &[&str]) -> SharedPaths {
        SharedPaths::new(paths.iter().map(|p| Some((*p).to_string())).collect())
    }

    #[test]
    fn matches_once_per_pattern_and_uses_the_first_key() {
        let s = shared(&["a,x", "b,x", "a,y", "c"]);
        let mut computed = 0;
        for _ in 0..3 {
            let m = s.matching(&Pattern::parse("a,*").unwrap(), || computed += 1);
            assert_eq!(&*m, &[0, 2]);
        }
        assert_eq!(computed, 1);
        let m = s.matching(&Pattern::parse("*,x").unwrap(), || computed += 1);
        assert_eq!(&*m, &[0, 1]);
        let m = s.matching(&Pattern::parse("").unwrap(), || computed += 1);
        assert_eq!(&*m, &[0, 1, 2, 3]);
        let m = s.matching(&Pattern::parse("zz,**").unwrap(), || computed += 1);
        assert!(m.is_empty());
        assert_eq!(computed, 4);
    }
}
