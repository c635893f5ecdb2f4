//! A bare HTTP API server for load tests (bench/http/), until `treestat serve` exists.
//!
//! `cargo run --release -p treestat-web --example bench_server -- 127.0.0.1:18080`
//! serves [`treestat_web::app`] over a fresh engine on the system clock, with limits
//! raised so a 1M-leaf tree fits. It stops on Ctrl-C (graceful shutdown).

use std::net::SocketAddr;

use tokio_util::sync::CancellationToken;
use treestat_engine::telemetry::Telemetry;
use treestat_engine::{Engine, EngineConfig};
use treestat_web::{AppState, WebConfig, serve};

fn main() -> std::io::Result<()> {
    let addr: SocketAddr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:18080".into())
        .parse()
        .map_err(|e| {
            std::io::Error::new(std::io::ErrorKind::InvalidInput, format!("address: {e}"))
        })?;
    let mut cfg = EngineConfig::default();
    cfg.limits.max_push_nodes = 2_000_000;
    // The bench pushes with keep-alive from many connections; the pull log is not used.
    cfg.pull_log = 0;
    let engine = Engine::new(cfg).map_err(|e| std::io::Error::other(e.to_string()))?;
    let web = WebConfig {
        body_limit: 64 << 20,
        ..WebConfig::default()
    };
    let state = AppState::new(engine, web, Telemetry::default());
    tokio::runtime::Runtime::new()?.block_on(async move {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        eprintln!(
            "bench_server listening on http://{}",
            listener.local_addr()?
        );
        let shutdown = CancellationToken::new();
        let stop = shutdown.clone();
        tokio::spawn(async move {
            let _ = tokio::signal::ctrl_c().await;
            stop.cancel();
        });
        serve(listener, state, shutdown).await
    })
}
