//! A small blocking HTTP/1.1 client over `std::net::TcpStream`, for the URL probe, the
//! nginx module and the HTTP transport.
//!
//! Written here rather than pulled in because the probe must time the first byte and the
//! whole body itself, and the agent must stay small (no TLS stack, no async runtime):
//! `http://` only, one request per connection (`Connection: close`), bodies held up to
//! a cap while every byte is still counted.

use std::io::{Read, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::{Duration, Instant};

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
    /// From connecting to the end of the body.
    pub total: Duration,
    /// Body bytes received (after chunked decoding), all counted.
    pub bytes: u64,
    /// The body, up to [`KEEP_MAX`] bytes.
    pub body: Vec<u8>,
}

/// Splits `http://host:port/path` into `host:port` (port 80 by default) and the path.
///
/// # Errors
/// Not an `http://` URL.
pub fn split_url(url: &str) -> Result<(String, String)> {
    let rest = url
        .strip_prefix("http://")
        .ok_or_else(|| Error::config(format!("{url:?}: only http:// URLs are supported")))?;
    let (addr, path) = match rest.find('/') {
        Some(i) => (&rest[..i], &rest[i..]),
        None => (rest, "/"),
    };
    if addr.is_empty() {
        return Err(Error::config(format!("{url:?}: no host")));
    }
    let addr = if addr
        .rsplit_once(':')
        .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
        && !addr.ends_with(']')
    {
        addr.to_string()
    } else {
        format!("{addr}:80")
    };
    Ok((addr, path.to_string()))
}

/// Sends one request to `addr` (`host:port`) and reads the whole answer.
///
/// # Errors
/// Resolve, connect, write or read failure or timeout, or a malformed answer.
pub fn request(
    method: &str,
    addr: &str,
    path: &str,
    body: Option<(&str, &[u8])>,
    timeout: Duration,
) -> Result<Response> {
    let start = Instant::now();
    let sock = addr
        .to_socket_addrs()
        .map_err(|e| Error::io(format!("resolving {addr}"), &e))?
        .next()
        .ok_or_else(|| Error::push(format!("{addr}: no address")))?;
    let mut stream = TcpStream::connect_timeout(&sock, timeout)
        .map_err(|e| Error::io(format!("connecting to {addr}"), &e))?;
    let io = |e: std::io::Error| Error::io(format!("http://{addr}{path}"), &e);
    stream.set_read_timeout(Some(timeout)).map_err(io)?;
    stream.set_write_timeout(Some(timeout)).map_err(io)?;
    let host = addr.rsplit_once(':').map_or(addr, |(h, _)| h);
    let mut head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nUser-Agent: treestat-agent\r\n\
         Connection: close\r\n"
    );
    if let Some((ctype, b)) = body {
        head.push_str(&format!(
            "Content-Type: {ctype}\r\nContent-Length: {}\r\n",
            b.len()
        ));
    }
    head.push_str("\r\n");
    stream.write_all(head.as_bytes()).map_err(io)?;
    if let Some((_, b)) = body {
        stream.write_all(b).map_err(io)?;
    }
    let sent = Instant::now();
    read_response(&mut stream, sent, start).map_err(|e| match e.kind() {
        crate::ErrorKind::Io => e,
        _ => Error::push(format!("http://{addr}{path}: {e}")),
    })
}

fn read_response(stream: &mut TcpStream, sent: Instant, start: Instant) -> Result<Response> {
    let io = |e: std::io::Error| Error::io("reading the answer", &e);
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
        assert_eq!(
            split_url("http://127.0.0.1:81/s").unwrap(),
            ("127.0.0.1:81".into(), "/s".into())
        );
        assert_eq!(
            split_url("http://example").unwrap(),
            ("example:80".into(), "/".into())
        );
        assert!(split_url("https://x/").is_err());
    }

    #[test]
    fn chunks_decode() {
        assert_eq!(dechunk(b"3\r\nabc\r\n2;x=1\r\nde\r\n0\r\n\r\n"), b"abcde");
    }
}
