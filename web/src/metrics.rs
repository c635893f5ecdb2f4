//! `GET /metrics`: the server's own counters in the Prometheus text format; and
//! `GET /health`: `ok` or `degraded` with reasons, from the telemetry's health
//! registry (docs/API.md, "The server's own metrics"; docs/OPERATIONS.md, "Is it well?").
//!
//! Everything comes from the one telemetry registry ([`Telemetry::render_prometheus`],
//! the only Prometheus writer): the engine's counters and sizes, the long-poll and
//! stream gauges, the HTTP counters, the listeners', the trend store's, `process_*`.
//! Rendering reads atomics; each size gauge takes the tree's read lock for its figure.
//!
//! [`Telemetry::render_prometheus`]: treestat_engine::telemetry::Telemetry::render_prometheus

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;

use crate::state::AppState;

/// Routes of this area (behind the read token when reads need one).
pub(crate) fn router() -> Router<AppState> {
    Router::new().route("/metrics", get(metrics))
}

/// `GET /health`, open to all (load balancers and supervisors carry no token):
/// `200 {"status":"ok"}`, or `503 {"status":"degraded","reasons":[{"component":
/// ...,"reason":...}]}` while any component reports a reason (store write errors, a
/// stuck store writer, stuck pipes).
pub(crate) fn health_router() -> Router<AppState> {
    Router::new().route("/health", get(health))
}

async fn health(State(state): State<AppState>) -> impl IntoResponse {
    let report = state.telemetry().health().report();
    let status = if report.is_ok() {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        status,
        [(header::CACHE_CONTROL, "no-store")],
        axum::Json(report),
    )
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        render(&state),
    )
}

/// The whole `/metrics` text.
pub fn render(state: &AppState) -> String {
    let mut out = String::with_capacity(4096);
    state.telemetry().render_prometheus(&mut out);
    out
}
