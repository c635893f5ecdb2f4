//! `GET /events/<pattern>`: Server-Sent Events, one `interval` message per closed
//! interval with the pattern's values within it and the markers pushed under it.
//!
//! Values come from the closed interval itself (each touched leaf's aggregate by its
//! action), so a stream never mixes two intervals. A pattern that aggregates (`*|sum`)
//! is answered from the ring window of that interval's length instead. A stream holds
//! one of `max_streams` slots, sends keep-alive comments, ends when the server shuts
//! down, and reports a lag (the client read too slowly) as a `lagged` event.
//!
//! Streams share the work: each closed interval's leaf paths are resolved once
//! ([`Engine::interval_paths`]) and each distinct pattern's message body is built once
//! (`BodyCache` in `interval_json.rs`), however many streams ask for it.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::json;
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use treestat_engine::{ClosedInterval, Pattern, Stat};

use crate::error::AppError;
use crate::extract::{PathParam, QueryParam, stats_param};
use crate::state::{AppState, Slot, SlotKind};
use crate::trends::StatParam;

/// Routes of this area.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/events", get(events_everything))
        .route("/events/", get(events_everything))
        .route("/events/{*pattern}", get(events))
}

async fn events_everything(
    state: State<AppState>,
    params: QueryParam<StatParam>,
) -> Result<Response, AppError> {
    events(state, PathParam(String::new()), params).await
}

async fn events(
    State(state): State<AppState>,
    PathParam(pattern): PathParam<String>,
    QueryParam(params): QueryParam<StatParam>,
) -> Result<Response, AppError> {
    let pattern = Pattern::parse(&pattern)?
        .with_internal(crate::tree::flag("internal", params.internal.as_deref())?);
    let stats = stats_param(params.stat.as_deref())?;
    let partial = crate::tree::flag("partial", params.partial.as_deref())?;
    let slot = state.take_slot(SlotKind::Stream)?;
    let rx = state.engine().subscribe_intervals();
    let keepalive = state.config().sse_keepalive;
    let feed = Feed {
        state,
        pattern,
        stats,
        partial,
        rx,
        _slot: slot,
    };
    let stream = futures_util::stream::unfold(feed, |mut feed| async move {
        let event = feed.next().await?;
        Some((Ok::<_, std::convert::Infallible>(event), feed))
    });
    Ok(Sse::new(stream)
        .keep_alive(KeepAlive::new().interval(keepalive))
        .into_response())
}

struct Feed {
    state: AppState,
    pattern: Pattern,
    /// `?stat=`: each leaf's stats instead of its value.
    stats: Option<Vec<Stat>>,
    /// `?partial=1`: the selected leaves unfolded, for a read front.
    partial: bool,
    rx: Receiver<Arc<ClosedInterval>>,
    _slot: Slot,
}

impl Feed {
    /// The next event, or None when the stream ends (shutdown).
    async fn next(&mut self) -> Option<Event> {
        let got = tokio::select! {
            got = self.rx.recv() => got,
            () = self.state.shutdown_token().cancelled() => return None,
        };
        match got {
            Ok(closed) => {
                let body = self.state.inner.bodies.body(
                    self.state.engine(),
                    &self.pattern,
                    self.stats.as_deref(),
                    self.partial,
                    &closed,
                );
                Some(
                    Event::default()
                        .event("interval")
                        .id(closed.start.to_string())
                        .data(&*body),
                )
            }
            Err(RecvError::Lagged(n)) => Some(
                Event::default()
                    .event("lagged")
                    .data(json!({ "skipped_intervals": n }).to_string()),
            ),
            Err(RecvError::Closed) => None,
        }
    }
}
