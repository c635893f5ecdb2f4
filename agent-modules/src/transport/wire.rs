//! The three wire protocols, one connection each, blocking (run on the server's own
//! sender thread): UDP datagrams, TCP lines answered `--OK`/`--ERR`, HTTP(S) `POST`.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpStream, ToSocketAddrs, UdpSocket};
use std::time::Duration;

use crate::config::ServerUrl;
use crate::error::{Error, Result};
use crate::http::{Client, Tls, Url};

/// What a server made of one document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Outcome {
    /// Taken (UDP: sent; TCP: `--OK`; HTTP: 2xx).
    Accepted,
    /// Refused for its content (TCP `--ERR`, HTTP 4xx): resending would not help.
    Rejected(String),
}

/// A connection to one server.
pub struct Wire {
    url: ServerUrl,
    timeout: Duration,
    http: Option<Client>,
    token: Option<String>,
    udp: Option<UdpSocket>,
    tcp: Option<BufReader<TcpStream>>,
}

/// The longest answer line read from a TCP server.
const ANSWER_MAX: usize = 64 * 1024;

impl Wire {
    /// A wire to `url` (connected lazily); `tls` is what an `https://` server may be
    /// signed by (default: Mozilla's roots); HTTP(S) pushes carry `token` as a bearer
    /// token (the server's `auth.token`).
    pub fn new(url: ServerUrl, timeout: Duration, tls: Option<Tls>, token: Option<String>) -> Wire {
        let http = matches!(url, ServerUrl::Http(_)).then(|| Client::new(timeout, tls.as_ref()));
        Wire {
            url,
            timeout,
            http,
            token,
            udp: None,
            tcp: None,
        }
    }

    /// Sends one document.
    ///
    /// # Errors
    /// The server is unreachable or the connection failed: the document should be kept
    /// and sent again later.
    pub fn send(&mut self, doc: &[u8]) -> Result<Outcome> {
        let result = match self.url.clone() {
            ServerUrl::Udp(addr) => self.send_udp(&addr, doc),
            ServerUrl::Tcp(addr) => self.send_tcp(&addr, doc),
            ServerUrl::Http(url) => self.send_http(&url, doc),
            ServerUrl::Amqp(_) => Err(Error::push(
                "amqp:// servers publish through the AMQP output, not a wire",
            )),
        };
        if result.is_err() {
            self.udp = None;
            self.tcp = None;
        }
        result
    }

    fn send_udp(&mut self, addr: &str, doc: &[u8]) -> Result<Outcome> {
        if self.udp.is_none() {
            let target = resolve(addr)?;
            let bind = if target.is_ipv4() {
                "0.0.0.0:0"
            } else {
                "[::]:0"
            };
            let sock = UdpSocket::bind(bind).map_err(|e| Error::io("binding a UDP socket", &e))?;
            sock.connect(target)
                .map_err(|e| Error::io(format!("udp://{addr}"), &e))?;
            self.udp = Some(sock);
        }
        let Some(sock) = &self.udp else {
            return Err(Error::push("no UDP socket"));
        };
        sock.send(doc)
            .map_err(|e| Error::io(format!("udp://{addr}"), &e))?;
        Ok(Outcome::Accepted)
    }

    fn send_tcp(&mut self, addr: &str, doc: &[u8]) -> Result<Outcome> {
        let io = |e: std::io::Error| Error::io(format!("tcp://{addr}"), &e);
        if self.tcp.is_none() {
            let target = resolve(addr)?;
            let s = TcpStream::connect_timeout(&target, self.timeout).map_err(io)?;
            s.set_read_timeout(Some(self.timeout)).map_err(io)?;
            s.set_write_timeout(Some(self.timeout)).map_err(io)?;
            s.set_nodelay(true).map_err(io)?;
            self.tcp = Some(BufReader::new(s));
        }
        let Some(conn) = &mut self.tcp else {
            return Err(Error::push("no TCP connection"));
        };
        let mut line = Vec::with_capacity(doc.len() + 1);
        line.extend_from_slice(doc);
        line.push(b'\n');
        conn.get_mut().write_all(&line).map_err(io)?;
        // Skip the hint line the server sends on connect (and anything else that is not
        // an answer) until --OK or --ERR.
        loop {
            let mut answer = Vec::new();
            let n = conn
                .by_ref()
                .take(u64::try_from(ANSWER_MAX).unwrap_or(u64::MAX))
                .read_until(b'\n', &mut answer)
                .map_err(io)?;
            if n == 0 {
                return Err(Error::push(format!(
                    "tcp://{addr}: connection closed before an answer"
                )));
            }
            let text = String::from_utf8_lossy(&answer);
            let text = text.trim_end();
            if text == "--OK" || text.starts_with("--OK ") {
                return Ok(Outcome::Accepted);
            }
            if let Some(reason) = text.strip_prefix("--ERR") {
                return Ok(Outcome::Rejected(reason.trim().to_string()));
            }
        }
    }

    fn send_http(&mut self, url: &Url, doc: &[u8]) -> Result<Outcome> {
        let Some(client) = &self.http else {
            return Err(Error::push("no HTTP client"));
        };
        let r = client.request(
            "POST",
            url,
            Some(("application/json", doc)),
            self.token.as_deref(),
        )?;
        match r.status {
            200..=299 => Ok(Outcome::Accepted),
            408 | 429 => Err(Error::push(format!("{url}: status {}", r.status))),
            400..=499 => Ok(Outcome::Rejected(format!(
                "status {}: {}",
                r.status,
                String::from_utf8_lossy(&r.body)
                    .chars()
                    .take(200)
                    .collect::<String>()
            ))),
            s => Err(Error::push(format!("{url}: status {s}"))),
        }
    }
}

fn resolve(addr: &str) -> Result<std::net::SocketAddr> {
    addr.to_socket_addrs()
        .map_err(|e| Error::io(format!("resolving {addr}"), &e))?
        .next()
        .ok_or_else(|| Error::push(format!("{addr}: no address")))
}
