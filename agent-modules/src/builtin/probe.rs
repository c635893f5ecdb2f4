//! `nginx` (reads nginx's `stub_status` page) and `urlprobe` (status code, time to
//! first byte, total time and bytes per configured URL), both over the agent's HTTP
//! client ([`crate::http`]).
//!
//! nginx parameters: `url` (required), `timeout` (default 5s). urlprobe parameters:
//! every key starting with `url` is a URL to probe, named by what follows `url.` (or by
//! the key itself: `url.home = http://...` reports under `home`); `timeout` (default 5s).
//! Both take `http://` and `https://` URLs; `ca` names a PEM file of extra CA
//! certificates to trust beside Mozilla's roots (a private CA).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Duration;

use crate::config::parse_duration;
use crate::error::{Error, Result};
use crate::http::{Client, Tls, Url};
use crate::metric::Sample;
use crate::module::{Collection, Module};
use crate::tree::sanitize_key;

fn timeout_param(module: &str, params: &BTreeMap<String, String>) -> Result<Duration> {
    params
        .get("timeout")
        .map(|t| parse_duration(t).map_err(|e| Error::config(format!("{module}: timeout: {e}"))))
        .transpose()
        .map(|t| t.unwrap_or(Duration::from_secs(5)))
}

/// The numbers on a `stub_status` page.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct StubStatus {
    /// Open client connections.
    pub active: f64,
    /// Accepted connections (counter).
    pub accepts: f64,
    /// Handled connections (counter).
    pub handled: f64,
    /// Requests (counter).
    pub requests: f64,
    /// Connections reading the request.
    pub reading: f64,
    /// Connections writing the answer.
    pub writing: f64,
    /// Idle keep-alive connections.
    pub waiting: f64,
}

/// Parses nginx's `stub_status` page.
///
/// # Errors
/// The text is not a stub_status page.
pub fn parse_stub_status(text: &str) -> std::result::Result<StubStatus, String> {
    let bad = || {
        format!(
            "not a stub_status page: {:?}",
            text.chars().take(80).collect::<String>()
        )
    };
    let mut s = StubStatus::default();
    let mut lines = text.lines();
    let active = lines.next().ok_or_else(bad)?;
    s.active = active
        .strip_prefix("Active connections:")
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(bad)?;
    lines.next().ok_or_else(bad)?;
    let nums: Vec<f64> = lines
        .next()
        .ok_or_else(bad)?
        .split_whitespace()
        .filter_map(|v| v.parse().ok())
        .collect();
    let [accepts, handled, requests] = nums[..] else {
        return Err(bad());
    };
    (s.accepts, s.handled, s.requests) = (accepts, handled, requests);
    let last: Vec<&str> = lines.next().ok_or_else(bad)?.split_whitespace().collect();
    let field = |name: &str| {
        last.iter()
            .position(|w| *w == name)
            .and_then(|i| last.get(i + 1))
            .and_then(|v| v.parse::<f64>().ok())
    };
    s.reading = field("Reading:").ok_or_else(bad)?;
    s.writing = field("Writing:").ok_or_else(bad)?;
    s.waiting = field("Waiting:").ok_or_else(bad)?;
    Ok(s)
}

/// The `ca` parameter: Mozilla's roots plus that file's certificates, or `None` for
/// the built-in roots alone.
fn tls_param(module: &str, params: &BTreeMap<String, String>) -> Result<Option<Tls>> {
    params
        .get("ca")
        .map(|ca| {
            Tls::new(Some(Path::new(ca))).map_err(|e| Error::config(format!("{module}: ca: {e}")))
        })
        .transpose()
}

/// The nginx module.
pub struct Nginx {
    url: Url,
    client: Client,
}

impl Nginx {
    /// Reads `url` and `timeout`.
    ///
    /// # Errors
    /// `url` missing or not `http[s]://`, or a `ca` file that cannot be used.
    pub fn new(params: &BTreeMap<String, String>) -> Result<Nginx> {
        let url = params.get("url").ok_or_else(|| {
            Error::config("nginx: parameter url (the stub_status URL) is missing")
        })?;
        let tls = tls_param("nginx", params)?;
        Ok(Nginx {
            url: Url::parse(url)?,
            client: Client::new(timeout_param("nginx", params)?, tls.as_ref()),
        })
    }
}

impl Module for Nginx {
    fn name(&self) -> &str {
        "nginx"
    }

    fn collect(&mut self) -> Collection {
        let mut out = Collection::default();
        let got = self
            .client
            .request("GET", &self.url, None, None)
            .map_err(|e| e.to_string())
            .and_then(|r| {
                if r.status == 200 {
                    parse_stub_status(&String::from_utf8_lossy(&r.body))
                        .map_err(|e| format!("{}: {e}", self.url))
                } else {
                    Err(format!("{}: status {}", self.url, r.status))
                }
            });
        match got {
            Ok(s) => {
                let g = |k: &str, v: f64| Sample::gauge("nginx", &[k], v);
                let c = |k: &str, v: f64| Sample::counter("nginx", &[k], v);
                out.samples.extend([
                    g("up", 1.0),
                    g("active", s.active),
                    g("reading", s.reading),
                    g("writing", s.writing),
                    g("waiting", s.waiting),
                    c("accepts", s.accepts),
                    c("handled", s.handled),
                    c("requests", s.requests),
                ]);
            }
            Err(e) => {
                out.samples.push(Sample::gauge("nginx", &["up"], 0.0));
                out.errors.push(format!("nginx: {e}"));
            }
        }
        out
    }
}

/// The URL probe module.
pub struct UrlProbe {
    targets: Vec<(String, Url)>,
    client: Client,
}

impl UrlProbe {
    /// Reads the `url*` parameters and `timeout`.
    ///
    /// # Errors
    /// No URL configured, one is not `http[s]://`, or a `ca` file that cannot be used.
    pub fn new(params: &BTreeMap<String, String>) -> Result<UrlProbe> {
        let mut targets = Vec::new();
        for (k, v) in params.iter().filter(|(k, _)| k.starts_with("url")) {
            let name = k.strip_prefix("url.").unwrap_or(k);
            let url = Url::parse(v).map_err(|e| Error::config(format!("urlprobe: {k}: {e}")))?;
            targets.push((sanitize_key(name), url));
        }
        if targets.is_empty() {
            return Err(Error::config(
                "urlprobe: no URL configured (add `url.<name> = http://...` lines)",
            ));
        }
        let tls = tls_param("urlprobe", params)?;
        Ok(UrlProbe {
            targets,
            client: Client::new(timeout_param("urlprobe", params)?, tls.as_ref()),
        })
    }
}

fn millis(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

impl Module for UrlProbe {
    fn name(&self) -> &str {
        "urlprobe"
    }

    fn collect(&mut self) -> Collection {
        let mut out = Collection::default();
        for (name, url) in &self.targets {
            let s = |k: &str, v: f64| Sample::gauge("urlprobe", &[name, k], v);
            match self.client.request("GET", url, None, None) {
                Ok(r) => {
                    #[allow(clippy::cast_precision_loss, reason = "body sizes below 2^53")]
                    let bytes = r.bytes as f64;
                    out.samples.extend([
                        s("up", 1.0),
                        s("status", f64::from(r.status)),
                        s("ttfb_ms", millis(r.ttfb)),
                        s("total_ms", millis(r.total)),
                        s("bytes", bytes),
                    ]);
                }
                Err(e) => {
                    out.samples.push(s("up", 0.0));
                    out.errors.push(format!("urlprobe: {name}: {e}"));
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stub_status_parses() {
        let page = "Active connections: 2 \nserver accepts handled requests\n 10 10 31 \n\
                    Reading: 0 Writing: 1 Waiting: 1 \n";
        let s = parse_stub_status(page).unwrap();
        assert_eq!(
            (s.active, s.accepts, s.requests, s.waiting),
            (2.0, 10.0, 31.0, 1.0)
        );
        assert!(parse_stub_status("<html>").is_err());
    }
}
