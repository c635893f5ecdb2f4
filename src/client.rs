//! The client side of the command line: `treestat push` and `treestat query` against a
//! running server's HTTP API.

use std::io::Write;

use anyhow::{Context, bail};

/// The server the client commands talk to unless `--server` says otherwise.
pub const DEFAULT_SERVER: &str = "http://127.0.0.1:8080";

/// The environment variable that sets `--server` of every client command (`push`,
/// `query`, `graph`, `export`, `import`); the flag wins over it.
pub const SERVER_ENV: &str = "TREESTAT_SERVER";

/// The URL of `segments` under `server` (whose own path, if any, is kept), each segment
/// percent-encoded by the `url` crate (a pattern's `,` and `*` stay readable, `/`, `?`,
/// `#`, `%` and spaces are escaped), with `query` form-encoded.
///
/// # Errors
/// `server` is not an absolute `http(s)://` URL.
pub(crate) fn endpoint(
    server: &str,
    segments: &[&str],
    query: &[(&str, &str)],
) -> anyhow::Result<String> {
    let mut u = url::Url::parse(server)
        .with_context(|| format!("server {server:?} is not a URL (http://host:port)"))?;
    u.path_segments_mut()
        .map_err(|()| anyhow::anyhow!("server {server:?} is not a URL (http://host:port)"))?
        .pop_if_empty()
        .extend(segments);
    if !query.is_empty() {
        u.query_pairs_mut().extend_pairs(query);
    }
    Ok(u.into())
}

/// An HTTP(S) client. `https://` servers are checked against Mozilla's roots (built
/// in), or, when `SSL_CERT_FILE` names a PEM file (as for curl and OpenSSL), against
/// the certificates in it.
pub(crate) fn agent() -> anyhow::Result<ureq::Agent> {
    use ureq::tls::{PemItem, RootCerts, TlsConfig};
    let roots = match std::env::var_os("SSL_CERT_FILE").filter(|p| !p.is_empty()) {
        Some(path) => {
            let name = || format!("SSL_CERT_FILE={}", path.to_string_lossy());
            let pem = std::fs::read(&path).with_context(name)?;
            let certs: Vec<_> = ureq::tls::parse_pem(&pem)
                .filter_map(|item| match item {
                    Ok(PemItem::Certificate(c)) => Some(c),
                    _ => None,
                })
                .collect();
            if certs.is_empty() {
                bail!("{}: no PEM certificate in the file", name());
            }
            RootCerts::new_with_certs(&certs)
        }
        None => RootCerts::WebPki,
    };
    Ok(ureq::Agent::config_builder()
        .http_status_as_error(false)
        .tls_config(TlsConfig::builder().root_certs(roots).build())
        .build()
        .into())
}

/// The bearer token sent to servers whose `auth.token` is set: `TREESTAT_TOKEN` from
/// the environment (not a flag, so it stays out of `ps` and shell history).
fn token() -> Option<String> {
    std::env::var("TREESTAT_TOKEN")
        .ok()
        .filter(|t| !t.trim().is_empty())
}

pub(crate) fn with_token<B>(req: ureq::RequestBuilder<B>) -> ureq::RequestBuilder<B> {
    match token() {
        Some(t) => req.header("authorization", format!("Bearer {}", t.trim())),
        None => req,
    }
}

fn get(url: &str) -> anyhow::Result<ureq::RequestBuilder<ureq::typestate::WithoutBody>> {
    Ok(with_token(agent()?.get(url)))
}

fn post(url: &str) -> anyhow::Result<ureq::RequestBuilder<ureq::typestate::WithBody>> {
    Ok(with_token(agent()?.post(url)))
}

/// Pushes one JSON document; returns the server's answer.
///
/// # Errors
/// The document is not JSON (checked before sending), the server cannot be reached, or
/// it refused the push (its reason is in the message).
pub fn push(server: &str, json: &str) -> anyhow::Result<String> {
    serde_json::from_str::<serde_json::Value>(json).context("the document is not JSON")?;
    let mut resp = post(&endpoint(server, &["push"], &[])?)?
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
    let mut resp = get(&endpoint(server, &["get", pattern], &[])?)?
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

/// Queries current values and writes the server's JSON answer (`/get/<pattern>`:
/// `[["path", value], ...]`) as it is, one line.
///
/// # Errors
/// The server cannot be reached or refused the pattern.
pub fn query_json(server: &str, pattern: &str, out: &mut dyn Write) -> anyhow::Result<()> {
    let body = fetch(server, &["get", pattern], &[])?;
    out.write_all(body.trim_ascii_end())?;
    writeln!(out)?;
    Ok(())
}

/// Writes the series under `pattern` in a range as the server answers them
/// (`/trend/<pattern>.json`: `[{"path", "action", "step", "points": [[ts, value],
/// ...]}]`), one line.
///
/// # Errors
/// An unreachable server or a refused pattern or time.
pub fn trend_json(
    server: &str,
    pattern: &str,
    from: &str,
    until: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let body = fetch_range(server, "trend", pattern, "json", from, until)?;
    out.write_all(body.trim_ascii_end())?;
    writeln!(out)?;
    Ok(())
}

/// GETs `segments?query` under `server` and returns the body bytes.
fn fetch(server: &str, segments: &[&str], query: &[(&str, &str)]) -> anyhow::Result<Vec<u8>> {
    let mut resp = get(&endpoint(server, segments, query)?)?
        .call()
        .with_context(|| format!("cannot reach {server}"))?;
    let status = resp.status();
    let body = resp
        .body_mut()
        .with_config()
        .limit(1 << 30)
        .read_to_vec()
        .context("reading the answer")?;
    if !status.is_success() {
        bail!(
            "the server answered {status}: {}",
            String::from_utf8_lossy(&body)
        );
    }
    Ok(body)
}

/// GETs `/<endpoint>/<pattern>.<ext>?from=&until=`.
fn fetch_range(
    server: &str,
    endpoint: &str,
    pattern: &str,
    ext: &str,
    from: &str,
    until: &str,
) -> anyhow::Result<Vec<u8>> {
    fetch(
        server,
        &[endpoint, &format!("{pattern}.{ext}")],
        &[("from", from), ("until", until)],
    )
}

/// Renders a chart on the server and writes it to `out`; the format follows the
/// file's extension (`png`, `svg`, `jpg`).
///
/// # Errors
/// An unknown extension, an unreachable server, a refused option (its reason is in
/// the message), or a file that cannot be written.
pub fn graph(
    server: &str,
    pattern: &str,
    out: &std::path::Path,
    params: &[(&str, String)],
) -> anyhow::Result<()> {
    let ext = out
        .extension()
        .and_then(|e| e.to_str())
        .unwrap_or("png")
        .to_ascii_lowercase();
    if !matches!(ext.as_str(), "png" | "svg" | "jpg" | "jpeg" | "pdf") {
        bail!(
            "{}: the file must end in .png, .svg, .jpg or .pdf",
            out.display()
        );
    }
    let ext = if ext == "jpeg" {
        "jpg".to_string()
    } else {
        ext
    };
    let query: Vec<(&str, &str)> = params.iter().map(|(k, v)| (*k, v.as_str())).collect();
    let body = fetch(server, &["graph", &format!("{pattern}.{ext}")], &query)?;
    std::fs::write(out, body).with_context(|| format!("writing {}", out.display()))
}

#[derive(serde::Deserialize)]
struct TrendRow {
    path: String,
    points: Vec<(i64, f64)>,
}

/// Prints series as a table: one row per time, one column per path.
///
/// # Errors
/// An unreachable server or a refused pattern or time.
pub fn trend_table(
    server: &str,
    pattern: &str,
    from: &str,
    until: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let body = fetch_range(server, "trend", pattern, "json", from, until)?;
    let series: Vec<TrendRow> =
        serde_json::from_slice(&body).context("the server's answer is not a series list")?;
    write!(out, "time")?;
    for s in &series {
        write!(out, "\t{}", s.path)?;
    }
    writeln!(out)?;
    let mut times: Vec<i64> = series
        .iter()
        .flat_map(|s| s.points.iter().map(|p| p.0))
        .collect();
    times.sort_unstable();
    times.dedup();
    for t in times {
        write!(out, "{t}")?;
        for s in &series {
            match s.points.binary_search_by_key(&t, |p| p.0) {
                Ok(i) => write!(out, "\t{}", s.points[i].1)?,
                Err(_) => write!(out, "\t")?,
            }
        }
        writeln!(out)?;
    }
    Ok(())
}

/// Downloads series as NDJSON or CSV.
///
/// # Errors
/// An unreachable server or a refused pattern or time.
pub fn export(
    server: &str,
    pattern: &str,
    format: &str,
    from: &str,
    until: &str,
    out: &mut dyn Write,
) -> anyhow::Result<()> {
    let body = fetch_range(server, "export", pattern, format, from, until)?;
    out.write_all(&body)?;
    Ok(())
}

/// Uploads an NDJSON or CSV file of `["path", ts, value]` tuples; returns the
/// server's report (imported, skipped, errors with line numbers).
///
/// # Errors
/// An unreachable server or a refused upload.
pub fn import(server: &str, body: Vec<u8>, format: &str, action: &str) -> anyhow::Result<String> {
    let url = endpoint(
        server,
        &["import"],
        &[("format", format), ("action", action)],
    )?;
    let mut resp = post(&url)?
        .send(&body[..])
        .with_context(|| format!("cannot reach {server}"))?;
    let status = resp.status();
    let text = resp.body_mut().read_to_string().unwrap_or_default();
    if !status.is_success() {
        bail!("the server refused the import ({status}): {text}");
    }
    Ok(text)
}

#[cfg(test)]
mod tests {
    use super::endpoint;

    #[test]
    fn endpoints_encode_segments_and_queries() {
        assert_eq!(
            endpoint("http://h:1/", &["get", "a b/c,*%?#"], &[]).unwrap(),
            "http://h:1/get/a%20b%2Fc,*%25%3F%23"
        );
        assert_eq!(
            endpoint(
                "https://h/ts",
                &["trend", "web,*.json"],
                &[("from", "-5m"), ("until", "now x")]
            )
            .unwrap(),
            "https://h/ts/trend/web,*.json?from=-5m&until=now+x"
        );
        assert_eq!(
            endpoint("http://h:8080/ts/", &["push"], &[]).unwrap(),
            "http://h:8080/ts/push"
        );
        for bad in ["h:8080", "127.0.0.1:8080", "", "mailto:x@y"] {
            assert!(endpoint(bad, &["push"], &[]).is_err(), "{bad}");
        }
    }
}
