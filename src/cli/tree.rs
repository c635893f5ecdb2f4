//! `treestat delete` and `treestat ls` (issue 18): removing subtrees from a running
//! server and browsing its tree one level at a time, through `DELETE /api/q/<pattern>`
//! and `GET /api/keys/<prefix>` (docs/API.md).

use std::io::Write;

use anyhow::{Context, bail};
use clap::Args;
use serde::Deserialize;

use crate::client::{self, DEFAULT_SERVER, SERVER_ENV};

/// `treestat delete`.
#[derive(Debug, Args)]
pub struct DeleteArgs {
    /// Server URL.
    #[arg(long, env = SERVER_ENV, default_value = DEFAULT_SERVER)]
    server: String,
    /// A tree-path pattern selecting the subtrees to remove (`host,old-box`,
    /// `ip,10.0.*`, `cpu,vm,core*|branch`); not empty, no aggregation, not `_treestat`.
    pattern: String,
    /// Say what would be removed, remove nothing.
    #[arg(long)]
    dry_run: bool,
    /// Print the server's JSON answer instead of lines.
    #[arg(long)]
    json: bool,
}

/// `treestat ls`.
#[derive(Debug, Args)]
pub struct LsArgs {
    /// Server URL.
    #[arg(long, env = SERVER_ENV, default_value = DEFAULT_SERVER)]
    server: String,
    /// A path of keys (`cpu,vm`); the root when left out.
    #[arg(default_value = "")]
    prefix: String,
    /// At the root, list the server's own `_treestat` subtree too.
    #[arg(long)]
    internal: bool,
}

#[derive(Debug, Deserialize)]
struct Deleted {
    dry_run: bool,
    subtrees: usize,
    paths: Vec<String>,
    nodes: usize,
    leaves: usize,
    ring_entries: usize,
    trend_series: Option<usize>,
    trend_error: Option<String>,
}

#[derive(Debug, Deserialize)]
struct Listing {
    leaf: bool,
    keys: Vec<Entry>,
    total: usize,
    truncated: bool,
}

#[derive(Debug, Deserialize)]
struct Entry {
    key: String,
    kind: String,
    children: usize,
}

/// Sends the delete and prints what went: a summary line, then one subtree path per
/// line.
///
/// # Errors
/// An unreachable server, or its refusal (an empty or aggregating pattern, `_treestat`,
/// a missing token), with its reason.
pub fn delete(args: &DeleteArgs) -> anyhow::Result<()> {
    let query: &[(&str, &str)] = if args.dry_run {
        &[("dry_run", "1")]
    } else {
        &[]
    };
    let url = client::endpoint(&args.server, &["api", "q", &args.pattern], query)?;
    let mut resp = client::with_token(client::agent()?.delete(&url))
        .call()
        .with_context(|| format!("cannot reach {}", args.server))?;
    let status = resp.status();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    if !status.is_success() {
        bail!("the server refused the delete ({status}): {}", body.trim());
    }
    let mut out = std::io::stdout().lock();
    if args.json {
        writeln!(out, "{}", body.trim())?;
        return Ok(());
    }
    let d: Deleted = serde_json::from_str(&body).context("the server's answer")?;
    let verb = if d.dry_run { "would delete" } else { "deleted" };
    let trend = d
        .trend_series
        .map_or_else(String::new, |n| format!(", {n} trend series"));
    // "1 leaf", "2 leaves", "1 ring entry".
    let count = |n: usize, one: &str| match (n, one) {
        (1, _) => format!("1 {one}"),
        (_, "leaf") => format!("{n} leaves"),
        (_, "ring entry") => format!("{n} ring entries"),
        _ => format!("{n} {one}s"),
    };
    writeln!(
        out,
        "{verb} {}: {}, {}, {}{trend}",
        count(d.subtrees, "subtree"),
        count(d.nodes, "node"),
        count(d.leaves, "leaf"),
        count(d.ring_entries, "ring entry"),
    )?;
    for p in &d.paths {
        writeln!(out, "{p}")?;
    }
    if d.subtrees > d.paths.len() {
        writeln!(out, "... and {} more", d.subtrees - d.paths.len())?;
    }
    if let Some(e) = d.trend_error {
        bail!("the trend store did not follow: {e}");
    }
    Ok(())
}

/// Prints the next level's keys, one a line: a branch as `key/` and its number of
/// children, a leaf as its key.
///
/// # Errors
/// An unreachable server, no node at the prefix, a prefix that is not a path.
pub fn ls(args: &LsArgs) -> anyhow::Result<()> {
    let query: &[(&str, &str)] = if args.internal {
        &[("internal", "1")]
    } else {
        &[]
    };
    let url = client::endpoint(&args.server, &["api", "keys", &args.prefix], query)?;
    let mut resp = client::with_token(client::agent()?.get(&url))
        .call()
        .with_context(|| format!("cannot reach {}", args.server))?;
    let status = resp.status();
    let body = resp.body_mut().read_to_string().unwrap_or_default();
    if !status.is_success() {
        bail!("the server answered {status}: {}", body.trim());
    }
    let l: Listing = serde_json::from_str(&body).context("the server's answer")?;
    let mut out = std::io::stdout().lock();
    if l.leaf {
        writeln!(out, "{} is a leaf", args.prefix)?;
        return Ok(());
    }
    for e in &l.keys {
        if e.kind == "branch" {
            writeln!(out, "{}/\t{}", e.key, e.children)?;
        } else {
            writeln!(out, "{}", e.key)?;
        }
    }
    if l.truncated {
        writeln!(out, "... {} keys in all", l.total)?;
    }
    Ok(())
}
