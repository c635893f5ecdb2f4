//! Builds a running server from a [`Config`]: the engine, the interval ticker and every
//! listener, each task handed the shutdown token (STYLE.md 8). Listeners are bound
//! before `start` returns, so callers (and tests on port 0) learn the real addresses.
//!
//! Shutdown: cancel the token; listeners stop accepting and answer what is in flight,
//! then the open interval is closed (its points reach the sinks) and the tasks end.

use std::net::SocketAddr;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use anyhow::Context;
use tokio::task::JoinSet;
use tokio_util::sync::CancellationToken;
use tracing::{info, warn};
use treestat_engine::Engine;

use crate::config::Config;

/// The addresses a started server listens on (`None`: that listener is off).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Bound {
    /// HTTP API and pages.
    pub http: Option<SocketAddr>,
    /// TCP JSON / SimpleStats.
    pub tcp: Option<SocketAddr>,
    /// UDP JSON.
    pub udp: Option<SocketAddr>,
    /// StatsD (UDP).
    pub statsd: Option<SocketAddr>,
    /// Graphite plaintext (TCP).
    pub graphite: Option<SocketAddr>,
}

/// A running server.
#[derive(Debug)]
pub struct Server {
    /// The engine every source pushes into.
    pub engine: Engine,
    /// Where it listens.
    pub bound: Bound,
    shutdown: CancellationToken,
    tasks: JoinSet<()>,
}

impl Server {
    /// Builds every component and starts its task.
    ///
    /// # Errors
    /// A component's configuration is invalid, or an address cannot be bound (the
    /// message names it).
    pub async fn start(config: Config) -> anyhow::Result<Server> {
        let engine = Engine::new(config.engine.clone()).context("[engine] configuration")?;
        let shutdown = CancellationToken::new();
        let mut tasks = JoinSet::new();
        let bound = Bound::default();

        tasks.spawn(run_intervals(engine.clone(), shutdown.clone()));

        Ok(Server {
            engine,
            bound,
            shutdown,
            tasks,
        })
    }

    /// The token that stops the server when cancelled.
    pub fn shutdown_token(&self) -> CancellationToken {
        self.shutdown.clone()
    }

    /// Waits until the server has been told to stop and every task has ended, then
    /// closes the open interval so nothing pushed is left out of the trends.
    ///
    /// # Errors
    /// A task panicked.
    pub async fn wait(mut self) -> anyhow::Result<()> {
        self.shutdown.cancelled().await;
        while let Some(done) = self.tasks.join_next().await {
            if let Err(e) = done {
                warn!("a server task failed: {e}");
            }
        }
        let engine = self.engine.clone();
        tokio::task::spawn_blocking(move || engine.close_now())
            .await
            .context("closing the last interval")?;
        info!("stopped");
        Ok(())
    }
}

/// Closes each interval when it is due, off the async worker threads (sinks do I/O).
async fn run_intervals(engine: Engine, shutdown: CancellationToken) {
    loop {
        let due_ms = millis_until_close(&engine);
        tokio::select! {
            () = tokio::time::sleep(Duration::from_millis(due_ms)) => {}
            () = shutdown.cancelled() => return,
        }
        let e = engine.clone();
        if let Err(err) = tokio::task::spawn_blocking(move || e.close_due()).await {
            warn!("closing an interval failed: {err}");
        }
    }
}

fn millis_until_close(engine: &Engine) -> u64 {
    let end_ms = (engine.stats().open_start + engine.interval_secs()).saturating_mul(1000);
    let now_ms = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
    // A few milliseconds late so the clock has surely passed the boundary.
    u64::try_from(end_ms - now_ms).unwrap_or(0) + 5
}
