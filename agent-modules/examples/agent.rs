//! Runs the agent for a fixed time, for the footprint benchmark
//! (`benches/agent_footprint.sh`) and for trying a module folder by hand until the CLI
//! has `treestat agent`:
//!
//! `cargo run --release -p treestat-agent --example agent -- --modules DIR
//!  [--interval 1s] [--server URL]... [--host NAME] [--seconds 60] [--conf FILE]`

use std::path::PathBuf;
use std::time::Duration;

use treestat_agent::config::parse_duration;
use treestat_agent::{AgentConfig, CancellationToken, agent};

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let mut config = AgentConfig::default();
    let mut servers = Vec::new();
    let mut seconds = 60u64;
    while let Some(flag) = args.next() {
        let mut value = || args.next().ok_or(format!("{flag} needs a value"));
        match flag.as_str() {
            "--conf" => {
                config = AgentConfig::load(&PathBuf::from(value()?)).map_err(|e| e.to_string())?
            }
            "--modules" => config.modules = PathBuf::from(value()?),
            "--interval" => {
                config.interval = parse_duration(&value()?).map_err(|e| e.to_string())?
            }
            "--server" => servers.push(value()?),
            "--host" => config.host = Some(value()?),
            "--seconds" => seconds = value()?.parse().map_err(|_| "--seconds: a number")?,
            other => return Err(format!("unknown flag {other}")),
        }
    }
    if !servers.is_empty() {
        config.servers = servers;
    }
    let shutdown = CancellationToken::new();
    let s = shutdown.clone();
    std::thread::spawn(move || {
        std::thread::sleep(Duration::from_secs(seconds));
        s.cancel();
    });
    let stats = agent::run(&config, &shutdown).map_err(|e| e.to_string())?;
    for s in stats {
        eprintln!(
            "{}: sent {} rejected {} dropped {} pending {}",
            s.url, s.sent, s.rejected, s.dropped, s.pending
        );
    }
    Ok(())
}
