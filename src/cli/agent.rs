//! `treestat agent` (with `modules`, `enable`, `disable`) and `treestat relay`.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Args, Subcommand};
use tokio_util::sync::CancellationToken;

use super::args::parse_interval;
use super::logging::init_logging;
use super::signal::cancel_on_signal;

#[derive(Debug, Args)]
#[command(args_conflicts_with_subcommands = true)]
pub struct AgentArgs {
    #[command(subcommand)]
    action: Option<AgentAction>,
    /// Agent configuration (default: ./conf/agent.toml when it exists, else the
    /// conf/agent.toml of the checkout the binary was built from, as the server's
    /// host modules).
    #[arg(long, global = true)]
    conf: Option<PathBuf>,
    /// Server to push to: `http://host:8080`, `https://host/push`, `tcp://host:8007`,
    /// `udp://host:8007` (repeatable; replaces the configuration's list).
    #[arg(long)]
    server: Vec<String>,
    /// Module folder.
    #[arg(long, global = true)]
    modules: Option<PathBuf>,
    /// Collection interval.
    #[arg(long, value_parser = parse_interval)]
    interval: Option<Duration>,
    /// Host name in the pushed tree.
    #[arg(long)]
    host: Option<String>,
}

#[derive(Debug, Subcommand)]
pub enum AgentAction {
    /// List the modules: name, state (on/off), ported (`2to3` for a Python 2 module
    /// loaded through its cached translation) and kind (built-in, python, native,
    /// ganglia, with where the code is).
    Modules,
    /// Switch a module on (removes NAME.off, creates NAME.on).
    Enable {
        /// Module name.
        name: String,
    },
    /// Switch a module off (creates NAME.off).
    Disable {
        /// Module name.
        name: String,
    },
}

/// The agent's configuration: `conf`, else `./conf/agent.toml` (a checkout's root),
/// else the `agent.toml` of the checkout the binary was built from (the file the
/// server's host modules read by default, [`crate::config::BUILT_IN_DIR`]), so that an
/// installed `treestat agent` run from any folder finds its modules; else the defaults
/// with the module folder `conf/modules`.
pub(super) fn agent_config(
    conf: Option<&std::path::Path>,
    modules: Option<PathBuf>,
) -> anyhow::Result<treestat_agent::AgentConfig> {
    let here = std::path::Path::new("conf/agent.toml");
    let built_in = std::path::Path::new(crate::config::BUILT_IN_DIR).join("agent.toml");
    let mut cfg = match conf {
        Some(p) => treestat_agent::AgentConfig::load(p)?,
        None if here.exists() => treestat_agent::AgentConfig::load(here)?,
        None if built_in.exists() => treestat_agent::AgentConfig::load(&built_in)?,
        None => treestat_agent::AgentConfig {
            modules: PathBuf::from("conf/modules"),
            ..treestat_agent::AgentConfig::default()
        },
    };
    if let Some(m) = modules {
        cfg.modules = m;
    }
    Ok(cfg)
}

/// Runs a blocking agent or relay loop until SIGINT/SIGTERM.
pub(super) fn until_signal<T>(
    run: impl FnOnce(&CancellationToken) -> treestat_agent::Result<T>,
) -> anyhow::Result<T> {
    init_logging();
    let stop = CancellationToken::new();
    cancel_on_signal(stop.clone(), || {});
    Ok(run(&stop)?)
}

pub(super) fn agent(args: AgentArgs) -> anyhow::Result<()> {
    let mut cfg = agent_config(args.conf.as_deref(), args.modules)?;
    match args.action {
        Some(AgentAction::Modules) => {
            print!("{}", treestat_agent::folder::modules_table(&cfg.modules)?);
            Ok(())
        }
        Some(AgentAction::Enable { name }) => {
            Ok(treestat_agent::folder::enable(&cfg.modules, &name)?)
        }
        Some(AgentAction::Disable { name }) => {
            Ok(treestat_agent::folder::disable(&cfg.modules, &name)?)
        }
        None => {
            if !args.server.is_empty() {
                cfg.servers = args.server;
            }
            if let Some(i) = args.interval {
                cfg.interval = i;
            }
            if args.host.is_some() {
                cfg.host = args.host;
            }
            until_signal(|stop| treestat_agent::agent::run(&cfg, stop)).map(drop)
        }
    }
}
