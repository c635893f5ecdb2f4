//! `treestat front`: the read front over shards (issue 16; docs/SCALING.md, "Read
//! front"). Flags only; the front itself is `crate::front`.

use std::net::SocketAddr;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tracing::info;

use super::args::parse_interval;
use super::logging::init_logging;
use super::signal::cancel_on_signal;
use crate::front::FrontConfig;

#[derive(Debug, Args)]
pub struct FrontArgs {
    /// The shards' HTTP addresses, comma-separated (`http://a:8080,http://b:8080`);
    /// each is a `treestat serve` holding some of the top-level keys.
    #[arg(long, required = true, value_delimiter = ',')]
    shards: Vec<String>,
    /// Where the front listens.
    #[arg(long, default_value = "127.0.0.1:8090")]
    listen: SocketAddr,
    /// Longest wait for one shard's answer; a shard slower than this is left out and
    /// named in `X-Treestat-Partial`.
    #[arg(long, value_parser = parse_interval, default_value = "500ms")]
    deadline: Duration,
    /// How often the front re-reads which shard holds which top-level keys (a key it
    /// has not seen yet is asked of every shard, and starts a refresh at once).
    #[arg(long, value_parser = parse_interval, default_value = "10s")]
    refresh: Duration,
    /// Readers of the front must send the token (`TREESTAT_TOKEN`) as the shards'
    /// `auth.reads` asks.
    #[arg(long)]
    auth_reads: bool,
    /// Longest wait for a request's head; a connection slower than this is closed
    /// (slowloris), as a server's `web.header_timeout`.
    #[arg(long, value_parser = parse_interval, default_value = "30s")]
    header_timeout: Duration,
    /// A host name the front answers to when it listens on a loopback address, besides
    /// `localhost` and IP literals (repeatable or comma-separated); other names get 421
    /// (DNS rebinding), as a server's `web.allowed_hosts`.
    #[arg(long = "allowed-host", value_delimiter = ',')]
    allowed_hosts: Vec<String>,
}

/// The bearer token sent to the shards (and asked of readers with `--auth-reads`):
/// `TREESTAT_TOKEN`, as for the other client commands (never a flag: it would show in
/// `ps`).
fn token() -> Option<String> {
    std::env::var("TREESTAT_TOKEN")
        .ok()
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty())
}

pub(super) fn front(args: FrontArgs) -> anyhow::Result<()> {
    init_logging();
    let token = token();
    anyhow::ensure!(
        !args.auth_reads || token.is_some(),
        "--auth-reads needs the token in TREESTAT_TOKEN"
    );
    for s in &args.shards {
        anyhow::ensure!(
            s.starts_with("http://") || s.starts_with("https://"),
            "shard {s:?} is not an http:// or https:// URL"
        );
    }
    let cfg = FrontConfig {
        shards: args.shards,
        listen: args.listen,
        deadline: args.deadline,
        refresh: args.refresh,
        token,
        auth_reads: args.auth_reads,
        header_timeout: args.header_timeout,
        allowed_hosts: args.allowed_hosts,
    };
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    let stop = tokio_util::sync::CancellationToken::new();
    cancel_on_signal(stop.clone(), || info!("shutting down"));
    rt.block_on(crate::front::run(cfg, stop))?;
    rt.shutdown_timeout(Duration::from_millis(500));
    Ok(())
}
