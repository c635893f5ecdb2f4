//! Graphite plaintext over TCP: one `name value timestamp\n` line per point, on one
//! connection kept open between batches.
//!
//! Names are those treestat's own Graphite API shows (docs/GRAFANA.md, "Names";
//! [`treestat_graphite::names::name_of_path`]): a tree level is a node, a key's own `.`
//! becomes `_`, other characters Graphite cannot carry become `%XX`. So a whisper file
//! of `cpu,10.3.1.12,idle` is `cpu/10_3_1_12/idle.wsp` and a `/render` target reads
//! the same against treestat and against carbon. A histogram's stats are one level
//! below its value: `api.web1.latency` (the mean) and `api.web1.latency.p99`.
//!
//! Plaintext has no acknowledgement: a write the kernel took may still be lost if the
//! receiver dies before reading it. Before each batch on a kept connection the socket
//! is peeked, so a receiver that closed it (a restart) is noticed and the batch goes
//! on a new connection instead of into the void; what was in flight at the moment of
//! the crash is lost, as with carbon-relay.

use std::io::{ErrorKind, Write};
use std::net::{TcpStream, ToSocketAddrs};
use std::time::Duration;

use treestat_graphite::names::name_of_path;

use crate::error::{Error, Result};
use crate::points::Point;
use crate::transport::{Outcome, Transport};

/// A Graphite plaintext target.
#[derive(Debug)]
pub struct Graphite {
    addr: String,
    prefix: String,
    stats: Vec<String>,
    timeout: Duration,
    conn: Option<TcpStream>,
    buf: Vec<u8>,
}

impl Graphite {
    /// A target at `addr` (`host:port`); nothing is connected until the first send.
    pub fn new(addr: &str, prefix: &str, stats: Vec<String>, timeout: Duration) -> Graphite {
        Graphite {
            addr: addr.to_string(),
            prefix: prefix.to_string(),
            stats,
            timeout,
            conn: None,
            buf: Vec::new(),
        }
    }

    fn connect(&self) -> Result<TcpStream> {
        let addrs = self
            .addr
            .to_socket_addrs()
            .map_err(|e| Error::send(format!("resolving {}: {e}", self.addr)))?;
        let mut last = Error::send(format!("{}: no address", self.addr));
        for a in addrs {
            match TcpStream::connect_timeout(&a, self.timeout) {
                Ok(s) => {
                    s.set_write_timeout(Some(self.timeout))
                        .and_then(|()| s.set_nodelay(true))
                        .map_err(|e| Error::send(format!("{a}: {e}")))?;
                    return Ok(s);
                }
                Err(e) => last = Error::send(format!("connecting to {a}: {e}")),
            }
        }
        Err(last)
    }
}

/// One point's line, appended to `out`.
pub fn line(out: &mut Vec<u8>, prefix: &str, stats: &[String], p: &Point) {
    if !prefix.is_empty() {
        out.extend_from_slice(prefix.as_bytes());
        out.push(b'.');
    }
    out.extend_from_slice(name_of_path(&p.path).as_bytes());
    if let Some(name) = p.stat.and_then(|k| stats.get(usize::from(k))) {
        out.push(b'.');
        out.extend_from_slice(name.as_bytes());
    }
    // `{:?}` is the shortest text that reads back as the same f64 (`0.1`, `5.0`,
    // `1e300`); carbon reads it with Python's float().
    let _ = writeln!(out, " {:?} {}", p.value, p.ts);
}

/// Whether the receiver has closed (or reset) a kept connection.
fn closed_by_peer(s: &TcpStream) -> bool {
    if s.set_nonblocking(true).is_err() {
        return true;
    }
    let mut b = [0u8; 1];
    let closed = match s.peek(&mut b) {
        Ok(0) => true,
        Ok(_) => false,
        Err(e) => e.kind() != ErrorKind::WouldBlock,
    };
    closed || s.set_nonblocking(false).is_err()
}

impl Transport for Graphite {
    fn send(&mut self, points: &[&Point]) -> Outcome {
        self.buf.clear();
        for p in points {
            line(&mut self.buf, &self.prefix, &self.stats, p);
        }
        if self.conn.as_ref().is_some_and(closed_by_peer) {
            self.conn = None;
        }
        let conn = match self.conn.take() {
            Some(c) => c,
            None => match self.connect() {
                Ok(c) => c,
                Err(e) => return Outcome::Retry(e),
            },
        };
        let mut conn = conn;
        match conn.write_all(&self.buf).and_then(|()| conn.flush()) {
            Ok(()) => {
                self.conn = Some(conn);
                Outcome::Sent
            }
            Err(e) => Outcome::Retry(Error::send(format!("writing to {}: {e}", self.addr))),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_use_the_graphite_api_names() {
        let stats = vec!["p99".to_string()];
        let mut out = Vec::new();
        let p = |path: &str, stat, value| Point {
            path: path.into(),
            stat,
            value,
            ts: 1_700_000_000,
        };
        line(&mut out, "", &stats, &p("cpu,10.3.1.12,idle", None, 97.5));
        line(
            &mut out,
            "dc1.ts",
            &stats,
            &p("disk,C: drive,free", None, 5.0),
        );
        line(&mut out, "", &stats, &p("api,latency", Some(0), 0.1));
        assert_eq!(
            String::from_utf8(out).unwrap(),
            "cpu.10_3_1_12.idle 97.5 1700000000\n\
             dc1.ts.disk.C:%20drive.free 5.0 1700000000\n\
             api.latency.p99 0.1 1700000000\n"
        );
    }
}
