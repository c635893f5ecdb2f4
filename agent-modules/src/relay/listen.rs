//! The relay's listeners, one thread each (plus one per TCP connection, capped): TCP (a
//! hint line on connect, then one JSON document or SimpleStats tuple `["name", ts,
//! value]` per line answered `--OK` or `--ERR <reason>`), UDP (one document or tuple per
//! datagram, or several newline-separated; the server's 8007 parser and semantics,
//! [`simplestats::apply_parsed`]: a tuple is one sample at its own time stamp), HTTP
//! (`POST /push` with a JSON body; 200, or 400 naming the problem); StatsD (UDP) and
//! Graphite plaintext (TCP), served by the engine's own listeners on a current-thread
//! runtime of the listener's thread, with the server's default `[listen]` limits.
//!
//! HTTP is served by hyper's HTTP/1 server on a current-thread tokio runtime owned by
//! the listener's thread: `Expect: 100-continue` is answered at once and chunked bodies
//! are taken, as the server's own listener does. One request per connection.
//!
//! Bounds: lines and bodies up to 8 MiB (413 past it over HTTP), headers up to 64 KiB
//! (431), 256 connections at once per listener (further ones are closed), an HTTP head
//! or body not received within 10 s ends the connection (the body: 408), idle TCP
//! connections closed after 5 minutes. Listeners check the shutdown token every 50 ms;
//! at shutdown HTTP requests in flight get up to 2 s to finish.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full, LengthLimitError, Limited};
use hyper::body::{Bytes, Incoming};
use hyper::server::conn::http1;
use hyper::{Method, Request, Response, StatusCode, header};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use treestat_engine::Engine;
use treestat_engine::listen::{LineError, Reject, simplestats};

use super::counters::RelayCounters;
use super::logs::{BATCH_LINES, LineSplitter, LogSummary, RelayLogs};
use crate::config::{ListenUrl, ServerUrl};
use crate::error::{Error, Result};
use treestat_engine::stop::{CancellationToken, Wait};

const MAX_DOC: usize = 8 << 20;
const MAX_HEAD: usize = 64 << 10;
const MAX_CONNECTIONS: usize = 256;
const IDLE: Duration = Duration::from_secs(300);
/// How long an HTTP client has to send its request head, and then its body.
const HTTP_READ: Duration = Duration::from_secs(10);
/// How long HTTP requests in flight at shutdown may take to finish.
const HTTP_GRACE: Duration = Duration::from_secs(2);
const POLL: Duration = Duration::from_millis(50);
const HINT: &[u8] =
    b"# treestat relay: send one JSON tree, array of trees or [name, timestamp, value] per line\n";

/// A bound listener socket.
pub(super) enum Bound {
    Tcp(TcpListener),
    Udp(UdpSocket),
    Http(TcpListener, String),
    /// `statsd://ADDR`: StatsD over UDP, served by the engine's own listener.
    Statsd(UdpSocket),
    /// `graphite://ADDR`: Graphite plaintext over TCP, served by the engine's own
    /// listener.
    Graphite(TcpListener),
}

impl Bound {
    /// Binds a `relay.listen` address ([`ListenUrl`]): StatsD and Graphite are served
    /// with the server's own listeners (same parsers, same limits), so a relay takes
    /// what a server takes.
    pub(super) fn bind_listen(url: &str) -> Result<Bound> {
        let named = |e: std::io::Error| Error::io(format!("relay: cannot listen on {url}"), &e);
        match ListenUrl::parse(url)? {
            ListenUrl::Statsd(addr) => Ok(Bound::Statsd(UdpSocket::bind(addr).map_err(named)?)),
            ListenUrl::Graphite(addr) => {
                Ok(Bound::Graphite(TcpListener::bind(addr).map_err(named)?))
            }
            ListenUrl::Json(u) => Bound::bind(&u),
        }
    }

    pub(super) fn bind(url: &ServerUrl) -> Result<Bound> {
        let named = |e: std::io::Error| Error::io(format!("relay: cannot listen on {url}"), &e);
        Ok(match url {
            ServerUrl::Tcp(a) => Bound::Tcp(TcpListener::bind(a.as_str()).map_err(named)?),
            ServerUrl::Udp(a) => Bound::Udp(UdpSocket::bind(a.as_str()).map_err(named)?),
            ServerUrl::Http(u) if u.tls => {
                return Err(Error::config(format!(
                    "relay.listen: {url}: the relay listens on plain http (put a TLS \
                     proxy in front of it)"
                )));
            }
            ServerUrl::Http(u) => Bound::Http(
                TcpListener::bind(u.addr.as_str()).map_err(named)?,
                u.path.clone(),
            ),
            ServerUrl::Amqp(_) => {
                return Err(Error::config(format!(
                    "relay.listen: {url}: amqp:// is an upstream only (the server consumes \
                     from the broker with its [amqp] source)"
                )));
            }
        })
    }

    fn addr(&self) -> Option<SocketAddr> {
        match self {
            Bound::Tcp(l) | Bound::Http(l, _) | Bound::Graphite(l) => l.local_addr().ok(),
            Bound::Udp(s) | Bound::Statsd(s) => s.local_addr().ok(),
        }
    }

    pub(super) fn url(&self) -> String {
        let addr = self
            .addr()
            .map_or_else(|| "?".to_string(), |a| a.to_string());
        match self {
            Bound::Tcp(_) => format!("tcp://{addr}"),
            Bound::Udp(_) => format!("udp://{addr}"),
            Bound::Http(_, path) => format!("http://{addr}{path}"),
            Bound::Statsd(_) => format!("statsd://{addr}"),
            Bound::Graphite(_) => format!("graphite://{addr}"),
        }
    }

    pub(super) fn serve(
        self,
        engine: Engine,
        counters: Arc<RelayCounters>,
        logs: Arc<RelayLogs>,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>> {
        let name = format!("treestat-relay-{}", self.url());
        std::thread::Builder::new()
            .name(name)
            .spawn(move || match self {
                Bound::Tcp(l) => accept_loop(&l, &engine, &counters, &shutdown),
                Bound::Http(l, path) => http_loop(
                    l,
                    HttpCtx {
                        engine,
                        counters,
                        logs,
                        path,
                    },
                    &shutdown,
                ),
                Bound::Udp(s) => udp_loop(&s, &engine, &counters, &shutdown),
                Bound::Statsd(s) => {
                    engine_listener(engine, &counters, shutdown, |e, c, t, stop| async move {
                        s.set_nonblocking(true)?;
                        let s = tokio::net::UdpSocket::from_std(s)?;
                        treestat_engine::listen::udp::serve_statsd(s, e, &c, &t, stop).await
                    })
                }
                Bound::Graphite(l) => {
                    engine_listener(engine, &counters, shutdown, |e, c, t, stop| async move {
                        l.set_nonblocking(true)?;
                        let l = tokio::net::TcpListener::from_std(l)?;
                        treestat_engine::listen::tcp::serve_graphite(l, e, &c, &t, stop).await
                    })
                }
            })
            .map_err(|e| Error::io("spawning a relay listener", &e))
    }
}

/// Runs one of the engine's own (async) listeners on a current-thread runtime of this
/// thread, with the server's default listener settings; it counts in the relay's
/// telemetry (lines merged and refused go upstream with the relay's counters).
fn engine_listener<F, Fut>(
    engine: Engine,
    counters: &RelayCounters,
    shutdown: CancellationToken,
    serve: F,
) where
    F: FnOnce(
        Engine,
        treestat_engine::listen::ListenConfig,
        treestat_engine::telemetry::Telemetry,
        CancellationToken,
    ) -> Fut,
    Fut: std::future::Future<Output = std::io::Result<()>>,
{
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("relay listener: no runtime: {e}");
            return;
        }
    };
    let cfg = treestat_engine::listen::ListenConfig::default();
    let telemetry = counters.telemetry.clone();
    if let Err(e) = rt.block_on(async { serve(engine, cfg, telemetry, shutdown).await }) {
        tracing::error!("relay listener: {e}");
    }
}

/// Merges one JSON document (an HTTP body or form field).
fn merge(engine: &Engine, counters: &RelayCounters, doc: &[u8]) -> std::result::Result<(), String> {
    counters.close_due(engine);
    match engine.push_json(doc) {
        Ok(_) => {
            // The relay's own engine answers its agents only once logged, in `sync`.
            engine.wal_synced_blocking();
            counters.json.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => {
            counters.rejected.fetch_add(1, Ordering::Relaxed);
            Err(e.to_string().replace(['\n', '\r'], " "))
        }
    }
}

/// Merges one line of the server's 8007 protocol (TCP line or UDP datagram line): a JSON
/// tree, an array of trees, or a SimpleStats tuple `["name", ts, value]`, with the
/// server's parser and semantics ([`simplestats::apply_parsed`]): a tuple is one sample
/// filed at its own time stamp.
fn merge_line(
    engine: &Engine,
    counters: &RelayCounters,
    line: &[u8],
) -> std::result::Result<(), String> {
    counters.close_due(engine);
    let parsed = std::str::from_utf8(line)
        .map_err(|e| {
            LineError::new(
                Reject::BadUtf8,
                format!("invalid UTF-8 at byte {}", e.valid_up_to()),
            )
        })
        .and_then(|l| simplestats::parse_line(l, engine.config().limits.max_depth));
    let applied = parsed.and_then(|line| {
        let tuple = matches!(line, simplestats::Line::Tuple { .. });
        simplestats::apply_parsed(engine, line).map(|_| tuple)
    });
    match applied {
        Ok(tuple) => {
            engine.wal_synced_blocking();
            let n = if tuple {
                &counters.tuples
            } else {
                &counters.json
            };
            n.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => {
            counters.rejected.fetch_add(1, Ordering::Relaxed);
            Err(e.message.replace(['\n', '\r'], " "))
        }
    }
}

fn accept_loop(
    listener: &TcpListener,
    engine: &Engine,
    counters: &Arc<RelayCounters>,
    shutdown: &CancellationToken,
) {
    if let Err(e) = listener.set_nonblocking(true) {
        tracing::error!("relay: {e}");
        return;
    }
    let open = Arc::new(AtomicUsize::new(0));
    while !shutdown.is_cancelled() {
        let conn = match listener.accept() {
            Ok((c, _)) => c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                shutdown.wait(POLL);
                continue;
            }
            Err(e) => {
                tracing::warn!("relay accept: {e}");
                shutdown.wait(POLL);
                continue;
            }
        };
        if open.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            continue; // dropped: closes the connection
        }
        open.fetch_add(1, Ordering::SeqCst);
        let (engine, counters, shutdown, open2) = (
            engine.clone(),
            Arc::clone(counters),
            shutdown.clone(),
            Arc::clone(&open),
        );
        let spawned = std::thread::Builder::new()
            .name("treestat-relay-conn".into())
            .spawn(move || {
                let _ = serve_tcp(conn, &engine, &counters, &shutdown);
                open2.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            open.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn serve_tcp(
    conn: TcpStream,
    engine: &Engine,
    counters: &RelayCounters,
    shutdown: &CancellationToken,
) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(POLL))?;
    let mut w = conn.try_clone()?;
    w.write_all(HINT)?;
    let mut r = BufReader::new(conn);
    let mut line = Vec::new();
    let mut last = Instant::now();
    while !shutdown.is_cancelled() && last.elapsed() < IDLE {
        let limit = u64::try_from(MAX_DOC + 1 - line.len().min(MAX_DOC)).unwrap_or(0);
        match r.by_ref().take(limit).read_until(b'\n', &mut line) {
            Ok(0) if line.is_empty() => return Ok(()),
            Ok(0) => {}
            Ok(_) => last = Instant::now(),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
        if line.ends_with(b"\n") {
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            if !text.iter().all(u8::is_ascii_whitespace) {
                let answer = match merge_line(engine, counters, text) {
                    Ok(()) => "--OK\n".to_string(),
                    Err(e) => format!("--ERR {e}\n"),
                };
                w.write_all(answer.as_bytes())?;
            }
            line.clear();
        } else if line.len() > MAX_DOC {
            counters.rejected.fetch_add(1, Ordering::Relaxed);
            w.write_all(b"--ERR line longer than 8 MiB\n")?;
            return Ok(());
        }
    }
    Ok(())
}

/// What every HTTP request of one listener shares.
struct HttpCtx {
    engine: Engine,
    counters: Arc<RelayCounters>,
    logs: Arc<RelayLogs>,
    path: String,
}

/// Runs the HTTP listener on a current-thread runtime until `shutdown`.
fn http_loop(listener: TcpListener, ctx: HttpCtx, shutdown: &CancellationToken) {
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
    let ct = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("");
    let mime = ct
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase();
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
/// (or `/tornado`) with a stream of log lines.
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
    if path != ctx.path {
        let target = req
            .uri()
            .path_and_query()
            .map_or_else(|| req.uri().to_string(), ToString::to_string);
        return answer(
            StatusCode::NOT_FOUND,
            &format!(
                "no route {target}; push to POST {}, stream log lines to PUT /raw",
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
    let merged = tokio::task::spawn_blocking(move || merge(&engine, &counters, &body)).await;
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

fn udp_loop(
    sock: &UdpSocket,
    engine: &Engine,
    counters: &RelayCounters,
    shutdown: &CancellationToken,
) {
    if let Err(e) = sock.set_read_timeout(Some(POLL)) {
        tracing::error!("relay udp: {e}");
        return;
    }
    let mut buf = vec![0u8; 65536];
    while !shutdown.is_cancelled() {
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => {
                tracing::warn!("relay udp: {e}");
                continue;
            }
        };
        for part in buf[..n].split(|&b| b == b'\n') {
            if !part.iter().all(u8::is_ascii_whitespace) {
                let part = part.strip_suffix(b"\r").unwrap_or(part);
                let _ = merge_line(engine, counters, part);
            }
        }
    }
}
