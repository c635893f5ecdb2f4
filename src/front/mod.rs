//! `treestat front`: one read API over several shards (issue 16, docs/SCALING.md "Read
//! front"). A shard is a plain `treestat serve` holding some of the top-level keys; the
//! front holds no data.
//!
//! - **Routing.** A pattern whose first segment is a literal key goes to the shards that
//!   hold that key only (learnt from each shard's `/api/keys/`, refreshed every
//!   `--refresh` and in the background on a miss; a miss asks every shard, so a new key
//!   is never answered empty). Any other pattern fans out to every shard at once.
//! - **Folds** merge the shards' leaves, never their folded answers: shards answer the
//!   leaves the pattern selects (`/api/q/<p>.json?partial=1`: value, newest sample time,
//!   and for quantile folds the sketch), and the front folds them with the engine's own
//!   fold ([`treestat_engine::query::aggregate_partial`]), so `*|avg` over three shards
//!   is the mean of every leaf, not a mean of three means, and `|p99` the quantile of
//!   the merged sketches. A leaf two shards hold (a key moved by a rebalance) is taken
//!   from the copy with the newest sample: the new owner's.
//! - **Deadline.** A shard that does not answer within `--deadline` (or fails) is left
//!   out and named in `X-Treestat-Partial` (and `partial` in object-shaped JSON); the
//!   front never waits longer than the deadline for any shard.

mod events;
mod fan;
mod graph;
mod graphite;
mod keys;
mod live;
mod pull;
mod routes;
mod shards;
mod state;
mod stream;
mod trend;
mod views;

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use tokio_util::sync::CancellationToken;
use treestat_engine::telemetry::Telemetry;

use shards::Shards;
use state::Front;
pub use state::PARTIAL_HEADER;

/// What `treestat front` runs with.
#[derive(Debug, Clone)]
pub struct FrontConfig {
    /// The shards' base URLs (`http://a:8080`).
    pub shards: Vec<String>,
    /// Where the front listens.
    pub listen: SocketAddr,
    /// Longest wait for a shard's answer; past it the shard is left out.
    pub deadline: Duration,
    /// How often the owner map (which shard holds which top-level keys) is re-read.
    pub refresh: Duration,
    /// Bearer token sent to the shards, and asked of readers when `auth_reads`.
    pub token: Option<String>,
    /// Readers must present `token` (header or `treestat_token` cookie).
    pub auth_reads: bool,
    /// Longest wait for a request's head; a connection slower than this is closed
    /// (slowloris), as a server's `web.header_timeout`.
    pub header_timeout: std::time::Duration,
    /// Host names the front answers to besides `localhost` and IP literals when it
    /// listens on a loopback address (DNS rebinding), as a server's `web.allowed_hosts`.
    pub allowed_hosts: Vec<String>,
}

/// Runs the front until `stop` fires.
///
/// # Errors
/// No shard given, or the address cannot be bound.
pub async fn run(cfg: FrontConfig, stop: CancellationToken) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(cfg.listen)
        .await
        .with_context(|| format!("binding {}", cfg.listen))?;
    serve(listener, cfg, stop).await
}

/// Serves the front on `listener` until `stop` fires.
///
/// # Errors
/// No shard given.
pub async fn serve(
    listener: tokio::net::TcpListener,
    cfg: FrontConfig,
    stop: CancellationToken,
) -> anyhow::Result<()> {
    anyhow::ensure!(!cfg.shards.is_empty(), "front: no shard given (--shards)");
    let telemetry = Telemetry::default();
    telemetry.describe("treestat_front_requests_total", "Reads the front answered.");
    telemetry.describe(
        "treestat_front_partial_answers_total",
        "Answers that left out at least one shard (X-Treestat-Partial).",
    );
    telemetry.describe(
        "treestat_front_header_timeouts_total",
        "Connections closed because their request head did not arrive within --header-timeout.",
    );
    let header_timeouts = telemetry.counter("treestat_front_header_timeouts_total", &[]);
    let shards = Shards::new(
        &cfg.shards,
        cfg.token.clone(),
        cfg.deadline,
        cfg.refresh,
        &telemetry,
    );
    let front = Front {
        requests: telemetry.counter("treestat_front_requests_total", &[]),
        partial_answers: telemetry.counter("treestat_front_partial_answers_total", &[]),
        shards: shards.clone(),
        telemetry,
        token: cfg.token.clone(),
        auth_reads: cfg.auth_reads,
        loopback: listener.local_addr()?.ip().is_loopback(),
        allowed_hosts: cfg.allowed_hosts.clone(),
        renders: std::sync::Arc::new(tokio::sync::Semaphore::new(
            std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
        )),
    };
    tokio::spawn(shards.keep_owners_fresh(stop.clone()));
    tracing::info!(
        addr = %listener.local_addr()?,
        shards = cfg.shards.len(),
        "front listening"
    );
    // A server's accept loop and bounds: a request head must arrive within
    // `--header-timeout` (slowloris); at most `web.max_connections`' default open at
    // once.
    let web = treestat_web::WebConfig::default();
    let limits = treestat_web::Limits {
        header_timeout: cfg.header_timeout,
        max_connections: web.max_connections,
        shutdown_grace: web.shutdown_grace,
    };
    treestat_web::serve_router(
        listener,
        routes::app(front),
        limits,
        header_timeouts,
        stop,
        || {},
    )
    .await
    .context("front HTTP server")
}
