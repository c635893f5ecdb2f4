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
    /// Read mmstats files ("/proc for your application"): slurp, poll, clean.
    #[command(subcommand)]
    Mmstats(MmstatsCommand),
}

#[derive(Debug, Subcommand)]
enum MmstatsCommand {
    /// Print every field of every file (default: the mmstats-* files in $MMSTATS_PATH
    /// or the temp dir), as slurpstats does.
    Slurp {
        /// Files or directories.
        files: Vec<PathBuf>,
    },
    /// A vmstat-like line per tick with the change of each field since the last tick,
    /// summed over files, as pollstats does.
    Poll {
        /// Label prefix put in front of every field name.
        #[arg(short = 'p', long, default_value = "")]
        prefix: String,
        /// Number of lines to print (default: until interrupted).
        #[arg(short = 'c', long)]
        count: Option<u64>,
        /// Seconds between lines.
        #[arg(short = 'd', long, default_value_t = 1.0)]
        delay: f64,
        /// Field names, comma-separated.
        fields: String,
        /// Files or directories.
        files: Vec<PathBuf>,
    },
    /// Remove files whose writer process is gone; keep live ones, as cleanstats does.
    Clean {
        /// Files or directories.
        files: Vec<PathBuf>,
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
    #[arg(long, value_parser = parse_addr_flag)]
    http: Option<Addr>,
    /// TCP JSON / SimpleStats address, or `off`.
    #[arg(long, value_parser = parse_addr_flag)]
    tcp: Option<Addr>,
    /// UDP JSON address, or `off`.
    #[arg(long, value_parser = parse_addr_flag)]
    udp: Option<Addr>,
    /// StatsD address (UDP), or `off`.
    #[arg(long, value_parser = parse_addr_flag)]
    statsd: Option<Addr>,
    /// Graphite plaintext address (TCP), or `off`.
    #[arg(long, value_parser = parse_addr_flag)]
    graphite: Option<Addr>,
    /// Interval length (`10s`, `1m`).
    #[arg(long, value_parser = parse_interval)]
    interval: Option<Duration>,
}

/// A listen address, or `off` (`None`).
#[derive(Debug, Clone, Copy)]
struct Addr(Option<std::net::SocketAddr>);

fn parse_addr_flag(s: &str) -> Result<Addr, String> {
    parse_addr(s).map(Addr)
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
        if let Some(Addr(addr)) = self.http {
            c.server.http = addr;
        }
        let l = &mut c.listen;
        for (flag, slot) in [
            (self.tcp, &mut l.tcp),
            (self.udp, &mut l.udp),
            (self.statsd, &mut l.statsd),
            (self.graphite, &mut l.graphite),
        ] {
            if let Some(Addr(addr)) = flag {
                *slot = addr.map_or_else(|| "off".to_string(), |a| a.to_string());
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
        Command::Mmstats(cmd) => mmstats(cmd),
    }
}

fn mmstats(cmd: MmstatsCommand) -> anyhow::Result<()> {
    use treestat_mmstats as mm;
    let (mut out, mut err) = (std::io::stdout().lock(), std::io::stderr().lock());
    match cmd {
        MmstatsCommand::Slurp { files } => {
            let report = mm::slurp(&mm::expand_files(&files), &mut out, &mut err)?;
            if !report.failed.is_empty() {
                anyhow::bail!("{} file(s) could not be read", report.failed.len());
            }
        }
        MmstatsCommand::Poll {
            prefix,
            count,
            delay,
            fields,
            files,
        } => {
            let delay = Duration::try_from_secs_f64(delay)
                .map_err(|_| anyhow::anyhow!("--delay {delay} is not a number of seconds"))?;
            let files = mm::expand_files(&files);
            mm::poll(&prefix, &[fields], &files, count, delay, &mut out, &mut err)?;
        }
        MmstatsCommand::Clean { files } => {
            let report = mm::clean(&mm::expand_files(&files), &mut out)?;
            drop(report);
        }
    }
    Ok(())
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
