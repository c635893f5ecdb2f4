//! The relay's HTTP listener: `POST <path>` with a JSON body, a form (`json`,
//! `accesslog`) or `text/plain` access-log lines, and `PUT /raw` / `/tornado` streamed
//! line by line into the relay's pipes; `GET /metrics`, the relay's counters for
//! Prometheus; served by hyper's HTTP/1 server on a
//! current-thread tokio runtime owned by the listener's thread (`Expect: 100-continue`
//! answered at once, chunked bodies taken, one request per connection). The bounds are
//! in listen.rs's module doc.

use std::net::TcpListener;
use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use treestat_engine::Engine;
use treestat_engine::stop::CancellationToken;

use super::counters::RelayCounters;
use super::limits::{MAX_CONNECTIONS, MAX_DOC, POLL};
use super::logs::{BATCH_LINES, LineSplitter, LogSummary, RelayLogs};

/// How long an HTTP client has to send its request head, and then its body.
const HTTP_READ: Duration = Duration::from_secs(10);
/// How long HTTP requests in flight at shutdown may take to finish.
const HTTP_GRACE: Duration = Duration::from_secs(2);
const MAX_HEAD: usize = 64 << 10;

/// What every HTTP request of one listener shares.
pub(super) struct HttpCtx {
    pub(super) engine: Engine,
    pub(super) counters: Arc<RelayCounters>,
    pub(super) logs: Arc<RelayLogs>,
    pub(super) path: String,
}

/// Runs the HTTP listener on a current-thread runtime until `shutdown`.
pub(super) fn http_loop(listener: TcpListener, ctx: HttpCtx, shutdown: &CancellationToken) {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("relay http: {e}");
            return;
        }
    };
    runtime.block_on(serve_http(listener, Arc::new(ctx), shutdown));
}

async fn serve_http(listener: TcpListener, ctx: Arc<HttpCtx>, shutdown: &CancellationToken) {
    let listener = match listener
        .set_nonblocking(true)
        .and_then(|()| tokio::net::TcpListener::from_std(listener))
    {
        Ok(l) => l,
        Err(e) => {
            tracing::error!("relay http: {e}");
            return;
        }
    };
    let permits = Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(HTTP_READ)
        .max_header_size(MAX_HEAD)
        .keep_alive(false);
    let mut poll = tokio::time::interval(POLL);
    loop {
        let accepted = tokio::select! {
            r = listener.accept() => r,
            _ = poll.tick() => {
                if shutdown.is_cancelled() {
                    break;
                }
                continue;
            }
        };
        let stream = match accepted {
            Ok((s, _)) => s,
            Err(e) => {
                tracing::warn!("relay accept: {e}");
                tokio::time::sleep(POLL).await;
                continue;
            }
        };
        let Ok(permit) = Arc::clone(&permits).try_acquire_owned() else {
            continue; // dropped: closes the connection
        };
        let ctx = Arc::clone(&ctx);
        let service = hyper::service::service_fn(move |req| {
            let ctx = Arc::clone(&ctx);
            async move { Ok::<_, std::convert::Infallible>(handle(req, &ctx).await) }
        });
        let conn = graceful.watch(builder.serve_connection(TokioIo::new(stream), service));
        tokio::spawn(async move {
            if let Err(e) = conn.await {
                tracing::debug!("relay http connection: {e}");
            }
            drop(permit);
        });
    }
    drop(listener);
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(HTTP_GRACE) => {
            tracing::warn!("relay http: requests still open at shutdown; not waiting longer");
        }
    }
}

/// What a `POST` body on the push path holds, by its `Content-Type` (as the server's
/// `/push` decides).
enum Kind {
    Json,
    Text,
    Form,
}

/// The kind of a push body; `Err` is the 415 message. A body without `Content-Type`
/// is a JSON document (as the relay has always taken it: a body that is not JSON is
/// answered 400 with the parse error).
fn kind_of(req: &Request<Incoming>) -> std::result::Result<Kind, String> {
    let mime = treestat_model::media_type(
        req.headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .unwrap_or(""),
    );
    match mime.as_str() {
        "" | "application/json" => Ok(Kind::Json),
        "text/plain" => Ok(Kind::Text),
        "application/x-www-form-urlencoded" => Ok(Kind::Form),
        other => Err(format!(
            "Content-Type {other:?} is not taken; the push path takes application/json, \
             text/plain (access-log lines) or a form with `json` / `accesslog` fields"
        )),
    }
}

/// One request: `POST <path>` with a JSON document, log lines or a form; `PUT /raw`
/// (or `/tornado`) with a stream of log lines; `GET /metrics`, the relay's counters
/// in the Prometheus text format.
async fn handle(req: Request<Incoming>, ctx: &HttpCtx) -> Response<Full<Bytes>> {
    let path = req.uri().path();
    if let Some(source) = ["raw", "tornado"]
        .into_iter()
        .find(|s| path.strip_prefix('/') == Some(*s))
    {
        if req.method() != Method::PUT {
            return answer(StatusCode::METHOD_NOT_ALLOWED, "use PUT");
        }
        return stream_lines(req, ctx, source).await;
    }
    if path == "/metrics" && ctx.path != "/metrics" {
        if req.method() != Method::GET && req.method() != Method::HEAD {
            return answer(StatusCode::METHOD_NOT_ALLOWED, "use GET");
        }
        let mut text = String::with_capacity(4096);
        ctx.counters.telemetry.render_prometheus(&mut text);
        let mut resp = Response::new(Full::new(Bytes::from(text)));
        resp.headers_mut().insert(
            header::CONTENT_TYPE,
            header::HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
        );
        return resp;
    }
    if path != ctx.path {
        let target = req
            .uri()
            .path_and_query()
            .map_or_else(|| req.uri().to_string(), ToString::to_string);
        return answer(
            StatusCode::NOT_FOUND,
            &format!(
                "no route {target}; push to POST {}, stream log lines to PUT /raw, read \
                 the relay's counters at GET /metrics",
                ctx.path
            ),
        );
    }
    if req.method() != Method::POST {
        return answer(StatusCode::METHOD_NOT_ALLOWED, "use POST");
    }
    let kind = match kind_of(&req) {
        Ok(k) => k,
        Err(e) => {
            ctx.counters.rejected.fetch_add(1, Ordering::Relaxed);
            return answer(StatusCode::UNSUPPORTED_MEDIA_TYPE, &e);
        }
    };
    let too_large = || {
        ctx.counters.rejected.fetch_add(1, Ordering::Relaxed);
        answer(StatusCode::PAYLOAD_TOO_LARGE, "body larger than 8 MiB")
    };
    let announced = req
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse::<u64>().ok());
    if announced.is_some_and(|n| n > MAX_DOC as u64) {
        // Answered before the body is read: no `100 Continue` is sent for it.
        return too_large();
    }
    let body = Limited::new(req.into_body(), MAX_DOC).collect();
    let body = match tokio::time::timeout(HTTP_READ, body).await {
        Ok(Ok(b)) => b.to_bytes(),
        Ok(Err(e)) if e.downcast_ref::<LengthLimitError>().is_some() => return too_large(),
        Ok(Err(e)) => return answer(StatusCode::BAD_REQUEST, &format!("reading the body: {e}")),
        Err(_) => {
            return answer(StatusCode::REQUEST_TIMEOUT, "body not received within 10 s");
        }
    };
    match kind {
        Kind::Json => json_body(ctx, body.to_vec()).await,
        Kind::Text => {
            if body.iter().all(u8::is_ascii_whitespace) {
                ctx.counters.rejected.fetch_add(1, Ordering::Relaxed);
                return answer(
                    StatusCode::BAD_REQUEST,
                    "empty push: the body holds nothing",
                );
            }
            match log_text(ctx, "push", &body).await {
                Ok(s) => log_answer(&s),
                Err(e) => e,
            }
        }
        Kind::Form => form_body(ctx, &body).await,
    }
}

/// Merges a JSON body (or form field) on a blocking thread.
async fn json_body(ctx: &HttpCtx, body: Vec<u8>) -> Response<Full<Bytes>> {
    let (engine, counters) = (ctx.engine.clone(), Arc::clone(&ctx.counters));
    let merged = tokio::task::spawn_blocking(move || counters.merge(&engine, &body)).await;
    match merged {
        Ok(Ok(())) => answer(StatusCode::OK, "ok"),
        Ok(Err(e)) => answer(StatusCode::BAD_REQUEST, &e),
        Err(e) => answer(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

/// A form with `json` and/or `accesslog` fields, as the server's `/push` takes it.
async fn form_body(ctx: &HttpCtx, body: &[u8]) -> Response<Full<Bytes>> {
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(body)
        .map(|(k, v)| (k.into_owned(), v.into_owned()))
        .collect();
    if !fields.iter().any(|(k, _)| k == "json" || k == "accesslog") {
        ctx.counters.rejected.fetch_add(1, Ordering::Relaxed);
        return answer(
            StatusCode::BAD_REQUEST,
            "the form has neither a `json` nor an `accesslog` field",
        );
    }
    let mut logs = LogSummary::default();
    let mut any_log = false;
    for (name, value) in fields {
        match name.as_str() {
            "json" => {
                let r = json_body(ctx, value.into_bytes()).await;
                if r.status() != StatusCode::OK {
                    return r;
                }
            }
            "accesslog" => match log_text(ctx, "push", value.as_bytes()).await {
                Ok(s) => {
                    any_log = true;
                    logs.add(&s);
                }
                Err(e) => return e,
            },
            _ => {}
        }
    }
    if any_log {
        log_answer(&logs)
    } else {
        answer(StatusCode::OK, "ok")
    }
}

/// Splits a whole body into lines and runs them through the pipes.
async fn log_text(
    ctx: &HttpCtx,
    source: &'static str,
    text: &[u8],
) -> std::result::Result<LogSummary, Response<Full<Bytes>>> {
    let mut splitter = LineSplitter::default();
    let mut lines = Vec::new();
    splitter.feed(text, &mut lines);
    splitter.finish(&mut lines);
    let mut summary = LogSummary {
        too_long: splitter.too_long,
        ..LogSummary::default()
    };
    for batch in lines.chunks(BATCH_LINES) {
        summary.add(&hand_over(ctx, source, batch.to_vec()).await?);
    }
    Ok(summary)
}

/// Hands a batch of lines to the pipes on a blocking thread (they may run Python).
async fn hand_over(
    ctx: &HttpCtx,
    source: &'static str,
    lines: Vec<String>,
) -> std::result::Result<LogSummary, Response<Full<Bytes>>> {
    let (engine, counters, logs) = (
        ctx.engine.clone(),
        Arc::clone(&ctx.counters),
        Arc::clone(&ctx.logs),
    );
    tokio::task::spawn_blocking(move || logs.lines(&engine, &counters, source, &lines))
        .await
        .map_err(|e| answer(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()))?
        .map_err(|e| {
            ctx.counters.rejected.fetch_add(1, Ordering::Relaxed);
            answer(StatusCode::UNPROCESSABLE_ENTITY, &e)
        })
}

/// `PUT /raw`: the body is never held whole; each frame's complete lines go to the
/// pipes before the next is read, so a slow pipeline slows the sender. A frame not
/// received within 10 s of the last ends the request (408).
async fn stream_lines(
    req: Request<Incoming>,
    ctx: &HttpCtx,
    source: &'static str,
) -> Response<Full<Bytes>> {
    let mut body = req.into_body();
    let mut splitter = LineSplitter::default();
    let mut summary = LogSummary::default();
    let mut lines = Vec::new();
    loop {
        let frame = match tokio::time::timeout(HTTP_READ, body.frame()).await {
            Err(_) => {
                return answer(
                    StatusCode::REQUEST_TIMEOUT,
                    "no part of the body received within 10 s",
                );
            }
            Ok(None) => break,
            Ok(Some(Err(e))) => {
                return answer(StatusCode::BAD_REQUEST, &format!("body broke off: {e}"));
            }
            Ok(Some(Ok(f))) => f,
        };
        let Ok(data) = frame.into_data() else {
            continue; // trailers
        };
        splitter.feed(&data, &mut lines);
        for batch in lines.chunks(BATCH_LINES) {
            match hand_over(ctx, source, batch.to_vec()).await {
                Ok(s) => summary.add(&s),
                Err(e) => return e,
            }
        }
        lines.clear();
    }
    splitter.finish(&mut lines);
    if !lines.is_empty() {
        match hand_over(ctx, source, lines).await {
            Ok(s) => summary.add(&s),
            Err(e) => return e,
        }
    }
    summary.too_long = splitter.too_long;
    log_answer(&summary)
}

/// 200 with what the pipes made of the lines.
fn log_answer(s: &LogSummary) -> Response<Full<Bytes>> {
    json_answer(
        StatusCode::OK,
        &serde_json::json!({
            "status": 200,
            "message": "ok",
            "lines": s.lines,
            "bad_lines": s.bad_lines,
            "samples": s.samples,
            "too_long": s.too_long,
        }),
    )
}

/// `{"status": <code>, "message": <text>}`, as JSON.
fn answer(status: StatusCode, text: &str) -> Response<Full<Bytes>> {
    json_answer(
        status,
        &serde_json::json!({ "status": status.as_u16(), "message": text }),
    )
}

fn json_answer(status: StatusCode, body: &serde_json::Value) -> Response<Full<Bytes>> {
    let mut resp = Response::new(Full::new(Bytes::from(body.to_string())));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        header::HeaderValue::from_static("application/json"),
    );
    resp
}
