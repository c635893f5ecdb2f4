//! The push tree: `{<group>: {<host>: {<metric>: value}}}`, one tree per action, each
//! carrying `default_action` at its top (docs/CONCEPTS.md, "The push format"), sent as
//! one JSON array.
//!
//! Counters (slope `positive`) become rates per second here, from the previous reading
//! of the same path; the first reading of a counter and a counter that went backwards
//! (a reset) send nothing for that interval.
//!
//! Every tree of a push carries `"timestamp": <unix seconds>`, the time its values were
//! collected, so a push replayed from a buffer after an outage lands in the server
//! interval it was measured in rather than the one in which it arrives.

use std::collections::HashMap;
use std::time::{Instant, SystemTime, UNIX_EPOCH};

use serde_json::{Map, Value as Json};
use treestat_model::{
    Action, COUNT_KEY, DEFAULT_ACTION_KEY, EMPTY_NAME_KEY, KeyProblem, TIMESTAMP_KEY,
    sanitize_key_or,
};

use crate::metric::{Sample, Slope, Value};

/// The wall-clock time (whole unix seconds) of the monotonic instant `at`. An `at` in
/// the past is measured back from the current wall clock; one in the future forward.
pub fn unix_secs_at(at: Instant) -> i64 {
    // Both clocks read together: a caller's own `now` may be seconds old by the time it
    // stamps (a slow collection), and pairing it with a fresh wall clock would date the
    // collection that much later, into the next one's second.
    let (now, wall) = (Instant::now(), SystemTime::now());
    let wall = if at <= now {
        wall.checked_sub(now - at)
    } else {
        wall.checked_add(at - now)
    }
    .unwrap_or(wall);
    wall.duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

/// Dates every tree of `doc` (one tree or an array of trees) with `ts`, replacing any
/// time stamp it had.
pub fn stamp(doc: &mut Json, ts: i64) {
    match doc {
        Json::Array(trees) => {
            for t in trees {
                stamp(t, ts);
            }
        }
        Json::Object(m) => {
            m.insert(TIMESTAMP_KEY.into(), Json::from(ts));
        }
        _ => {}
    }
}

/// Checks one tree key against the key rules (treestat-model's `check_key`).
///
/// # Errors
/// A message naming the key (its start, when it is long) and the problem.
pub fn check_key(key: &str) -> Result<(), String> {
    treestat_model::check_key(key).map_err(|problem| match problem {
        KeyProblem::Empty => "empty key".to_string(),
        KeyProblem::TooLong(_) => {
            let start = &key[..key.floor_char_boundary(32)];
            format!("key {start:?}... {problem}")
        }
        _ => format!("key {key:?} {problem}"),
    })
}

/// Makes any text a valid key, an empty text becoming `_` (treestat-model's
/// `sanitize_key_or` with `EMPTY_NAME_KEY`), owned as the JSON maps want it.
pub fn sanitize_key(text: &str) -> String {
    sanitize_key_or(text, EMPTY_NAME_KEY).into_owned()
}

/// Turns counter readings into rates per second between two collections.
#[derive(Debug, Default)]
pub struct Rates {
    last: HashMap<(String, Vec<String>), (f64, Instant)>,
}

impl Rates {
    /// A tracker with no history.
    pub fn new() -> Rates {
        Rates::default()
    }

    /// Returns the samples to send: gauges and text as they are, counters as their rate
    /// since the previous reading taken at `now` (none for a first reading or a reset).
    pub fn apply(&mut self, samples: Vec<Sample>, now: Instant) -> Vec<Sample> {
        let mut out = Vec::with_capacity(samples.len());
        for mut s in samples {
            let (Slope::Positive, Value::Number(v)) = (s.slope, &s.value) else {
                out.push(s);
                continue;
            };
            let v = *v;
            let key = (s.group.clone(), s.path.clone());
            let prev = self.last.insert(key, (v, now));
            if let Some((pv, pt)) = prev {
                let dt = now.saturating_duration_since(pt).as_secs_f64();
                if dt > 0.0 && v >= pv {
                    s.value = Value::Number((v - pv) / dt);
                    s.slope = Slope::Both;
                    out.push(s);
                }
            }
        }
        out
    }
}

/// Builds the push document for `host` from samples that are already rates.
///
/// Returns `None` when there is nothing to send. Samples whose keys are invalid were
/// sanitized when made; a bad group or path key here is made valid the same way.
pub fn build_push(host: &str, samples: &[Sample]) -> Option<Json> {
    let mut per_action: Vec<(Action, Map<String, Json>)> = Vec::new();
    for s in samples {
        let leaf = match &s.value {
            Value::Number(v) if v.is_finite() => Json::from(*v),
            Value::Number(_) => continue,
            Value::Text(t) => Json::String(t.clone()),
        };
        let tree = match per_action.iter_mut().find(|(a, _)| *a == s.action) {
            Some((_, t)) => t,
            None => {
                let mut t = Map::new();
                t.insert(DEFAULT_ACTION_KEY.into(), Json::from(s.action.as_str()));
                per_action.push((s.action, t));
                &mut per_action.last_mut()?.1
            }
        };
        let mut keys = Vec::with_capacity(s.path.len() + 2);
        keys.push(sanitize_key(&s.group));
        keys.push(sanitize_key(host));
        keys.extend(s.path.iter().map(|k| sanitize_key(k)));
        insert(tree, &keys, leaf);
    }
    if per_action.is_empty() {
        return None;
    }
    Some(Json::Array(
        per_action
            .into_iter()
            .map(|(_, t)| Json::Object(t))
            .collect(),
    ))
}

/// Inserts `leaf` at `keys` under `tree`, resolving conflicts as the server does: a
/// number where a subtree stands goes to the subtree's `count`, and a subtree where a
/// number stands moves the number to `count`.
pub fn insert(tree: &mut Map<String, Json>, keys: &[String], leaf: Json) {
    let Some((last, parents)) = keys.split_last() else {
        return;
    };
    if let Some(node) = branch_at(tree, parents.iter().map(String::as_str)) {
        place(node, last.clone(), leaf);
    }
}

/// As [`insert`] for several leaves under one parent: the walk from the root is done
/// once (a closed interval's leaves come in runs under the same parent).
pub fn insert_under<'k>(
    tree: &mut Map<String, Json>,
    parents: impl Iterator<Item = &'k str>,
    leaves: impl IntoIterator<Item = (String, Json)>,
) {
    if let Some(node) = branch_at(tree, parents) {
        for (key, leaf) in leaves {
            place(node, key, leaf);
        }
    }
}

/// The map at `parents` under `tree`, made where missing (a number standing in the way
/// moves to the new map's `count`).
fn branch_at<'t, 'k>(
    tree: &'t mut Map<String, Json>,
    parents: impl Iterator<Item = &'k str>,
) -> Option<&'t mut Map<String, Json>> {
    let mut node = tree;
    for key in parents {
        let slot = node.entry(key).or_insert_with(|| Json::Object(Map::new()));
        if !slot.is_object() {
            let old = std::mem::replace(slot, Json::Object(Map::new()));
            if let Json::Object(m) = slot {
                m.insert(COUNT_KEY.into(), old);
            }
        }
        let Json::Object(m) = slot else { return None };
        node = m;
    }
    Some(node)
}

/// Puts `leaf` at `key` of `node`, or in the `count` of a subtree standing there.
fn place(node: &mut Map<String, Json>, key: String, leaf: Json) {
    match node.get_mut(&key) {
        Some(Json::Object(m)) => {
            m.insert(COUNT_KEY.into(), leaf);
        }
        _ => {
            node.insert(key, leaf);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::metric::Sample;

    #[test]
    fn keys_are_made_valid() {
        assert_eq!(sanitize_key("a,b\n"), "a_b_");
        assert_eq!(sanitize_key(""), "_");
        assert_eq!(sanitize_key(&"é".repeat(200)).len(), 254);
        assert!(check_key("a,b").is_err());
        assert!(check_key("eth0").is_ok());
        // A long key of three-byte characters: the message quotes its start cut on a
        // character boundary (the old copy of the check sliced at byte 32 and panicked).
        let e = check_key(&"あ".repeat(90)).unwrap_err();
        assert!(e.contains("270 bytes long"), "{e}");
    }

    #[test]
    fn counters_become_rates_per_second() {
        let mut rates = Rates::new();
        let t0 = Instant::now();
        let first = rates.apply(vec![Sample::counter("net", &["eth0", "rx"], 1000.0)], t0);
        assert!(first.is_empty(), "a first reading has no rate");
        let t1 = t0 + Duration::from_secs(2);
        let second = rates.apply(vec![Sample::counter("net", &["eth0", "rx"], 1500.0)], t1);
        assert_eq!(second[0].value, Value::Number(250.0));
        let t2 = t1 + Duration::from_secs(2);
        let reset = rates.apply(vec![Sample::counter("net", &["eth0", "rx"], 10.0)], t2);
        assert!(reset.is_empty(), "a counter reset sends nothing");
    }

    #[test]
    fn push_groups_by_action_with_markers() {
        let mut last = Sample::gauge("load", &["one"], 0.5);
        last.action = Action::Last;
        let samples = vec![
            Sample::gauge("cpu", &["user"], 12.5),
            Sample::gauge("cpu", &["core0", "user"], 10.0),
            last,
            Sample::text("ip", &["eth0"], "10.0.0.1"),
        ];
        let doc = build_push("web1", &samples).unwrap();
        assert_eq!(
            doc,
            serde_json::json!([
                {"default_action": "average",
                 "cpu": {"web1": {"user": 12.5, "core0": {"user": 10.0}}}},
                {"default_action": "last",
                 "load": {"web1": {"one": 0.5}}, "ip": {"web1": {"eth0": "10.0.0.1"}}}
            ])
        );
    }

    #[test]
    fn stamps_date_every_tree_with_the_collection_time() {
        let now = Instant::now();
        let wall = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .unwrap()
            .as_secs();
        let wall = i64::try_from(wall).unwrap();
        let ago = unix_secs_at(now.checked_sub(Duration::from_secs(30)).unwrap());
        assert!((wall - 31..=wall - 29).contains(&ago), "{ago} vs {wall}");
        let ahead = unix_secs_at(now + Duration::from_secs(30));
        assert!(
            (wall + 29..=wall + 31).contains(&ahead),
            "{ahead} vs {wall}"
        );
        let mut doc = serde_json::json!([{"a": {"h": {"x": 1}}}, {"timestamp": 5, "b": 2}]);
        stamp(&mut doc, 1_700_000_000);
        assert_eq!(
            doc,
            serde_json::json!([
                {"timestamp": 1_700_000_000, "a": {"h": {"x": 1}}},
                {"timestamp": 1_700_000_000, "b": 2}
            ])
        );
    }

    #[test]
    fn conflicts_follow_the_server_rules() {
        let mut t = Map::new();
        insert(&mut t, &["a".into(), "b".into()], Json::from(1));
        insert(&mut t, &["a".into(), "b".into(), "c".into()], Json::from(2));
        insert(&mut t, &["a".into()], Json::from(3));
        assert_eq!(
            Json::Object(t),
            serde_json::json!({"a": {"count": 3, "b": {"count": 1, "c": 2}}})
        );
    }

    #[test]
    fn leaves_placed_in_runs_land_where_one_by_one_puts_them() {
        let leaves = [("a,b", 1), ("a,b,c", 2), ("a,b,d", 3), ("a", 4), ("x,y", 5)];
        let mut one = Map::new();
        for (path, v) in leaves {
            let keys: Vec<String> = path.split(',').map(str::to_string).collect();
            insert(&mut one, &keys, Json::from(v));
        }
        let mut runs = Map::new();
        insert_under(&mut runs, ["a"].into_iter(), [("b".into(), Json::from(1))]);
        insert_under(
            &mut runs,
            ["a", "b"].into_iter(),
            [("c".into(), Json::from(2)), ("d".into(), Json::from(3))],
        );
        insert_under(&mut runs, std::iter::empty(), [("a".into(), Json::from(4))]);
        insert_under(&mut runs, ["x"].into_iter(), [("y".into(), Json::from(5))]);
        assert_eq!(runs, one);
    }
}
