//! The front's shared state, which every route reads.

use treestat_engine::telemetry::{Counter, Telemetry};

use super::shards::Shards;

/// The header naming the shards left out of an answer, comma-separated.
pub const PARTIAL_HEADER: &str = "x-treestat-partial";

/// The front's shared state: the shards and its own counters; cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Front {
    pub shards: Shards,
    pub telemetry: Telemetry,
    pub requests: Counter,
    pub partial_answers: Counter,
    pub token: Option<String>,
    pub auth_reads: bool,
    /// Listening on a loopback address: every request's `Host` is checked (DNS
    /// rebinding), as on a server.
    pub loopback: bool,
    /// Names answered besides `localhost` and IP literals (`--allowed-host`).
    pub allowed_hosts: Vec<String>,
    /// Chart renders at once: one per core, as on a server.
    pub renders: std::sync::Arc<tokio::sync::Semaphore>,
}
