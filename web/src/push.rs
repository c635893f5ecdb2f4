//! Writes: `POST /push` and the streamed access-log endpoints `PUT /raw`, `PUT /tornado`.
//!
//! `/push` reads the whole body (bounded by `body_limit`) and decides by content type:
//! a form (`json` and/or `accesslog` fields), a JSON document, or text lines. A JSON push
//! is all or nothing (the engine validates it whole). `/raw` never buffers the body: it
//! splits the stream into bounded lines and hands each chunk's lines to the
//! [`LogSink`](crate::LogSink) before reading on, so a slow sink slows the sender
//! instead of filling memory.
//!
//! Requests with log lines are bounded (`web.max_log_requests`, 429 past it): each
//! holds a blocking thread while the pipes work, and unbounded they would fill the
//! blocking pool that interval closes, big pushes and `/trend` share.

use std::sync::Arc;

use axum::Json;
use axum::Router;
use axum::body::Body;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::routing::{post, put};
use futures_util::StreamExt;
use serde::Serialize;
use treestat_engine::PushSummary;

use crate::body::{LineSplitter, body_timeout, read_bounded};
use crate::error::AppError;
use crate::state::{AppState, LogSink, LogSummary, SlotKind};

/// JSON documents up to this size are merged on the async thread; larger ones on a
/// blocking thread so a big push never stalls other connections.
const INLINE_JSON: usize = 64 << 10;

/// Most lines handed to the sink in one call.
const BATCH_LINES: usize = 4096;

/// The answer to a push: what was applied.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct PushAnswer {
    /// Samples merged from JSON.
    pub samples: usize,
    /// Distinct leaves the JSON touched.
    pub leaves: usize,
    /// Markers kept.
    pub markers: usize,
    /// Nodes the JSON added to the tree.
    pub new_nodes: usize,
    /// Dated samples and markers refused by a byte bound (the rest landed).
    #[serde(skip_serializing_if = "is_zero")]
    pub dropped: usize,
    /// Samples skipped because their time stamp lies beyond `engine.max_future`
    /// (shown only when some were).
    #[serde(skip_serializing_if = "is_zero")]
    pub refused_future: usize,
    /// Samples skipped because they, or their fold into a total, would not be a finite
    /// number (shown only when some were).
    #[serde(skip_serializing_if = "is_zero")]
    pub refused_nonfinite: usize,
    /// What the pipes made of access-log lines, when the push carried some.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub log: Option<LogAnswer>,
}

/// What happened to access-log lines.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct LogAnswer {
    /// The pipes' figures.
    #[serde(flatten)]
    pub summary: LogSummary,
    /// Lines skipped for being longer than `web.line_limit`.
    pub too_long: u64,
}

impl PushAnswer {
    fn add(&mut self, s: PushSummary) {
        self.samples += s.samples;
        self.leaves += s.leaves;
        self.markers += s.markers;
        self.new_nodes += s.new_nodes;
        self.dropped += s.dropped;
        self.refused_future += s.refused_future;
        self.refused_nonfinite += s.refused_nonfinite;
    }
}

#[allow(clippy::trivially_copy_pass_by_ref)] // serde's skip_serializing_if passes a reference
fn is_zero(n: &usize) -> bool {
    *n == 0
}

/// Routes of this area.
pub(crate) fn router() -> Router<AppState> {
    Router::new()
        .route("/push", post(push))
        .route("/raw", put(raw))
        .route("/tornado", put(tornado))
}

enum Kind {
    Form,
    Json,
    Text,
}

fn kind_of(headers: &HeaderMap, body: &[u8]) -> Result<Kind, AppError> {
    let mime = treestat_model::media_type(
        headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    );
    match mime.as_str() {
        "application/x-www-form-urlencoded" => Ok(Kind::Form),
        "application/json" => Ok(Kind::Json),
        "text/plain" => Ok(Kind::Text),
        "" => match body.iter().find(|b| !b.is_ascii_whitespace()) {
            Some(b'{' | b'[') => Ok(Kind::Json),
            _ => Err(unsupported(
                "a body without Content-Type must be a JSON document starting with { or [",
            )),
        },
        "multipart/form-data" => Err(unsupported(
            "multipart forms are not taken: send application/x-www-form-urlencoded",
        )),
        other => Err(unsupported(&format!("Content-Type {other:?} is not taken"))),
    }
}

fn unsupported(why: &str) -> AppError {
    AppError::new(
        StatusCode::UNSUPPORTED_MEDIA_TYPE,
        "unsupported_media_type",
        format!(
            "{why}; /push takes application/json, text/plain (access-log lines) or a form \
             with `json` / `accesslog` fields"
        ),
    )
}

async fn push(
    State(state): State<AppState>,
    headers: HeaderMap,
    body: Body,
) -> Result<Json<PushAnswer>, AppError> {
    let cfg = state.config();
    let bytes = read_bounded(&headers, body, cfg.body_limit, cfg.body_timeout).await?;
    state.counters().bytes.add(bytes.len() as u64);
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Err(AppError::bad_request("empty push: the body holds nothing"));
    }
    let mut answer = PushAnswer::default();
    match kind_of(&headers, &bytes)? {
        Kind::Json => answer.add(push_json(&state, bytes.to_vec()).await?),
        Kind::Text => {
            let _slot = state.take_slot(SlotKind::LogRequest)?;
            let text = String::from_utf8_lossy(&bytes).into_owned();
            answer.log = Some(log_text(&state, "push", text).await?);
        }
        Kind::Form => {
            let fields: Vec<(String, String)> = serde_urlencoded::from_bytes(&bytes)
                .map_err(|e| AppError::bad_request(format!("form does not parse: {e}")))?;
            // Refuse before applying anything when part of the form cannot be taken.
            let _slot = if fields.iter().any(|(n, _)| n == "accesslog") {
                sink(&state)?;
                Some(state.take_slot(SlotKind::LogRequest)?)
            } else {
                None
            };
            let mut any = false;
            for (name, value) in fields {
                match name.as_str() {
                    "json" => {
                        any = true;
                        answer.add(push_json(&state, value.into_bytes()).await?);
                    }
                    "accesslog" => {
                        any = true;
                        let got = log_text(&state, "push", value).await?;
                        let log = answer.log.get_or_insert_with(LogAnswer::default);
                        log.summary.add(&got.summary);
                        log.too_long += got.too_long;
                    }
                    _ => {}
                }
            }
            if !any {
                return Err(AppError::bad_request(
                    "the form has neither a `json` nor an `accesslog` field",
                ));
            }
        }
    }
    // `engine.wal = "sync"`: the 200 goes out only once the push is fsynced (one
    // fsync shared by every push waiting here meanwhile).
    state.engine().wal_synced().await;
    Ok(Json(answer))
}

async fn push_json(state: &AppState, doc: Vec<u8>) -> Result<PushSummary, AppError> {
    let engine = state.engine().clone();
    if doc.len() <= INLINE_JSON {
        return Ok(engine.push_json(&doc)?);
    }
    tokio::task::spawn_blocking(move || engine.push_json(&doc))
        .await
        .map_err(AppError::internal)?
        .map_err(AppError::from)
}

fn sink(state: &AppState) -> Result<Arc<dyn LogSink>, AppError> {
    state.inner.log_sink.clone().ok_or_else(|| {
        AppError::new(
            StatusCode::NOT_IMPLEMENTED,
            "no_log_sink",
            "access-log input is not enabled on this server (no pipes are configured)",
        )
    })
}

/// Splits a text body into lines and hands them to the sink.
async fn log_text(
    state: &AppState,
    source: &'static str,
    text: String,
) -> Result<LogAnswer, AppError> {
    let sink = sink(state)?;
    let mut splitter = LineSplitter::new(state.config().line_limit);
    let mut lines = Vec::new();
    splitter.feed(text.as_bytes(), &mut lines);
    splitter.finish(&mut lines);
    let mut answer = LogAnswer {
        too_long: splitter.too_long,
        ..LogAnswer::default()
    };
    for batch in chunk_lines(lines) {
        answer
            .summary
            .add(&hand_over(state, &sink, source, batch).await?);
    }
    Ok(answer)
}

fn chunk_lines(mut lines: Vec<String>) -> Vec<Vec<String>> {
    let mut out = Vec::new();
    while lines.len() > BATCH_LINES {
        let rest = lines.split_off(BATCH_LINES);
        out.push(std::mem::replace(&mut lines, rest));
    }
    if !lines.is_empty() {
        out.push(lines);
    }
    out
}

async fn hand_over(
    state: &AppState,
    sink: &Arc<dyn LogSink>,
    source: &'static str,
    lines: Vec<String>,
) -> Result<LogSummary, AppError> {
    state.counters().lines.add(lines.len() as u64);
    let sink = sink.clone();
    tokio::task::spawn_blocking(move || {
        let refs: Vec<&str> = lines.iter().map(String::as_str).collect();
        sink.lines(source, &refs)
    })
    .await
    .map_err(AppError::internal)?
    .map_err(|e| {
        AppError::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "log_refused",
            format!("the pipes refused the lines: {e}"),
        )
    })
}

async fn raw(State(state): State<AppState>, body: Body) -> Result<Json<LogAnswer>, AppError> {
    stream_lines(state, "raw", body).await.map(Json)
}

async fn tornado(State(state): State<AppState>, body: Body) -> Result<Json<LogAnswer>, AppError> {
    stream_lines(state, "tornado", body).await.map(Json)
}

async fn stream_lines(
    state: AppState,
    source: &'static str,
    body: Body,
) -> Result<LogAnswer, AppError> {
    let sink = sink(&state)?;
    let _slot = state.take_slot(SlotKind::LogRequest)?;
    let idle = state.config().body_timeout;
    let mut splitter = LineSplitter::new(state.config().line_limit);
    let mut stream = body.into_data_stream();
    let mut answer = LogAnswer::default();
    let mut lines = Vec::new();
    loop {
        let next = tokio::time::timeout(idle, stream.next())
            .await
            .map_err(|_| body_timeout(idle))?;
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|e| AppError::bad_request(format!("body broke off: {e}")))?;
        state.counters().bytes.add(chunk.len() as u64);
        splitter.feed(&chunk, &mut lines);
        for batch in chunk_lines(std::mem::take(&mut lines)) {
            answer
                .summary
                .add(&hand_over(&state, &sink, source, batch).await?);
        }
    }
    splitter.finish(&mut lines);
    if !lines.is_empty() {
        answer
            .summary
            .add(&hand_over(&state, &sink, source, lines).await?);
    }
    answer.too_long = splitter.too_long;
    Ok(answer)
}
