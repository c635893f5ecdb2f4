//! A small blocking HTTP/1.1 client over `std::net::TcpStream`, with TLS through
//! rustls for `https://`, for the URL probe, the nginx module and the HTTP transport.
//!
//! Written here rather than pulled in because the probe must time the first byte and the
//! whole body itself, and the agent must stay small (no async runtime): one request per
//! connection (`Connection: close`), bodies held up to a cap while every byte is still
//! counted. TLS trusts Mozilla's roots (webpki-roots, so a host needs no CA package) plus
//! any CA file the configuration names.

use std::fmt;
use std::io::{self, Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::path::Path;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, Instant};

use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName};

use crate::error::{Error, Result};

/// The most body bytes kept in memory; further bytes are counted, not kept.
pub const KEEP_MAX: usize = 1 << 20;
const HEAD_MAX: usize = 64 * 1024;

/// A response.
#[derive(Debug, Clone)]
pub struct Response {
    /// The status code.
    pub status: u16,
    /// From sending the request to the first byte of the answer.
    pub ttfb: Duration,
    /// From connecting to the end of the body (TCP and TLS handshakes included).
    pub total: Duration,
    /// Body bytes received (after chunked decoding), all counted.
    pub bytes: u64,
    /// The body, up to [`KEEP_MAX`] bytes.
    pub body: Vec<u8>,
}

/// An `http://` or `https://` URL, split for [`request`].
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
    /// Parses `http[s]://host[:port][/path]`.
    ///
    /// # Errors
    /// Another scheme, no host, or a port that is not a number below 65536.
    pub fn parse(url: &str) -> Result<Url> {
        let (tls, rest) = if let Some(r) = url.strip_prefix("https://") {
            (true, r)
        } else if let Some(r) = url.strip_prefix("http://") {
            (false, r)
        } else {
            return Err(Error::config(format!(
                "{url:?}: only http:// and https:// URLs are supported"
            )));
        };
        let (addr, path) = match rest.find(['/', '?']) {
            Some(i) if rest.as_bytes()[i] == b'?' => (&rest[..i], format!("/{}", &rest[i..])),
            Some(i) => (&rest[..i], rest[i..].to_string()),
            None => (rest, "/".to_string()),
        };
        let bad = |why: &str| Error::config(format!("{url:?}: {why}"));
        let (host, has_port) = match addr.rsplit_once(':') {
            Some((host, port)) if !addr.ends_with(']') => {
                port.parse::<u16>().map_err(|_| bad("bad port"))?;
                (host, true)
            }
            _ => (addr, false),
        };
        if host.is_empty() {
            return Err(bad("no host"));
        }
        let addr = if has_port {
            addr.to_string()
        } else {
            format!("{addr}:{}", if tls { 443 } else { 80 })
        };
        Ok(Url { tls, addr, path })
    }

    /// The host part of `addr`, without brackets (what TLS checks the certificate for).
    pub fn host(&self) -> &str {
        let host = self.addr.rsplit_once(':').map_or(&*self.addr, |(h, _)| h);
        host.trim_start_matches('[').trim_end_matches(']')
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
pub struct Tls(Arc<rustls::ClientConfig>);

impl fmt::Debug for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Tls")
    }
}

impl Tls {
    /// Mozilla's roots, and every certificate in the PEM file `ca` if given.
    ///
    /// # Errors
    /// The CA file cannot be read, holds no certificate, or one is not valid.
    pub fn new(ca: Option<&Path>) -> Result<Tls> {
        let mut roots = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        if let Some(ca) = ca {
            let bad = |e: &dyn fmt::Display| Error::config(format!("{}: {e}", ca.display()));
            let mut added = 0;
            for cert in CertificateDer::pem_file_iter(ca).map_err(|e| bad(&e))? {
                roots.add(cert.map_err(|e| bad(&e))?).map_err(|e| bad(&e))?;
                added += 1;
            }
            if added == 0 {
                return Err(bad(&"no PEM certificate in the file"));
            }
        }
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| Error::config(format!("tls: {e}")))?
            .with_root_certificates(roots)
            .with_no_client_auth();
        Ok(Tls(Arc::new(config)))
    }

    /// Mozilla's roots only, built once.
    ///
    /// # Panics
    /// Never: without a CA file nothing can fail.
    pub fn default_roots() -> &'static Tls {
        static ROOTS: OnceLock<Tls> = OnceLock::new();
        ROOTS.get_or_init(|| Tls::new(None).expect("the built-in roots and ring always build"))
    }
}

/// A connection, plain or TLS.
enum Conn {
    Plain(TcpStream),
    Tls(Box<rustls::StreamOwned<rustls::ClientConnection, TcpStream>>),
}

impl Read for Conn {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.read(buf),
            // Many servers close without TLS's close_notify after `Connection: close`;
            // the body's length, or the close itself, tells where the answer ends.
            Conn::Tls(s) => match s.read(buf) {
                Err(e) if e.kind() == io::ErrorKind::UnexpectedEof => Ok(0),
                r => r,
            },
        }
    }
}

impl Write for Conn {
    fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
        match self {
            Conn::Plain(s) => s.write(buf),
            Conn::Tls(s) => s.write(buf),
        }
    }

    fn flush(&mut self) -> io::Result<()> {
        match self {
            Conn::Plain(s) => s.flush(),
            Conn::Tls(s) => s.flush(),
        }
    }
}

/// Sends one request and reads the whole answer. `tls` is what an `https://` URL
/// trusts (default: [`Tls::default_roots`]); `bearer` is sent as
/// `Authorization: Bearer <token>`. Every error names the URL.
///
/// # Errors
/// Resolve, connect, TLS, write or read failure or timeout, or a malformed answer.
pub fn request(
    method: &str,
    url: &Url,
    body: Option<(&str, &[u8])>,
    timeout: Duration,
    tls: Option<&Tls>,
    bearer: Option<&str>,
) -> Result<Response> {
    let start = Instant::now();
    let addr = &url.addr;
    let sock = addr
        .to_socket_addrs()
        .map_err(|e| Error::io(format!("{url}: resolving {addr}"), &e))?
        .next()
        .ok_or_else(|| Error::push(format!("{url}: {addr} has no address")))?;
    let tcp = TcpStream::connect_timeout(&sock, timeout)
        .map_err(|e| Error::io(format!("{url}: connecting to {addr}"), &e))?;
    let io = |e: io::Error| Error::io(url, &e);
    tcp.set_read_timeout(Some(timeout)).map_err(io)?;
    tcp.set_write_timeout(Some(timeout)).map_err(io)?;
    let mut stream = if url.tls {
        let tls = tls.unwrap_or_else(|| Tls::default_roots());
        let name = ServerName::try_from(url.host().to_string())
            .map_err(|e| Error::config(format!("{url}: {e}")))?;
        let conn = rustls::ClientConnection::new(Arc::clone(&tls.0), name)
            .map_err(|e| Error::push(format!("{url}: {e}")))?;
        Conn::Tls(Box::new(rustls::StreamOwned::new(conn, tcp)))
    } else {
        Conn::Plain(tcp)
    };
    let host = url.addr.rsplit_once(':').map_or(&*url.addr, |(h, _)| h);
    let mut head = format!(
        "{method} {} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: treestat-agent\r\n\
         Connection: close\r\n",
        url.path
    );
    if let Some(token) = bearer {
        head.push_str(&format!("Authorization: Bearer {token}\r\n"));
    }
    if let Some((ctype, b)) = body {
        head.push_str(&format!(
            "Content-Type: {ctype}\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    head.push_str("\r\n");
    // With TLS, the first write runs the handshake: a refused certificate shows here.
    stream.write_all(head.as_bytes()).map_err(io)?;
    if let Some((_, b)) = body {
        stream.write_all(b).map_err(io)?;
    }
    stream.flush().map_err(io)?;
    let sent = Instant::now();
    read_response(&mut stream, sent, start).map_err(|e| match e.kind() {
        crate::ErrorKind::Io => e,
        _ => Error::push(format!("{url}: {e}")),
    })
}

fn read_response(stream: &mut impl Read, sent: Instant, start: Instant) -> Result<Response> {
    let io = |e: io::Error| Error::io("reading the answer", &e);
    let mut buf = Vec::with_capacity(4096);
    let mut chunk = [0u8; 8192];
    let mut ttfb = None;
    let head_end = loop {
        let n = stream.read(&mut chunk).map_err(io)?;
        if n == 0 {
            return Err(Error::push("connection closed before the headers ended"));
        }
        ttfb.get_or_insert_with(|| sent.elapsed());
        buf.extend_from_slice(&chunk[..n]);
        if let Some(i) = find(&buf, b"\r\n\r\n") {
            break i + 4;
        }
        if buf.len() > HEAD_MAX {
            return Err(Error::push("headers larger than 64 KiB"));
        }
    };
    let head = String::from_utf8_lossy(&buf[..head_end]).into_owned();
    let mut lines = head.split("\r\n");
    let status = lines
        .next()
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|s| s.parse::<u16>().ok())
        .ok_or_else(|| Error::push("no status line"))?;
    let mut length = None;
    let mut chunked = false;
    for l in lines {
        if let Some((k, v)) = l.split_once(':') {
            let v = v.trim();
            if k.eq_ignore_ascii_case("content-length") {
                length = v.parse::<u64>().ok();
            } else if k.eq_ignore_ascii_case("transfer-encoding") {
                chunked = v.to_ascii_lowercase().contains("chunked");
            }
        }
    }
    let mut raw: Vec<u8> = buf[head_end..].to_vec();
    let mut raw_count = u64::try_from(raw.len()).unwrap_or(u64::MAX);
    loop {
        if !chunked && length.is_some_and(|l| raw_count >= l) {
            break;
        }
        if chunked && find(&raw, b"0\r\n\r\n").is_some_and(|i| i + 5 == raw.len()) {
            break;
        }
        let n = match stream.read(&mut chunk) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) => return Err(io(e)),
        };
        raw_count += u64::try_from(n).unwrap_or(0);
        if raw.len() < KEEP_MAX * 2 {
            raw.extend_from_slice(&chunk[..n]);
        }
    }
    let total = start.elapsed();
    let (mut body, bytes) = if chunked {
        let decoded = dechunk(&raw);
        let n = u64::try_from(decoded.len()).unwrap_or(u64::MAX);
        (decoded, n)
    } else {
        let n = length.map_or(raw_count, |l| l.min(raw_count));
        (raw, n)
    };
    body.truncate(KEEP_MAX);
    Ok(Response {
        status,
        ttfb: ttfb.unwrap_or_default(),
        total,
        bytes,
        body,
    })
}

fn find(hay: &[u8], needle: &[u8]) -> Option<usize> {
    hay.windows(needle.len()).position(|w| w == needle)
}

fn dechunk(mut raw: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(i) = find(raw, b"\r\n") {
        let size_text = String::from_utf8_lossy(&raw[..i]);
        let size_text = size_text.split(';').next().unwrap_or("").trim().to_string();
        let Ok(size) = usize::from_str_radix(&size_text, 16) else {
            break;
        };
        raw = &raw[i + 2..];
        if size == 0 || raw.len() < size {
            out.extend_from_slice(&raw[..size.min(raw.len())]);
            break;
        }
        out.extend_from_slice(&raw[..size]);
        raw = raw.get(size + 2..).unwrap_or(&[]);
    }
    out
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
        for bad in [
            "ftp://x/",
            "https://",
            "http://:80/",
            "x",
            "http://h:99999/",
            "http://h:/",
        ] {
            assert!(Url::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn chunks_decode() {
        assert_eq!(dechunk(b"3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\n"), b"abcde");
    }
}
