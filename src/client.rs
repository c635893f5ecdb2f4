//! The client side of the command line: `treestat push` and `treestat query` against a
//! running server's HTTP API.

use std::io::Write;

use anyhow::{Context, bail};

/// The server the client commands talk to unless `--server` says otherwise.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

fn url(server: &str, path: &str) -> String {
    format!("{}{path}", server.trim_end_matches('/'))
}

/// Percent-encodes a pattern for a URL path (`,` and `*` stay readable).
pub fn encode_pattern(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len());
    for b in pattern.bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' | b'~' | b',' | b'*' => {
                out.push(char::from(b));
            }
            _ => out.push_str(&format!("%{b:02X}")),
        }
    }
    out
}

fn agent() -> ureq::Agent {
    ureq::Agent::config_builder()
        .http_status_as_error(false)
        .build()
        .into()
}

/// Pushes one JSON document; returns the server's answer.
///
/// # Errors
/// The document is not JSON (checked before sending), the server cannot be reached, or
/// it refused the push (its reason is in the message).
pub fn push(server: &str, json: &str) -> anyhow::Result<String> {
    serde_json::from_str::<serde_json::Value>(json).context("the document is not JSON")?;
    let mut resp = agent()
        .post(&url(server, "/push"))
        .header("content-type", "application/json")
        .send(json)
        .with_context(|| format!("cannot reach {server}"))?;
    let status = resp.status();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    if !status.is_success() {
        bail!("the server refused the push ({status}): {body}");
    }
    Ok(body)
}

/// Queries current values and writes `path<TAB>value` lines.
///
/// # Errors
/// The server cannot be reached or refused the pattern.
pub fn query(server: &str, pattern: &str, out: &mut dyn Write) -> anyhow::Result<()> {
    let mut resp = agent()
        .get(&url(server, &format!("/get/{}", encode_pattern(pattern))))
        .call()
        .with_context(|| format!("cannot reach {server}"))?;
    let status = resp.status();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    if !status.is_success() {
        bail!("the server refused the query ({status}): {body}");
    }
    let rows: Vec<(String, f64)> =
        serde_json::from_str(&body).context("the server's answer is not [[path, value], ...]")?;
    for (path, value) in rows {
        writeln!(out, "{path}\t{value}")?;
    }
    Ok(())
}
