//! [`serve`]: runs the router on a listener until the shutdown token fires.
//!
//! The accept loop is ours (hyper's HTTP/1 connection builder, as `axum::serve` uses
//! inside) for two bounds `axum::serve` cannot set: a header read timeout (a client that
//! trickles its request head, slowloris-style, is cut off after `web.header_timeout`;
//! axum's builder has no timer, so it would hold its connection forever) and a limit on
//! open connections (`web.max_connections`: past it, new connections wait in the
//! kernel's accept queue instead of costing memory). Connections cut off by the
//! header timeout are counted (`treestat_http_header_timeouts_total`). On shutdown:
//! stop accepting, cancel the state's token (long-polls answer 503 with their cursor,
//! event streams end), ask every connection to finish its request in flight and close,
//! and wait for that at most `web.shutdown_grace`.

use std::io;
use std::sync::Arc;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// Serves the HTTP API on `listener` until `shutdown` is cancelled, then stops
/// accepting, answers what is in flight (long-polls answer 503 with their cursor, event
/// streams end) and returns, at the latest `web.shutdown_grace` after the token fired.
///
/// # Errors
/// None today: accept errors are logged and retried; the signature leaves room for
/// errors of the server itself.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let router = crate::app(state.clone());
    serve_router(listener, state, router, shutdown).await
}

/// As [`serve`], with a router of one's own (e.g. from [`crate::app_with`]); `state`
/// must be the one the router was built from.
///
/// # Errors
/// As [`serve`].
pub async fn serve_router(
    listener: TcpListener,
    state: AppState,
    router: axum::Router,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let cfg = state.config();
    let permits = Arc::new(Semaphore::new(cfg.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(cfg.header_timeout)
        .keep_alive(true);
    loop {
        let permit = tokio::select! {
            p = permits.clone().acquire_owned() => p.ok(),
            () = shutdown.cancelled() => break,
        };
        let accepted = tokio::select! {
            r = listener.accept() => r,
            () = shutdown.cancelled() => break,
        };
        let (stream, addr) = match accepted {
            Ok(a) => a,
            Err(e) => {
                accept_error(&e, &shutdown).await;
                continue;
            }
        };
        if let Err(e) = stream.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY on {addr}: {e}");
        }
        let conn = builder.serve_connection(
            TokioIo::new(stream),
            TowerToHyperService::new(router.clone()),
        );
        let watched = graceful.watch(conn);
        let timeouts = state.counters().header_timeouts.clone();
        tokio::spawn(async move {
            if let Err(e) = watched.await {
                // hyper's only timer here is the header read timeout.
                if e.is_timeout() {
                    timeouts.inc();
                }
                tracing::debug!("HTTP connection from {addr}: {e}");
            }
            drop(permit);
        });
    }
    drop(listener);
    state.shutdown_token().cancel();
    let grace = cfg.shutdown_grace;
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!(
                "HTTP connections still open {} s after shutdown; not waiting longer",
                grace.as_secs_f64()
            );
        }
    }
    Ok(())
}

/// Connection-level errors (reset before accept) are nothing; others (out of file
/// descriptors) are logged and the loop pauses a moment before accepting again.
async fn accept_error(e: &io::Error, shutdown: &CancellationToken) {
    if matches!(
        e.kind(),
        io::ErrorKind::ConnectionRefused
            | io::ErrorKind::ConnectionAborted
            | io::ErrorKind::ConnectionReset
    ) {
        return;
    }
    tracing::error!("HTTP accept error: {e}");
    tokio::select! {
        () = tokio::time::sleep(Duration::from_millis(200)) => {}
        () = shutdown.cancelled() => {}
    }
}
