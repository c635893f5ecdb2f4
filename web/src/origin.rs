//! Browser-facing checks on every request: writes only from the same origin, and, on a
//! loopback bind, only the host names the server answers to.
//!
//! Any web page can make a browser send a "simple" cross-origin request (a
//! `text/plain` POST needs no preflight), so without these checks one page visited on
//! the machine could `POST /import` a line that wipes history. Two checks close it:
//!
//! - **Same origin for writes** (every method but GET/HEAD/OPTIONS, and the GET routes
//!   that write: `/add_data_point`, `/register`; the Graphite POSTs that only read,
//!   `/render`, `/metrics/find`, `/metrics/expand`, are not writes): refused with 403 when the browser's
//!   `Sec-Fetch-Site` is present and is neither `same-origin` nor `none` (typed or
//!   bookmarked), or when `Origin` is present and does not name the request's `Host`.
//!   Tools that send neither header (curl, the CLI, agents, relays) are not browsers
//!   and pass: the bearer token (`auth.token`) is what guards against them.
//! - **Host on a loopback bind** (every route): a page whose DNS name was rebound to
//!   127.0.0.1 is same-origin with itself, so the origin check alone cannot see it; its
//!   `Host` header still carries the page's name. When the server is bound to a
//!   loopback address, `Host` must be `localhost` (or `*.localhost`), an IP literal, or
//!   one of `web.allowed_hosts`; anything else is answered 421. A request without
//!   `Host` (HTTP/1.0 tools) passes.

use axum::extract::{Request, State};
use axum::http::{HeaderMap, Method, StatusCode, header};
use axum::middleware::Next;
use axum::response::Response;

use crate::error::AppError;
use crate::state::AppState;

/// GET routes that write (StatsServer compatibility).
const WRITING_GETS: [&str; 2] = ["/add_data_point", "/register"];

/// POST routes that only read (Graphite clients send long queries as forms): a POST
/// here changes nothing, so it is not held to the same-origin rule of writes.
const READING_POSTS: [&str; 5] = [
    "/render",
    "/render/",
    "/metrics/find",
    "/metrics/find/",
    "/metrics/expand",
];

/// The middleware: the Host check, then the same-origin check for writes.
///
/// # Errors
/// 421 `host_not_allowed`, 403 `cross_origin`, as JSON [`AppError`]s.
pub(crate) async fn same_origin(
    State(state): State<AppState>,
    req: Request,
    next: Next,
) -> Result<Response, AppError> {
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string)
        .or_else(|| req.uri().authority().map(|a| a.as_str().to_string()));
    if let (Some(bind), Some(host)) = (state.inner.bind, host.as_deref())
        && bind.ip().is_loopback()
        && !host_allowed(host, &state.config().allowed_hosts)
    {
        return Err(AppError::new(
            StatusCode::MISDIRECTED_REQUEST,
            "host_not_allowed",
            format!(
                "this server is bound to {bind} and does not answer to host {:?}; \
                 use localhost or an IP address, or add the name to web.allowed_hosts",
                trunc(host)
            ),
        ));
    }
    let path = req.uri().path();
    let reads = matches!(*req.method(), Method::GET | Method::HEAD | Method::OPTIONS)
        || (*req.method() == Method::POST && READING_POSTS.contains(&path));
    let writes = !reads || WRITING_GETS.contains(&path);
    if writes && let Err(why) = check_origin(req.headers(), host.as_deref()) {
        return Err(AppError::new(StatusCode::FORBIDDEN, "cross_origin", why));
    }
    Ok(next.run(req).await)
}

/// Whether the browser headers say the request comes from this origin (or from no
/// browser page at all): the same-origin rule of writes (the module doc), for a read
/// front that forwards writes (saved views) to a shard.
///
/// # Errors
/// Why the request is refused (a `Sec-Fetch-Site` or `Origin` of another site).
pub fn check_origin(headers: &HeaderMap, host: Option<&str>) -> Result<(), String> {
    if let Some(site) = headers.get("sec-fetch-site") {
        let site = site.to_str().unwrap_or("");
        if !matches!(site, "same-origin" | "none") {
            return Err(format!(
                "writes are taken only from this server's own pages (Sec-Fetch-Site: {:?})",
                trunc(site)
            ));
        }
    }
    let Some(origin) = headers.get(header::ORIGIN) else {
        return Ok(());
    };
    let origin = origin.to_str().unwrap_or("null");
    let (scheme, authority) = origin.split_once("://").unwrap_or(("", origin));
    let same = host.is_some_and(|h| {
        strip_default_port(authority, scheme).eq_ignore_ascii_case(strip_default_port(h, scheme))
    });
    // Without a Host to compare with (an HTTP/1.0 tool that sent Origin), nothing says
    // it is a browser on another site.
    if same || host.is_none() && origin != "null" {
        Ok(())
    } else {
        Err(format!(
            "writes are taken only from this server's own pages (Origin {:?})",
            trunc(origin)
        ))
    }
}

fn strip_default_port<'a>(authority: &'a str, scheme: &str) -> &'a str {
    let default = match scheme {
        "https" => ":443",
        _ => ":80",
    };
    authority.strip_suffix(default).unwrap_or(authority)
}

/// Whether a `Host` header names a loopback name, an IP literal, or an allowed host.
/// Whether a loopback-bound server answers to `host` (a `Host` header): `localhost`
/// (or `*.localhost`), an IP literal, or one of `allowed` (the DNS-rebinding check of
/// the module doc; the read front applies it too).
pub fn host_allowed(host: &str, allowed: &[String]) -> bool {
    let name = host_name(host);
    let name = name.strip_suffix('.').unwrap_or(name);
    if name.eq_ignore_ascii_case("localhost")
        || name
            .get(name.len().saturating_sub(10)..)
            .is_some_and(|t| t.eq_ignore_ascii_case(".localhost"))
    {
        return true;
    }
    if name.parse::<std::net::IpAddr>().is_ok() {
        return true;
    }
    allowed.iter().any(|a| a.eq_ignore_ascii_case(name))
}

/// The name in a `Host` header, without its port; an IPv6 literal without brackets.
fn host_name(host: &str) -> &str {
    let host = host.trim();
    if let Some(rest) = host.strip_prefix('[') {
        return rest.split(']').next().unwrap_or(rest);
    }
    match host.rsplit_once(':') {
        Some((name, port)) if port.bytes().all(|b| b.is_ascii_digit()) => name,
        _ => host,
    }
}

fn trunc(s: &str) -> String {
    s.chars().take(100).collect()
}

#[cfg(test)]
mod tests {
    use axum::http::{HeaderMap, HeaderValue};

    use super::{check_origin, host_allowed};

    #[test]
    fn hosts() {
        let none: Vec<String> = Vec::new();
        for ok in [
            "localhost",
            "localhost:8080",
            "LocalHost.:80",
            "app.localhost:1",
            "127.0.0.1:8080",
            "127.5.6.7",
            "[::1]:8080",
            "10.0.0.2:8080",
        ] {
            assert!(host_allowed(ok, &none), "{ok}");
        }
        for bad in [
            "evil.example:8080",
            "evil.example",
            "localhost.evil.example",
            "",
        ] {
            assert!(!host_allowed(bad, &none), "{bad}");
        }
        assert!(host_allowed("Stats.Lan:8080", &["stats.lan".to_string()]));
    }

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn origins() {
        let host = Some("127.0.0.1:8080");
        assert!(check_origin(&headers(&[]), host).is_ok());
        assert!(check_origin(&headers(&[("origin", "http://127.0.0.1:8080")]), host).is_ok());
        assert!(
            check_origin(
                &headers(&[
                    ("sec-fetch-site", "same-origin"),
                    ("origin", "http://127.0.0.1:8080")
                ]),
                host
            )
            .is_ok()
        );
        assert!(check_origin(&headers(&[("sec-fetch-site", "none")]), host).is_ok());
        assert!(check_origin(&headers(&[("origin", "http://evil.example")]), host).is_err());
        assert!(check_origin(&headers(&[("origin", "null")]), host).is_err());
        assert!(check_origin(&headers(&[("origin", "http://127.0.0.1:3000")]), host).is_err());
        assert!(check_origin(&headers(&[("sec-fetch-site", "cross-site")]), host).is_err());
        assert!(check_origin(&headers(&[("sec-fetch-site", "same-site")]), host).is_err());
        assert!(
            check_origin(
                &headers(&[("origin", "http://a.example")]),
                Some("a.example:80")
            )
            .is_ok()
        );
    }
}
