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

/// Serves the whole HTTP API ([`crate::app`] over `state`) on `listener` until
/// `shutdown` is cancelled, then stops accepting, answers what is in flight (long-polls
/// answer 503 with their cursor, event streams end) and returns, at the latest
/// `web.shutdown_grace` after the token fired.
///
/// # Errors
/// The listening socket stopped being one (accept fails with `EINVAL` or
/// `EOPNOTSUPP`): connections in flight are finished as at shutdown, then the error
/// is returned, so the caller can stop rather than run on without its API. Other
/// accept errors (out of file descriptors, a connection reset before accept) are
/// logged and retried.
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let router = crate::app(state.clone());
    let cfg = state.config();
    let limits = Limits {
        header_timeout: cfg.header_timeout,
        max_connections: cfg.max_connections,
        shutdown_grace: cfg.shutdown_grace,
    };
    let timeouts = state.counters().header_timeouts.clone();
    let token = state.shutdown_token().clone();
    serve_router(listener, router, limits, timeouts, shutdown, move || {
        token.cancel();
    })
    .await
}

/// The bounds of [`serve_router`]'s accept loop (`web.header_timeout`,
/// `web.max_connections`, `web.shutdown_grace` on a server).
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Longest wait for a request's head (slowloris).
    pub header_timeout: Duration,
    /// Most connections open at once; past it, new ones wait in the accept queue.
    pub max_connections: usize,
    /// Longest wait, at shutdown, for the connections to finish.
    pub shutdown_grace: Duration,
}

/// Serves `router` on `listener` with the bounds of a server's accept loop (the module
/// doc) until `shutdown` is cancelled; `header_timeouts` counts the connections cut off
/// by the header read timeout; `stopping` runs once the loop stopped accepting (a
/// server ends its long-polls and streams there). A read front serves its routes with
/// this too.
///
/// # Errors
/// As [`serve`].
pub async fn serve_router(
    listener: TcpListener,
    router: axum::Router,
    limits: Limits,
    header_timeouts: treestat_engine::telemetry::Counter,
    shutdown: CancellationToken,
    stopping: impl FnOnce(),
) -> io::Result<()> {
    let permits = Arc::new(Semaphore::new(limits.max_connections.max(1)));
    let graceful = GracefulShutdown::new();
    let mut builder = http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_timeout)
        .keep_alive(true);
    let mut failed = None;
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
            Err(e) if listener_gone(&e) => {
                failed = Some(e);
                break;
            }
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
        let timeouts = header_timeouts.clone();
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
    stopping();
    let grace = limits.shutdown_grace;
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(grace) => {
            tracing::warn!(
                "HTTP connections still open {} s after shutdown; not waiting longer",
                grace.as_secs_f64()
            );
        }
    }
    match failed {
        Some(e) => Err(io::Error::new(
            e.kind(),
            format!("the listening socket no longer accepts connections: {e}"),
        )),
        None => Ok(()),
    }
}

/// An accept error that no retry can cure: the socket is no longer a listening one
/// (`EINVAL`, as after `shutdown(2)` on it) or cannot accept at all (`EOPNOTSUPP`).
/// The server would otherwise run on without its API, logging the error forever.
fn listener_gone(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::InvalidInput | io::ErrorKind::Unsupported
    )
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
