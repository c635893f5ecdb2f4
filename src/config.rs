//! The server configuration file: one section per component, each owned by its crate.
//!
//! `conf/treestat.toml` is embedded in the binary and is what `treestat` runs with when
//! no `--conf` is given; a test checks that it parses and matches the built-in defaults,
//! so the file stays a true description of them.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Deserializer};
use treestat_amqp::AmqpSourceConfig;
use treestat_engine::EngineConfig;
use treestat_engine::listen::ListenConfig;
use treestat_engine::trend::TrendConfig;
use treestat_pipes::PipelineConfig;
use treestat_web::{AuthConfig, WebConfig};

use crate::pipes::TailConfig;

/// The embedded default configuration.
pub const DEFAULT_CONF: &str = include_str!("../conf/treestat.toml");

/// Where the embedded defaults' relative paths point: the `conf/` folder of the
/// checkout the binary was built in (what `cargo run` uses), the folder the embedded
/// file comes from. An installed binary whose checkout is gone finds nothing there
/// and runs without host modules (logged).
pub const BUILT_IN_DIR: &str = concat!(env!("CARGO_MANIFEST_DIR"), "/conf");

/// The whole configuration file.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Where the server keeps its data and serves HTTP.
    pub server: ServerConfig,
    /// The tree, intervals, limits and action rules.
    pub engine: EngineConfig,
    /// The push listeners: addresses and the bounds on what they accept.
    pub listen: ListenConfig,
    /// The HTTP API: body limits, long-poll and stream bounds.
    pub web: WebConfig,
    /// Optional bearer token for writes (and, if asked, reads). Wins over `[web.auth]`.
    pub auth: AuthConfig,
    /// The trend store: retention archives and compaction.
    pub trend: TrendConfig,
    /// The pipeline behind `POST /push` access logs, `text/plain` bodies and `PUT /raw`.
    pub accesslog: PipelineConfig,
    /// Log files the server follows, each through its own pipeline.
    pub tail: Vec<TailConfig>,
    /// The AMQP source (Psistats messages and JSON trees from RabbitMQ); on when this
    /// section is present or `--amqp URL` is given.
    pub amqp: Option<AmqpSourceConfig>,
}

/// The `[server]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Data directory for the trend store (default `./data`).
    pub data: PathBuf,
    /// HTTP API and pages (default `127.0.0.1:8080`; `off` disables).
    #[serde(deserialize_with = "de_addr")]
    pub http: Option<SocketAddr>,
    /// Run the built-in host modules in the server, reporting this machine into the
    /// tree (default true; `--no-agent` turns it off).
    pub agent: bool,
    /// The agent configuration those modules read (default `agent.toml`; its
    /// `servers` are ignored here: the modules push straight into the engine). A
    /// relative path is taken from the configuration file's folder, never from the
    /// working folder; with the embedded defaults (no `--conf`), from the checkout the
    /// binary was built in (what `cargo run` uses). When the file is absent the modules
    /// come from the `modules` folder beside it, and when that is absent too the host
    /// modules are off (logged).
    pub agent_conf: PathBuf,
    /// How long shutdown (SIGTERM, SIGINT) may take before the process exits anyway
    /// (default `"4s"`): listeners stop, the open interval closes and the trend store
    /// syncs within it. Past it, an ERROR names what did not finish and the process
    /// exits with status 1 (what was not synced is lost; a restart on the same data
    /// folder works).
    #[serde(deserialize_with = "treestat_engine::de_duration")]
    pub stop_timeout: Duration,
}

impl Default for ServerConfig {
    fn default() -> ServerConfig {
        ServerConfig {
            data: PathBuf::from("./data"),
            http: "127.0.0.1:8080".parse().ok(),
            agent: true,
            agent_conf: PathBuf::from("agent.toml"),
            stop_timeout: Duration::from_secs(4),
        }
    }
}

/// Parses an address, or `off`.
///
/// # Errors
/// A message naming the text when it is neither.
pub fn parse_addr(text: &str) -> Result<Option<SocketAddr>, String> {
    if text.eq_ignore_ascii_case("off") {
        return Ok(None);
    }
    text.parse()
        .map(Some)
        .map_err(|_| format!("{text:?} is not an address like 127.0.0.1:8080 (or `off`)"))
}

fn de_addr<'de, D: Deserializer<'de>>(d: D) -> Result<Option<SocketAddr>, D::Error> {
    parse_addr(&String::deserialize(d)?).map_err(serde::de::Error::custom)
}

impl Config {
    /// Parses configuration text.
    ///
    /// # Errors
    /// The TOML error, which names the line and the unknown or bad key.
    pub fn parse(text: &str) -> anyhow::Result<Config> {
        Ok(toml::from_str(text)?)
    }

    /// The embedded defaults (`conf/treestat.toml`).
    ///
    /// # Errors
    /// Only if the embedded file is broken, which a test rules out.
    pub fn embedded() -> anyhow::Result<Config> {
        Config::parse(DEFAULT_CONF).context("the embedded conf/treestat.toml")
    }

    /// Reads a configuration file, or the embedded defaults when `path` is `None`.
    ///
    /// # Errors
    /// The file cannot be read or does not parse; the message names the file.
    ///
    /// Relative paths to other configuration (`server.agent_conf`) are resolved here:
    /// from the file's folder, or for the embedded defaults from the checkout the
    /// binary was built in ([`BUILT_IN_DIR`]), so what runs never depends on the
    /// working folder.
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let (mut config, base) = match path {
            None => (Config::embedded()?, PathBuf::from(BUILT_IN_DIR)),
            Some(p) => {
                let text = std::fs::read_to_string(p)
                    .with_context(|| format!("reading {}", p.display()))?;
                let config = Config::parse(&text).with_context(|| format!("in {}", p.display()))?;
                let file = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
                let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
                (config, dir)
            }
        };
        if config.server.agent_conf.is_relative() {
            config.server.agent_conf = base.join(&config.server.agent_conf);
        }
        Ok(config)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_embedded_file_parses_and_states_the_defaults() {
        let c = Config::embedded().unwrap();
        assert_eq!(c.server, ServerConfig::default());
        assert_eq!(c.engine, EngineConfig::default());
        assert_eq!(c.listen, ListenConfig::default());
        assert_eq!(c.web, WebConfig::default());
        assert_eq!(c.auth, AuthConfig::default());
        assert_eq!(c.trend, TrendConfig::default());
        assert_eq!(c.accesslog, PipelineConfig::default());
        assert!(c.tail.is_empty() && c.amqp.is_none());
    }

    #[test]
    fn tail_and_amqp_sections_parse() {
        let c = Config::parse(
            "[[tail]]\npaths = [\"/var/log/nginx/access.log\"]\n[tail.pipeline]\nname = \"www\"\nformat = \"combined\"\npipes = [\"ua\", \"status\"]\n[amqp]\nurl = \"amqp://127.0.0.1:5672/%2f\"\n",
        )
        .unwrap();
        assert_eq!(c.tail[0].pipeline.name, "www");
        assert_eq!(c.tail[0].pipeline.pipes.len(), 2);
        assert!(c.amqp.is_some());
    }

    #[test]
    fn agent_conf_is_resolved_from_the_config_file_not_the_working_folder() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("treestat.toml");
        std::fs::write(
            &file,
            "[server]\nagent_conf = \"host/agent.toml\"\nstop_timeout = \"2500ms\"\n",
        )
        .unwrap();
        let c = Config::load(Some(&file)).unwrap();
        assert_eq!(c.server.agent_conf, dir.path().join("host/agent.toml"));
        assert_eq!(c.server.stop_timeout, Duration::from_millis(2500));
        std::fs::write(
            &file,
            "[server]\nagent_conf = \"/etc/treestat/agent.toml\"\n",
        )
        .unwrap();
        let c = Config::load(Some(&file)).unwrap();
        assert_eq!(c.server.agent_conf, Path::new("/etc/treestat/agent.toml"));
        // The embedded defaults point into the checkout, wherever the server starts.
        let c = Config::load(None).unwrap();
        assert_eq!(
            c.server.agent_conf,
            Path::new(env!("CARGO_MANIFEST_DIR")).join("conf/agent.toml")
        );
        assert!(c.server.agent_conf.is_file());
    }

    #[test]
    fn unknown_keys_and_bad_addresses_are_errors() {
        assert!(Config::parse("[server]\nhtpp = \"off\"\n").is_err());
        assert!(Config::parse("[server]\nhttp = \"localhost\"\n").is_err());
        let c = Config::parse("[server]\nhttp = \"off\"\n").unwrap();
        assert_eq!(c.server.http, None);
    }
}
