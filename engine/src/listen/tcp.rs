//! The TCP listeners: port 8007 (JSON trees and SimpleStats tuples, one per line, each
//! answered `--OK` or `--ERR <reason>`) and Graphite's port 2003 (no replies).
//!
//! Both share one connection loop: a bounded number of connections (a semaphore), a
//! bounded line splitter, an idle deadline that only a complete line moves (slowloris
//! guard), and replies gathered per read and written once. At the cap, a new
//! connection takes the place of the one idle longest (idle: no complete line for at
//! least `reclaim_after`), so thousands of idle sockets cannot lock good clients out
//! for the whole idle timeout; only when none is idle is the newcomer closed at once. On shutdown the accept loop stops, each connection finishes the lines
//! it has already read, writes their answers (with a short grace) and closes, and
//! `serve` returns once every connection task is done.

use std::collections::HashMap;
use std::io;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::config::ListenConfig;
use super::fold::fold;
use super::graphite;
use super::lines::{Frame, LineFramer};
use super::metrics::{LineError, ListenerMetrics, Reject, tags_dropped};
use super::simplestats::{self, HINT};
use super::tags::TagConfig;
use super::udp::apply_split;
use crate::batch::Batch;
use crate::engine::Engine;
use crate::telemetry::{Counter, Telemetry};

/// How long answers may still be written once shutdown is signalled.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(1);

/// The open connections with the time of their last complete line, so the one idle
/// longest can be closed when a new connection finds the listener full.
#[derive(Default)]
struct Conns {
    epoch: Option<Instant>,
    next: u64,
    open: HashMap<u64, Conn>,
}

struct Conn {
    /// Milliseconds after `epoch` of the last complete line (or of the connect).
    active: Arc<AtomicU64>,
    close: CancellationToken,
}

impl Conns {
    fn millis(&mut self) -> u64 {
        let epoch = *self.epoch.get_or_insert_with(Instant::now);
        u64::try_from(epoch.elapsed().as_millis()).unwrap_or(u64::MAX)
    }

    /// Registers a connection; returns its id, activity clock and close token.
    fn add(&mut self) -> (u64, Arc<AtomicU64>, CancellationToken, Instant) {
        let now = self.millis();
        let id = self.next;
        self.next += 1;
        let conn = Conn {
            active: Arc::new(AtomicU64::new(now)),
            close: CancellationToken::new(),
        };
        let out = (
            id,
            conn.active.clone(),
            conn.close.clone(),
            self.epoch.unwrap_or_else(Instant::now),
        );
        self.open.insert(id, conn);
        out
    }

    /// Closes the connection idle longest, if one has been idle for `after`.
    fn reclaim(&mut self, after: Duration) -> bool {
        let now = self.millis();
        let idle_ms = u64::try_from(after.as_millis()).unwrap_or(u64::MAX);
        let oldest = self
            .open
            .iter()
            .filter(|(_, c)| !c.close.is_cancelled())
            .map(|(id, c)| (c.active.load(Ordering::Relaxed), *id))
            .min();
        match oldest {
            Some((active, id)) if now.saturating_sub(active) >= idle_ms => {
                if let Some(c) = self.open.get(&id) {
                    c.close.cancel();
                }
                true
            }
            _ => false,
        }
    }
}

/// A connection's handle on the registry: marks activity, leaves on drop.
struct ConnSlot {
    conns: Arc<Mutex<Conns>>,
    id: u64,
    active: Arc<AtomicU64>,
    epoch: Instant,
    close: CancellationToken,
}

impl ConnSlot {
    fn touch(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.active.store(ms, Ordering::Relaxed);
    }
}

impl Drop for ConnSlot {
    fn drop(&mut self) {
        self.conns.lock().open.remove(&self.id);
    }
}

/// What a line protocol does with the lines of one connection.
trait LineProto: Send + 'static {
    /// Sent once on connect.
    fn greeting(&self) -> Option<&'static str> {
        None
    }
    /// One line (UTF-8 checked) or a framing error; may append an answer to `out`.
    fn line(&mut self, line: Result<&str, LineError>, crlf: bool, out: &mut Vec<u8>);
    /// Called after the lines of one read.
    fn flush(&mut self, _out: &mut Vec<u8>) {}
    /// The engine whose write-ahead log must hold the lines before their answers go
    /// out (`engine.wal = "sync"`); `None` for protocols that answer nothing.
    fn acks(&self) -> Option<&Engine> {
        None
    }
}

/// Serves TCP port 8007: JSON trees, arrays of trees and SimpleStats tuples, one per
/// line. Returns when `shutdown` is cancelled and every connection has closed.
///
/// # Errors
/// Only if the listener itself fails in a way that retrying cannot fix (none today:
/// accept errors such as running out of file descriptors are logged and retried).
pub async fn serve(
    listener: TcpListener,
    engine: Engine,
    cfg: &ListenConfig,
    telemetry: &Telemetry,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let metrics = ListenerMetrics::new(telemetry, "tcp");
    let m = metrics.clone();
    serve_lines(listener, cfg, metrics, shutdown, move || JsonLines {
        engine: engine.clone(),
        metrics: m.clone(),
    })
    .await
}

/// Serves Graphite's plaintext protocol (TCP port 2003). The lines of each read are
/// validated one by one and merged in one engine call.
///
/// # Errors
/// As [`serve`].
pub async fn serve_graphite(
    listener: TcpListener,
    engine: Engine,
    cfg: &ListenConfig,
    telemetry: &Telemetry,
    shutdown: CancellationToken,
) -> io::Result<()> {
    let metrics = ListenerMetrics::new(telemetry, "graphite");
    let m = metrics.clone();
    let tags = Arc::new(cfg.tags.clone());
    let dropped = tags_dropped(telemetry, "graphite");
    serve_lines(listener, cfg, metrics, shutdown, move || GraphiteLines {
        engine: engine.clone(),
        metrics: m.clone(),
        batch: Batch::new(),
        tags: tags.clone(),
        dropped: dropped.clone(),
    })
    .await
}

async fn serve_lines<P: LineProto>(
    listener: TcpListener,
    cfg: &ListenConfig,
    metrics: ListenerMetrics,
    shutdown: CancellationToken,
    make: impl Fn() -> P,
) -> io::Result<()> {
    // Clamped: the semaphore refuses (panics) beyond MAX_PERMITS.
    let permits = Arc::new(Semaphore::new(
        cfg.max_connections.min(Semaphore::MAX_PERMITS),
    ));
    let tracker = TaskTracker::new();
    let cfg = Arc::new(cfg.clone());
    let conns = Arc::new(Mutex::new(Conns::default()));
    loop {
        let stream = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            r = listener.accept() => match r {
                Ok((stream, _)) => stream,
                Err(e) => {
                    // EMFILE and friends: back off a little instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::select! {
                        () = shutdown.cancelled() => break,
                        () = tokio::time::sleep(Duration::from_millis(50)) => continue,
                    }
                }
            },
        };
        metrics.connections.inc();
        let permit = match permits.clone().try_acquire_owned() {
            Ok(p) => p,
            Err(_) => {
                // Full: close the connection idle longest and take its place once its
                // task has let go of its permit.
                let reclaimed = conns.lock().reclaim(cfg.reclaim_after);
                let got = if reclaimed {
                    tokio::time::timeout(
                        Duration::from_millis(500),
                        permits.clone().acquire_owned(),
                    )
                    .await
                    .ok()
                    .and_then(Result::ok)
                } else {
                    None
                };
                match got {
                    Some(p) => p,
                    None => {
                        metrics.reject(Reject::TooManyConnections);
                        drop(stream);
                        continue;
                    }
                }
            }
        };
        let (id, active, close, epoch) = conns.lock().add();
        let slot = ConnSlot {
            conns: conns.clone(),
            id,
            active,
            epoch,
            close,
        };
        let proto = make();
        let (cfg, metrics, shutdown) = (cfg.clone(), metrics.clone(), shutdown.clone());
        tracker.spawn(async move {
            let _permit = permit;
            metrics.open.inc();
            let _open = OpenGuard(&metrics);
            connection(stream, proto, &cfg, &metrics, &shutdown, &slot).await;
        });
    }
    drop(listener);
    tracker.close();
    tracker.wait().await;
    Ok(())
}

struct OpenGuard<'a>(&'a ListenerMetrics);

impl Drop for OpenGuard<'_> {
    fn drop(&mut self) {
        self.0.open.dec();
    }
}

async fn connection<P: LineProto>(
    mut stream: TcpStream,
    mut proto: P,
    cfg: &ListenConfig,
    metrics: &ListenerMetrics,
    shutdown: &CancellationToken,
    slot: &ConnSlot,
) {
    // Small replies go out at once; there is no request pipelining to wait for.
    let _ = stream.set_nodelay(true);
    let mut out = Vec::new();
    if let Some(g) = proto.greeting() {
        out.extend_from_slice(g.as_bytes());
        out.extend_from_slice(b"\r\n");
        if !send(&mut stream, &mut out, cfg, shutdown).await {
            return;
        }
    }
    let mut framer = LineFramer::new(cfg.max_line);
    let mut chunk = vec![0u8; cfg.read_buffer.max(512)];
    let mut deadline = Instant::now() + cfg.idle_timeout;
    loop {
        let read = tokio::select! {
            biased;
            () = shutdown.cancelled() => break,
            () = slot.close.cancelled() => {
                metrics.reject(Reject::IdleReclaimed);
                break;
            }
            r = tokio::time::timeout_at(deadline, stream.read(&mut chunk)) => r,
        };
        let n = match read {
            Err(_) => {
                metrics.reject(Reject::IdleTimeout);
                break;
            }
            Ok(Ok(0) | Err(_)) => {
                framer.finish(&mut |f| handle(&mut proto, f, &mut out));
                proto.flush(&mut out);
                let _ = send(&mut stream, &mut out, cfg, shutdown).await;
                break;
            }
            Ok(Ok(n)) => n,
        };
        metrics.bytes.add(n as u64);
        let frames = framer.feed(&chunk[..n], &mut |f| handle(&mut proto, f, &mut out));
        proto.flush(&mut out);
        if let (false, Some(engine)) = (out.is_empty(), proto.acks()) {
            // Every `--OK` of this read waits for one fsync, shared with every other
            // connection waiting meanwhile.
            engine.wal_synced().await;
        }
        if frames > 0 {
            deadline = Instant::now() + cfg.idle_timeout;
            slot.touch();
        }
        if !send(&mut stream, &mut out, cfg, shutdown).await {
            break;
        }
    }
    let _ = stream.shutdown().await;
}

fn handle<P: LineProto>(proto: &mut P, frame: Frame<'_>, out: &mut Vec<u8>) {
    match frame {
        Frame::TooLong => proto.line(
            Err(LineError::new(Reject::LineTooLong, "line too long")),
            false,
            out,
        ),
        Frame::Line { bytes, crlf } => match std::str::from_utf8(bytes) {
            Ok(s) => proto.line(Ok(s), crlf, out),
            Err(e) => proto.line(
                Err(LineError::new(
                    Reject::BadUtf8,
                    format!("invalid UTF-8 at byte {}", e.valid_up_to()),
                )),
                crlf,
                out,
            ),
        },
    }
}

/// Writes and clears `out`. False when the client is gone, does not read within the
/// idle timeout, or shutdown's grace ran out.
async fn send(
    stream: &mut TcpStream,
    out: &mut Vec<u8>,
    cfg: &ListenConfig,
    shutdown: &CancellationToken,
) -> bool {
    if out.is_empty() {
        return true;
    }
    let ok = tokio::select! {
        r = tokio::time::timeout(cfg.idle_timeout, stream.write_all(out)) => matches!(r, Ok(Ok(()))),
        () = async {
            shutdown.cancelled().await;
            tokio::time::sleep(SHUTDOWN_GRACE).await;
        } => false,
    };
    out.clear();
    ok
}

/// Port 8007's lines: each merged on its own and answered.
struct JsonLines {
    engine: Engine,
    metrics: ListenerMetrics,
}

impl JsonLines {
    fn apply(&self, line: &str) -> Result<crate::PushSummary, LineError> {
        let summary = simplestats::apply_line(&self.engine, line)?;
        self.metrics.refused(&summary);
        Ok(summary)
    }
}

impl LineProto for JsonLines {
    fn greeting(&self) -> Option<&'static str> {
        Some(HINT)
    }

    fn acks(&self) -> Option<&Engine> {
        Some(&self.engine)
    }

    fn line(&mut self, line: Result<&str, LineError>, crlf: bool, out: &mut Vec<u8>) {
        self.metrics.lines.inc();
        match line.and_then(|l| self.apply(l)) {
            Ok(summary) => {
                self.metrics.pushes.inc();
                self.metrics.samples.add(summary.samples as u64);
                out.extend_from_slice(b"--OK");
            }
            Err(e) => {
                self.metrics.reject(e.reason);
                out.extend_from_slice(b"--ERR ");
                // Messages quote keys with escapes, but never let a raw line break
                // through: it would desynchronise the client's reply count.
                out.extend(
                    e.message
                        .bytes()
                        .map(|b| if b == b'\n' || b == b'\r' { b' ' } else { b }),
                );
            }
        }
        out.extend_from_slice(if crlf { b"\r\n" } else { b"\n" });
    }
}

/// Graphite's lines: validated one by one, merged once per read.
struct GraphiteLines {
    engine: Engine,
    metrics: ListenerMetrics,
    batch: Batch,
    tags: Arc<TagConfig>,
    dropped: Counter,
}

impl LineProto for GraphiteLines {
    fn line(&mut self, line: Result<&str, LineError>, _crlf: bool, _out: &mut Vec<u8>) {
        let depth = self.engine.config().limits.max_depth;
        let line = match line {
            // Blank lines carry nothing; carbon ignores them too.
            Ok(l) if l.trim().is_empty() => return,
            other => other,
        };
        self.metrics.lines.inc();
        match line.and_then(|l| graphite::parse_tagged(l, depth, &self.tags)) {
            Ok((s, dropped)) => {
                self.dropped.add(dropped as u64);
                match s.ts {
                    Some(ts) => self.batch.sample_at(&s.path, ts, s.value, None),
                    None => self.batch.sample(&s.path, s.value, None),
                }
            }
            Err(e) => {
                tracing::debug!(reason = e.reason.as_str(), "graphite line refused: {e}");
                self.metrics.reject(e.reason);
            }
        }
    }

    fn flush(&mut self, _out: &mut Vec<u8>) {
        if self.batch.is_empty() {
            return;
        }
        let batch = std::mem::take(&mut self.batch);
        apply_split(&self.engine, fold(batch), &self.metrics);
    }
}
