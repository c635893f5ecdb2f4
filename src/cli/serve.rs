//! `treestat serve` (and plain `treestat`): flags over the configuration file, logging,
//! the runtime, and shutdown on SIGINT/SIGTERM.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use tracing::{error, info};

use super::args::parse_interval;
use super::logging::init_logging;
use super::signal::cancel_on_signal;
use crate::config::{Config, ConfigSource, SEARCH_PATH, parse_addr};
use crate::server::Server;

#[derive(Debug, Args, Default)]
pub struct ServeArgs {
    /// Configuration file; its relative paths are taken from its folder (default:
    /// ./treestat.toml, else /etc/treestat/treestat.toml, else the embedded
    /// conf/treestat.toml).
    #[arg(long)]
    conf: Option<PathBuf>,
    /// Data directory (relative: from the working folder).
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
    /// Do not run the built-in host modules in the server.
    #[arg(long)]
    no_agent: bool,
    /// Consume Psistats messages and JSON trees from this RabbitMQ broker
    /// (`amqp://user:pass@host:5672/%2f`).
    #[arg(long)]
    amqp: Option<String>,
    /// Hand every closed interval to a long-term store, with the defaults of a
    /// `[[forward]]` section: `tcp://host:2003` (Graphite plaintext) or
    /// `http://host:9090/api/v1/write` (Prometheus remote-write). Repeatable.
    #[arg(long, value_name = "URL")]
    forward: Vec<String>,
    /// Sharded ingest: consume this shard's durable queue from the broker's
    /// consistent-hash exchange (needs `--amqp URL` or an `[amqp]` section;
    /// docs/SCALING.md).
    #[arg(long, value_name = "NAME")]
    shard: Option<String>,
    /// This shard's weight on the consistent-hash ring (default 1).
    #[arg(long, value_name = "N")]
    shard_weight: Option<u32>,
    /// `x-queue-type` of the AMQP queue: `classic` (default) or `quorum` (replicated
    /// over a RabbitMQ cluster).
    #[arg(long, value_name = "TYPE")]
    amqp_queue_type: Option<treestat_amqp::QueueType>,
}

/// A listen address, or `off` (`None`).
#[derive(Debug, Clone, Copy)]
pub(super) struct Addr(Option<std::net::SocketAddr>);

pub(super) fn parse_addr_flag(s: &str) -> Result<Addr, String> {
    parse_addr(s).map(Addr)
}

impl ServeArgs {
    /// The configuration file ([`Config::locate`]) with the flags over it, and where the
    /// file came from.
    pub(super) fn config(self) -> anyhow::Result<(Config, ConfigSource)> {
        let search = SEARCH_PATH.map(std::path::Path::new);
        let (mut c, source) = Config::locate(self.conf.as_deref(), &search)?;
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
        if self.no_agent {
            c.server.agent = false;
        }
        if let Some(url) = self.amqp {
            c.amqp.get_or_insert_with(Default::default).url = url;
        }
        for url in self.forward {
            c.forward
                .push(treestat_forward::ForwardConfig::from_url(&url)?);
        }
        let sharding =
            self.shard.is_some() || self.shard_weight.is_some() || self.amqp_queue_type.is_some();
        if sharding {
            let Some(amqp) = c.amqp.as_mut() else {
                anyhow::bail!(
                    "--shard, --shard-weight and --amqp-queue-type need a broker: give \
                     --amqp URL or an [amqp] section"
                );
            };
            if let Some(name) = self.shard {
                amqp.shard = name;
            }
            if let Some(w) = self.shard_weight {
                amqp.shard_weight = w;
            }
            if let Some(t) = self.amqp_queue_type {
                amqp.queue_type = t;
            }
        }
        Ok((c, source))
    }
}

/// Past `server.stop_timeout`, how long the watchdog still gives the last steps (the
/// error log, dropping what is left) before it ends the process.
const WATCHDOG_MARGIN: Duration = Duration::from_millis(500);

pub(super) fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_logging();
    let (config, source) = args.config()?;
    info!(data = %config.server.data.display(), "configuration: {source}");
    let stop_timeout = config.server.stop_timeout;
    let rt = tokio::runtime::Runtime::new().context("starting the async runtime")?;
    rt.block_on(async {
        let server = Server::start(config).await?;
        cancel_on_signal(server.shutdown_token(), move || {
            info!("shutting down");
            watchdog(stop_timeout + WATCHDOG_MARGIN);
        });
        if let Err(e) = server.wait().await {
            // The shutdown ran over its time, or a part the server cannot run without
            // (the HTTP API) failed. Threads may be stuck for good (a trend store
            // inside sled on a full disk): dropping the runtime or the store would
            // wait for them. Exit now; the kernel releases the data folder's lock, so
            // a restart works.
            error!("{e:#}");
            std::process::exit(1);
        }
        anyhow::Ok(())
    })?;
    rt.shutdown_timeout(WATCHDOG_MARGIN);
    Ok(())
}

/// Ends the process `after` the shutdown began, whatever is still running: the last
/// guarantee that SIGTERM stops the server (status 1).
fn watchdog(after: Duration) {
    let spawned = std::thread::Builder::new()
        .name("shutdown-watchdog".into())
        .spawn(move || {
            std::thread::sleep(after);
            error!(
                "shutdown still not finished after {} s; exiting",
                after.as_secs_f64()
            );
            std::process::exit(1);
        });
    if let Err(e) = spawned {
        error!("no shutdown watchdog: {e}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(conf: &std::path::Path) -> ServeArgs {
        ServeArgs {
            conf: Some(conf.to_path_buf()),
            ..ServeArgs::default()
        }
    }

    #[test]
    fn shard_flags_set_the_amqp_source_and_need_a_broker() {
        let dir = tempfile::tempdir().unwrap();
        let conf = dir.path().join("treestat.toml");
        std::fs::write(&conf, "").unwrap();
        let err = ServeArgs {
            shard: Some("a".into()),
            ..args(&conf)
        }
        .config()
        .unwrap_err();
        assert!(err.to_string().contains("--amqp"), "{err}");
        let (c, _) = ServeArgs {
            amqp: Some("amqp://127.0.0.1:5672/%2f".into()),
            shard: Some("a".into()),
            shard_weight: Some(3),
            amqp_queue_type: Some(treestat_amqp::QueueType::Quorum),
            ..args(&conf)
        }
        .config()
        .unwrap();
        let amqp = c.amqp.unwrap();
        assert_eq!(
            (amqp.shard.as_str(), amqp.shard_weight, amqp.queue_type),
            ("a", 3, treestat_amqp::QueueType::Quorum)
        );
        assert_eq!(amqp.queue_name(), "treestat.shards.a");
        // An [amqp] section is a broker too.
        std::fs::write(&conf, "[amqp]\nurl = \"amqp://127.0.0.1:5672/%2f\"\n").unwrap();
        let (c, _) = ServeArgs {
            shard: Some("b".into()),
            ..args(&conf)
        }
        .config()
        .unwrap();
        assert_eq!(c.amqp.unwrap().shard, "b");
    }
}
