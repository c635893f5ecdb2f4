//! [`WebConfig`]: the `[web]` section of the server configuration.
//!
//! Every bound the HTTP API enforces lives here with its default, so that reaching one is
//! a documented, configurable limit and never an accident of the code. Unknown keys are
//! refused: a typo is an error, not a silently ignored setting.

use std::time::Duration;
use treestat_engine::de_duration;

use serde::Deserialize;

/// Limits, timeouts and authentication of the HTTP API.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WebConfig {
    /// Largest request body in bytes for `POST /push`, `/add_data_point` and views
    /// (default 8 MiB). Larger bodies are answered 413. Streamed `PUT /raw` bodies are
    /// bounded per line instead (`line_limit`).
    pub body_limit: usize,
    /// Longest access-log line in bytes (default 64 KiB). Longer lines are skipped and
    /// counted as `too_long` in the answer; the stream goes on.
    pub line_limit: usize,
    /// How long a client may take to send a whole body (`/push`), or between two chunks
    /// of a streamed body (`/raw`) (default 30 s). Answered 408.
    #[serde(deserialize_with = "de_duration")]
    pub body_timeout: Duration,
    /// `/pull` requests waiting at the same time (default 1024); past it, 429.
    pub max_waiters: usize,
    /// `/events` streams open at the same time (default 256); past it, 429.
    pub max_streams: usize,
    /// Requests carrying access-log lines (`POST /push` with text or an `accesslog`
    /// field, `PUT /raw`, `PUT /tornado`) handled at the same time (default 8); past
    /// it, 429 with `too_many_log_requests`, at once. Each holds a blocking thread
    /// while the pipes run, so this keeps slow pipes from filling the blocking pool.
    pub max_log_requests: usize,
    /// How long `/pull` waits when the request names no `timeout` (default 30 s).
    #[serde(deserialize_with = "de_duration")]
    pub pull_timeout: Duration,
    /// The longest `timeout` a `/pull` may ask for (default 300 s); longer asks are cut.
    #[serde(deserialize_with = "de_duration")]
    pub pull_timeout_max: Duration,
    /// Interval of keep-alive comments on `/events` streams (default 15 s).
    #[serde(deserialize_with = "de_duration")]
    pub sse_keepalive: Duration,
    /// Open HTTP connections at the same time (default 4096). Further connections wait
    /// in the kernel's accept queue until one closes.
    pub max_connections: usize,
    /// How long a client may take to send a request's head (line and headers; default
    /// 30 s). A slower client's connection is closed (slowloris).
    #[serde(deserialize_with = "de_duration")]
    pub header_timeout: Duration,
    /// After shutdown is asked for, how long in-flight requests may take before the
    /// server stops waiting for them (default 3 s; the process should exit within 5 s).
    #[serde(deserialize_with = "de_duration")]
    pub shutdown_grace: Duration,
    /// Host names (as in the `Host` header, without the port) the server answers to
    /// besides `localhost` and IP literals, when it is bound to a loopback address
    /// (default none). Any other name is answered 421: a web page whose DNS name was
    /// rebound to 127.0.0.1 cannot reach the server. Not checked on other binds.
    pub allowed_hosts: Vec<String>,
    /// Optional bearer token.
    pub auth: AuthConfig,
}

impl Default for WebConfig {
    fn default() -> WebConfig {
        WebConfig {
            body_limit: 8 << 20,
            line_limit: 64 << 10,
            body_timeout: Duration::from_secs(30),
            max_waiters: 1024,
            max_streams: 256,
            max_log_requests: 8,
            pull_timeout: Duration::from_secs(30),
            pull_timeout_max: Duration::from_secs(300),
            sse_keepalive: Duration::from_secs(15),
            max_connections: 4096,
            header_timeout: Duration::from_secs(30),
            shutdown_grace: Duration::from_secs(3),
            allowed_hosts: Vec::new(),
            auth: AuthConfig::default(),
        }
    }
}

/// `[web.auth]`: who may write, and read.
#[derive(Debug, Clone, Default, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AuthConfig {
    /// When set, writes (`POST /push`, `PUT /raw`, `PUT /tornado`, views `PUT`/`DELETE`,
    /// `/add_data_point`, `/register`) need `Authorization: Bearer <token>` (default: none).
    pub token: Option<String>,
    /// When true and a token is set, every read needs the token too (default false).
    pub reads: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_a_web_section_and_refuses_typos() {
        let c: WebConfig = toml::from_str(
            "body_limit = 1024\npull_timeout = \"5s\"\n[auth]\ntoken = \"s3cret\"\nreads = true\n",
        )
        .unwrap();
        assert_eq!(c.body_limit, 1024);
        assert_eq!(c.pull_timeout, Duration::from_secs(5));
        assert_eq!(c.auth.token.as_deref(), Some("s3cret"));
        assert!(c.auth.reads);
        assert_eq!(c.max_waiters, 1024, "unset keys keep their default");
        assert!(c.allowed_hosts.is_empty());
        let c: WebConfig = toml::from_str("allowed_hosts = [\"stats.lan\"]").unwrap();
        assert_eq!(c.allowed_hosts, ["stats.lan"]);
        assert!(toml::from_str::<WebConfig>("body_limt = 5").is_err());
        assert!(toml::from_str::<WebConfig>("pull_timeout = \"soon\"").is_err());
    }
}
