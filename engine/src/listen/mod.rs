//! The push listeners (docs/PROTOCOLS.md): TCP 8007 (JSON trees and SimpleStats tuples,
//! one per line, answered `--OK` / `--ERR <reason>`), UDP 8007 (JSON per datagram),
//! StatsD over UDP 8125, and Graphite plaintext over TCP 2003.
//!
//! Layering: one pure parser per protocol ([`simplestats`], [`statsd`], [`graphite`],
//! with [`keys`] for the dotted names), a bounded line splitter ([`lines`]), and the
//! servers ([`tcp`], [`udp`]) that own sockets, limits, counters and shutdown. Every
//! server takes an already-bound socket (tests bind port 0), an [`Engine`], the
//! [`ListenConfig`], the process [`Telemetry`] and a [`CancellationToken`]; it returns
//! once the token is cancelled and its in-flight lines are answered.
//!
//! [`bind`] and [`Listeners::serve`] are the one-call wiring for `treestat serve`.

pub mod config;
mod fold;
pub mod graphite;
pub mod keys;
pub mod lines;
pub mod metrics;
pub mod simplestats;
pub mod statsd;
pub mod tags;
pub mod tcp;
pub mod udp;

use std::io;
use std::net::SocketAddr;

use tokio::net::{TcpListener, UdpSocket};
use tokio_util::sync::CancellationToken;

pub use config::{ListenConfig, StatsdHistogram};
pub use metrics::{LineError, ListenerMetrics, Reject};

use crate::engine::Engine;
use crate::telemetry::Telemetry;

/// The sockets of the enabled listeners, bound and not yet served.
#[derive(Debug, Default)]
pub struct Listeners {
    /// TCP 8007.
    pub tcp: Option<TcpListener>,
    /// UDP 8007.
    pub udp: Option<UdpSocket>,
    /// StatsD (UDP).
    pub statsd: Option<UdpSocket>,
    /// Graphite (TCP).
    pub graphite: Option<TcpListener>,
}

/// Binds every listener whose address in `cfg` is not `off`.
///
/// # Errors
/// The first address that does not parse or cannot be bound, named in the message.
pub async fn bind(cfg: &ListenConfig) -> io::Result<Listeners> {
    let named = |what: &str, addr: &str, e: io::Error| {
        io::Error::new(
            e.kind(),
            format!("cannot bind the {what} listener on {addr}: {e}"),
        )
    };
    let mut l = Listeners::default();
    if let Some(a) = ListenConfig::enabled(&cfg.tcp) {
        l.tcp = Some(TcpListener::bind(a).await.map_err(|e| named("tcp", a, e))?);
    }
    if let Some(a) = ListenConfig::enabled(&cfg.udp) {
        l.udp = Some(
            bind_udp(a, cfg.udp_recv_buffer)
                .await
                .map_err(|e| named("udp", a, e))?,
        );
    }
    if let Some(a) = ListenConfig::enabled(&cfg.statsd) {
        l.statsd = Some(
            bind_udp(a, cfg.udp_recv_buffer)
                .await
                .map_err(|e| named("statsd", a, e))?,
        );
    }
    if let Some(a) = ListenConfig::enabled(&cfg.graphite) {
        l.graphite = Some(
            TcpListener::bind(a)
                .await
                .map_err(|e| named("graphite", a, e))?,
        );
    }
    Ok(l)
}

/// A UDP socket with the receive buffer asked for (`0`: the system default).
async fn bind_udp(addr: &str, recv_buffer: usize) -> io::Result<UdpSocket> {
    let mut last = None;
    for a in tokio::net::lookup_host(addr).await? {
        let s = socket2::Socket::new(
            socket2::Domain::for_address(a),
            socket2::Type::DGRAM,
            Some(socket2::Protocol::UDP),
        )?;
        if recv_buffer > 0
            && let Err(e) = s.set_recv_buffer_size(recv_buffer)
        {
            tracing::warn!(error = %e, "cannot set the UDP receive buffer to {recv_buffer} bytes");
        }
        match s.bind(&a.into()) {
            Ok(()) => {
                s.set_nonblocking(true)?;
                return UdpSocket::from_std(s.into());
            }
            Err(e) => last = Some(e),
        }
    }
    Err(last.unwrap_or_else(|| io::Error::new(io::ErrorKind::InvalidInput, "no address")))
}

impl Listeners {
    /// The bound addresses, as `(listener name, address)`, for the startup log.
    pub fn addrs(&self) -> Vec<(&'static str, SocketAddr)> {
        let mut v = Vec::new();
        if let Some(a) = self.tcp.as_ref().and_then(|s| s.local_addr().ok()) {
            v.push(("tcp", a));
        }
        if let Some(a) = self.udp.as_ref().and_then(|s| s.local_addr().ok()) {
            v.push(("udp", a));
        }
        if let Some(a) = self.statsd.as_ref().and_then(|s| s.local_addr().ok()) {
            v.push(("statsd", a));
        }
        if let Some(a) = self.graphite.as_ref().and_then(|s| s.local_addr().ok()) {
            v.push(("graphite", a));
        }
        v
    }

    /// Serves every bound listener, each on its own task (so they use every core),
    /// until `shutdown` is cancelled; returns when all of them have finished.
    ///
    /// # Errors
    /// The first listener error (the others still run to shutdown).
    pub async fn serve(
        self,
        engine: Engine,
        cfg: &ListenConfig,
        telemetry: &Telemetry,
        shutdown: CancellationToken,
    ) -> io::Result<()> {
        let mut tasks = tokio::task::JoinSet::new();
        let ctx = || {
            (
                engine.clone(),
                cfg.clone(),
                telemetry.clone(),
                shutdown.clone(),
            )
        };
        if let Some(l) = self.tcp {
            let (e, c, t, s) = ctx();
            tasks.spawn(async move { tcp::serve(l, e, &c, &t, s).await });
        }
        if let Some(l) = self.udp {
            let (e, c, t, s) = ctx();
            tasks.spawn(async move { udp::serve(l, e, &c, &t, s).await });
        }
        if let Some(l) = self.statsd {
            let (e, c, t, s) = ctx();
            tasks.spawn(async move { udp::serve_statsd(l, e, &c, &t, s).await });
        }
        if let Some(l) = self.graphite {
            let (e, c, t, s) = ctx();
            tasks.spawn(async move { tcp::serve_graphite(l, e, &c, &t, s).await });
        }
        let mut first = Ok(());
        while let Some(r) = tasks.join_next().await {
            let r =
                r.unwrap_or_else(|e| Err(io::Error::other(format!("listener task failed: {e}"))));
            if first.is_ok() {
                first = r;
            }
        }
        first
    }
}
