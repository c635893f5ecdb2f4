//! The `treestat` command line: parses flags, loads the configuration and calls into the
//! library crates. Nothing here holds logic of its own.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Parser, Subcommand};
use tracing::info;
use treestat::client::{self, DEFAULT_SERVER};
use treestat::config::{Config, parse_addr};
use treestat::server::Server;

/// treestat: a tree aggregation engine for metrics.
#[derive(Debug, Parser)]
#[command(version, about)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the server (the default command).
    Serve(ServeArgs),
    /// Push one JSON document to a running server.
    Push {
        /// Server URL.
        #[arg(long, default_value = DEFAULT_SERVER)]
        server: String,
        /// The JSON tree or array of trees.
        json: String,
    },
    /// Print `[path, value]` pairs from a running server.
    Query {
        /// Server URL.
        #[arg(long, default_value = DEFAULT_SERVER)]
        server: String,
        /// A tree-path pattern (`br,ie,,venders`, `*|sum,net`).
        pattern: String,
    },
}

#[derive(Debug, Args, Default)]
struct ServeArgs {
    /// Configuration file (default: the embedded conf/treestat.toml).
    #[arg(long)]
    conf: Option<PathBuf>,
    /// Data directory.
    #[arg(long)]
    data: Option<PathBuf>,
    /// HTTP address, or `off`.
    #[arg(long, value_parser = parse_addr)]
    http: Option<Option<std::net::SocketAddr>>,
    /// TCP JSON / SimpleStats address, or `off`.
    #[arg(long, value_parser = parse_addr)]
    tcp: Option<Option<std::net::SocketAddr>>,
    /// UDP JSON address, or `off`.
    #[arg(long, value_parser = parse_addr)]
    udp: Option<Option<std::net::SocketAddr>>,
    /// StatsD address (UDP), or `off`.
    #[arg(long, value_parser = parse_addr)]
    statsd: Option<Option<std::net::SocketAddr>>,
    /// Graphite plaintext address (TCP), or `off`.
    #[arg(long, value_parser = parse_addr)]
    graphite: Option<Option<std::net::SocketAddr>>,
    /// Interval length (`10s`, `1m`).
    #[arg(long, value_parser = parse_interval)]
    interval: Option<Duration>,
}

fn parse_interval(s: &str) -> Result<Duration, String> {
    treestat_engine::parse_duration(s)
}

impl ServeArgs {
    fn config(self) -> anyhow::Result<Config> {
        let mut c = Config::load(self.conf.as_deref())?;
        if let Some(d) = self.data {
            c.server.data = d;
        }
        let s = &mut c.server;
        for (flag, slot) in [
            (self.http, &mut s.http),
            (self.tcp, &mut s.tcp),
            (self.udp, &mut s.udp),
            (self.statsd, &mut s.statsd),
            (self.graphite, &mut s.graphite),
        ] {
            if let Some(addr) = flag {
                *slot = addr;
            }
        }
        if let Some(i) = self.interval {
            c.engine.interval = i;
        }
        Ok(c)
    }
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    match cli.command.unwrap_or(Command::Serve(ServeArgs::default())) {
        Command::Serve(args) => serve(args.config()?),
        Command::Push { server, json } => {
            println!("{}", client::push(&server, &json)?);
            Ok(())
        }
        Command::Query { server, pattern } => {
            client::query(&server, &pattern, &mut std::io::stdout().lock())
        }
    }
}

fn serve(config: Config) -> anyhow::Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env().unwrap_or_else(|_| "info".into()),
        )
        .init();
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async {
        let server = Server::start(config).await?;
        let stop = server.shutdown_token();
        tokio::spawn(async move {
            wait_for_signal().await;
            info!("shutting down");
            stop.cancel();
        });
        server.wait().await
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{SignalKind, signal};
    let Ok(mut term) = signal(SignalKind::terminate()) else {
        let _ = tokio::signal::ctrl_c().await;
        return;
    };
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
