//! The relay's listeners, one thread each (plus one per TCP/HTTP connection, capped):
//! TCP (a hint line on connect, then one JSON document per line answered `--OK` or
//! `--ERR <reason>`), UDP (one document per datagram, or several newline-separated),
//! HTTP (`POST /push` with a JSON body; 200, or 400 naming the problem).
//!
//! Bounds: lines and bodies up to 8 MiB, headers up to 64 KiB, 256 connections at once,
//! idle connections closed after 5 minutes. Threads poll the shutdown flag every 50 ms.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use treestat_engine::Engine;

use super::counters::RelayCounters;
use crate::config::ServerUrl;
use crate::error::{Error, Result};
use crate::shutdown::Shutdown;

const MAX_DOC: usize = 8 << 20;
const MAX_HEAD: usize = 64 << 10;
const MAX_CONNECTIONS: usize = 256;
const IDLE: Duration = Duration::from_secs(300);
const POLL: Duration = Duration::from_millis(50);
const HINT: &[u8] = b"# treestat relay: send one JSON tree (or array of trees) per line\n";

/// A bound listener socket.
pub(super) enum Bound {
    Tcp(TcpListener),
    Udp(UdpSocket),
    Http(TcpListener, String),
}

impl Bound {
    pub(super) fn bind(url: &ServerUrl) -> Result<Bound> {
        let named = |e: std::io::Error| Error::io(format!("relay: cannot listen on {url}"), &e);
        Ok(match url {
            ServerUrl::Tcp(a) => Bound::Tcp(TcpListener::bind(a.as_str()).map_err(named)?),
            ServerUrl::Udp(a) => Bound::Udp(UdpSocket::bind(a.as_str()).map_err(named)?),
            ServerUrl::Http(u) if u.tls => {
                return Err(Error::config(format!(
                    "relay.listen: {url}: the relay listens on plain http (put a TLS \
                     proxy in front of it)"
                )));
            }
            ServerUrl::Http(u) => Bound::Http(
                TcpListener::bind(u.addr.as_str()).map_err(named)?,
                u.path.clone(),
            ),
            ServerUrl::Amqp(_) => {
                return Err(Error::config(format!(
                    "relay.listen: {url}: amqp:// is an upstream only (the server consumes \
                     from the broker with its [amqp] source)"
                )));
            }
        })
    }

    fn addr(&self) -> Option<SocketAddr> {
        match self {
            Bound::Tcp(l) | Bound::Http(l, _) => l.local_addr().ok(),
            Bound::Udp(s) => s.local_addr().ok(),
        }
    }

    pub(super) fn url(&self) -> String {
        let addr = self
            .addr()
            .map_or_else(|| "?".to_string(), |a| a.to_string());
        match self {
            Bound::Tcp(_) => format!("tcp://{addr}"),
            Bound::Udp(_) => format!("udp://{addr}"),
            Bound::Http(_, path) => format!("http://{addr}{path}"),
        }
    }

    pub(super) fn serve(
        self,
        engine: Engine,
        counters: Arc<RelayCounters>,
        shutdown: Shutdown,
    ) -> Result<JoinHandle<()>> {
        let name = format!("treestat-relay-{}", self.url());
        std::thread::Builder::new()
            .name(name)
            .spawn(move || match self {
                Bound::Tcp(l) => accept_loop(&l, &engine, &counters, &shutdown, None),
                Bound::Http(l, path) => {
                    accept_loop(&l, &engine, &counters, &shutdown, Some(path));
                }
                Bound::Udp(s) => udp_loop(&s, &engine, &counters, &shutdown),
            })
            .map_err(|e| Error::io("spawning a relay listener", &e))
    }
}

fn merge(engine: &Engine, counters: &RelayCounters, doc: &[u8]) -> std::result::Result<(), String> {
    counters.close_due(engine);
    match engine.push_json(doc) {
        Ok(_) => {
            counters.received.fetch_add(1, Ordering::Relaxed);
            Ok(())
        }
        Err(e) => {
            counters.rejected.fetch_add(1, Ordering::Relaxed);
            Err(e.to_string().replace(['\n', '\r'], " "))
        }
    }
}

fn accept_loop(
    listener: &TcpListener,
    engine: &Engine,
    counters: &Arc<RelayCounters>,
    shutdown: &Shutdown,
    http_path: Option<String>,
) {
    if let Err(e) = listener.set_nonblocking(true) {
        tracing::error!("relay: {e}");
        return;
    }
    let open = Arc::new(AtomicUsize::new(0));
    while !shutdown.is_set() {
        let conn = match listener.accept() {
            Ok((c, _)) => c,
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {
                shutdown.wait(POLL);
                continue;
            }
            Err(e) => {
                tracing::warn!("relay accept: {e}");
                shutdown.wait(POLL);
                continue;
            }
        };
        if open.load(Ordering::SeqCst) >= MAX_CONNECTIONS {
            continue; // dropped: closes the connection
        }
        open.fetch_add(1, Ordering::SeqCst);
        let (engine, counters, shutdown, open2, path) = (
            engine.clone(),
            Arc::clone(counters),
            shutdown.clone(),
            Arc::clone(&open),
            http_path.clone(),
        );
        let spawned = std::thread::Builder::new()
            .name("treestat-relay-conn".into())
            .spawn(move || {
                let _ = match path {
                    None => serve_tcp(conn, &engine, &counters, &shutdown),
                    Some(p) => serve_http(conn, &engine, &counters, &p),
                };
                open2.fetch_sub(1, Ordering::SeqCst);
            });
        if spawned.is_err() {
            open.fetch_sub(1, Ordering::SeqCst);
        }
    }
}

fn serve_tcp(
    conn: TcpStream,
    engine: &Engine,
    counters: &RelayCounters,
    shutdown: &Shutdown,
) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(POLL))?;
    let mut w = conn.try_clone()?;
    w.write_all(HINT)?;
    let mut r = BufReader::new(conn);
    let mut line = Vec::new();
    let mut last = Instant::now();
    while !shutdown.is_set() && last.elapsed() < IDLE {
        let limit = u64::try_from(MAX_DOC + 1 - line.len().min(MAX_DOC)).unwrap_or(0);
        match r.by_ref().take(limit).read_until(b'\n', &mut line) {
            Ok(0) if line.is_empty() => return Ok(()),
            Ok(0) => {}
            Ok(_) => last = Instant::now(),
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) => {}
            Err(e) => return Err(e),
        }
        if line.ends_with(b"\n") {
            let text = line.strip_suffix(b"\n").unwrap_or(&line);
            let text = text.strip_suffix(b"\r").unwrap_or(text);
            if !text.iter().all(u8::is_ascii_whitespace) {
                let answer = match merge(engine, counters, text) {
                    Ok(()) => "--OK\n".to_string(),
                    Err(e) => format!("--ERR {e}\n"),
                };
                w.write_all(answer.as_bytes())?;
            }
            line.clear();
        } else if line.len() > MAX_DOC {
            counters.rejected.fetch_add(1, Ordering::Relaxed);
            w.write_all(b"--ERR line longer than 8 MiB\n")?;
            return Ok(());
        }
    }
    Ok(())
}

fn serve_http(
    conn: TcpStream,
    engine: &Engine,
    counters: &RelayCounters,
    path: &str,
) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(Duration::from_secs(10)))?;
    let mut w = conn.try_clone()?;
    let mut r = BufReader::new(conn);
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") && !head.ends_with(b"\n\n") {
        let n = r.by_ref().take(1).read_to_end(&mut head)?;
        if n == 0 {
            return Ok(());
        }
        if head.len() > MAX_HEAD {
            return answer(&mut w, 431, "headers too large");
        }
    }
    let head = String::from_utf8_lossy(&head);
    let mut lines = head.lines();
    let request = lines.next().unwrap_or("");
    let mut parts = request.split_whitespace();
    let (method, target) = (parts.next().unwrap_or(""), parts.next().unwrap_or(""));
    let mut length = None;
    for l in lines {
        if let Some((k, v)) = l.split_once(':')
            && k.eq_ignore_ascii_case("content-length")
        {
            length = v.trim().parse::<usize>().ok();
        }
    }
    if target.split('?').next() != Some(path) {
        return answer(
            &mut w,
            404,
            &format!("no route {target}; push to POST {path}"),
        );
    }
    if method != "POST" {
        return answer(&mut w, 405, "use POST");
    }
    let Some(length) = length else {
        return answer(&mut w, 411, "Content-Length required");
    };
    if length > MAX_DOC {
        counters.rejected.fetch_add(1, Ordering::Relaxed);
        return answer(&mut w, 413, "body larger than 8 MiB");
    }
    let mut body = vec![0; length];
    r.read_exact(&mut body)?;
    match merge(engine, counters, &body) {
        Ok(()) => answer(&mut w, 200, "ok"),
        Err(e) => answer(&mut w, 400, &e),
    }
}

fn answer(w: &mut TcpStream, status: u16, text: &str) -> std::io::Result<()> {
    let body = serde_json::json!({ "status": status, "message": text }).to_string();
    write!(
        w,
        "HTTP/1.1 {status} {}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\
         Connection: close\r\n\r\n{body}",
        if status == 200 { "OK" } else { "Error" },
        body.len()
    )
}

fn udp_loop(sock: &UdpSocket, engine: &Engine, counters: &RelayCounters, shutdown: &Shutdown) {
    if let Err(e) = sock.set_read_timeout(Some(POLL)) {
        tracing::error!("relay udp: {e}");
        return;
    }
    let mut buf = vec![0u8; 65536];
    while !shutdown.is_set() {
        let n = match sock.recv(&mut buf) {
            Ok(n) => n,
            Err(e)
                if matches!(
                    e.kind(),
                    std::io::ErrorKind::WouldBlock | std::io::ErrorKind::TimedOut
                ) =>
            {
                continue;
            }
            Err(e) => {
                tracing::warn!("relay udp: {e}");
                continue;
            }
        };
        for part in buf[..n].split(|&b| b == b'\n') {
            if !part.iter().all(u8::is_ascii_whitespace) {
                let _ = merge(engine, counters, part);
            }
        }
    }
}
