//! `AgentConfig`: what `conf/agent.toml` holds, validated in one step, apart from the
//! agent it configures.
//!
//! Durations are written as strings with a unit (`"10s"`, `"500ms"`, `"1m"`) or as a
//! plain number of seconds. Server addresses are URLs whose scheme picks the transport.

use std::fmt;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::Deserialize;

use crate::error::{Error, Result};
use crate::http::Url;

/// The agent's configuration (`conf/agent.toml`).
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AgentConfig {
    /// Servers to push to, each a URL: `udp://host:port`, `tcp://host:port`,
    /// `http[s]://host[:port][/path]` (the path defaults to `/push`) or
    /// `amqp://user:pass@host:port/vhost[?format=psistats&...]` (a RabbitMQ exchange; see
    /// [`crate::transport::amqp`]). Every push goes to all of them. Default:
    /// `["http://127.0.0.1:8080"]`.
    pub servers: Vec<String>,
    /// The host key in the pushed tree. Default: the machine's host name.
    pub host: Option<String>,
    /// How often modules are collected and a push is made, unless a module's `.conf`
    /// sets its own `interval`. Default `10s`.
    #[serde(deserialize_with = "treestat_engine::de_duration")]
    pub interval: Duration,
    /// The module folder (`<module>.conf`, `.on`, `.off`, `.py`, `.so`). A relative path
    /// is taken from the directory holding the config file. Default `modules` (beside
    /// `agent.toml`, i.e. `conf/modules`).
    pub modules: PathBuf,
    /// Connect, send and answer timeout for one push. Default `5s`.
    #[serde(deserialize_with = "treestat_engine::de_duration")]
    pub timeout: Duration,
    /// The largest UDP datagram the agent sends, in bytes; larger pushes are split into
    /// several documents. Default 1400 (fits a typical Ethernet MTU).
    pub udp_max_datagram: usize,
    /// The largest document sent over TCP (one line) or HTTP (one body), in bytes;
    /// larger pushes are split. Default 60000 (under the server's 64 KiB line limit).
    pub max_document: usize,
    /// A PEM file of CA certificates that `https://` servers may also be signed by,
    /// beside Mozilla's built-in roots (a private CA). A relative path is taken from
    /// the directory holding the config file. Default: none.
    pub tls_ca: Option<PathBuf>,
    /// The bearer token for `http(s)://` servers whose `auth.token` is set (sent as
    /// `Authorization: Bearer <token>`). Default: none.
    pub token: Option<String>,
    /// The buffer that holds pushes while a server is unreachable.
    pub buffer: BufferConfig,
    /// The relay (`treestat relay`), when this host runs one.
    pub relay: RelayConfig,
}

impl Default for AgentConfig {
    fn default() -> AgentConfig {
        AgentConfig {
            servers: vec!["http://127.0.0.1:8080".to_string()],
            host: None,
            interval: Duration::from_secs(10),
            modules: PathBuf::from("modules"),
            timeout: Duration::from_secs(5),
            udp_max_datagram: 1400,
            max_document: 60000,
            tls_ca: None,
            token: None,
            buffer: BufferConfig::default(),
            relay: RelayConfig::default(),
        }
    }
}

/// The per-server push buffer.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BufferConfig {
    /// Pushes held in memory per server while it is unreachable (count of documents).
    /// When full (and the spool is full or absent) the oldest is dropped and counted.
    /// Default 360 (an hour at 10 s).
    pub count: usize,
    /// Optional spool file per server (the server's index is appended to the name:
    /// `spool.0`, `spool.1`, ...): pushes that do not fit in memory go there, and pushes
    /// still pending at shutdown are saved there and replayed on the next start.
    /// Default: none.
    pub spool: Option<PathBuf>,
    /// The largest a spool file may grow, in bytes. Default 67108864 (64 MiB).
    pub spool_max_bytes: u64,
}

impl Default for BufferConfig {
    fn default() -> BufferConfig {
        BufferConfig {
            count: 360,
            spool: None,
            spool_max_bytes: 64 * 1024 * 1024,
        }
    }
}

/// The relay: listens like a server, merges, forwards upstream.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct RelayConfig {
    /// Where the relay listens, as URLs (`tcp://0.0.0.0:8007`, `udp://0.0.0.0:8007`,
    /// `http://0.0.0.0:8080`). Default: none (no relay).
    pub listen: Vec<String>,
    /// Where the merged tree goes, as server URLs (see `servers`). Default: none.
    pub upstream: Vec<String>,
    /// How long pushes are merged before one tree is forwarded. Default `10s`.
    #[serde(deserialize_with = "treestat_engine::de_duration")]
    pub interval: Duration,
    /// `[relay.accesslog]`: the pipeline for access-log lines the `http://` listeners
    /// take (`text/plain` bodies and form `accesslog` fields on the push path, `PUT
    /// /raw`): the keys of the server's `[accesslog]` (`name`, `format`, `pipes`,
    /// `max_paths`; docs/PIPES.md) with the same defaults (`access`, `combined`, every
    /// built-in the format can feed, 100000 paths). A pipe's relative `path` is taken
    /// from the folder of the configuration file.
    pub accesslog: treestat_pipes::PipelineConfig,
}

impl Default for RelayConfig {
    fn default() -> RelayConfig {
        RelayConfig {
            listen: Vec::new(),
            upstream: Vec::new(),
            interval: Duration::from_secs(10),
            accesslog: treestat_pipes::PipelineConfig::default(),
        }
    }
}

impl AgentConfig {
    /// Reads and validates `path`; a relative `modules` folder is resolved against the
    /// config file's directory.
    ///
    /// # Errors
    /// The file cannot be read, is not valid TOML, has an unknown key, or a value is
    /// invalid (the message names the key).
    pub fn load(path: &Path) -> Result<AgentConfig> {
        let text = std::fs::read_to_string(path).map_err(|e| Error::io_at(path, &e))?;
        let mut config = AgentConfig::parse(&text)
            .map_err(|e| Error::config(format!("{}: {}", path.display(), e.message())))?;
        let base = path.parent().unwrap_or(Path::new("."));
        if config.modules.is_relative() {
            config.modules = base.join(&config.modules);
        }
        if let Some(ca) = config.tls_ca.as_mut().filter(|ca| ca.is_relative()) {
            *ca = base.join(&*ca);
        }
        for pipe in &mut config.relay.accesslog.pipes {
            if let treestat_pipes::PipeSpec::Table(t) = pipe
                && let Some(p) = t.path.as_mut().filter(|p| p.is_relative())
            {
                *p = base.join(&*p);
            }
        }
        Ok(config)
    }

    /// Parses and validates a config from TOML text.
    ///
    /// # Errors
    /// Invalid TOML, an unknown key, or an invalid value.
    pub fn parse(text: &str) -> Result<AgentConfig> {
        let config: AgentConfig = toml::from_str(text).map_err(|e| Error::config(e.to_string()))?;
        config.validate()?;
        Ok(config)
    }

    /// Checks the values serde cannot: URLs, non-zero sizes and intervals.
    ///
    /// # Errors
    /// The first invalid value, named.
    pub fn validate(&self) -> Result<()> {
        for url in self.servers.iter().chain(&self.relay.upstream) {
            ServerUrl::parse(url)?;
        }
        for url in &self.relay.listen {
            ListenUrl::parse(url)?;
        }
        if self.interval.is_zero() {
            return Err(Error::config("interval must be greater than zero"));
        }
        if self.relay.interval.is_zero() {
            return Err(Error::config("relay.interval must be greater than zero"));
        }
        if self.buffer.count == 0 {
            return Err(Error::config("buffer.count must be at least 1"));
        }
        if self.udp_max_datagram < 64 || self.udp_max_datagram > 65507 {
            return Err(Error::config("udp_max_datagram must be in 64..=65507"));
        }
        if self.max_document < 64 {
            return Err(Error::config("max_document must be at least 64"));
        }
        if let Some(host) = &self.host {
            crate::tree::check_key(host).map_err(|e| Error::config(format!("host: {e}")))?;
        }
        Ok(())
    }

    /// The host name to report: `host` if set, else the machine's.
    pub fn host_name(&self) -> String {
        self.host.clone().unwrap_or_else(machine_host_name)
    }
}

/// The machine's host name (from the kernel), or `localhost` if it cannot be read.
pub fn machine_host_name() -> String {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .map(|s| crate::tree::sanitize_key(&s))
        .unwrap_or_else(|| "localhost".to_string())
}

/// A relay's listen address: a [`ServerUrl`] (JSON trees over TCP, UDP or HTTP), or
/// `statsd://HOST:PORT` (StatsD over UDP) and `graphite://HOST:PORT` (Graphite plaintext
/// over TCP), which the relay serves with the server's own listeners.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ListenUrl {
    /// JSON trees, as a server takes them.
    Json(ServerUrl),
    /// StatsD datagrams on `host:port`.
    Statsd(String),
    /// Graphite plaintext lines on `host:port`.
    Graphite(String),
}

impl ListenUrl {
    /// Parses a `relay.listen` address.
    ///
    /// # Errors
    /// An unknown scheme or an address without a port, named.
    pub fn parse(url: &str) -> Result<ListenUrl> {
        for (scheme, make) in [
            ("statsd://", ListenUrl::Statsd as fn(String) -> ListenUrl),
            ("graphite://", ListenUrl::Graphite),
        ] {
            if let Some(addr) = url.strip_prefix(scheme) {
                let port = addr.rsplit_once(':').map(|(_, p)| p.parse::<u16>());
                return match port {
                    Some(Ok(_)) => Ok(make(addr.to_string())),
                    _ => Err(Error::config(format!(
                        "relay.listen {url:?}: expected {scheme}HOST:PORT"
                    ))),
                };
            }
        }
        ServerUrl::parse(url).map(ListenUrl::Json)
    }
}

/// A server (or listen) address: the transport and `host:port`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ServerUrl {
    /// One JSON document per datagram.
    Udp(String),
    /// One JSON document per line, answered `--OK` / `--ERR`.
    Tcp(String),
    /// `POST <path>` (default `/push`) with a JSON body, over TLS for `https://`.
    Http(Url),
    /// `amqp://user:pass@host:port/vhost?format=json|psistats&exchange=..&routing_key=..`:
    /// published to a RabbitMQ exchange (the whole URL, checked when parsed; see
    /// [`crate::transport::amqp`]). Not a listen address.
    Amqp(String),
}

impl ServerUrl {
    /// Parses `udp://host:port`, `tcp://host:port`, `http[s]://host[:port][/path]` (ports
    /// 80 and 443 by default) or `amqp://[user:pass@]host:port/vhost[?query]`.
    ///
    /// # Errors
    /// An unknown scheme, a missing host or port, or a bad AMQP query parameter.
    pub fn parse(url: &str) -> Result<ServerUrl> {
        let bad = |why: &str| Error::config(format!("server URL {url:?}: {why}"));
        let (scheme, rest) = url
            .split_once("://")
            .ok_or_else(|| bad("expected udp://, tcp://, http://, https:// or amqp://"))?;
        let scheme = scheme.to_ascii_lowercase();
        match scheme.as_str() {
            "amqp" => {
                crate::transport::amqp::output_config(url)?;
                return Ok(ServerUrl::Amqp(url.to_string()));
            }
            "amqps" => return Err(bad("amqps (TLS) is not supported; use amqp://")),
            "http" | "https" => {
                let mut u = Url::parse(&format!("{scheme}://{rest}"))
                    .map_err(|e| Error::config(format!("server URL: {e}")))?;
                if u.path == "/" {
                    u.path = "/push".to_string();
                }
                return Ok(ServerUrl::Http(u));
            }
            "udp" | "tcp" => {}
            _ => return Err(bad("expected udp://, tcp://, http://, https:// or amqp://")),
        }
        let (addr, path) = match rest.find('/') {
            Some(i) => (&rest[..i], &rest[i..]),
            None => (rest, ""),
        };
        let (host, port) = addr.rsplit_once(':').ok_or_else(|| bad("missing :port"))?;
        if host.is_empty() {
            return Err(bad("missing host"));
        }
        port.parse::<u16>().map_err(|_| bad("bad port"))?;
        if !path.is_empty() && path != "/" {
            return Err(bad("no path allowed"));
        }
        Ok(if scheme == "udp" {
            ServerUrl::Udp(addr.to_string())
        } else {
            ServerUrl::Tcp(addr.to_string())
        })
    }

    /// `host:port` (for `amqp://`, the whole URL).
    pub fn addr(&self) -> &str {
        match self {
            ServerUrl::Udp(a) | ServerUrl::Tcp(a) | ServerUrl::Amqp(a) => a,
            ServerUrl::Http(u) => &u.addr,
        }
    }
}

impl fmt::Display for ServerUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ServerUrl::Udp(a) => write!(f, "udp://{a}"),
            ServerUrl::Tcp(a) => write!(f, "tcp://{a}"),
            ServerUrl::Http(u) => u.fmt(f),
            ServerUrl::Amqp(url) => f.write_str(&crate::transport::amqp::redact(url)),
        }
    }
}

/// Parses a duration: `"10s"`, `"500ms"`, `"2m"`, `"1h"` or a bare number of seconds
/// (the same units as every other treestat configuration file).
///
/// # Errors
/// Anything else, named.
pub fn parse_duration(text: &str) -> Result<Duration> {
    treestat_engine::parse_duration(text).map_err(|e| Error::config(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn relay_listen_urls_take_statsd_and_graphite() {
        assert_eq!(
            ListenUrl::parse("statsd://0.0.0.0:8125").unwrap(),
            ListenUrl::Statsd("0.0.0.0:8125".into())
        );
        assert_eq!(
            ListenUrl::parse("graphite://[::1]:2003").unwrap(),
            ListenUrl::Graphite("[::1]:2003".into())
        );
        assert_eq!(
            ListenUrl::parse("tcp://127.0.0.1:8007").unwrap(),
            ListenUrl::Json(ServerUrl::Tcp("127.0.0.1:8007".into()))
        );
        let err = ListenUrl::parse("statsd://host").unwrap_err().to_string();
        assert!(err.contains("statsd://HOST:PORT"), "{err}");
        assert!(ListenUrl::parse("carbon://h:1").is_err());
    }

    #[test]
    fn urls_parse_by_scheme() {
        assert_eq!(
            ServerUrl::parse("udp://127.0.0.1:8007"),
            Ok(ServerUrl::Udp("127.0.0.1:8007".into()))
        );
        assert_eq!(
            ServerUrl::parse("http://h:80").unwrap().to_string(),
            "http://h:80/push"
        );
        assert!(ServerUrl::parse("ftp://h:1").is_err());
        assert!(ServerUrl::parse("tcp://h").is_err());
        assert!(ServerUrl::parse("tcp://h:1/x").is_err());
        let amqp = ServerUrl::parse("amqp://u:pw@127.0.0.1:5672/%2f?format=psistats").unwrap();
        assert_eq!(
            amqp.to_string(),
            "amqp://u:***@127.0.0.1:5672/%2f?format=psistats"
        );
        assert!(ServerUrl::parse("amqp://h:1/%2f?format=xml").is_err());
        assert!(ServerUrl::parse("amqps://h:1/%2f").is_err());
        assert_eq!(
            ServerUrl::parse("https://metrics.example.com"),
            Ok(ServerUrl::Http(Url {
                tls: true,
                addr: "metrics.example.com:443".into(),
                path: "/push".into(),
            }))
        );
        assert_eq!(
            ServerUrl::parse("HTTP://[::1]/in").unwrap().to_string(),
            "http://[::1]:80/in"
        );
        for bad in [
            "https://:443/",
            "https://h:99999/",
            "http://",
            "udp://[::1]",
        ] {
            assert!(ServerUrl::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_relative_tls_ca_is_beside_the_config() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("agent.toml");
        std::fs::write(&path, "tls_ca = \"ca.pem\"\n").unwrap();
        let config = AgentConfig::load(&path).unwrap();
        assert_eq!(config.tls_ca, Some(dir.path().join("ca.pem")));
    }

    #[test]
    fn durations_take_units() {
        assert_eq!(parse_duration("10s"), Ok(Duration::from_secs(10)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("2m"), Ok(Duration::from_secs(120)));
        assert!(parse_duration("ten").is_err());
    }

    #[test]
    fn unknown_keys_are_refused() {
        let err = AgentConfig::parse("severs = []").unwrap_err();
        assert!(err.message().contains("severs"), "{err}");
    }

    #[test]
    fn shipped_config_parses() {
        let path = concat!(env!("CARGO_MANIFEST_DIR"), "/../conf/agent.toml");
        let config = AgentConfig::load(Path::new(path)).expect(path);
        assert!(!config.servers.is_empty());
        assert!(config.modules.ends_with("modules"));
        assert_eq!(
            config.relay.accesslog,
            treestat_pipes::PipelineConfig::default(),
            "conf/agent.toml documents [relay.accesslog] with its defaults"
        );
    }
}
