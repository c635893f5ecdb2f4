//! treestat-engine: the metric tree, actions, path queries and intervals
//! (docs/CONCEPTS.md). The trend store and the push listeners build on it.
//!
//! The flow inside: a source builds a [`PushDoc`] (JSON) or a [`Batch`] (line protocols,
//! pipes), the [`Engine`] validates it whole, merges it under one write lock, and at each
//! interval close hands a [`ClosedInterval`] to its [`IntervalSink`]s.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod batch;
mod config;
mod engine;
mod error;
pub mod histogram;
mod interval;
pub mod listen;
mod merge;
pub mod path;
pub mod pattern;
pub mod process_metrics;
mod push;
pub mod query;
mod shared_paths;
pub mod sketch;
mod stats;
pub mod stop;
pub mod telemetry;
mod tree;
pub mod trend;
pub mod wal;

pub use batch::{Batch, Update};
pub use config::{
    ActionRule, EngineConfig, Limits, WalFull, WalMode, de_action, de_duration, parse_duration,
};
pub use engine::{
    Deleted, Engine, EngineMetrics, EngineStats, KeyEntry, KeyListing, PushEvent, PushSummary,
    RecentSeries, StatRow,
};
pub use error::{Error, ErrorKind};
pub use interval::{
    Clock, ClosedInterval, IntervalPoint, IntervalSink, LatePoint, ManualClock, Marker, SystemClock,
};
pub use pattern::{Agg, INTERNAL_KEY, Kind, Pattern};
pub use push::{PushDoc, PushTree, PushValue, insert_path, nest};
pub use shared_paths::{PathMemo, SharedPaths};
pub use stats::Stats;
pub use tree::{Leaf, LeafId, Tree};
pub use treestat_model::{Action, Stat, parse_stats};
