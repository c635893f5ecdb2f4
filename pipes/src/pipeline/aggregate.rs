//! Updates of one interval, folded locally per path before they reach the engine.
//!
//! A busy log emits millions of samples per interval onto a few hundred paths; folding
//! them here (a hash map keyed by path, no allocation for a path seen before) turns
//! them into one update per path: at flush each path becomes one [`Batch::stats`]
//! update carrying its sum, count, min, max and last, so the engine's running mean
//! stays exact however many samples were folded. Batches are applied in chunks of
//! [`CHUNK`] so memory stays bounded.

use std::collections::HashMap;
use treestat_engine::{Batch, Engine, PushSummary, Stats};
use treestat_pipe_api::{Action, DEFAULT_ACTION_KEY, Emit};

/// Most updates in one batch handed to the engine.
pub const CHUNK: usize = 50_000;

/// Most samples of `histogram` paths one interval's aggregate holds (8 bytes each: 32
/// MiB). A histogram leaf needs every sample for its sketch, so those paths keep their
/// samples rather than only a fold; past the bound a sample still counts in its path's
/// sum, count, min and max but misses the sketch, and is counted in
/// [`Aggregate::unsketched`].
pub const MAX_HELD_SAMPLES: usize = 1 << 22;

/// The folded samples of one path.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Folded {
    /// Sum of the samples.
    pub sum: f64,
    /// How many.
    pub count: u64,
    /// Smallest.
    pub min: f64,
    /// Largest.
    pub max: f64,
    /// Newest.
    pub last: f64,
    /// The action the newest emit asked for.
    pub action: Option<Action>,
}

impl Folded {
    /// The value this path reports under its action (the mean when inherited).
    pub fn value(&self) -> f64 {
        match self.action {
            Some(Action::Add) => self.sum,
            Some(Action::Max) => self.max,
            Some(Action::Min) => self.min,
            Some(Action::Last) => self.last,
            Some(Action::Average | Action::Histogram) | None => self.mean(),
        }
    }

    fn mean(&self) -> f64 {
        // Sample counts stay far below 2^53.
        #[allow(clippy::cast_precision_loss)]
        let n = self.count.max(1) as f64;
        self.sum / n
    }
}

/// One interval's updates, by path.
#[derive(Debug, Default)]
pub struct Aggregate {
    map: HashMap<String, Folded>,
    max_paths: usize,
    dropped: u64,
    /// The samples of paths emitted as `histogram`, in order.
    samples: HashMap<String, Vec<f64>>,
    /// Samples held in `samples`.
    held: usize,
    /// Histogram samples past [`MAX_HELD_SAMPLES`].
    unsketched: u64,
}

impl Aggregate {
    /// Holds at most `max_paths` distinct paths; further new paths are dropped and
    /// counted.
    pub fn new(max_paths: usize) -> Aggregate {
        Aggregate {
            map: HashMap::new(),
            max_paths,
            dropped: 0,
            samples: HashMap::new(),
            held: 0,
            unsketched: 0,
        }
    }

    /// Histogram samples that missed their sketch (past [`MAX_HELD_SAMPLES`]).
    pub fn unsketched(&self) -> u64 {
        self.unsketched
    }

    /// The samples held for a `histogram` path, in order.
    pub fn samples(&self, path: &str) -> Option<&[f64]> {
        self.samples.get(path).map(Vec::as_slice)
    }

    /// Keeps a histogram path's sample for its sketch, within the bound.
    fn hold(&mut self, path: &str, value: f64) {
        if self.held >= MAX_HELD_SAMPLES {
            self.unsketched += 1;
            return;
        }
        self.held += 1;
        match self.samples.get_mut(path) {
            Some(v) => v.push(value),
            None => {
                self.samples.insert(path.to_string(), vec![value]);
            }
        }
    }

    /// Distinct paths held.
    pub fn len(&self) -> usize {
        self.map.len()
    }

    /// Whether nothing is held.
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Updates dropped because the path cap was reached, since the last take.
    pub fn dropped(&self) -> u64 {
        self.dropped
    }

    /// `(path, value, action)` for every path, sorted by path.
    pub fn rows(&self) -> Vec<(String, f64, Option<Action>)> {
        let mut v: Vec<_> = self
            .map
            .iter()
            .map(|(p, f)| (p.clone(), f.value(), f.action))
            .collect();
        v.sort_by(|a, b| a.0.cmp(&b.0));
        v
    }

    /// Every path with its folded samples, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = (&str, &Folded)> {
        self.map.iter().map(|(p, f)| (p.as_str(), f))
    }

    /// The updates as a push document for a remote server (`treestat tail --server`):
    /// a JSON array of trees, one per action, each with its `default_action` (none for
    /// inherited paths), one value per path. JSON pushes carry samples, not folded
    /// counts, so an average path is sent as one sample of the interval's mean: on the
    /// server each interval then weighs the same (in-process tailing, and the server's
    /// own `[[tail]]` sources, stay exact through [`Aggregate::apply_to`]).
    pub fn to_push_json(&self) -> serde_json::Value {
        use serde_json::{Map, Value};
        let mut trees: Vec<(Option<Action>, Map<String, Value>)> = Vec::new();
        let mut rows: Vec<(&String, &Folded)> = self.map.iter().collect();
        rows.sort_by(|a, b| a.0.cmp(b.0));
        for (path, f) in rows {
            let i = match trees.iter().position(|(a, _)| *a == f.action) {
                Some(i) => i,
                None => {
                    let mut m = Map::new();
                    if let Some(a) = f.action {
                        m.insert(DEFAULT_ACTION_KEY.into(), Value::from(a.as_str()));
                    }
                    trees.push((f.action, m));
                    trees.len() - 1
                }
            };
            // A histogram path's samples go as an array: samples, each reaching the
            // remote leaf's sketch.
            let value = match self.samples.get(path.as_str()) {
                Some(vs) if vs.len() as u64 == f.count => Value::from(vs.clone()),
                _ => Value::from(f.value()),
            };
            treestat_engine::insert_path(&mut trees[i].1, path, value);
        }
        Value::Array(trees.into_iter().map(|(_, m)| Value::Object(m)).collect())
    }

    /// The folded samples of one path.
    pub fn get(&self, path: &str) -> Option<&Folded> {
        self.map.get(path)
    }

    /// Empties the aggregate, returning what it held.
    pub fn take(&mut self) -> Aggregate {
        let mut out = Aggregate::new(self.max_paths);
        std::mem::swap(&mut out, self);
        out
    }

    /// Hands everything to the engine in batches of at most [`CHUNK`] updates.
    ///
    /// # Errors
    /// The engine's error for the first batch it refused (the others still apply).
    pub fn apply_to(&self, engine: &Engine) -> Result<PushSummary, treestat_engine::Error> {
        let mut total = PushSummary::default();
        let mut first_err = None;
        let mut batch = Batch::new();
        let mut send = |batch: &mut Batch| {
            if batch.is_empty() {
                return;
            }
            match engine.apply(batch) {
                Ok(s) => {
                    total.samples += s.samples;
                    total.leaves += s.leaves;
                    total.markers += s.markers;
                    total.new_nodes += s.new_nodes;
                }
                Err(e) => {
                    first_err.get_or_insert(e);
                }
            }
            *batch = Batch::new();
        };
        for (path, f) in &self.map {
            let mut stats = Stats {
                sum: f.sum,
                count: f.count,
                min: f.min,
                max: f.max,
                last: f.last,
            };
            if let Some(vs) = self.samples.get(path) {
                // Every held sample reaches the sketch; the rest (past the bound) as a
                // fold: its sum and count, bounded by the whole set's min and max.
                batch.samples(path, vs, f.action);
                stats.count -= vs.len() as u64;
                stats.sum -= vs.iter().sum::<f64>();
                if stats.count == 0 {
                    if batch.len() >= CHUNK {
                        send(&mut batch);
                    }
                    continue;
                }
            }
            batch.stats(path, stats, f.action);
            if batch.len() >= CHUNK {
                send(&mut batch);
            }
        }
        send(&mut batch);
        match first_err {
            Some(e) => Err(e),
            None => Ok(total),
        }
    }
}

impl Emit for Aggregate {
    #[inline]
    fn emit(&mut self, path: &str, value: f64, action: Option<Action>) {
        if !value.is_finite() {
            return;
        }
        let histogram = action == Some(Action::Histogram)
            || (action.is_none()
                && self
                    .map
                    .get(path)
                    .is_some_and(|f| f.action == Some(Action::Histogram)));
        if histogram && (self.map.contains_key(path) || self.map.len() < self.max_paths) {
            self.hold(path, value);
        }
        if let Some(f) = self.map.get_mut(path) {
            f.sum += value;
            f.count += 1;
            f.min = f.min.min(value);
            f.max = f.max.max(value);
            f.last = value;
            if action.is_some() {
                f.action = action;
            }
            return;
        }
        if self.map.len() >= self.max_paths {
            self.dropped += 1;
            return;
        }
        self.map.insert(
            path.to_string(),
            Folded {
                sum: value,
                count: 1,
                min: value,
                max: value,
                last: value,
                action,
            },
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_by_action_and_caps_paths() {
        let mut a = Aggregate::new(3);
        a.emit("c", 1.0, Some(Action::Add));
        a.emit("c", 2.0, Some(Action::Add));
        a.emit("m", 5.0, Some(Action::Max));
        a.emit("m", 3.0, Some(Action::Max));
        a.emit("avg", 1.0, Some(Action::Average));
        a.emit("avg", 2.0, Some(Action::Average));
        a.emit("new", 1.0, Some(Action::Add));
        a.emit("c", f64::NAN, Some(Action::Add));
        assert_eq!(a.dropped(), 1);
        let rows = a.rows();
        let want = vec![
            ("avg".to_string(), 1.5, Some(Action::Average)),
            ("c".to_string(), 3.0, Some(Action::Add)),
            ("m".to_string(), 5.0, Some(Action::Max)),
        ];
        assert_eq!(rows, want);
        let taken = a.take();
        assert!(a.is_empty() && taken.len() == 3);
    }

    #[test]
    fn push_json_groups_by_action_with_one_value_per_path() {
        let mut a = Aggregate::new(100);
        a.emit("br,IE,8.0", 1.0, Some(Action::Add));
        a.emit("br,IE,8.0", 1.0, Some(Action::Add));
        a.emit("rt,avg", 1.0, Some(Action::Average));
        a.emit("rt,avg", 3.0, Some(Action::Average));
        a.emit("x", 4.0, None);
        let j = a.to_push_json();
        assert_eq!(
            j,
            serde_json::json!([
                {"default_action": "add", "br": {"IE": {"8.0": 2.0}}},
                {"default_action": "average", "rt": {"avg": 2.0}},
                {"x": 4.0}
            ])
        );
        let engine =
            treestat_engine::Engine::new(treestat_engine::EngineConfig::default()).unwrap();
        engine.push_json(j.to_string().as_bytes()).unwrap();
        assert_eq!(
            engine.query("rt,avg").unwrap(),
            vec![("rt,avg".to_string(), 2.0)]
        );
    }

    /// Regression (issue 15): the fold kept sum, count, min and max only, so a
    /// histogram path reached the engine as one `Stats` update and its sketch stayed
    /// empty. Its samples are now kept and sent as samples.
    #[test]
    fn histogram_paths_keep_their_samples() {
        let mut a = Aggregate::new(100);
        for v in [0.5, 0.1, 2.0, 0.1] {
            a.emit("rt,hist", v, Some(Action::Histogram));
        }
        a.emit("rt,avg", 1.0, Some(Action::Average));
        assert_eq!(a.samples("rt,hist"), Some(&[0.5, 0.1, 2.0, 0.1][..]));
        assert_eq!(a.samples("rt,avg"), None);
        let e = Engine::default();
        a.apply_to(&e).unwrap();
        let stats = treestat_engine::parse_stats("count,p100,p0").unwrap();
        let p = treestat_engine::Pattern::parse("rt,hist").unwrap();
        assert_eq!(
            e.query_stats(&p, &stats)[0].1,
            [Some(4.0), Some(2.0), Some(0.1)]
        );
        let json = a.to_push_json();
        let tree = json
            .as_array()
            .unwrap()
            .iter()
            .find(|t| t["default_action"] == "histogram")
            .unwrap();
        assert_eq!(tree["rt"]["hist"], serde_json::json!([0.5, 0.1, 2.0, 0.1]));
        assert_eq!(a.unsketched(), 0);
    }
}
