//! treestat-web: the HTTP API as one axum router over the engine (docs/API.md).
//!
//! [`app`] builds the whole router from one [`AppState`], one sub-router per area (push,
//! query, pull, events, views, dashboards, metrics, StatsServer, trends, graphs, pages), all on that
//! one state; every handler returns `Result<_, AppError>`, so every refusal is a status
//! with a JSON `{"error": ...}` body. [`serve`] runs it on a listener with a connection
//! bound and graceful shutdown. What the server is wired with (pipes, the trend store,
//! saved views, telemetry) comes in through [`AppState`]'s `with_*` hooks.

#![forbid(unsafe_code)]
#![warn(missing_docs)]

mod auth;
mod body;
mod config;
mod dashboards;
mod dispatch;
mod error;
mod events;
mod extract;
mod graphite;
mod graphite_fold;
mod graphite_source;
mod graphite_split;
mod graphs;
mod interval_json;
mod metrics;
mod origin;
pub mod pages;
mod partial_json;
mod pull;
mod push;
mod query;
mod serve;
mod state;
mod statsserver;
pub mod tree;
pub mod trends;
mod views;

use axum::Router;
use axum::middleware::from_fn_with_state;

pub use auth::{require_read, require_write};
pub use config::{AuthConfig, WebConfig};
pub use dashboards::{DASHBOARD_PREFIX, Dashboard};
pub use error::strip_json;
pub use error::{AppError, RejectReason};
pub use graphite::render_with as graphite_render;
pub use graphs::{chart_cache, chart_etag, in_render_slot, render_chart, stat_lines};
pub use interval_json::interval_json;
pub use metrics::render as render_metrics;
pub use origin::{check_origin, host_allowed};
pub use pull::{CURSOR_HEADER, MISSED_HEADER};
pub use push::{LogAnswer, PushAnswer};
pub use query::{DiffRow, StatRows, nest_stats};
pub use serve::{Limits, serve, serve_router};
pub use state::{AppState, LogSink, LogSummary, ViewStore, WebCounters};
pub use views::{VIEW_PREFIX, View};

/// The whole HTTP API and the pages, from one state: the trend and graph routes
/// (`/trend`, `/export`, `/markers`, `/import`, `/graph`, the chart forms of `/diff`)
/// are mounted when the state has a trend store ([`AppState::with_trend_store`]).
/// Writes need the bearer token when `auth.token` is set; reads need it too when
/// `auth.reads` is true; `/health` and the pages are open.
pub fn app(state: AppState) -> Router {
    // The compiled-in dashboards are parsed here, at start, not on the first request.
    dashboards::built_in();
    let mut writes = Router::new()
        .merge(push::router())
        .merge(statsserver::router())
        .merge(tree::write_router());
    let mut reads = Router::new()
        .merge(query::router())
        .merge(tree::read_router())
        .merge(pull::router())
        .merge(events::router())
        .merge(metrics::router())
        .merge(graphite::router());
    if state.trend_store().is_some() {
        writes = writes.merge(trends::write_router());
        reads = reads.merge(trends::read_router()).merge(graphs::router());
    }
    let writes = writes.route_layer(from_fn_with_state(state.clone(), require_write));
    let reads = reads.route_layer(from_fn_with_state(state.clone(), require_read));
    let mixed = views::router()
        .merge(dashboards::router())
        .route_layer(from_fn_with_state(state.clone(), auth::require_by_method));
    Router::new()
        .merge(writes)
        .merge(reads)
        .merge(mixed)
        .merge(metrics::health_router())
        .merge(pages::router())
        .fallback(not_found)
        .with_state(state.clone())
        .layer(from_fn_with_state(state.clone(), origin::same_origin))
        .layer(from_fn_with_state(state, auth::count))
}

async fn not_found(uri: axum::http::Uri) -> AppError {
    AppError::not_found(format!("no endpoint at {}; see docs/API.md", uri.path()))
}

#[cfg(test)]
mod router_tests;
