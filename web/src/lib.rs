//! treestat-web: the HTTP API as one axum router over the engine (DESIGN.md §5).
//!
//! [`app`] builds the router from one sub-router per area (push, query, pull, events,
//! views, metrics, StatsServer); every handler returns `Result<_, AppError>`, so every
//! refusal is a status with a JSON `{"error": ...}` body. [`serve`] runs it on a
//! listener with a connection bound and graceful shutdown. What the server is wired
//! with (pipes, the trend store, telemetry) comes in through [`AppState`]'s hooks.

mod auth;
mod body;
mod config;
mod error;
mod events;
mod metrics;
pub mod pages;
mod pull;
mod push;
mod query;
mod serve;
mod state;
mod statsserver;
mod views;

use axum::Router;
use axum::middleware::from_fn_with_state;

pub use config::{AuthConfig, WebConfig};
pub use error::{AppError, RejectReason};
pub use events::interval_json;
pub use metrics::render as render_metrics;
pub use pull::{CURSOR_HEADER, MISSED_HEADER};
pub use push::{LogAnswer, PushAnswer};
pub use query::DiffRow;
pub use serve::serve;
pub use state::{AppState, LogSink, LogSummary, ViewStore, WebCounters};
pub use views::{VIEW_PREFIX, View};

/// The whole HTTP API. Writes need the bearer token when `auth.token` is set; reads
/// need it too when `auth.reads` is true.
pub fn app(state: AppState) -> Router {
    let writes = Router::new()
        .merge(push::router())
        .merge(statsserver::router())
        .route_layer(from_fn_with_state(state.clone(), auth::require_write));
    let reads = Router::new()
        .merge(query::router())
        .merge(pull::router())
        .merge(events::router())
        .merge(metrics::router())
        .route_layer(from_fn_with_state(state.clone(), auth::require_read));
    let mixed =
        views::router().route_layer(from_fn_with_state(state.clone(), auth::require_by_method));
    Router::new()
        .merge(writes)
        .merge(reads)
        .merge(mixed)
        .fallback(not_found)
        .layer(from_fn_with_state(state.clone(), auth::count))
        .with_state(state)
}

async fn not_found(uri: axum::http::Uri) -> AppError {
    AppError::not_found(format!("no endpoint at {}; see docs/API.md", uri.path()))
}

#[cfg(test)]
mod router_tests;
