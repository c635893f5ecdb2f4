//! Registering the engine in the process's [`Telemetry`]: its counters by name, and
//! the size gauges (`treestat_tree_nodes`, ...), read from the engine when rendered
//! ([`Telemetry::gauge_fn`]); each takes the read lock for its one figure.

use std::sync::{Arc, Weak};

use crate::error::ErrorKind;
use crate::telemetry::Telemetry;

use super::metrics::{EngineMetrics, counters};
use super::{Engine, Shared, State};

/// Reads one size figure from the engine's state.
type SizeOf = fn(&State) -> usize;

/// Size gauges read from the engine's state: name, help, reader.
const SIZES: [(&str, &str, SizeOf); 6] = [
    ("treestat_tree_nodes", "Nodes in the tree.", |s| {
        s.tree.node_count()
    }),
    ("treestat_tree_leaves", "Leaves in the tree.", |s| {
        s.tree.leaf_count()
    }),
    (
        "treestat_tree_bytes",
        "Approximate heap bytes of the tree.",
        |s| s.tree.heap_bytes(),
    ),
    (
        "treestat_ring_intervals",
        "Closed intervals held in memory.",
        |s| s.ring.len(),
    ),
    (
        "treestat_ring_bytes",
        "Bytes held by the interval ring.",
        |s| s.ring.bytes(),
    ),
    ("treestat_markers", "Markers kept beside the tree.", |s| {
        s.markers.len()
    }),
];

impl Engine {
    /// The engine's counters (tests and tools read them; `/metrics` reads them through
    /// the registry they are registered in).
    pub fn metrics(&self) -> &EngineMetrics {
        &self.shared.metrics
    }

    /// Registers the engine's counters and gauges in `telemetry` (registering again
    /// replaces them with the same handles). The size gauges hold the engine weakly:
    /// the registry does not keep a dropped engine (and its sinks) alive.
    pub fn register_telemetry(&self, telemetry: &Telemetry) {
        let m = &self.shared.metrics;
        for (name, help, counter) in counters(m) {
            telemetry.describe(name, help);
            telemetry.register_counter(name, &[], counter);
        }
        telemetry.describe(
            "treestat_rejects_total",
            "Pushes the engine refused, by reason.",
        );
        for kind in ErrorKind::ALL {
            telemetry.register_counter(
                "treestat_rejects_total",
                &[("reason", kind.as_str())],
                &m.rejects[kind as usize],
            );
        }
        for (name, help, micros) in [
            (
                "treestat_close_lock_seconds",
                "How long the last interval close held the engine's write lock (pushes \
                 waited at most that long for it).",
                &m.close_lock_micros,
            ),
            (
                "treestat_close_seconds",
                "How long the last interval close took in all: new paths, sinks, \
                 subscribers.",
                &m.close_micros,
            ),
        ] {
            telemetry.describe(name, help);
            let micros = micros.clone();
            #[allow(clippy::cast_precision_loss)] // microseconds stay far below 2^53
            telemetry.gauge_fn(name, &[], move || micros.get() as f64 / 1e6);
        }
        for (name, help, read) in SIZES {
            telemetry.describe(name, help);
            let shared: Weak<Shared> = Arc::downgrade(&self.shared);
            telemetry.gauge_fn(name, &[], move || {
                shared.upgrade().map_or(0.0, |sh| {
                    #[allow(clippy::cast_precision_loss)] // sizes stay far below 2^53
                    let v = read(&sh.state.read()) as f64;
                    v
                })
            });
        }
    }
}
