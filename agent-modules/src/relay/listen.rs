//! The relay's listeners, one thread each (plus one per TCP connection, capped): TCP (a
//! hint line on connect, then one JSON document or SimpleStats tuple `["name", ts,
//! value]` per line answered `--OK` or `--ERR <reason>`), UDP (one document or tuple per
//! datagram, or several newline-separated; the server's 8007 parser and semantics,
//! [`treestat_engine::listen::simplestats::apply_parsed`]: a tuple is one sample at its
//! own time stamp), HTTP (http.rs: a JSON body, a form or access-log lines on the push
//! path, `PUT /raw` streamed), StatsD (UDP) and Graphite plaintext (TCP), served by the
//! engine's own listeners on a current-thread runtime of the listener's thread, with the
//! server's default `[listen]` limits.
//!
//! Bounds: lines and bodies up to 8 MiB (413 past it over HTTP), headers up to 64 KiB
//! (431), 256 connections at once per listener (further ones are closed), an HTTP head
//! or body not received within 10 s ends the connection (the body: 408), idle TCP
//! connections closed after 5 minutes. Listeners check the shutdown token every 50 ms;
//! at shutdown HTTP requests in flight get up to 2 s to finish.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream, UdpSocket};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use treestat_engine::Engine;

use super::counters::RelayCounters;
use super::limits::{MAX_CONNECTIONS, MAX_DOC, POLL};
use super::logs::RelayLogs;
use crate::config::{ListenUrl, ServerUrl};
use crate::error::{Error, Result};
use treestat_engine::stop::{CancellationToken, Wait};

const IDLE: Duration = Duration::from_secs(300);
const HINT: &[u8] =
    b"# treestat relay: send one JSON tree, array of trees or [name, timestamp, value] per line\n";

/// A bound listener socket.
pub(super) enum Bound {
    Tcp(TcpListener),
    Udp(UdpSocket),
    Http(TcpListener, String),
    /// `statsd://ADDR`: StatsD over UDP, served by the engine's own listener.
    Statsd(UdpSocket),
    /// `graphite://ADDR`: Graphite plaintext over TCP, served by the engine's own
    /// listener.
    Graphite(TcpListener),
}

impl Bound {
    /// Binds a `relay.listen` address ([`ListenUrl`]): StatsD and Graphite are served
    /// with the server's own listeners (same parsers, same limits), so a relay takes
    /// what a server takes.
    pub(super) fn bind_listen(url: &str) -> Result<Bound> {
        let named = |e: std::io::Error| Error::io(format!("relay: cannot listen on {url}"), &e);
        match ListenUrl::parse(url)? {
            ListenUrl::Statsd(addr) => Ok(Bound::Statsd(UdpSocket::bind(addr).map_err(named)?)),
            ListenUrl::Graphite(addr) => {
                Ok(Bound::Graphite(TcpListener::bind(addr).map_err(named)?))
            }
            ListenUrl::Json(u) => Bound::bind(&u),
        }
    }

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
            Bound::Tcp(l) | Bound::Http(l, _) | Bound::Graphite(l) => l.local_addr().ok(),
            Bound::Udp(s) | Bound::Statsd(s) => s.local_addr().ok(),
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
            Bound::Statsd(_) => format!("statsd://{addr}"),
            Bound::Graphite(_) => format!("graphite://{addr}"),
        }
    }

    pub(super) fn serve(
        self,
        engine: Engine,
        counters: Arc<RelayCounters>,
        logs: Arc<RelayLogs>,
        shutdown: CancellationToken,
    ) -> Result<JoinHandle<()>> {
        let name = format!("treestat-relay-{}", self.url());
        std::thread::Builder::new()
            .name(name)
            .spawn(move || match self {
                Bound::Tcp(l) => accept_loop(&l, &engine, &counters, &shutdown),
                Bound::Http(l, path) => super::http::http_loop(
                    l,
                    super::http::HttpCtx {
                        engine,
                        counters,
                        logs,
                        path,
                    },
                    &shutdown,
                ),
                Bound::Udp(s) => udp_loop(&s, &engine, &counters, &shutdown),
                Bound::Statsd(s) => {
                    engine_listener(engine, &counters, shutdown, |e, c, t, stop| async move {
                        s.set_nonblocking(true)?;
                        let s = tokio::net::UdpSocket::from_std(s)?;
                        treestat_engine::listen::udp::serve_statsd(s, e, &c, &t, stop).await
                    })
                }
                Bound::Graphite(l) => {
                    engine_listener(engine, &counters, shutdown, |e, c, t, stop| async move {
                        l.set_nonblocking(true)?;
                        let l = tokio::net::TcpListener::from_std(l)?;
                        treestat_engine::listen::tcp::serve_graphite(l, e, &c, &t, stop).await
                    })
                }
            })
            .map_err(|e| Error::io("spawning a relay listener", &e))
    }
}

/// Runs one of the engine's own (async) listeners on a current-thread runtime of this
/// thread, with the server's default listener settings; it counts in the relay's
/// telemetry (lines merged and refused go upstream with the relay's counters).
fn engine_listener<F, Fut>(
    engine: Engine,
    counters: &RelayCounters,
    shutdown: CancellationToken,
    serve: F,
) where
    F: FnOnce(
        Engine,
        treestat_engine::listen::ListenConfig,
        treestat_engine::telemetry::Telemetry,
        CancellationToken,
    ) -> Fut,
    Fut: std::future::Future<Output = std::io::Result<()>>,
{
    let rt = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            tracing::error!("relay listener: no runtime: {e}");
            return;
        }
    };
    let cfg = treestat_engine::listen::ListenConfig::default();
    let telemetry = counters.telemetry.clone();
    if let Err(e) = rt.block_on(async { serve(engine, cfg, telemetry, shutdown).await }) {
        tracing::error!("relay listener: {e}");
    }
}

fn accept_loop(
    listener: &TcpListener,
    engine: &Engine,
    counters: &Arc<RelayCounters>,
    shutdown: &CancellationToken,
) {
    if let Err(e) = listener.set_nonblocking(true) {
        tracing::error!("relay: {e}");
        return;
    }
    let open = Arc::new(AtomicUsize::new(0));
    while !shutdown.is_cancelled() {
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
        let (engine, counters, shutdown, open2) = (
            engine.clone(),
            Arc::clone(counters),
            shutdown.clone(),
            Arc::clone(&open),
        );
        let spawned = std::thread::Builder::new()
            .name("treestat-relay-conn".into())
            .spawn(move || {
                let _ = serve_tcp(conn, &engine, &counters, &shutdown);
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
    shutdown: &CancellationToken,
) -> std::io::Result<()> {
    conn.set_nonblocking(false)?;
    conn.set_read_timeout(Some(POLL))?;
    let mut w = conn.try_clone()?;
    w.write_all(HINT)?;
    let mut r = BufReader::new(conn);
    let mut line = Vec::new();
    let mut last = Instant::now();
    while !shutdown.is_cancelled() && last.elapsed() < IDLE {
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
                let answer = match counters.merge_line(engine, text) {
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

fn udp_loop(
    sock: &UdpSocket,
    engine: &Engine,
    counters: &RelayCounters,
    shutdown: &CancellationToken,
) {
    if let Err(e) = sock.set_read_timeout(Some(POLL)) {
        tracing::error!("relay udp: {e}");
        return;
    }
    let mut buf = vec![0u8; 65536];
    while !shutdown.is_cancelled() {
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
                let part = part.strip_suffix(b"\r").unwrap_or(part);
                let _ = counters.merge_line(engine, part);
            }
        }
    }
}
