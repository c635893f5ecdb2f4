//! HTTP(S) requests for the URL probe, the nginx module and the HTTP transport, over
//! [`ureq`] (blocking, HTTP/1.1, rustls with ring: no OpenSSL and no async runtime).
//!
//! What ureq gives that matters here: every address a name resolves to is tried in
//! turn (a host whose first address refuses is still reached), the `Host` header keeps a
//! non-default port, chunked bodies are decoded as they stream (every byte counted, only
//! the first [`KEEP_MAX`] kept), and the usual proxy variables are honoured
//! (`ALL_PROXY`, `HTTPS_PROXY`, `HTTP_PROXY`, lower case too, and `NO_PROXY`).
//!
//! One request per connection, as before: no connection is pooled, so the probe's total
//! time always includes the TCP and TLS handshakes. Redirects are not followed: the
//! probe reports a `3xx` as it is. `https://` trusts Mozilla's roots (built in, so a host
//! needs no CA package) plus any CA file the configuration names.

use std::fmt;
use std::io::Read;
use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};
use ureq::unversioned::resolver::DefaultResolver;
use ureq::unversioned::transport::{ConnectionDetails, Connector, DefaultConnector, Transport};

use crate::error::{Error, Result};

/// The most body bytes kept in memory; further bytes are counted, not kept.
pub const KEEP_MAX: usize = 1 << 20;

/// A response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// From the connection being ready (TCP and TLS handshakes done) to the end of the
    /// answer's headers: sending the request and the server's time to answer.
    pub ttfb: Duration,
    /// From the start of the request to the end of the body (resolving, the TCP and TLS
    /// handshakes included).
    pub total: Duration,
    /// Body bytes received (after chunked decoding), all counted.
    pub bytes: u64,
    /// The body, up to [`KEEP_MAX`] bytes.
    pub body: Vec<u8>,
}

/// An `http://` or `https://` URL, split for display and for the relay's listener.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `https://`.
    pub tls: bool,
    /// `host:port` (port 80 or 443 by default).
    pub addr: String,
    /// The path and query, `/` at least.
    pub path: String,
}

impl Url {
    /// Parses `http[s]://host[:port][/path][?query]` (with the `url` crate: the host
    /// lower-cased, IDNA names in ASCII, unsafe path bytes percent-encoded).
    ///
    /// # Errors
    /// Another scheme, no host, a port that is not a number below 65536, or a user name
    /// or password (not supported: the servers take a bearer token).
    pub fn parse(text: &str) -> Result<Url> {
        let bad = |why: &dyn fmt::Display| Error::config(format!("{text:?}: {why}"));
        let u = url::Url::parse(text).map_err(|e| bad(&e))?;
        let tls = match u.scheme() {
            "https" => true,
            "http" => false,
            _ => return Err(bad(&"only http:// and https:// URLs are supported")),
        };
        if !u.username().is_empty() || u.password().is_some() {
            return Err(bad(&"a user or password in the URL is not supported"));
        }
        let host = u
            .host_str()
            .filter(|h| !h.is_empty())
            .ok_or_else(|| bad(&"no host"))?;
        let port = u
            .port_or_known_default()
            .unwrap_or(if tls { 443 } else { 80 });
        let path = match u.query() {
            Some(q) => format!("{}?{q}", u.path()),
            None => u.path().to_string(),
        };
        Ok(Url {
            tls,
            addr: format!("{host}:{port}"),
            path,
        })
    }

    /// The host part of `addr`, without brackets (what TLS checks the certificate for).
    pub fn host(&self) -> &str {
        let host = self.addr.rsplit_once(':').map_or(&*self.addr, |(h, _)| h);
        host.trim_start_matches('[').trim_end_matches(']')
    }

    /// The URL as requested: the scheme's default port left out, so the `Host` header
    /// names the port exactly when it is not the default.
    fn request_uri(&self) -> String {
        let (scheme, default) = if self.tls {
            ("https", ":443")
        } else {
            ("http", ":80")
        };
        let addr = self.addr.strip_suffix(default).unwrap_or(&self.addr);
        format!("{scheme}://{addr}{}", self.path)
    }
}

impl fmt::Display for Url {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let scheme = if self.tls { "https" } else { "http" };
        write!(f, "{scheme}://{}{}", self.addr, self.path)
    }
}

/// What `https://` trusts: Mozilla's roots, plus the certificates of a CA file.
#[derive(Clone)]
pub struct Tls(RootCerts);

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tls")
    }
}

impl Tls {
    /// Mozilla's roots, and every certificate in the PEM file `ca` if given.
    ///
    /// # Errors
    /// The CA file cannot be read, holds no certificate, or one is not valid PEM.
    pub fn new(ca: Option<&Path>) -> Result<Tls> {
        let Some(ca) = ca else {
            return Ok(Tls(RootCerts::WebPki));
        };
        let bad = |e: &dyn fmt::Display| Error::config(format!("{}: {e}", ca.display()));
        let pem = std::fs::read(ca).map_err(|e| bad(&e))?;
        let mut added = Vec::new();
        for item in ureq::tls::parse_pem(&pem) {
            if let PemItem::Certificate(c) = item.map_err(|e| bad(&e))? {
                added.push(c);
            }
        }
        if added.is_empty() {
            return Err(bad(&"no PEM certificate in the file"));
        }
        // Mozilla's roots as certificates (webpki-root-certs is the same list as the
        // trust anchors ureq builds in), then the file's.
        let roots = webpki_root_certs::TLS_SERVER_ROOT_CERTS
            .iter()
            .map(|c| Certificate::from_der(c.as_ref()).to_owned())
            .chain(added);
        Ok(Tls(RootCerts::from(roots)))
    }
}

/// A blocking HTTP client: a timeout for each step (connect, each read, each write) and
/// what `https://` trusts. Used by one thread at a time (a module's collect, a server's
/// sender): the time its last connection became ready is kept for [`Response::ttfb`].
#[derive(Clone)]
pub struct Client {
    agent: ureq::Agent,
    connected: Arc<Mutex<Option<Instant>>>,
}

/// The last link of the connector chain: notes when the connection (TCP, then TLS for
/// `https://`, whose handshake ureq completes when connecting) is ready.
///
/// This is ureq's `unversioned` transport API, which may change in a minor release of
/// ureq 3 (Cargo.lock pins the version); if it does, only this stamp needs adapting.
#[derive(Debug)]
struct Stamp(Arc<Mutex<Option<Instant>>>);

impl Connector<Box<dyn Transport>> for Stamp {
    type Out = Box<dyn Transport>;

    fn connect(
        &self,
        _: &ConnectionDetails,
        chained: Option<Box<dyn Transport>>,
    ) -> std::result::Result<Option<Self::Out>, ureq::Error> {
        if chained.is_some() {
            *self.0.lock() = Some(Instant::now());
        }
        Ok(chained)
    }
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Client")
    }
}

impl Client {
    /// A client whose connects, reads and writes each give up after `timeout`; `tls` is
    /// what an `https://` URL trusts (default: Mozilla's roots).
    pub fn new(timeout: Duration, tls: Option<&Tls>) -> Client {
        let roots = tls.map_or(RootCerts::WebPki, |t| t.0.clone());
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .max_redirects(0)
            .max_redirects_will_error(false)
            .max_idle_connections(0)
            .max_idle_connections_per_host(0)
            .user_agent("treestat-agent")
            .timeout_connect(Some(timeout))
            .timeout_per_read(Some(timeout))
            .timeout_per_write(Some(timeout))
            .tls_config(
                TlsConfig::builder()
                    .root_certs(roots)
                    .unversioned_rustls_crypto_provider(provider)
                    .build(),
            )
            .build();
        let connected = Arc::new(Mutex::new(None));
        let connector = DefaultConnector::new().chain(Stamp(Arc::clone(&connected)));
        let agent = ureq::Agent::with_parts(config, connector, DefaultResolver::default());
        Client { agent, connected }
    }

    /// Sends one request and reads the whole answer (every body byte counted, the
    /// first [`KEEP_MAX`] kept). `bearer` is sent as `Authorization: Bearer <token>`.
    /// Every error names the URL.
    ///
    /// # Errors
    /// Resolve, connect, TLS, write or read failure or timeout, or a malformed answer.
    pub fn request(
        &self,
        method: &str,
        url: &Url,
        body: Option<(&str, &[u8])>,
        bearer: Option<&str>,
    ) -> Result<Response> {
        let start = Instant::now();
        *self.connected.lock() = None;
        let failed = |e: ureq::Error| match e {
            ureq::Error::Io(e) => Error::io(url, &e),
            e => Error::push(format!("{url}: {e}")),
        };
        let mut req = ureq::http::Request::builder()
            .method(method)
            .uri(url.request_uri());
        if let Some(token) = bearer {
            req = req.header("authorization", format!("Bearer {token}"));
        }
        let resp = match body {
            Some((ctype, b)) => {
                let req = req
                    .header("content-type", ctype)
                    .body(b)
                    .map_err(|e| Error::config(format!("{url}: {e}")))?;
                self.agent.run(req)
            }
            None => {
                let req = req
                    .body(())
                    .map_err(|e| Error::config(format!("{url}: {e}")))?;
                self.agent.run(req)
            }
        }
        .map_err(failed)?;
        let ttfb = self
            .connected
            .lock()
            .map_or_else(|| start.elapsed(), |at| at.elapsed());
        let status = resp.status().as_u16();
        let mut reader = resp.into_body().into_reader();
        let mut kept = Vec::new();
        let mut bytes = 0u64;
        let mut chunk = vec![0u8; 64 * 1024];
        loop {
            let n = match reader.read(&mut chunk) {
                Ok(0) => break,
                Ok(n) => n,
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
                Err(e) => return Err(Error::io(format!("{url}: reading the answer"), &e)),
            };
            bytes += u64::try_from(n).unwrap_or(u64::MAX);
            let room = KEEP_MAX.saturating_sub(kept.len());
            kept.extend_from_slice(&chunk[..n.min(room)]);
        }
        Ok(Response {
            status,
            ttfb,
            total: start.elapsed(),
            bytes,
            body: kept,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_split() {
        let u = Url::parse("http://127.0.0.1:81/s").unwrap();
        assert_eq!((u.tls, &*u.addr, &*u.path), (false, "127.0.0.1:81", "/s"));
        let u = Url::parse("http://example").unwrap();
        assert_eq!((&*u.addr, &*u.path), ("example:80", "/"));
        assert!(Url::parse("https://x/").unwrap().tls);
        let u = Url::parse("https://example.org?q=1").unwrap();
        assert_eq!(
            (u.tls, &*u.addr, &*u.path),
            (true, "example.org:443", "/?q=1")
        );
        assert_eq!(u.to_string(), "https://example.org:443/?q=1");
        let u = Url::parse("https://[::1]:8443/x").unwrap();
        assert_eq!((u.host(), &*u.addr), ("::1", "[::1]:8443"));
        assert_eq!(Url::parse("http://[::1]/").unwrap().addr, "[::1]:80");
        // An empty port is the default one (as for browsers).
        assert_eq!(Url::parse("http://h:/").unwrap().addr, "h:80");
        assert_eq!(
            Url::parse("HTTP://Example.ORG:80").unwrap().addr,
            "example.org:80"
        );
        for bad in [
            "ftp://x/",
            "https://",
            "http://:80/",
            "x",
            "http://h:99999/",
            "http://u:pw@h/",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn request_uris_leave_the_default_port_out() {
        let uri = |u: &str| Url::parse(u).unwrap().request_uri();
        assert_eq!(uri("https://example.org?q=1"), "https://example.org/?q=1");
        assert_eq!(uri("http://h:80/p"), "http://h/p");
        assert_eq!(uri("http://h:8080/p"), "http://h:8080/p");
        assert_eq!(uri("https://h:80/p"), "https://h:80/p");
        assert_eq!(uri("http://[::1]:81/"), "http://[::1]:81/");
    }
}
