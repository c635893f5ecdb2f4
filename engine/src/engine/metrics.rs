//! The engine's counters: handles of the telemetry registry, created with the engine
//! so the hot path only increments, and registered by name in the process's
//! [`Telemetry`](crate::telemetry::Telemetry) by `register.rs`, where they render at
//! `/metrics` and land in the tree under `_treestat` like every other counter.

use crate::error::ErrorKind;
use crate::telemetry::{Counter, Gauge};

/// The engine's counters; clones of the handles share the values.
#[derive(Debug, Clone, Default)]
pub struct EngineMetrics {
    /// Pushes applied (`treestat_pushes_total`).
    pub pushes: Counter,
    /// Samples merged (`treestat_samples_total`).
    pub samples: Counter,
    /// Pushes refused, one per [`ErrorKind::ALL`] (`treestat_rejects_total{reason}`).
    pub(super) rejects: [Counter; ErrorKind::ALL.len()],
    /// Intervals closed (`treestat_intervals_total`).
    pub intervals: Counter,
    /// Samples and markers refused by a byte bound (dated samples past
    /// `limits.max_late_bytes`, markers past `limits.max_marker_bytes`;
    /// `treestat_dropped_total`).
    pub dropped: Counter,
    /// Samples (and dated pushes) refused for a time stamp beyond `engine.max_future`
    /// (`treestat_refused_future_total`).
    pub refused_future: Counter,
    /// Samples refused because they, or their fold into a total, would not be finite
    /// (`treestat_refused_nonfinite_total`).
    pub refused_nonfinite: Counter,
    /// Pushes and closed intervals whose leaf paths were resolved for readers (once
    /// each, however many readers: `/pull`, `/events`, the relay).
    pub shared_path_resolves: Counter,
    /// Patterns matched against a push's or interval's shared paths (once per distinct
    /// pattern text per push or interval, however many readers share it).
    pub shared_pattern_matches: Counter,
    /// Deletes applied (`DELETE /api/q`, `treestat_deletes_total`).
    pub deletes: Counter,
    /// Nodes (branches and leaves) the deletes removed (`treestat_deleted_nodes_total`).
    pub deleted_nodes: Counter,
    /// Microseconds the last interval close held the write lock (pushes wait that long;
    /// rendered in seconds as `treestat_close_lock_seconds`).
    pub close_lock_micros: Gauge,
    /// Microseconds the last interval close took in all: paths, sinks, subscribers
    /// (`treestat_close_seconds`).
    pub close_micros: Gauge,
}

impl EngineMetrics {
    /// Counts one refused push.
    #[inline]
    pub(crate) fn reject(&self, kind: ErrorKind) {
        self.rejects[kind as usize].inc();
    }

    /// Pushes refused so far for one reason.
    pub fn rejects(&self, kind: ErrorKind) -> u64 {
        self.rejects[kind as usize].get()
    }
}

/// Counter families: name, help, handle.
pub(super) fn counters(m: &EngineMetrics) -> [(&'static str, &'static str, &Counter); 10] {
    [
        (
            "treestat_pushes_total",
            "Pushes the engine applied.",
            &m.pushes,
        ),
        (
            "treestat_samples_total",
            "Samples merged into the tree.",
            &m.samples,
        ),
        (
            "treestat_intervals_total",
            "Intervals closed.",
            &m.intervals,
        ),
        (
            "treestat_dropped_total",
            "Dated samples and markers refused by a byte bound (limits.max_late_bytes, \
             limits.max_marker_bytes).",
            &m.dropped,
        ),
        (
            "treestat_refused_future_total",
            "Samples and dated pushes refused for a time stamp beyond engine.max_future.",
            &m.refused_future,
        ),
        (
            "treestat_refused_nonfinite_total",
            "Samples refused because they, or their fold into a total, would not be \
             finite.",
            &m.refused_nonfinite,
        ),
        (
            "treestat_shared_path_resolves_total",
            "Pushes and closed intervals whose leaf paths were resolved for /pull, /events \
             and the relay (once each, however many readers).",
            &m.shared_path_resolves,
        ),
        (
            "treestat_shared_pattern_matches_total",
            "Reader patterns matched against a push or a closed interval (once per distinct \
             pattern per push or interval).",
            &m.shared_pattern_matches,
        ),
        (
            "treestat_deletes_total",
            "Deletes applied (DELETE /api/q/<pattern>, treestat delete), dry runs not counted.",
            &m.deletes,
        ),
        (
            "treestat_deleted_nodes_total",
            "Tree nodes (branches and leaves) removed by deletes.",
            &m.deleted_nodes,
        ),
    ]
}

#[cfg(test)]
mod tests {
    use crate::telemetry::Telemetry;
    use crate::{Engine, ErrorKind, Update};

    #[test]
    fn engine_counts_render_once_and_land_under_treestat() {
        let engine = Engine::default();
        let t = Telemetry::default();
        engine.register_telemetry(&t);
        engine.register_telemetry(&t); // again: the same handles, no second series
        engine.push_json(br#"{"a":{"b":1}}"#).unwrap();
        engine.push_json(br#"{"a,b":1}"#).unwrap_err();
        assert_eq!(engine.metrics().rejects(ErrorKind::BadKey), 1);
        let mut out = String::new();
        t.render_prometheus(&mut out);
        assert!(out.contains("# TYPE treestat_pushes_total counter\ntreestat_pushes_total 1\n"));
        assert!(
            out.contains("treestat_rejects_total{reason=\"bad_key\"} 1\n"),
            "{out}"
        );
        assert!(out.contains("treestat_rejects_total{reason=\"future_time\"} 0\n"));
        assert!(out.contains("# TYPE treestat_tree_leaves gauge\ntreestat_tree_leaves 1\n"));
        let lines = out
            .lines()
            .filter(|l| l.starts_with("treestat_pushes_total "));
        assert_eq!(lines.count(), 1, "{out}");
        let batch = t.to_batch();
        let value = |path: &str| {
            batch.updates().iter().find_map(|u| match u {
                Update::Sample { path: p, value, .. } if p == path => Some(*value),
                _ => None,
            })
        };
        assert_eq!(value("_treestat,pushes"), Some(1.0));
        assert_eq!(value("_treestat,rejects,bad_key"), Some(1.0));
        assert_eq!(value("_treestat,tree,leaves"), Some(1.0));
        // The registry's own push into the tree is counted like any other.
        engine.apply(&batch).unwrap();
        assert_eq!(t.value("treestat_pushes_total", &[]), Some(2.0));
        assert_eq!(
            engine.leaf_at("_treestat,rejects,bad_key").unwrap().2.last,
            1.0
        );
    }

    #[test]
    fn the_registry_does_not_keep_a_dropped_engine() {
        let t = Telemetry::default();
        let engine = Engine::default();
        engine.register_telemetry(&t);
        let weak = std::sync::Arc::downgrade(&engine.shared);
        drop(engine);
        assert!(weak.upgrade().is_none());
        assert_eq!(t.value("treestat_tree_nodes", &[]), Some(0.0));
    }
}
