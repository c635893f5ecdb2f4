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
//! ([`BodyCache`]), however many streams ask for it.

use std::collections::HashMap;
use std::sync::{Arc, Weak};

use parking_lot::Mutex;

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
            Ok(closed) => {
                let body =
                    self.state
                        .inner
                        .bodies
                        .body(self.state.engine(), &self.pattern, &closed);
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

/// The message bodies of the newest closed interval, one per distinct pattern text:
/// twenty streams on one pattern serialize the interval once.
#[derive(Debug, Default)]
pub(crate) struct BodyCache {
    newest: Mutex<Option<Bodies>>,
}

#[derive(Debug)]
struct Bodies {
    interval: Weak<ClosedInterval>,
    by_pattern: HashMap<String, Arc<str>>,
}

impl BodyCache {
    /// The `interval` message body of `closed` under `pattern`, built on first use.
    /// Only the newest interval is cached; a lagging stream's older one is built anew.
    pub(crate) fn body(
        &self,
        engine: &Engine,
        pattern: &Pattern,
        closed: &Arc<ClosedInterval>,
    ) -> Arc<str> {
        let mut newest = self.newest.lock();
        let current = newest
            .as_ref()
            .is_some_and(|b| std::ptr::eq(b.interval.as_ptr(), Arc::as_ptr(closed)));
        if !current {
            // A newer interval replaces the cache; an older one is not cached.
            let older = newest
                .as_ref()
                .and_then(|b| b.interval.upgrade())
                .is_some_and(|held| held.start > closed.start);
            if older {
                drop(newest);
                return interval_json(engine, pattern, closed).to_string().into();
            }
            *newest = Some(Bodies {
                interval: Arc::downgrade(closed),
                by_pattern: HashMap::new(),
            });
        }
        let bodies = newest.as_mut().map(|b| &mut b.by_pattern);
        let Some(bodies) = bodies else {
            return interval_json(engine, pattern, closed).to_string().into();
        };
        // Built under the cache's lock: the other streams on this interval want the
        // same body or one built from the same shared paths, and wait for it.
        bodies
            .entry(pattern.as_str().to_string())
            .or_insert_with(|| interval_json(engine, pattern, closed).to_string().into())
            .clone()
    }
}

/// `{"start", "len", "values": {path: value}, "markers": [...]}` for one interval.
pub fn interval_json(engine: &Engine, pattern: &Pattern, closed: &ClosedInterval) -> Value {
    let mut values = Map::new();
    if pattern.aggregates() {
        if let Ok(rows) = engine.query_window(pattern.as_str(), closed.len) {
            values.extend(rows.into_iter().map(|(p, v)| (p, num(v))));
        }
    } else if !closed.points.is_empty() {
        let paths = engine.interval_paths(closed);
        let mut rows: Vec<(&str, f64)> = engine
            .select(&paths, pattern)
            .iter()
            .filter_map(|&i| {
                let p = closed.points.get(i as usize)?;
                Some((paths.path(i)?, p.stats.value(p.action)))
            })
            .collect();
        rows.sort_by(|a, b| a.0.cmp(b.0));
        values.extend(rows.into_iter().map(|(p, v)| (p.to_string(), num(v))));
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
