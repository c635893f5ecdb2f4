//! `GET /pull/<pattern>`: long-poll for the next push under a pattern.
//!
//! The waiter registers with the server's dispatcher (`dispatch.rs`) *before* it
//! reads the push log, so no push can fall between the two; the dispatcher wakes it
//! only for pushes that touch a leaf its pattern selects. Without `cursor` it answers with the next push
//! that touches a selected leaf; with `cursor=N` it answers at once with everything
//! pushed after N that matches (or waits, when nothing does yet). When the dispatcher
//! lags behind the pushes, the waiter falls back to the log. Every answer carries the cursor to
//! use next in `X-Treestat-Cursor`; `X-Treestat-Missed: true` says the log had already
//! dropped some pushes after the given cursor.
//!
//! Every waiter woken by a push shares one resolution of its leaf paths and one match
//! per distinct pattern ([`Engine::event_paths`], [`Engine::select`]), so a thousand
//! idle waiters cost a push about what one does.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use serde::Deserialize;
use serde_json::{Map, Value};
use treestat_engine::{Engine, Pattern, PushEvent};

use crate::dispatch::Wake;
use crate::error::AppError;
use crate::extract::{PathParam, QueryParam, num};
use crate::state::{AppState, SlotKind};

/// The response header holding the next cursor.
pub const CURSOR_HEADER: &str = "x-treestat-cursor";
/// Present (`true`) when pushes after the given cursor were no longer in the log.
pub const MISSED_HEADER: &str = "x-treestat-missed";

/// Routes of this area.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/pull", get(pull_everything))
        .route("/pull/", get(pull_everything))
        .route("/pull/{*pattern}", get(pull))
}

#[derive(Debug, Deserialize)]
struct PullParams {
    cursor: Option<u64>,
    timeout: Option<String>,
    /// `?internal=1`: wildcards select `_treestat` too.
    internal: Option<String>,
}

async fn pull_everything(
    state: State<AppState>,
    params: QueryParam<PullParams>,
) -> Result<Response, AppError> {
    pull(state, PathParam(String::new()), params).await
}

async fn pull(
    State(state): State<AppState>,
    PathParam(pattern): PathParam<String>,
    QueryParam(params): QueryParam<PullParams>,
) -> Result<Response, AppError> {
    let given = params.cursor;
    match wait(&state, &pattern, params).await {
        Ok(res) => Ok(res),
        // Refusals carry a cursor too: the one given, or "from now on".
        Err(e) => {
            let mut res = e.into_response();
            let cursor = given.unwrap_or_else(|| state.engine().cursor());
            set_cursor(&mut res, cursor, false);
            Ok(res)
        }
    }
}

async fn wait(state: &AppState, pattern: &str, params: PullParams) -> Result<Response, AppError> {
    let pattern = Pattern::parse(pattern)?
        .with_internal(crate::tree::flag("internal", params.internal.as_deref())?);
    let timeout = timeout_of(state, params.timeout.as_deref())?;
    let _slot = state.take_slot(SlotKind::Waiter)?;
    let engine = state.engine();
    // Registered before the log is read: a push is in the log or dispatched to us.
    let (_registration, mut rx) =
        state
            .inner
            .dispatcher
            .register(engine, state.shutdown_token(), &pattern);
    let now = engine.cursor();
    let mut missed = false;
    let mut last = match params.cursor {
        // A cursor from the future: the server restarted and its log began anew.
        Some(c) if c > now => {
            missed = true;
            0
        }
        Some(c) => c,
        None => now,
    };
    if params.cursor.is_some() {
        let (events, dropped) = engine.pushes_since(last);
        missed |= dropped;
        let (values, upto) = collect(engine, &pattern, &events);
        last = last.max(upto);
        if !values.is_empty() {
            return Ok(answer(StatusCode::OK, Some(values), last, missed));
        }
    }
    let deadline = tokio::time::Instant::now() + timeout;
    loop {
        tokio::select! {
            got = rx.recv() => {
                let events = match got {
                    Some(Wake::Push(ev)) if ev.seq <= last => continue,
                    Some(Wake::Push(ev)) => vec![ev],
                    Some(Wake::Lagged) => {
                        let (events, dropped) = engine.pushes_since(last);
                        missed |= dropped;
                        events
                    }
                    None => return Err(AppError::shutting_down()),
                };
                let (values, upto) = collect(engine, &pattern, &events);
                last = last.max(upto);
                if !values.is_empty() {
                    return Ok(answer(StatusCode::OK, Some(values), last, missed));
                }
            }
            () = tokio::time::sleep_until(deadline) => {
                return Ok(answer(StatusCode::NO_CONTENT, None, last, missed));
            }
            () = state.shutdown_token().cancelled() => {
                let mut res = AppError::shutting_down().into_response();
                set_cursor(&mut res, last, missed);
                return Ok(res);
            }
        }
    }
}

fn timeout_of(state: &AppState, asked: Option<&str>) -> Result<Duration, AppError> {
    let cfg = state.config();
    let Some(text) = asked else {
        return Ok(cfg.pull_timeout.min(cfg.pull_timeout_max));
    };
    let d =
        treestat_engine::parse_duration(text).map_err(|e| AppError::bad_request(e.to_string()))?;
    Ok(d.min(cfg.pull_timeout_max))
}

/// The selected leaves' values after the given pushes (a later push's value wins), and
/// the newest sequence number seen.
fn collect(
    engine: &Engine,
    pattern: &Pattern,
    events: &[Arc<PushEvent>],
) -> (Map<String, Value>, u64) {
    let mut values = BTreeMap::new();
    let mut upto = 0;
    for ev in events {
        upto = upto.max(ev.seq);
        if ev.changes.is_empty() {
            continue;
        }
        // Resolved and matched once per push and distinct pattern, for every waiter.
        let paths = engine.event_paths(ev);
        for &i in engine.select(&paths, pattern).iter() {
            if let (Some(path), Some((_, value))) = (paths.path(i), ev.changes.get(i as usize)) {
                values.insert(path.to_string(), *value);
            }
        }
    }
    (values.into_iter().map(|(p, v)| (p, num(v))).collect(), upto)
}

fn set_cursor(res: &mut Response, cursor: u64, missed: bool) {
    let h = res.headers_mut();
    h.insert(
        HeaderName::from_static(CURSOR_HEADER),
        HeaderValue::from(cursor),
    );
    if missed {
        h.insert(
            HeaderName::from_static(MISSED_HEADER),
            HeaderValue::from_static("true"),
        );
    }
}

fn answer(
    status: StatusCode,
    values: Option<Map<String, Value>>,
    cursor: u64,
    missed: bool,
) -> Response {
    let mut res = match values {
        Some(v) => (status, axum::Json(Value::Object(v))).into_response(),
        None => status.into_response(),
    };
    set_cursor(&mut res, cursor, missed);
    res
}
