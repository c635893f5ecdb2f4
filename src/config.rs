//! The server configuration file: one section per component, each owned by its crate.
//!
//! `conf/treestat.toml` is embedded in the binary and is what `treestat` runs with when
//! no `--conf` is given and neither `./treestat.toml` nor `/etc/treestat/treestat.toml`
//! exists ([`Config::locate`]); a test checks that it parses and matches the built-in
//! defaults, so the file stays a true description of them. A file's relative paths are
//! taken from its own folder ([`Config::load`]).

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::Context;
use serde::{Deserialize, Deserializer};
use treestat_amqp::AmqpSourceConfig;
use treestat_engine::EngineConfig;
use treestat_engine::listen::ListenConfig;
use treestat_engine::trend::TrendConfig;
use treestat_forward::ForwardConfig;
use treestat_pipes::{PipeSpec, PipelineConfig};
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
    /// Long-term stores every closed interval is handed to (Graphite plaintext,
    /// Prometheus remote-write), one `[[forward]]` section each; also `serve
    /// --forward URL`. Default: none.
    pub forward: Vec<ForwardConfig>,
}

/// The `[server]` section.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerConfig {
    /// Data directory for the trend store (default `./data`). A relative path is taken
    /// from the configuration file's folder; the embedded defaults' `./data` (no
    /// `--conf`, no file found) from the working folder.
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

/// A TOML error on one line, `line 3, column 1: unknown field `htpp`, expected ...`
/// (the toml crate's own text draws the line with a caret under it, over four lines).
fn toml_error(text: &str, e: &toml::de::Error) -> String {
    let message = e.message().trim_end();
    match e.span() {
        Some(span) => {
            let before = text.get(..span.start).unwrap_or(text);
            let line = before.matches('\n').count() + 1;
            let start = before.rfind('\n').map_or(0, |i| i + 1);
            let column = before[start..].chars().count() + 1;
            format!("line {line}, column {column}: {message}")
        }
        None => message.to_string(),
    }
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
        toml::from_str(text).map_err(|e| anyhow::anyhow!(toml_error(text, &e)))
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
    /// A file's relative paths (`server.data`, `server.agent_conf`, `[[tail]]`
    /// `paths`, every pipe's `path`: a Python or native pipe, a GeoIP database, a
    /// `regexes.yaml`) are taken from the file's folder, never from the working folder.
    /// The embedded defaults' `server.data` (`./data`) stays relative to the working
    /// folder, and their `agent_conf` points into the checkout the binary was built in
    /// ([`BUILT_IN_DIR`]).
    pub fn load(path: Option<&Path>) -> anyhow::Result<Config> {
        let Some(p) = path else {
            let mut config = Config::embedded()?;
            config.server.agent_conf = Path::new(BUILT_IN_DIR).join(&config.server.agent_conf);
            return Ok(config);
        };
        let text =
            std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
        let mut config = Config::parse(&text).with_context(|| format!("in {}", p.display()))?;
        let file = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
        let dir = file.parent().map(Path::to_path_buf).unwrap_or_default();
        config.resolve_paths(&dir);
        Ok(config)
    }

    /// The configuration `serve` runs with: the `--conf` file when given, else the
    /// first of `search` that exists (normally [`SEARCH_PATH`]: `./treestat.toml`, then
    /// `/etc/treestat/treestat.toml`), else the embedded defaults; and which it took,
    /// for the log.
    ///
    /// # Errors
    /// As [`Config::load`]: a file that exists but cannot be read or does not parse is
    /// an error, never skipped.
    pub fn locate(conf: Option<&Path>, search: &[&Path]) -> anyhow::Result<(Config, ConfigSource)> {
        if let Some(p) = conf {
            return Ok((Config::load(Some(p))?, ConfigSource::Flag(p.to_path_buf())));
        }
        for p in search {
            if p.is_file() {
                let shown = std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
                return Ok((Config::load(Some(p))?, ConfigSource::Found(shown)));
            }
        }
        Ok((Config::load(None)?, ConfigSource::Embedded))
    }

    /// Joins every relative path of the file to `base`, its folder.
    fn resolve_paths(&mut self, base: &Path) {
        let join = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = base.join(&*p);
            }
        };
        join(&mut self.server.data);
        join(&mut self.server.agent_conf);
        let pipelines = std::iter::once(&mut self.accesslog)
            .chain(self.tail.iter_mut().map(|t| &mut t.pipeline));
        for pipeline in pipelines {
            for pipe in &mut pipeline.pipes {
                if let PipeSpec::Table(t) = pipe
                    && let Some(p) = t.path.as_mut()
                {
                    join(p);
                }
            }
        }
        for t in &mut self.tail {
            t.paths.iter_mut().for_each(join);
        }
    }
}

/// The files `serve` reads without `--conf`, in order; without any of them it runs
/// with the embedded defaults.
pub const SEARCH_PATH: [&str; 2] = ["./treestat.toml", "/etc/treestat/treestat.toml"];

/// Where `serve`'s configuration came from ([`Config::locate`]), as its first log line
/// says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ConfigSource {
    /// `--conf FILE`.
    Flag(PathBuf),
    /// The first file of the search path that exists.
    Found(PathBuf),
    /// None of them: the embedded `conf/treestat.toml`.
    Embedded,
}

impl std::fmt::Display for ConfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ConfigSource::Flag(p) => write!(f, "{} (--conf)", p.display()),
            ConfigSource::Found(p) => write!(f, "{} (found; no --conf)", p.display()),
            ConfigSource::Embedded => write!(
                f,
                "the embedded defaults (no --conf, and neither {} nor {} exists)",
                SEARCH_PATH[0], SEARCH_PATH[1]
            ),
        }
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
        assert!(c.tail.is_empty() && c.amqp.is_none() && c.forward.is_empty());
    }

    #[test]
    fn the_commented_forward_example_parses_with_the_defaults_it_states() {
        // The [[forward]] example of conf/treestat.toml, uncommented.
        let example: String = DEFAULT_CONF
            .lines()
            .skip_while(|l| !l.starts_with("# [[forward]]"))
            .take_while(|l| l.starts_with('#'))
            .map(|l| format!("{}\n", l.strip_prefix('#').unwrap_or(l).trim_start()))
            .collect();
        assert!(example.contains("timeout"), "{example}");
        let c = Config::parse(&example).unwrap();
        assert_eq!(c.forward.len(), 2);
        let mut graphite =
            ForwardConfig::new(treestat_forward::Kind::Graphite, "tcp://127.0.0.1:2003");
        graphite.prefix = "treestat".into();
        assert_eq!(c.forward[0], graphite);
        assert_eq!(c.forward[1].kind, treestat_forward::Kind::Prometheus);
        assert_eq!(c.forward[1].labels["instance"], "edge1");
        for f in &c.forward {
            f.validate().unwrap();
        }
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

    /// Issue 18: every path key of a file is taken from the file's folder: the data
    /// folder, `[[tail]]` files, and the `path` of every pipe table, in `[accesslog]`
    /// and in each `[tail.pipeline]`. Absolute paths and bare pipe names stay.
    #[test]
    fn every_relative_path_of_a_file_is_taken_from_its_folder() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("treestat.toml");
        std::fs::write(
            &file,
            r#"
            [server]
            data = "state"
            [accesslog]
            pipes = ["ua", { pipe = "python", path = "pipes/x.py" }, { pipe = "native", path = "/opt/y.so" }]
            [[tail]]
            paths = ["logs/access.log", "/var/log/nginx/access.log"]
            [tail.pipeline]
            pipes = [{ pipe = "geo", path = "GeoLite2-City.mmdb" }, { pipe = "ua", path = "../uap/regexes.yaml" }]
            "#,
        )
        .unwrap();
        let c = Config::load(Some(&file)).unwrap();
        let d = dir.path();
        assert_eq!(c.server.data, d.join("state"));
        let paths = |p: &PipelineConfig| -> Vec<Option<PathBuf>> {
            p.pipes.iter().map(|s| s.to_config().path).collect()
        };
        assert_eq!(
            paths(&c.accesslog),
            [None, Some(d.join("pipes/x.py")), Some("/opt/y.so".into())]
        );
        assert_eq!(
            c.tail[0].paths,
            [
                d.join("logs/access.log"),
                "/var/log/nginx/access.log".into()
            ]
        );
        assert_eq!(
            paths(&c.tail[0].pipeline),
            [
                Some(d.join("GeoLite2-City.mmdb")),
                Some(d.join("../uap/regexes.yaml"))
            ]
        );
        // The embedded defaults' data folder stays relative: the working folder's.
        assert_eq!(Config::load(None).unwrap().server.data, Path::new("./data"));
    }

    /// Without `--conf`: the first file of the search path that exists, else the
    /// embedded defaults; `--conf` wins over both; a broken file found is an error, not
    /// skipped.
    #[test]
    fn locate_takes_the_flag_then_the_first_file_found_then_the_defaults() {
        let dir = tempfile::tempdir().unwrap();
        let (here, etc) = (dir.path().join("here.toml"), dir.path().join("etc.toml"));
        let search = [here.as_path(), etc.as_path()];
        let (c, source) = Config::locate(None, &search).unwrap();
        assert_eq!(source, ConfigSource::Embedded);
        assert_eq!(c.server.data, Path::new("./data"));
        std::fs::write(&etc, "[server]\ndata = \"/srv/etc\"\n").unwrap();
        let (c, source) = Config::locate(None, &search).unwrap();
        assert_eq!(source, ConfigSource::Found(etc.clone()));
        assert_eq!(c.server.data, Path::new("/srv/etc"));
        std::fs::write(&here, "[server]\ndata = \"/srv/here\"\n").unwrap();
        let (c, source) = Config::locate(None, &search).unwrap();
        assert_eq!(source, ConfigSource::Found(here.clone()));
        assert_eq!(c.server.data, Path::new("/srv/here"));
        let (c, source) = Config::locate(Some(&etc), &search).unwrap();
        assert_eq!(source, ConfigSource::Flag(etc.clone()));
        assert_eq!(c.server.data, Path::new("/srv/etc"));
        std::fs::write(&here, "[server]\ndta = 1\n").unwrap();
        let e = format!("{:#}", Config::locate(None, &search).unwrap_err());
        assert!(
            e.contains("here.toml") && e.contains("line 2, column 1: unknown field `dta`"),
            "{e}"
        );
        assert_eq!(
            SEARCH_PATH,
            ["./treestat.toml", "/etc/treestat/treestat.toml"]
        );
    }

    #[test]
    fn unknown_keys_and_bad_addresses_are_errors() {
        assert!(Config::parse("[server]\nhtpp = \"off\"\n").is_err());
        assert!(Config::parse("[server]\nhttp = \"localhost\"\n").is_err());
        let c = Config::parse("[server]\nhttp = \"off\"\n").unwrap();
        assert_eq!(c.server.http, None);
    }
}
