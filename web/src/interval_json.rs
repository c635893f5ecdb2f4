//! The `interval` message of `/events`: one closed interval's values and markers under
//! a pattern as JSON ([`interval_json`]), and the cache that builds each distinct
//! pattern's body once per interval however many streams want it ([`BodyCache`]).

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;
use serde_json::{Map, Value, json};
use treestat_engine::{ClosedInterval, Engine, Pattern, Stat};

use crate::extract::num;

/// The message bodies of the newest closed interval, one per distinct pattern text:
/// twenty streams on one pattern serialize the interval once.
#[derive(Debug, Default)]
pub(crate) struct BodyCache {
    newest: Mutex<Option<Bodies>>,
}

#[derive(Debug)]
struct Bodies {
    interval: Weak<ClosedInterval>,
    by_pattern: HashMap<String, Arc<str>>,
}

impl BodyCache {
    /// The `interval` message body of `closed` under `pattern`, built on first use.
    /// Only the newest interval is cached; a lagging stream's older one is built anew.
    pub(crate) fn body(
        &self,
        engine: &Engine,
        pattern: &Pattern,
        stats: Option<&[Stat]>,
        partial: bool,
        closed: &Arc<ClosedInterval>,
    ) -> Arc<str> {
        let build = || match stats {
            _ if partial => interval_partial_json(engine, pattern, stats, closed),
            Some(stats) => interval_stats_json(engine, pattern, stats, closed),
            None => interval_json(engine, pattern, closed),
        };
        let mut newest = self.newest.lock();
        let current = newest
            .as_ref()
            .is_some_and(|b| std::ptr::eq(b.interval.as_ptr(), Arc::as_ptr(closed)));
        if !current {
            // A newer interval replaces the cache; an older one is not cached.
            let older = newest
                .as_ref()
                .and_then(|b| b.interval.upgrade())
                .is_some_and(|held| held.start > closed.start);
            if older {
                drop(newest);
                return build().to_string().into();
            }
            *newest = Some(Bodies {
                interval: Arc::downgrade(closed),
                by_pattern: HashMap::new(),
            });
        }
        let bodies = newest.as_mut().map(|b| &mut b.by_pattern);
        let Some(bodies) = bodies else {
            return build().to_string().into();
        };
        let mut key = pattern.cache_key();
        if partial {
            key.push_str("\n?partial=1");
        }
        if let Some(stats) = stats {
            // `?` cannot start a key, so no pattern text spells this.
            key.push_str("\n?stat=");
            for s in stats {
                key.push_str(&s.to_string());
                key.push(',');
            }
        }
        // Built under the cache's lock: the other streams on this interval want the
        // same body or one built from the same shared paths, and wait for it.
        bodies
            .entry(key)
            .or_insert_with(|| build().to_string().into())
            .clone()
    }
}

/// As [`interval_json`] with `?stat=`: `"values": {path: {"<stat>": value, ...}}`, read
/// from the ring window of the interval's length (that interval: its histogram leaves'
/// sketches and raw samples; other leaves answer `null`).
pub fn interval_stats_json(
    engine: &Engine,
    pattern: &Pattern,
    stats: &[Stat],
    closed: &ClosedInterval,
) -> Value {
    let mut values = Map::new();
    {
        let rows = engine.query_window_stats_pattern(pattern, closed.len, stats);
        for (path, vs) in rows {
            let cols: Map<String, Value> = stats
                .iter()
                .zip(vs)
                .map(|(s, v)| (s.to_string(), v.map_or(Value::Null, num)))
                .collect();
            values.insert(path, Value::Object(cols));
        }
    }
    message(pattern, closed, "values", Value::Object(values))
}

/// The shard side of a read front's `/events` (`?partial=1`): `{"start", "len",
/// "rows": [...], "markers": [...]}`, the rows being what `/api/q?partial=1` answers
/// over the window of the interval's length (with `stats`, `?partial=1&stat=`): the
/// leaves the pattern selects, unfolded, with their sketches under a quantile fold,
/// so the front folds every shard's leaves as this server folds its own.
pub fn interval_partial_json(
    engine: &Engine,
    pattern: &Pattern,
    stats: Option<&[Stat]>,
    closed: &ClosedInterval,
) -> Value {
    let rows = match stats {
        Some(stats) => crate::partial_json::partial_stat_rows(&engine.query_partial_stats(
            pattern,
            Some(closed.len),
            stats,
        )),
        None => crate::partial_json::partial_rows(&engine.query_partial(pattern, Some(closed.len))),
    };
    message(pattern, closed, "rows", rows["rows"].clone())
}

/// `{"start", "len", "values": {path: value}, "markers": [...]}` for one interval.
pub fn interval_json(engine: &Engine, pattern: &Pattern, closed: &ClosedInterval) -> Value {
    let mut values = Map::new();
    if pattern.aggregates() {
        let rows = engine.query_window_pattern(pattern, closed.len);
        values.extend(rows.into_iter().map(|(p, v)| (p, num(v))));
    } else if !closed.points.is_empty() {
        let paths = engine.interval_paths(closed);
        let mut rows: Vec<(&str, f64)> = engine
            .select(&paths, pattern)
            .iter()
            .filter_map(|&i| {
                let p = closed.points.get(i as usize)?;
                Some((paths.path(i)?, p.stats.value(p.action)))
            })
            .collect();
        rows.sort_by(|a, b| a.0.cmp(b.0));
        values.extend(rows.into_iter().map(|(p, v)| (p.to_string(), num(v))));
    }
    message(pattern, closed, "values", Value::Object(values))
}

/// An `interval` message: the interval's start and length, `body` under `key`
/// (`values`, or a front's `rows`), and the markers under the pattern.
fn message(pattern: &Pattern, closed: &ClosedInterval, key: &str, body: Value) -> Value {
    let markers: Vec<_> = closed
        .markers
        .iter()
        .filter(|m| pattern.matches_path(&m.path.split(',').collect::<Vec<_>>()))
        .collect();
    let mut out = json!({
        "start": closed.start,
        "len": closed.len,
    });
    if let Value::Object(o) = &mut out {
        o.insert(key.to_string(), body);
        o.insert("markers".to_string(), json!(markers));
    }
    out
}
