//! [`serve`]: runs the router on a listener until the shutdown token fires.
//!
//! Connections are bounded by `web.max_connections`: the listener takes a semaphore
//! permit before each accept and the connection holds it until it closes, so past the
//! bound new connections wait in the kernel's accept queue instead of costing memory.
//! On shutdown the state's token is cancelled too, so long-polls answer and event
//! streams end, and axum's graceful shutdown then finishes in-flight requests, for at
//! most `web.shutdown_grace`.

use std::future::IntoFuture;
use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{OwnedSemaphorePermit, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::state::AppState;

/// Serves the HTTP API on `listener` until `shutdown` is cancelled, then stops
/// accepting, answers what is in flight (long-polls answer 503 with their cursor, event
/// streams end) and returns, at the latest `web.shutdown_grace` after the token fired.
///
/// # Errors
/// An I/O error of the server itself (accept errors on single connections are retried).
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
    let ours = state.shutdown_token().clone();
    let watch = shutdown.clone();
    let relay = tokio::spawn(async move {
        watch.cancelled().await;
        ours.cancel();
    });
    let limited = Limited {
        inner: listener,
        permits: Arc::new(Semaphore::new(state.config().max_connections.max(1))),
    };
    let grace = state.config().shutdown_grace;
    let deadline = shutdown.clone();
    let server = axum::serve(limited, router)
        .with_graceful_shutdown(async move { shutdown.cancelled().await })
        .into_future();
    // A client still sending its request head (slowloris) would hold a graceful
    // shutdown forever: past the grace period, return anyway and let the process end.
    let result = tokio::select! {
        r = server => r,
        () = async {
            deadline.cancelled().await;
            tokio::time::sleep(grace).await;
        } => {
            tracing::warn!(
                "HTTP connections still open {} s after shutdown; not waiting longer",
                grace.as_secs_f64()
            );
            Ok(())
        }
    };
    relay.abort();
    result
}

struct Limited {
    inner: TcpListener,
    permits: Arc<Semaphore>,
}

impl axum::serve::Listener for Limited {
    type Io = Conn;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Conn, SocketAddr) {
        // The semaphore is never closed; should it be, serve unbounded rather than stop.
        let permit = self.permits.clone().acquire_owned().await.ok();
        let (io, addr) = axum::serve::Listener::accept(&mut self.inner).await;
        if let Err(e) = io.set_nodelay(true) {
            tracing::debug!("TCP_NODELAY on {addr}: {e}");
        }
        (
            Conn {
                io,
                _permit: permit,
            },
            addr,
        )
    }

    fn local_addr(&self) -> io::Result<SocketAddr> {
        self.inner.local_addr()
    }
}

/// A connection holding its permit until dropped.
struct Conn {
    io: TcpStream,
    _permit: Option<OwnedSemaphorePermit>,
}

impl AsyncRead for Conn {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl AsyncWrite for Conn {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }
    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }
    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
