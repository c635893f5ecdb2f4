//! The config of one log source's pipeline (a `[[tail]]` entry's `format` and `pipes`,
//! or the `accesslog` ingest), as serde structs with `deny_unknown_fields`.
//!
//! ```toml
//! name = "www"                 # counters go under _treestat,pipes,www,...
//! format = "combined"          # a preset or an nginx log_format string
//! pipes = ["ua", "status", { pipe = "geo", path = "GeoLite2-City.mmdb" }]
//! ```

use crate::error::{Error, ErrorKind};
use serde::{Deserialize, Serialize};
use std::path::PathBuf;
use std::time::Duration;

/// One log source's pipeline.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct PipelineConfig {
    /// The source's name, used in `_treestat,pipes,<name>,bad_lines` and logs.
    /// Default `access`.
    #[serde(default = "default_name")]
    pub name: String,
    /// A preset (`combined`, `common`, `vcombined`, `peach`), an nginx `log_format`
    /// string pasted as is, or `regex:` and a regular expression whose named groups
    /// are the fields. Default `combined`.
    #[serde(default = "default_format")]
    pub format: String,
    /// The pipes, in order. Default (or empty): every built-in except `geo` (which
    /// needs a database) whose fields the format has; a pipe named explicitly whose
    /// fields are missing is an error.
    #[serde(default)]
    pub pipes: Vec<PipeSpec>,
    /// Most distinct paths held between two flushes; past it, updates to new paths are
    /// dropped and counted (`_treestat,pipes,<name>,dropped`). Default 100000.
    #[serde(default = "default_max_paths")]
    pub max_paths: usize,
}

/// A pipe given by name alone, or a table with options. (Deserialized by hand, not
/// `untagged`, so a typo in a table reports the unknown field instead of "no variant
/// matched".)
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(untagged)]
pub enum PipeSpec {
    /// `"ua"`: a built-in with its defaults.
    Name(String),
    /// `{ pipe = "native", path = "x.so" }`.
    Table(PipeConfig),
}

impl<'de> Deserialize<'de> for PipeSpec {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<PipeSpec, D::Error> {
        use serde::de::Error as _;
        match serde_json::Value::deserialize(d)? {
            serde_json::Value::String(s) => Ok(PipeSpec::Name(s)),
            v @ serde_json::Value::Object(_) => serde_json::from_value(v)
                .map(PipeSpec::Table)
                .map_err(|e| D::Error::custom(format!("pipe table: {e}"))),
            other => Err(D::Error::custom(format!(
                "a pipe is a name or a table, not {other}"
            ))),
        }
    }
}

/// One pipe's options. Which apply depends on `pipe`.
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize, Default)]
#[serde(deny_unknown_fields)]
pub struct PipeConfig {
    /// A built-in name (`ua`, `status`, ...), `native` (a `.so`) or `python` (a `.py`).
    pub pipe: String,
    /// Name in counters and logs. Default: the built-in's name, or the file's stem.
    #[serde(default)]
    pub name: Option<String>,
    /// `ua`: a uap-core `regexes.yaml`; `geo`: a `.mmdb`; `native`: the `.so`;
    /// `python`: the `.py`. No default. Relative: from the folder of the server's
    /// configuration file (`treestat tail --pipes`: the working folder).
    #[serde(default)]
    pub path: Option<PathBuf>,
    /// `url`, `errors`, `host`: distinct keys kept before the rest count as `other`.
    /// Default 1000.
    #[serde(default)]
    pub cap: Option<usize>,
    /// `request_time`, `upstream_time`: bucket upper bounds in seconds, increasing.
    /// Default 0.005 0.01 0.025 0.05 0.1 0.25 0.5 1 2.5 5 10.
    #[serde(default)]
    pub buckets: Option<Vec<f64>>,
    /// `native`, `python`: passed to the pipe's `init` (as JSON text, or a dict).
    /// Default `{}`.
    #[serde(default)]
    pub config: Option<serde_json::Value>,
    /// `python` (and any isolated pipe): records per call into Python or per message
    /// to the child process. Default 1024.
    #[serde(default)]
    pub batch: Option<usize>,
    /// `python`, and any pipe with `isolate = true`: the longest one batch (or one
    /// `result()`/flush, or `init`) may take, as a duration (`"5s"`, `"500ms"`).
    /// Default 5 s. A Python pipe over it is taken out of the pipeline for good (its
    /// thread abandoned); an isolated pipe's child over it is killed and restarted.
    #[serde(default, deserialize_with = "de_opt_duration")]
    pub budget: Option<Duration>,
    /// `native`, `python`: run the pipe in a child process (`treestat pipe-host`)
    /// instead of in the server, so a crash (a segfault in a `.so`) or a hang costs
    /// only that pipe: the child is restarted with backoff (1 s doubling to 60 s) and
    /// the lines in flight meanwhile are dropped and counted. Costs a copy of every
    /// line through a pipe (see docs/PIPES.md for the measured rate). Default false.
    #[serde(default)]
    pub isolate: bool,
}

/// The default time budget of a Python or isolated pipe's batch.
pub const DEFAULT_BUDGET: Duration = Duration::from_secs(5);

impl PipeConfig {
    /// The time budget, or its default.
    pub fn budget(&self) -> Duration {
        self.budget.unwrap_or(DEFAULT_BUDGET)
    }
}

fn de_opt_duration<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
    use serde::de::Error as _;
    let text = Option::<String>::deserialize(d)?;
    text.map(|t| treestat_engine::parse_duration(&t).map_err(D::Error::custom))
        .transpose()
}

fn default_name() -> String {
    "access".to_string()
}

fn default_format() -> String {
    "combined".to_string()
}

fn default_max_paths() -> usize {
    100_000
}

/// The built-ins that run when no pipes are named.
pub const DEFAULT_PIPES: [&str; 8] = [
    "ua",
    "status",
    "errors",
    "bytes",
    "request_time",
    "upstream_time",
    "url",
    "host",
];

impl Default for PipelineConfig {
    fn default() -> Self {
        PipelineConfig {
            name: default_name(),
            format: default_format(),
            pipes: Vec::new(),
            max_paths: default_max_paths(),
        }
    }
}

impl PipeSpec {
    /// The options table, a bare name becoming a table with defaults.
    pub fn to_config(&self) -> PipeConfig {
        match self {
            PipeSpec::Name(n) => PipeConfig {
                pipe: n.clone(),
                ..PipeConfig::default()
            },
            PipeSpec::Table(t) => t.clone(),
        }
    }
}

impl PipelineConfig {
    /// The config for `treestat tail --format F --pipes LIST`: `LIST` is
    /// comma-separated; an item is a pipe name or `name=path` (`geo=City.mmdb`,
    /// `native=./x.so`, `python=./x.py`, `ua=regexes.yaml`). An empty list means the
    /// defaults (see [`PipelineConfig::pipes`]).
    ///
    /// # Errors
    /// When an item is empty.
    pub fn from_cli(name: &str, format: &str, pipes: &str) -> Result<PipelineConfig, Error> {
        let mut cfg = PipelineConfig {
            name: name.to_string(),
            format: format.to_string(),
            ..PipelineConfig::default()
        };
        if !pipes.trim().is_empty() {
            cfg.pipes = pipes
                .split(',')
                .map(|item| {
                    let item = item.trim();
                    let (pipe, path) = match item.split_once('=') {
                        Some((p, path)) => (p.trim(), Some(PathBuf::from(path.trim()))),
                        None => (item, None),
                    };
                    if pipe.is_empty() {
                        return Err(Error::new(
                            ErrorKind::Config,
                            format!("empty pipe name in --pipes {pipes:?}"),
                        ));
                    }
                    Ok(PipeSpec::Table(PipeConfig {
                        pipe: pipe.to_string(),
                        path,
                        ..PipeConfig::default()
                    }))
                })
                .collect::<Result<_, _>>()?;
        }
        Ok(cfg)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn toml_and_json_forms_parse() {
        let cfg: PipelineConfig = serde_json::from_str(
            r#"{"name":"www","format":"peach","pipes":["ua",{"pipe":"geo","path":"x.mmdb"}]}"#,
        )
        .unwrap();
        assert_eq!(cfg.pipes.len(), 2);
        assert_eq!(cfg.pipes[1].to_config().path, Some(PathBuf::from("x.mmdb")));
        assert!(serde_json::from_str::<PipelineConfig>(r#"{"formt":"x"}"#).is_err());
        let d: PipelineConfig = serde_json::from_str("{}").unwrap();
        assert_eq!(d, PipelineConfig::default());
    }

    #[test]
    fn toml_tables_and_typos() {
        let cfg: PipelineConfig = toml::from_str(
            r#"
            name = "www"
            format = '$remote_addr [$time_local] "$request" $status'
            pipes = ["status", { pipe = "python", path = "x.py", batch = 64, config = { a = 1 } }]
            "#,
        )
        .unwrap();
        assert_eq!(cfg.pipes[1].to_config().batch, Some(64));
        assert_eq!(
            cfg.pipes[1].to_config().config,
            Some(serde_json::json!({"a": 1}))
        );
        let e = toml::from_str::<PipelineConfig>(r#"pipes = [{ pipe = "url", capp = 5 }]"#)
            .unwrap_err()
            .to_string();
        assert!(e.contains("unknown field `capp`"), "{e}");
        assert!(toml::from_str::<PipelineConfig>("pipes = [3]").is_err());
    }

    /// The pipe-table example commented in conf/treestat.toml parses, every key in it.
    #[test]
    fn the_documented_pipe_keys_parse() {
        let conf = include_str!("../../../conf/treestat.toml");
        let line = conf
            .lines()
            .find_map(|l| l.strip_prefix("# pipes = ["))
            .expect("conf/treestat.toml documents the pipe table");
        let cfg: PipelineConfig = toml::from_str(&format!("pipes = [{line}")).unwrap();
        let py = cfg.pipes[1].to_config();
        assert_eq!(py.budget, Some(Duration::from_secs(5)));
        assert!(!py.isolate);
        let d = PipeSpec::Name("x".into()).to_config();
        assert_eq!((d.budget(), d.isolate), (DEFAULT_BUDGET, false));
        let iso: PipelineConfig = toml::from_str(
            r#"pipes = [{ pipe = "native", path = "x.so", isolate = true, budget = "250ms" }]"#,
        )
        .unwrap();
        let iso = iso.pipes[0].to_config();
        assert_eq!(
            (iso.isolate, iso.budget()),
            (true, Duration::from_millis(250))
        );
        assert!(
            toml::from_str::<PipelineConfig>(r#"pipes = [{ pipe = "python", budget = "soon" }]"#)
                .is_err()
        );
    }

    #[test]
    fn cli_lists() {
        let c = PipelineConfig::from_cli("a", "common", "ua, geo=/x.mmdb").unwrap();
        let p = c.pipes[1].to_config();
        assert_eq!(
            (p.pipe.as_str(), p.path),
            ("geo", Some(PathBuf::from("/x.mmdb")))
        );
        assert!(PipelineConfig::from_cli("a", "common", "ua,,x").is_err());
        assert!(
            PipelineConfig::from_cli("a", "x", "")
                .unwrap()
                .pipes
                .is_empty()
        );
    }
}
