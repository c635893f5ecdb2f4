//! `GET /events/<pattern>`: Server-Sent Events, one `interval` message per closed
//! interval with the pattern's values within it and the markers pushed under it.
//!
//! Values come from the closed interval itself (each touched leaf's aggregate by its
//! action), so a stream never mixes two intervals. A pattern that aggregates (`*|sum`)
//! is answered from the ring window of that interval's length instead. A stream holds
//! one of `max_streams` slots, sends keep-alive comments, ends when the server shuts
//! down, and reports a lag (the client read too slowly) as a `lagged` event.

use std::sync::Arc;

use axum::Router;
use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde_json::{Map, Value, json};
use tokio::sync::broadcast::Receiver;
use tokio::sync::broadcast::error::RecvError;
use treestat_engine::{ClosedInterval, Engine, Pattern};

use crate::error::AppError;
use crate::query::{PathParam, num};
use crate::state::{AppState, Slot, SlotKind};

/// Routes of this area.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/events", get(events_everything))
        .route("/events/", get(events_everything))
        .route("/events/{*pattern}", get(events))
}

async fn events_everything(state: State<AppState>) -> Result<Response, AppError> {
    events(state, PathParam(String::new())).await
}

async fn events(
    State(state): State<AppState>,
    PathParam(pattern): PathParam<String>,
) -> Result<Response, AppError> {
    let pattern = Pattern::parse(&pattern)?;
    let slot = state.take_slot(SlotKind::Stream)?;
    let rx = state.engine().subscribe_intervals();
    let keepalive = state.config().sse_keepalive;
    let feed = Feed {
        state,
        pattern,
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
            Ok(closed) => Some(interval_event(self.state.engine(), &self.pattern, &closed)),
            Err(RecvError::Lagged(n)) => Some(
                Event::default()
                    .event("lagged")
                    .data(json!({ "skipped_intervals": n }).to_string()),
            ),
            Err(RecvError::Closed) => None,
        }
    }
}

/// The message for one closed interval.
pub(crate) fn interval_event(engine: &Engine, pattern: &Pattern, closed: &ClosedInterval) -> Event {
    let body = interval_json(engine, pattern, closed);
    Event::default()
        .event("interval")
        .id(closed.start.to_string())
        .data(body.to_string())
}

/// `{"start", "len", "values": {path: value}, "markers": [...]}` for one interval.
pub fn interval_json(engine: &Engine, pattern: &Pattern, closed: &ClosedInterval) -> Value {
    let mut values = Map::new();
    if pattern.aggregates() {
        if let Ok(rows) = engine.query_window(pattern.as_str(), closed.len) {
            values.extend(rows.into_iter().map(|(p, v)| (p, num(v))));
        }
    } else {
        let ids: Vec<_> = closed.points.iter().map(|p| p.leaf).collect();
        let mut rows: Vec<(String, f64)> = engine
            .leaf_paths(&ids)
            .into_iter()
            .zip(&closed.points)
            .filter_map(|(path, p)| Some((path?, p.stats.value(p.action))))
            .filter(|(path, _)| pattern.matches_path(&path.split(',').collect::<Vec<_>>()))
            .collect();
        rows.sort_by(|a, b| a.0.cmp(&b.0));
        values.extend(rows.into_iter().map(|(p, v)| (p, num(v))));
    }
    let markers: Vec<_> = closed
        .markers
        .iter()
        .filter(|m| pattern.matches_path(&m.path.split(',').collect::<Vec<_>>()))
        .collect();
    json!({
        "start": closed.start,
        "len": closed.len,
        "values": values,
        "markers": markers,
    })
}
