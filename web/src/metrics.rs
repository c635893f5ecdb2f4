//! `GET /metrics`: the server's own counters in the Prometheus text format; and
//! `GET /health`: `ok` or `degraded` with reasons, from the telemetry's health
//! registry (DESIGN.md §5.1).
//!
//! The engine's counters and sizes, the long-poll and stream gauges, then the telemetry
//! registry (the HTTP counters, the listeners', everyone's). Rendering reads atomics
//! and takes the tree's read lock once, for `Engine::stats`.

use std::fmt::Write;
use std::sync::atomic::Ordering;

use axum::Router;
use axum::extract::State;
use axum::http::{StatusCode, header};
use axum::response::IntoResponse;
use axum::routing::get;
use treestat_engine::ErrorKind;

use crate::state::AppState;

/// Engine reject reasons in `ErrorKind` declaration order (the counters' index).
const KINDS: [ErrorKind; 8] = [
    ErrorKind::BadDocument,
    ErrorKind::BadKey,
    ErrorKind::BadValue,
    ErrorKind::TooDeep,
    ErrorKind::PushTooLarge,
    ErrorKind::TreeFull,
    ErrorKind::BadPattern,
    ErrorKind::FutureTime,
];

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

fn family(out: &mut String, name: &str, kind: &str, help: &str) {
    let _ = writeln!(out, "# HELP {name} {help}\n# TYPE {name} {kind}");
}

fn one(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    family(out, name, kind, help);
    let _ = writeln!(out, "{name} {value}");
}

/// The whole `/metrics` text.
pub fn render(state: &AppState) -> String {
    let mut out = String::with_capacity(4096);
    let e = state.engine();
    let c = e.counters();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    one(
        &mut out,
        "treestat_pushes_total",
        "counter",
        "Pushes the engine applied.",
        load(&c.pushes),
    );
    one(
        &mut out,
        "treestat_samples_total",
        "counter",
        "Samples merged into the tree.",
        load(&c.samples),
    );
    one(
        &mut out,
        "treestat_intervals_total",
        "counter",
        "Intervals closed.",
        load(&c.intervals),
    );
    one(
        &mut out,
        "treestat_dropped_total",
        "counter",
        "Dated samples and markers refused by a byte bound (limits.max_late_bytes, limits.max_marker_bytes).",
        load(&c.dropped),
    );
    one(
        &mut out,
        "treestat_refused_future_total",
        "counter",
        "Samples and dated pushes refused for a time stamp beyond engine.max_future.",
        load(&c.refused_future),
    );
    one(
        &mut out,
        "treestat_refused_nonfinite_total",
        "counter",
        "Samples refused because they, or their fold into a total, would not be finite.",
        load(&c.refused_nonfinite),
    );
    one(
        &mut out,
        "treestat_shared_path_resolves_total",
        "counter",
        "Pushes and closed intervals whose leaf paths were resolved for /pull, /events and the relay (once each, however many readers).",
        load(&c.shared_path_resolves),
    );
    one(
        &mut out,
        "treestat_shared_pattern_matches_total",
        "counter",
        "Reader patterns matched against a push or a closed interval (once per distinct pattern per push or interval).",
        load(&c.shared_pattern_matches),
    );
    for (name, help, micros) in [
        (
            "treestat_close_lock_seconds",
            "How long the last interval close held the engine's write lock (pushes waited at most that long for it).",
            &c.close_lock_micros,
        ),
        (
            "treestat_close_seconds",
            "How long the last interval close took in all: new paths, sinks, subscribers.",
            &c.close_micros,
        ),
    ] {
        family(&mut out, name, "gauge", help);
        let us = load(micros);
        let _ = writeln!(out, "{name} {}.{:06}", us / 1_000_000, us % 1_000_000);
    }
    family(
        &mut out,
        "treestat_rejects_total",
        "counter",
        "Pushes the engine refused, by reason.",
    );
    for (kind, n) in KINDS.iter().zip(&c.rejects) {
        let _ = writeln!(
            out,
            "treestat_rejects_total{{reason=\"{}\"}} {}",
            kind.as_str(),
            load(n)
        );
    }
    let s = e.stats();
    let gauges = [
        ("treestat_tree_nodes", "Nodes in the tree.", s.nodes),
        ("treestat_tree_leaves", "Leaves in the tree.", s.leaves),
        (
            "treestat_tree_bytes",
            "Approximate heap bytes of the tree.",
            s.tree_bytes,
        ),
        (
            "treestat_ring_intervals",
            "Closed intervals held in memory.",
            s.ring_intervals,
        ),
        (
            "treestat_ring_bytes",
            "Bytes held by the interval ring.",
            s.ring_bytes,
        ),
        (
            "treestat_markers",
            "Markers kept beside the tree.",
            s.markers,
        ),
        (
            "treestat_http_pull_waiters",
            "Long-polls waiting now.",
            state.inner.waiters.in_use(),
        ),
        (
            "treestat_http_event_streams",
            "Event streams open now.",
            state.inner.streams.in_use(),
        ),
    ];
    for (name, help, v) in gauges {
        one(&mut out, name, "gauge", help, v as u64);
    }
    state.telemetry().render_prometheus(&mut out);
    out
}
