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
mod dispatch;
mod error;
mod events;
mod extract;
pub mod graphs;
mod interval_json;
mod metrics;
mod origin;
pub mod pages;
mod pull;
mod push;
mod query;
mod serve;
mod state;
mod statsserver;
pub mod trends;
mod views;

use axum::Router;
use axum::middleware::from_fn_with_state;

pub use auth::{require_read, require_write};
pub use config::{AuthConfig, WebConfig};
pub use error::{AppError, RejectReason};
pub use interval_json::interval_json;
pub use metrics::render as render_metrics;
pub use pull::{CURSOR_HEADER, MISSED_HEADER};
pub use push::{LogAnswer, PushAnswer};
pub use query::DiffRow;
pub use serve::{serve, serve_router};
pub use state::{AppState, LogSink, LogSummary, ViewStore, WebCounters};
pub use views::{VIEW_PREFIX, View};

/// The whole HTTP API. Writes need the bearer token when `auth.token` is set; reads
/// need it too when `auth.reads` is true.
pub fn app(state: AppState) -> Router {
    app_with(state, Router::new())
}

/// The HTTP API plus routes of other areas (pages, trends, graphs), merged before the
/// JSON 404 fallback and the request counter, so every route is counted and unknown
/// paths answer alike. Guard `extra`'s routes with [`require_read`] /
/// [`require_write`] (`axum::middleware::from_fn_with_state(state, ...)`).
///
/// # Panics
/// As `Router::merge`: when `extra` has a fallback or a route that overlaps the API's.
pub fn app_with(state: AppState, extra: Router) -> Router {
    let writes = Router::new()
        .merge(push::router())
        .merge(statsserver::router())
        .route_layer(from_fn_with_state(state.clone(), require_write));
    let reads = Router::new()
        .merge(query::router())
        .merge(pull::router())
        .merge(events::router())
        .merge(metrics::router())
        .route_layer(from_fn_with_state(state.clone(), require_read));
    let mixed =
        views::router().route_layer(from_fn_with_state(state.clone(), auth::require_by_method));
    let api: Router = Router::new()
        .merge(writes)
        .merge(reads)
        .merge(mixed)
        .merge(metrics::health_router())
        .with_state(state.clone());
    api.merge(extra)
        .fallback(not_found)
        .layer(from_fn_with_state(state.clone(), origin::same_origin))
        .layer(from_fn_with_state(state, auth::count))
}

async fn not_found(uri: axum::http::Uri) -> AppError {
    AppError::not_found(format!("no endpoint at {}; see docs/API.md", uri.path()))
}

#[cfg(test)]
mod router_tests;
